use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

use genrelay_tests::app::{KEY_A, KEY_B, TestApp};

/// The request bodies of seed 004's examples.
pub fn seed_examples() -> Vec<Value> {
    vec![
        json!({
            "capability": "image.generate",
            "prompt": "生成一张专业产品主图",
            "width": 1440,
            "height": 2560,
            "webhookUrl": "https://example.com/zhinian/webhook"
        }),
        json!({
            "capability": "image.generate",
            "prompt": "参考 @图片1 的风格,生成 9:16 旅游海报",
            "imageUrls": ["https://example.com/reference.png"],
            "width": 1440,
            "height": 2560,
            "scale": 50,
            "quality": "medium",
            "force_single": true
        }),
        json!({"capability": "image.upscale", "imageUrls": ["https://example.com/input.png"], "resolution": "4k"}),
        json!({
            "capability": "image.inpaint",
            "prompt": "把选中区域文字替换成新品上市",
            "imageUrls": ["https://example.com/original.png", "https://example.com/mask.png"]
        }),
        json!({
            "capability": "video.generate",
            "prompt": "生成一条 9:16 品牌短视频,节奏明快,适合信息流投放",
            "settings": {"ratio": "9:16", "duration": 5, "resolution": "720p"},
            "materials": [{"type": "image", "url": "https://example.com/product.png", "label": "@图片1"}]
        }),
    ]
}

#[tokio::test]
async fn every_seed_example_creates_a_queued_job() {
    let app = TestApp::new();
    for example in seed_examples() {
        let (status, answer) = app.post("/api/v1/jobs", KEY_A, example.clone()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{example} -> {answer}");
        let job = &answer["job"];
        assert!(job["id"].as_str().unwrap().starts_with("job_"));
        assert_eq!(job["capability"], example["capability"]);
        assert_eq!(job["status"], "queued");
        assert_eq!(job["outputAssetIds"], json!([]));
        assert_eq!(answer["reused"], false);
    }
    let (_, answer) = app.post("/api/v1/jobs", KEY_A, seed_examples()[4].clone()).await;
    assert_eq!(answer["job"]["params"]["settings"], json!({"ratio": "9:16", "duration": 5, "resolution": "720p"}));
    assert_eq!(answer["job"]["materials"][0]["label"], "@图片1");
}

#[tokio::test]
async fn invalid_requests_are_400_naming_the_field_and_store_nothing() {
    let app = TestApp::new();
    let video = |settings: Value| json!({"capability": "video.generate", "prompt": "x", "settings": settings});
    let cases: Vec<(Value, &str)> = vec![
        (json!({"prompt": "x"}), "capability"),
        (json!({"capability": "audio.generate", "prompt": "x"}), "capability"),
        (json!({"capability": "image.generate"}), "prompt"),
        (json!({"capability": "image.generate", "prompt": "   "}), "prompt"),
        (json!({"capability": "image.generate", "prompt": "x", "width": 10}), "width"),
        (json!({"capability": "image.generate", "prompt": "x", "height": 5000}), "height"),
        (json!({"capability": "image.generate", "prompt": "x", "width": "wide"}), "width"),
        (json!({"capability": "image.generate", "prompt": "x", "quality": "ultra"}), "quality"),
        (json!({"capability": "image.generate", "prompt": "x", "scale": 500}), "scale"),
        (json!({"capability": "image.generate", "prompt": "x", "imageUrls": ["ftp://e.com/a.png"]}), "imageUrls[0]"),
        (json!({"capability": "image.generate", "prompt": "x", "imageUrls": "https://e.com/a.png"}), "imageUrls"),
        (json!({"capability": "image.generate", "prompt": "x", "inputUrls": ["not a url"]}), "inputUrls[0]"),
        (json!({"capability": "image.generate", "prompt": "x", "webhookUrl": "file:///tmp/x"}), "webhookUrl"),
        (json!({"capability": "image.generate", "prompt": "x", "inputAssetIds": ["job_1"]}), "inputAssetIds[0]"),
        (json!({"capability": "image.generate", "prompt": "x", "inputAssetIds": ["asset_unknown"]}), "inputAssetIds"),
        (json!({"capability": "image.upscale"}), "imageUrls"),
        (
            json!({"capability": "image.upscale", "imageUrls": ["https://e.com/a.png"], "resolution": "16k"}),
            "resolution",
        ),
        (json!({"capability": "image.inpaint", "prompt": "x", "imageUrls": ["https://e.com/a.png"]}), "imageUrls"),
        (video(json!({"duration": 3})), "settings.duration"),
        (video(json!({"duration": 16})), "settings.duration"),
        (video(json!({"ratio": "2:1"})), "settings.ratio"),
        (video(json!({"resolution": "4k"})), "settings.resolution"),
        (video(json!({"duration": "five"})), "settings.duration"),
        (
            json!({"capability": "video.generate", "prompt": "x", "materials": [{"url": "https://e.com/a.png"}]}),
            "materials[0].type",
        ),
        (json!({"capability": "video.generate", "prompt": "x", "materials": [{"type": "image"}]}), "materials[0]"),
    ];
    for (body, field) in cases {
        let (status, answer) = app.post("/api/v1/jobs", KEY_A, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {answer}");
        let message = answer["error"].as_str().unwrap_or_else(|| panic!("no error in {answer}"));
        assert!(message.starts_with(field), "{body}: {message:?} does not name {field}");
    }
    let (_, list) = app.get("/api/v1/jobs", KEY_A).await;
    assert_eq!(list["jobs"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn malformed_bodies_are_400_415_or_413() {
    let app = TestApp::new();
    let raw = |content_type: &str, body: Vec<u8>| {
        Request::post("/api/v1/jobs")
            .header(header::AUTHORIZATION, format!("Bearer {KEY_A}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap()
    };
    let (status, _, body) = app.send(raw("application/json", b"{\"capability\": ".to_vec())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("Malformed JSON"));
    let (status, _, _) = app.send(raw("application/json", b"[1, 2]".to_vec())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = app.send(raw("text/plain", b"{}".to_vec())).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = format!("{{\"capability\": \"image.generate\", \"prompt\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let (status, _, body) = app.send(raw("application/json", huge.into_bytes())).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(genrelay_tests::app::json_of(&body)["error"].is_string());
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let app = TestApp::new();
    let body =
        json!({"capability": "image.generate", "prompt": "x", "model": "whatever", "settings": {"duration": 99}});
    let (status, answer) = app.post("/api/v1/jobs", KEY_A, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert!(answer["job"].get("model").is_none());
}

#[tokio::test]
async fn a_job_is_read_by_its_owner_and_404_for_anyone_else() {
    let app = TestApp::new();
    let id = app.create_job(KEY_A, seed_examples()[0].clone()).await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["webhookUrl"], "https://example.com/zhinian/webhook");
    assert_eq!(job["params"]["width"], 1440);
    for path in
        [format!("/api/v1/jobs/{id}"), "/api/v1/jobs/job_doesnotexist".into(), "/api/v1/jobs/..%2F..%2Fetc".into()]
    {
        let (status, answer) = app.get(&path, KEY_B).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(answer["error"].as_str().unwrap().contains("not found"));
    }
    let (status, _) = app.post(&format!("/api/v1/jobs/{id}/cancel"), KEY_B, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = app.get("/api/v1/jobs", KEY_B).await;
    assert_eq!(list["jobs"], json!([]));
}

#[tokio::test]
async fn lists_are_newest_first_filtered_and_paged_by_cursor() {
    let app = TestApp::new();
    let mut ids = Vec::new();
    for i in 0..5 {
        let capability = if i % 2 == 0 { "image.generate" } else { "image.upscale" };
        let body = json!({"capability": capability, "prompt": format!("p{i}"), "imageUrls": ["https://e.com/a.png"]});
        ids.push(app.create_job(KEY_A, body).await);
        app.clock.advance(std::time::Duration::from_secs(1));
    }
    ids.reverse();

    let (_, page) = app.get("/api/v1/jobs?limit=2", KEY_A).await;
    let first: Vec<&str> = page["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(first, [ids[0].as_str(), ids[1].as_str()]);
    let mut seen: Vec<String> = first.iter().map(|s| s.to_string()).collect();
    let mut next = page["next"].as_str().map(str::to_owned);
    while let Some(cursor) = next {
        let (status, page) = app.get(&format!("/api/v1/jobs?limit=2&cursor={cursor}"), KEY_A).await;
        assert_eq!(status, StatusCode::OK);
        seen.extend(page["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().to_owned()));
        next = page["next"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, ids, "every job once, newest first");

    let (_, upscales) = app.get("/api/v1/jobs?capability=image.upscale", KEY_A).await;
    assert_eq!(upscales["jobs"].as_array().unwrap().len(), 2);
    assert_eq!(upscales["next"], Value::Null);
    let (_, queued) = app.get("/api/v1/jobs?status=queued&limit=200", KEY_A).await;
    assert_eq!(queued["jobs"].as_array().unwrap().len(), 5);
    let (_, none) = app.get("/api/v1/jobs?status=succeeded", KEY_A).await;
    assert_eq!(none["jobs"], json!([]));

    let third = app.job(KEY_A, &ids[2]).await;
    let before = third["createdAt"].as_str().unwrap();
    let (_, older) = app.get(&format!("/api/v1/jobs?before={before}"), KEY_A).await;
    let older: Vec<&str> = older["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(older, [ids[3].as_str(), ids[4].as_str()]);
}

#[tokio::test]
async fn list_parameters_out_of_range_or_unknown_are_400() {
    let app = TestApp::new();
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("status=done", "status"),
        ("capability=image.paint", "capability"),
        ("before=yesterday", "before"),
        ("cursor=zz", "cursor"),
        ("page=2", "page"),
        ("limit=1&limit=2", "limit"),
    ] {
        let (status, answer) = app.get(&format!("/api/v1/jobs?{query}"), KEY_A).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(answer["error"].as_str().unwrap().starts_with(field), "{query}: {answer}");
    }
    let (status, _) = app.get("/api/v1/jobs?limit=1", KEY_A).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/api/v1/jobs?limit=200", KEY_A).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/api/v1/jobs?status=&capability=&before=&limit=", KEY_A).await;
    assert_eq!(status, StatusCode::OK, "an empty value means the parameter was not given");
}

#[tokio::test]
async fn cancel_moves_a_queued_job_to_cancelled_and_a_finished_one_is_409() {
    let app = TestApp::new();
    let id = app.create_job(KEY_A, seed_examples()[0].clone()).await;
    let (status, answer) = app.post(&format!("/api/v1/jobs/{id}/cancel"), KEY_A, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["job"]["status"], "cancelled");
    let (status, answer) = app.post(&format!("/api/v1/jobs/{id}/cancel"), KEY_A, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(answer["error"].as_str().unwrap().contains("cancelled"));

    app.drain().await;
    assert_eq!(app.job(KEY_A, &id).await["status"], "cancelled", "a cancelled job never runs");

    let small = json!({"capability": "image.generate", "prompt": "small", "width": 64, "height": 64});
    let done = app.create_job(KEY_A, small).await;
    app.drain().await;
    assert_eq!(app.job(KEY_A, &done).await["status"], "succeeded");
    let (status, _) = app.post(&format!("/api/v1/jobs/{done}/cancel"), KEY_A, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app.post("/api/v1/jobs/job_unknown/cancel", KEY_A, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn undecodable_ids_are_404_in_the_error_format() {
    let app = TestApp::new();
    for path in ["/api/v1/jobs/%FF", "/api/v1/assets/%FF%FE", "/api/v1/assets/%C0/download"] {
        let (status, answer) = app.get(path, KEY_A).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(answer["error"].is_string(), "{path}: {answer}");
    }
}

#[tokio::test]
async fn before_accepts_iso_dates_and_times_without_offset() {
    let app = TestApp::new();
    app.create_job(KEY_A, seed_examples()[0].clone()).await;
    for before in ["2000-01-01", "2000-01-01T00:00:00", "2000-01-01T08:00:00+08:00", "2000-01-01T00:00:00.5Z"] {
        let (status, page) = app.get(&format!("/api/v1/jobs?before={before}"), KEY_A).await;
        assert_eq!(status, StatusCode::OK, "{before}");
        assert_eq!(page["jobs"], json!([]), "{before}");
    }
    let (_, page) = app.get("/api/v1/jobs?before=2999-01-01", KEY_A).await;
    assert_eq!(page["jobs"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_order_number_and_input_image_type_are_kept_for_the_back_office() {
    let app = TestApp::new();
    let mut body = seed_examples()[2].clone();
    body["orderNumber"] = json!("  ORD-20261204-0001 ");
    body["imageType"] = json!("retouched");
    let (status, answer) = app.post("/api/v1/jobs", KEY_A, body.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["job"]["orderNumber"], "ORD-20261204-0001", "trimmed");
    assert_eq!(answer["job"]["imageType"], "retouched");
    let id = answer["job"]["id"].as_str().unwrap();
    let (_, read) = app.get(&format!("/api/v1/jobs/{id}"), KEY_A).await;
    assert_eq!(
        (read["job"]["orderNumber"].clone(), read["job"]["imageType"].clone()),
        (json!("ORD-20261204-0001"), json!("retouched"))
    );

    for (field, value, complaint) in [
        ("imageType", json!("beautified"), "imageType: \"beautified\" is not allowed"),
        ("orderNumber", json!(" "), "orderNumber: must be 1 to 128"),
        ("orderNumber", json!("x".repeat(129)), "orderNumber: must be 1 to 128"),
        ("orderNumber", json!("a\nb"), "orderNumber: must not contain control characters"),
    ] {
        let mut bad = seed_examples()[2].clone();
        bad[field] = value;
        let (status, answer) = app.post("/api/v1/jobs", KEY_A, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(answer["error"].as_str().unwrap().contains(complaint), "{answer}");
    }
    let (_, list) = app.get("/api/v1/jobs", KEY_A).await;
    assert_eq!(list["jobs"].as_array().unwrap().len(), 1, "nothing written for bad input");
}
