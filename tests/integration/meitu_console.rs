//! Seed 000's Meitu half of the back office (`/admin/meitu`): the config, kept as the Yunxiu
//! channel with write-only credentials.

use axum::http::StatusCode;
use genrelay_core::ports::{Role, SecretStore};
use genrelay_tests::app::TestApp;
use genrelay_tests::fake_yunxiu::{API_KEY, API_SECRET, FakeYunxiu};
use serde_json::{Value, json};

const ADMIN: (&str, &str) = ("root", "root-password-1");
const OPERATOR: (&str, &str) = ("olivia", "operator-password-1");
const MASK: &str = "••••••••";
const CONFIG: &str = "/admin/meitu/api/config";

async fn app() -> TestApp {
    let app = TestApp::with_stored_channels().await;
    app.add_back_office_user(ADMIN.0, Role::Admin, ADMIN.1).await;
    app.add_back_office_user(OPERATOR.0, Role::Operator, OPERATOR.1).await;
    app
}

#[tokio::test]
async fn the_meitu_config_is_admins_only_write_only_and_configures_the_yunxiu_channel() {
    let fake = FakeYunxiu::start().await;
    let app = app().await;
    let (root, olivia) = (app.sign_in(ADMIN).await, app.sign_in(OPERATOR).await);
    assert_eq!(app.back_office("GET", CONFIG, "", None).await.0, StatusCode::UNAUTHORIZED);
    let (status, refused, _) = app.back_office("GET", CONFIG, &olivia, None).await;
    assert_eq!((status, refused["message"].clone()), (StatusCode::FORBIDDEN, json!("权限不足")));
    let (status, unset, _) = app.back_office("GET", CONFIG, &root, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        unset["data"],
        json!({"api_key": "", "api_secret": "", "api_base_url": "https://api.yunxiu.meitu.com",
               "api_endpoint": "/openapi/realphotolocal_async", "repost_url": null, "is_active": false,
               "enable_in_workflow": false})
    );

    for (bad, complaint) in [
        (json!({"api_key": "k"}), "api_key, api_secret"),
        (json!({"api_key": "k", "api_secret": "s", "api_base_url": "not a url"}), "api_base_url"),
        (json!({"api_key": "k", "api_secret": "s", "api_endpoint": "openapi/x"}), "api_endpoint"),
        (json!({"api_key": "k", "api_secret": "s", "app_key": "old name"}), "unknown field `app_key`"),
    ] {
        let (status, body, _) = app.back_office("POST", CONFIG, &root, Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["message"].as_str().unwrap().contains(complaint), "{bad}: {body}");
    }
    assert_eq!(app.back_office("POST", CONFIG, &olivia, Some(json!({}))).await.0, StatusCode::FORBIDDEN);

    // Seed 000's example, word for word.
    let example = json!({"api_key": "your_key", "api_secret": "your_secret",
                         "api_base_url": "https://api.yunxiu.meitu.com", "enable_in_workflow": true});
    let (status, saved, text) = app.back_office("POST", CONFIG, &root, Some(example)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!((saved["status"].clone(), saved["message"].clone()), (json!("success"), json!("配置保存成功")));
    assert_eq!((saved["data"]["api_key"].clone(), saved["data"]["api_secret"].clone()), (json!(MASK), json!(MASK)));
    assert_eq!(
        (saved["data"]["is_active"].clone(), saved["data"]["enable_in_workflow"].clone()),
        (json!(true), json!(true))
    );
    assert!(!text.contains("your_secret") && !text.contains("your_key"), "{text}");
    let secret = "/genrelay/channels/meitu-yunxiu/apiSecret".to_owned();
    assert_eq!(app.embedded.store.secrets(std::slice::from_ref(&secret)).await.unwrap()[&secret], "your_secret");

    // It is the Yunxiu channel, in force at once.
    let (_, channels, _) = app.back_office("GET", "/admin/ai-provider/api/configs", &olivia, None).await;
    let channel = channels["data"].as_array().unwrap().iter().find(|c| c["name"] == "meitu-yunxiu").cloned();
    assert_eq!(channel.map(|c| c["type"].clone()), Some(json!("yunxiu")), "{channels}");

    // Pointed at the fake, the example's keys are refused; blank and masked ones stay as they were.
    let moved = json!({"api_base_url": fake.base_url, "api_key": "", "api_secret": MASK});
    let (status, saved, _) = app.back_office("POST", CONFIG, &root, Some(moved)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(
        (saved["data"]["api_base_url"].clone(), saved["data"]["enable_in_workflow"].clone()),
        (json!(fake.base_url), json!(true))
    );
    assert_eq!(app.embedded.store.secrets(std::slice::from_ref(&secret)).await.unwrap()[&secret], "your_secret");
    let test = "/admin/ai-provider/api/configs/meitu-yunxiu/test";
    let (_, tested, _) = app.back_office("POST", test, &root, None).await;
    assert_eq!(tested["data"]["ok"], false, "{tested}");
    assert!(tested["data"]["answer"].as_str().unwrap().contains("GATEWAY_AUTHORIZED_ERROR"), "{tested}");
    let keys = json!({"api_key": API_KEY, "api_secret": API_SECRET, "enable_in_workflow": false});
    app.back_office("POST", CONFIG, &root, Some(keys)).await;
    let (_, tested, text) = app.back_office("POST", test, &root, None).await;
    assert_eq!(tested["data"]["ok"], true, "{tested}");
    assert!(!text.contains(API_SECRET));
    let (_, read, _) = app.back_office("GET", CONFIG, &root, None).await;
    assert_eq!(read["data"]["enable_in_workflow"], false);

    let (status, _, page) = app.back_office("GET", "/admin/meitu/config", &root, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"meitu-config\"") && page.contains(MASK) && !page.contains(API_SECRET), "{page}");
    assert_eq!(app.back_office("GET", "/admin/meitu/config", &olivia, None).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn styles_and_presets_are_managed_by_admins_and_listed_as_the_seed_shows() {
    let app = app().await;
    let (root, olivia) = (app.sign_in(ADMIN).await, app.sign_in(OPERATOR).await);
    let post = |path: &'static str, body: Value| {
        let (app, root) = (&app, root.clone());
        async move { app.back_office("POST", path, &root, Some(body)).await }
    };
    let (status, portrait, _) =
        post("/admin/meitu/api/style-categories", json!({"name": "人像", "code": "portrait"})).await;
    assert_eq!(status, StatusCode::CREATED, "{portrait}");
    let portrait = portrait["data"]["id"].as_u64().unwrap();
    post("/admin/meitu/api/style-categories", json!({"name": "风景", "code": "landscape", "is_active": false})).await;
    let (status, _, _) = post("/admin/meitu/api/style-categories", json!({"name": "again", "code": "portrait"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "codes are unique");
    let image = |name: &str, code: &str, order: i64| {
        json!({"category_id": portrait, "name": name, "code": code, "sort_order": order,
               "image_url": "https://example.com/styles/x.jpg"})
    };
    let classic =
        post("/admin/meitu/api/style-images", image("经典人像", "classic", 2)).await.1["data"]["id"].as_u64().unwrap();
    let fresh =
        post("/admin/meitu/api/style-images", image("清新", "fresh", 1)).await.1["data"]["id"].as_u64().unwrap();
    let (status, refused, _) =
        post("/admin/meitu/api/style-images", json!({"category_id": 999, "name": "x", "code": "x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");

    // Seed 000's reads, for operators too: active categories; active images by sort order, paged.
    let (status, categories, _) = app.back_office("GET", "/admin/meitu/api/style-categories", &olivia, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(categories["data"], json!([{"id": portrait, "name": "人像"}]));
    let (_, images, _) = app.back_office("GET", "/admin/meitu/api/style-images", &olivia, None).await;
    assert_eq!(
        images["data"],
        json!([{"id": fresh, "name": "清新", "category_id": portrait, "category_name": "人像"},
               {"id": classic, "name": "经典人像", "category_id": portrait, "category_name": "人像"}])
    );
    assert_eq!(
        images["pagination"],
        json!({"page": 1, "per_page": 20, "total": 2, "pages": 1, "has_next": false, "has_prev": false})
    );
    let (_, second, _) = app.back_office("GET", "/admin/meitu/api/style-images?per_page=1&page=2", &olivia, None).await;
    assert_eq!(
        (second["data"][0]["id"].as_u64(), second["pagination"]["has_prev"].clone()),
        (Some(classic), json!(true))
    );
    let (_, none, _) = app.back_office("GET", "/admin/meitu/api/style-images?category_id=12345", &olivia, None).await;
    assert_eq!(none["data"], json!([]));

    // Presets: exactly one style, in seed 000's words; admins only.
    let (status, _, _) = app.back_office("POST", "/admin/meitu/api/presets", &olivia, Some(json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (bad, message) in [
        (
            json!({"preset_id": "MT1", "style_category_id": portrait, "style_image_id": classic}),
            "不能同时指定风格分类和风格图片，请选择其一",
        ),
        (json!({"preset_id": "MT1"}), "必须指定风格分类或风格图片"),
    ] {
        let (status, body, _) = post("/admin/meitu/api/presets", bad).await;
        assert_eq!((status, body["message"].clone()), (StatusCode::BAD_REQUEST, json!(message)));
    }
    let (status, on_image, _) = post(
        "/admin/meitu/api/presets",
        json!({"preset_id": "MT-IMG", "preset_name": "精修", "style_image_id": classic}),
    )
    .await;
    assert_eq!((status, on_image["message"].clone()), (StatusCode::OK, json!("预设创建成功")), "{on_image}");
    let on_image = on_image["data"]["id"].as_u64().unwrap();
    let (_, on_category, _) =
        post("/admin/meitu/api/presets", json!({"preset_id": "MT-CAT", "style_category_id": portrait})).await;
    let on_category = on_category["data"]["id"].as_u64().unwrap();
    let (_, presets, _) = app.back_office("GET", "/admin/meitu/api/presets", &root, None).await;
    assert_eq!(presets["data"][0]["id"].as_u64(), Some(on_category), "newest first: {presets}");
    assert_eq!(
        (
            presets["data"][0]["mapping_type"].clone(),
            presets["data"][0]["category_name"].clone(),
            presets["data"][0]["image_name"].clone()
        ),
        (json!("category"), json!("人像"), Value::Null)
    );
    assert_eq!(
        (presets["data"][1]["mapping_type"].clone(), presets["data"][1]["image_name"].clone()),
        (json!("image"), json!("经典人像"))
    );
    assert_eq!(presets["pagination"]["per_page"], 20);
    for missing in ["999", "abc"] {
        let (status, body, _) =
            app.back_office("GET", &format!("/admin/meitu/api/presets/{missing}"), &root, None).await;
        assert_eq!((status, body["message"].clone()), (StatusCode::NOT_FOUND, json!("预设不存在")));
    }
    let path = format!("/admin/meitu/api/presets/{on_image}");
    let (status, moved, _) =
        app.back_office("PUT", &path, &root, Some(json!({"preset_id": "MT-IMG", "style_category_id": portrait}))).await;
    assert_eq!((status, moved["data"]["mapping_type"].clone()), (StatusCode::OK, json!("category")), "{moved}");
    let (status, _, _) =
        app.back_office("DELETE", &format!("/admin/meitu/api/style-categories/{portrait}"), &root, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "a category in use stays");
    let (_, deleted, _) = app.back_office("DELETE", &path, &root, None).await;
    assert_eq!(deleted["message"], "预设删除成功");

    // Admins saving at once each get their own id.
    let adds = (0..8)
        .map(|n| post("/admin/meitu/api/style-categories", json!({"name": format!("c{n}"), "code": format!("c{n}")})));
    let added = futures_util::future::join_all(adds).await;
    let mut ids: Vec<u64> = added
        .iter()
        .map(|(status, body, _)| {
            assert_eq!(*status, StatusCode::CREATED, "{body}");
            body["data"]["id"].as_u64().unwrap()
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 8);

    let (status, _, page) = app.back_office("GET", "/admin/meitu/presets", &root, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("MT-CAT") && page.contains("id=\"preset-form\"") && page.contains("经典人像"), "{page}");
}

#[tokio::test]
async fn meitu_tasks_are_the_calls_to_meitu_and_a_recheck_asks_meitu_now() {
    let fake = FakeYunxiu::start().await;
    let app = app().await;
    let (root, olivia) = (app.sign_in(ADMIN).await, app.sign_in(OPERATOR).await);
    let keys = json!({"api_key": API_KEY, "api_secret": API_SECRET, "api_base_url": fake.base_url});
    assert_eq!(app.back_office("POST", CONFIG, &root, Some(keys)).await.0, StatusCode::OK);
    // The Yunxiu channel runs a preset for upscales (set on the channel; the config keeps it).
    let (_, channel, _) = app.back_office("GET", "/admin/ai-provider/api/configs/meitu-yunxiu", &root, None).await;
    let mut settings = channel["data"]["settings"].clone();
    settings["presets"] = json!({"image.upscale": "MT-P1"});
    settings["pollIntervalMs"] = json!(0);
    let (status, _, _) =
        app.back_office("PUT", "/admin/ai-provider/api/configs/meitu-yunxiu", &root, Some(settings)).await;
    assert_eq!(status, StatusCode::OK);
    app.back_office("POST", CONFIG, &root, Some(json!({"enable_in_workflow": true}))).await;
    let (_, channel, _) = app.back_office("GET", "/admin/ai-provider/api/configs/meitu-yunxiu", &root, None).await;
    let kept = &channel["data"]["settings"];
    assert_eq!(
        (kept["presets"].clone(), kept["pollIntervalMs"].clone()),
        (json!({"image.upscale": "MT-P1"}), json!(0))
    );

    let retouch = json!({"capability": "image.upscale", "imageUrls": ["https://example.com/portrait.jpg"],
                         "orderNumber": "ORD-M1"});
    let id = app.create_job(genrelay_tests::app::KEY_A, retouch).await;
    let other =
        app.create_job(genrelay_tests::app::KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    app.drain().await;

    let (status, list, _) = app.back_office("GET", "/admin/meitu/api/tasks", &olivia, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["data"]["total"], 1, "only the call to Meitu: {list}");
    let task = &list["data"]["tasks"][0];
    assert_eq!(
        (task["id"].as_str(), task["order_number"].as_str(), task["preset_id"].as_str(), task["status"].as_str()),
        (Some(id.as_str()), Some("ORD-M1"), Some("MT-P1"), Some("pending"))
    );
    let msg_id = task["msg_id"].as_str().unwrap().to_owned();
    assert_eq!(fake.retouch(&msg_id).unwrap().media_code, "MT-P1");
    for (filter, total) in
        [("status=success", 0), ("status=pending", 1), ("order_number=m1", 1), ("order_number=zzz", 0)]
    {
        let (_, found, _) = app.back_office("GET", &format!("/admin/meitu/api/tasks?{filter}"), &olivia, None).await;
        assert_eq!(found["data"]["total"], total, "{filter}: {found}");
    }
    assert_eq!(
        app.back_office("GET", "/admin/meitu/api/tasks?status=done", &olivia, None).await.0,
        StatusCode::BAD_REQUEST
    );

    // Seed 000's example id, and a job Meitu never saw: 任务不存在, in the back office's format.
    for missing in ["123".to_owned(), other] {
        let (status, body, _) =
            app.back_office("POST", &format!("/admin/meitu/api/tasks/{missing}/recheck"), &olivia, None).await;
        assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"status": "error", "message": "任务不存在"})));
    }

    let (status, detail, _) = app.back_office("GET", &format!("/admin/meitu/api/tasks/{id}"), &olivia, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["data"]["request"]["media_code"], "MT-P1");
    assert_eq!(detail["data"]["job"], format!("/admin/ai/tasks/{id}"));
    // A recheck asks Meitu now and applies its answer: still running, then the result.
    let recheck = format!("/admin/meitu/api/tasks/{id}/recheck");
    let (status, rechecked, _) = app.back_office("POST", &recheck, &olivia, None).await;
    assert_eq!((status, rechecked["data"]["status"].as_str()), (StatusCode::OK, Some("pending")), "{rechecked}");
    let (status, rechecked, _) = app.back_office("POST", &recheck, &olivia, None).await;
    assert_eq!(status, StatusCode::OK, "{rechecked}");
    assert_eq!(rechecked["data"]["status"], "success", "{rechecked}");
    assert_eq!(rechecked["data"]["result"].as_array().unwrap().len(), 1);
    let (status, _, page) = app.back_office("GET", "/admin/meitu/tasks", &olivia, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&format!("data-meitu-task=\"{id}\"")) && page.contains("MT-P1") && page.contains(&msg_id),
        "{page}"
    );
    assert!(page.contains("成功 success") && page.contains("data-meitu-recheck"), "{page}");

    // A call Meitu refused has no msg_id: listed as failed, and a recheck says why it cannot ask.
    app.back_office("POST", CONFIG, &root, Some(json!({"api_secret": "not-the-secret"}))).await;
    let refused =
        json!({"capability": "image.upscale", "imageUrls": ["https://example.com/p2.jpg"], "orderNumber": "ORD-M2"});
    let id = app.create_job(genrelay_tests::app::KEY_A, refused).await;
    app.drain().await;
    let (_, list, _) = app.back_office("GET", "/admin/meitu/api/tasks?order_number=M2", &olivia, None).await;
    let task = &list["data"]["tasks"][0];
    assert_eq!((task["status"].as_str(), task["has_msg_id"].as_bool()), (Some("failed"), Some(false)), "{list}");
    let (status, body, _) =
        app.back_office("POST", &format!("/admin/meitu/api/tasks/{id}/recheck"), &olivia, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("msg_id"));
}
