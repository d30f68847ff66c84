//! The other seed APIs through the `genrelay-dev` binary over HTTP: each seed's curl examples,
//! replayed, and the answers checked field by field.

mod support;

use serde_json::{Value, json};
use support::DevServer;

async fn get(client: &reqwest::Client, server: &DevServer, path: &str) -> (u16, Value) {
    let response = client.get(server.url(path)).bearer_auth(&server.key).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn is_naive_time(value: &Value) -> bool {
    value.as_str().is_some_and(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").is_ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_003_inference_examples() {
    let data = tempfile::tempdir().unwrap();
    let server = DevServer::start(data.path());
    let client = genrelay_egress::http_client_builder().build().unwrap();

    // curl -X POST "http://localhost:8001/api/inference?index=1"
    let response = client.post(server.url("/api/inference?index=1")).bearer_auth(&server.key).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["index"], 1);
    assert_eq!(created["message"], "任务已创建，正在处理中");
    let task_id = created["task_id"].as_str().unwrap().to_owned();
    assert_eq!(created.as_object().unwrap().len(), 3, "{created}");

    // curl "http://localhost:8001/api/task/{task_id}/status" until completed
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        let (code, status) = get(&client, &server, &format!("/api/task/{task_id}/status")).await;
        assert_eq!(code, 200);
        assert!(["pending", "processing", "completed"].contains(&status["status"].as_str().unwrap()), "{status}");
        if status["status"] == "completed" {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!((status["task_id"].as_str(), &status["index"]), (Some(task_id.as_str()), &json!(1)));
    assert!(is_naive_time(&status["created_at"]) && is_naive_time(&status["completed_at"]), "{status}");
    assert!(status["inference_time"].is_number());
    assert_eq!(status["error_message"], Value::Null);
    let keys: Vec<&String> = status.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["completed_at", "created_at", "error_message", "index", "inference_time", "status", "task_id"]);

    // GET /api/task/{task_id}/result, then its files[].url
    let (code, result) = get(&client, &server, &format!("/api/task/{task_id}/result")).await;
    assert_eq!(code, 200);
    assert_eq!(result["status"], "completed");
    let file = &result["files"][0];
    assert_eq!(file["type"], "image");
    let url = file["url"].as_str().unwrap();
    assert_eq!(url, format!("/api/task/{task_id}/file/{}", file["filename"].as_str().unwrap()));
    let image = client.get(server.url(url)).bearer_auth(&server.key).send().await.unwrap();
    assert_eq!((image.status().as_u16(), image.headers()["content-type"].to_str().unwrap()), (200, "image/png"));
    assert_eq!(&image.bytes().await.unwrap()[..4], b"\x89PNG");

    // GET /api/tasks?page=1&page_size=10&status=completed
    let (code, list) = get(&client, &server, "/api/tasks?page=1&page_size=10&status=completed").await;
    assert_eq!(code, 200);
    assert_eq!((&list["total"], &list["page"], &list["page_size"]), (&json!(1), &json!(1), &json!(10)));
    let task = &list["tasks"][0];
    assert_eq!((task["task_id"].as_str(), task["status"].as_str()), (Some(task_id.as_str()), Some("completed")));
    assert!(is_naive_time(&task["created_at"]) && is_naive_time(&task["completed_at"]));

    // GET /api/system/status and /api/health
    let (code, system) = get(&client, &server, "/api/system/status").await;
    assert_eq!(code, 200);
    assert_eq!(system, json!({"status": "running", "ssh_connected": true, "queue_size": 0, "queue_running": true}));
    let health: Value = reqwest::get(server.url("/api/health")).await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "healthy");
    assert!(
        chrono::NaiveDateTime::parse_from_str(health["timestamp"].as_str().unwrap(), "%Y-%m-%dT%H:%M:%S%.6f").is_ok()
    );

    // Errors are {"detail": ...}.
    let bad = client.post(server.url("/api/inference?index=0")).bearer_auth(&server.key).send().await.unwrap();
    assert_eq!(bad.status(), 422);
    assert!(bad.json::<Value>().await.unwrap()["detail"].as_str().unwrap().contains("index"));
    let unknown = client.post(server.url("/api/inference?index=99")).bearer_auth(&server.key).send().await.unwrap();
    assert_eq!(unknown.status(), 400);
    let anonymous = client.post(server.url("/api/inference?index=1")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.json::<Value>().await.unwrap(), json!({"detail": "Invalid API key."}));
    let (code, missing) = get(&client, &server, "/api/task/job_01jnothere000000000000000/status").await;
    assert_eq!((code, missing["detail"].is_string()), (404, true));
    let (code, _) = get(&client, &server, "/api/tasks?page_size=101").await;
    assert_eq!(code, 422);

    // One engine: the task is an ordinary job of the same client, marked with its surface.
    let (_, job) = get(&client, &server, &format!("/api/v1/jobs/{task_id}")).await;
    assert_eq!(job["job"]["source"], json!({"surface": "inference", "index": 1}));
    server.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_001_ps_task_examples() {
    let data = tempfile::tempdir().unwrap();
    let server = DevServer::start(data.path());
    let client = genrelay_egress::http_client_builder().build().unwrap();
    let post = |path: &str, body: Value| client.post(server.url(path)).bearer_auth(&server.key).json(&body).send();

    // The image to edit: an uploaded 40x24 PNG, named by its URL.
    let png = genrelay_providers::mock::render_png("the source", 40, 24);
    let image_url = server.upload_png(&client, "source.png", png).await["url"].as_str().unwrap().to_owned();

    // The seed's request, with that image.
    let body = json!({"image_url": image_url, "prompt": "将背景改为赛博朋克风格", "keep_size": true,
                      "priority": 10, "editor": "user123"});
    let response = post("/ps_tasks/submit", body).await.unwrap();
    assert_eq!(response.status(), 200);
    let submitted: Value = response.json().await.unwrap();
    assert_eq!((&submitted["code"], &submitted["msg"]), (&json!(200), &json!("success")));
    let task_id = submitted["data"]["task_id"].as_str().unwrap().to_owned();
    assert_eq!(submitted["data"].as_object().unwrap().len(), 1);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let done = loop {
        let (code, answer) = get(&client, &server, &format!("/ps_tasks/result/{task_id}")).await;
        assert_eq!((code, &answer["code"], &answer["msg"]), (200, &json!(200), &json!("success")));
        let status = answer["data"]["status"].as_str().unwrap().to_owned();
        assert!(["pending", "ai_submitted", "processing", "completed"].contains(&status.as_str()), "{answer}");
        if status == "completed" {
            break answer["data"].clone();
        }
        assert_eq!(answer["data"]["error_message"], "", "{answer}");
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let keys: Vec<&String> = done.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["image_rid", "image_url", "status"]);
    let output = client.get(done["image_url"].as_str().unwrap()).bearer_auth(&server.key).send().await.unwrap();
    assert_eq!(output.status(), 200);
    let bytes = output.bytes().await.unwrap();
    let size =
        (u32::from_be_bytes(bytes[16..20].try_into().unwrap()), u32::from_be_bytes(bytes[20..24].try_into().unwrap()));
    assert_eq!(size, (40, 24), "keep_size: the edit has the input's size");
    let (_, job) = get(&client, &server, &format!("/api/v1/jobs/{task_id}")).await;
    assert_eq!(job["job"]["capability"], "image.edit");
    assert_eq!(job["job"]["outputAssetIds"][0], done["image_rid"]);
    assert_eq!(job["job"]["source"]["surface"], "ps-tasks");
    assert_eq!(job["job"]["source"]["editor"], "user123");
    assert!(job["job"]["source"]["imageId"].as_str().unwrap().starts_with("img_"), "generated when absent");
    assert_eq!(job["job"]["priority"], 10);

    // The seed's example verbatim: accepted; its image is out of reach here, so it ends failed
    // with the reason.
    let example = json!({"image_url": "http://example.com/images/source.jpg", "prompt": "将背景改为赛博朋克风格",
                         "keep_size": true, "priority": 10, "editor": "user123"});
    let answer: Value = post("/ps_tasks/submit", example).await.unwrap().json().await.unwrap();
    let example_id = answer["data"]["task_id"].as_str().unwrap().to_owned();
    let failed = loop {
        let (_, answer) = get(&client, &server, &format!("/ps_tasks/result/{example_id}")).await;
        if answer["data"]["status"] == "failed" {
            break answer["data"].clone();
        }
        assert!(std::time::Instant::now() < deadline, "{answer}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(!failed["error_message"].as_str().unwrap().is_empty(), "{failed}");

    // Errors, in the envelope with the status as code.
    let missing = post("/ps_tasks/submit", json!({"image_url": image_url})).await.unwrap();
    assert_eq!(missing.status(), 400);
    let missing: Value = missing.json().await.unwrap();
    assert_eq!((&missing["code"], &missing["data"]), (&json!(400), &json!({})));
    assert!(missing["msg"].as_str().unwrap().starts_with("prompt"));
    let local = post("/ps_tasks/submit", json!({"image_url": "/data/source.jpg", "prompt": "x"})).await.unwrap();
    assert_eq!(local.status(), 400);
    let (code, unknown) = get(&client, &server, "/ps_tasks/result/job_01jnothere000000000000000").await;
    assert_eq!((code, &unknown["code"], &unknown["data"]), (404, &json!(404), &json!({})));
    let anonymous = client.get(server.url(&format!("/ps_tasks/result/{task_id}"))).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.json::<Value>().await.unwrap(), json!({"code": 401, "msg": "Invalid API key.", "data": {}}));
    server.terminate();
}

/// Polls `GET /v1/async/tasks/{id}` until Jimeng's status is no longer 20 (processing).
async fn jimeng_task_until_done(client: &reqwest::Client, server: &DevServer, id: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (code, task) = get(client, server, &format!("/v1/async/tasks/{id}")).await;
        assert_eq!(code, 200, "{task}");
        let keys: Vec<&String> = task.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["fail_code", "history_id", "item_count", "raw_data", "results", "status", "task_type"]);
        if task["status"] != 20 {
            return task;
        }
        assert_eq!((&task["results"], &task["item_count"]), (&Value::Null, &json!(0)));
        assert!(std::time::Instant::now() < deadline, "{task}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_002_jimeng_async_examples() {
    let data = tempfile::tempdir().unwrap();
    let server = DevServer::start(data.path());
    let client = genrelay_egress::http_client_builder().build().unwrap();
    let post = |path: &str, body: Value| client.post(server.url(path)).bearer_auth(&server.key).json(&body).send();

    // 示例 1: 异步文生图, then both ways of querying.
    let body = json!({"model": "jimeng-4.5", "prompt": "一只可爱的小猫咪", "ratio": "1:1", "resolution": "2k"});
    let response = post("/v1/async/images/generations", body).await.unwrap();
    assert_eq!(response.status(), 200);
    let created: Value = response.json().await.unwrap();
    assert_eq!(
        (&created["status"], &created["message"]),
        (&json!("submitted"), &json!("任务已提交，请使用 history_id 查询任务状态"))
    );
    assert!(created["created"].as_i64().unwrap() > 1_700_000_000);
    let id = created["history_id"].as_str().unwrap().to_owned();
    let queried: Value = post("/v1/async/tasks/query", json!({"history_id": id})).await.unwrap().json().await.unwrap();
    assert_eq!(queried["history_id"], id.as_str());
    let done = jimeng_task_until_done(&client, &server, &id).await;
    assert_eq!((&done["status"], &done["task_type"], &done["fail_code"]), (&json!(10), &json!("image"), &json!(0)));
    assert_eq!(done["item_count"], 1);
    let url = done["results"][0]["url"].as_str().unwrap();
    let image = client.get(url).bearer_auth(&server.key).send().await.unwrap().bytes().await.unwrap();
    let width = u32::from_be_bytes(image[16..20].try_into().unwrap());
    assert_eq!(width, 2048, "ratio 1:1 at 2k");

    // 示例 2: 异步图生图 (multipart with an image file).
    let png = genrelay_providers::mock::render_png("a cat", 32, 32);
    let form = reqwest::multipart::Form::new()
        .text("prompt", "一只可爱的猫，动漫风格")
        .text("model", "jimeng-4.5")
        .part("images", reqwest::multipart::Part::bytes(png).file_name("cat.png").mime_str("image/png").unwrap());
    let response = client
        .post(server.url("/v1/async/images/compositions"))
        .bearer_auth(&server.key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let created: Value = response.json().await.unwrap();
    assert_eq!((&created["input_images"], &created["status"]), (&json!(1), &json!("submitted")));
    let done = jimeng_task_until_done(&client, &server, created["history_id"].as_str().unwrap()).await;
    assert_eq!((&done["status"], &done["task_type"]), (&json!(10), &json!("image")));

    // 示例 3: 异步视频生成.
    let body =
        json!({"model": "jimeng-video-3.0", "prompt": "一只奔跑在草原上的狮子", "ratio": "16:9", "duration": 10});
    let created: Value = post("/v1/async/videos/generations", body).await.unwrap().json().await.unwrap();
    let done = jimeng_task_until_done(&client, &server, created["history_id"].as_str().unwrap()).await;
    assert_eq!((&done["status"], &done["task_type"]), (&json!(10), &json!("video")));
    let video = client.get(done["results"][0]["url"].as_str().unwrap()).bearer_auth(&server.key).send().await.unwrap();
    assert_eq!(video.headers()["content-type"], "video/mp4");
    assert_eq!(done["raw_data"]["job"]["source"], json!({"surface": "jimeng-async", "model": "jimeng-video-3.0"}));

    // Errors: {"error": {message, type, code}}.
    let (code, missing) = get(&client, &server, "/v1/async/tasks/abc123").await;
    assert_eq!((code, &missing["error"]["code"]), (404, &json!("TASK_NOT_FOUND")));
    assert!(missing["error"]["message"].is_string() && missing["error"]["type"].is_string());
    let response = post("/v1/async/images/generations", json!({"model": "jimeng-4.5"})).await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "INVALID_PARAMETER");
    let anonymous = client.get(server.url(&format!("/v1/async/tasks/{id}"))).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.json::<Value>().await.unwrap()["error"]["code"], "UNAUTHORIZED");
    server.terminate();
}
