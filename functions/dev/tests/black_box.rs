//! Black-box tests of the `genrelay-dev` binary: started on a free port, driven over real HTTP
//! through seed 004's minimal flow, stopped with SIGTERM and restarted on the same data.

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::{DevServer, wait_for_end};

#[tokio::test]
async fn the_minimal_flow_of_seed_004_works_over_http() {
    let data = tempfile::tempdir().unwrap();
    let server = DevServer::start(data.path());
    let server_key = server.key.clone();
    let client = genrelay_egress::http_client_builder().build().unwrap();

    // 1. capabilities
    let response = client.get(server.url("/api/v1/capabilities")).bearer_auth(&server.key).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let capabilities: Value = response.json().await.unwrap();
    assert_eq!(capabilities["capabilities"].as_array().unwrap().len(), 5, "seed 004's four and image.edit");
    let response = client.get(server.url("/api/v1/capabilities")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"error": "Invalid API key."}));

    // 2. upload a reference image
    let reference = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference.png")).unwrap();
    let form = reqwest::multipart::Form::new().part(
        "files",
        reqwest::multipart::Part::bytes(reference.clone()).file_name("reference.png").mime_str("image/png").unwrap(),
    );
    let response = client
        .post(server.url("/api/v1/assets"))
        .header("X-Zhinian-Api-Key", &server.key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let uploaded: Value = response.json().await.unwrap();
    let reference_id = uploaded["asset"]["id"].as_str().unwrap().to_owned();

    // 3. create a job with an Idempotency-Key, twice
    let body = json!({
        "capability": "image.generate",
        "prompt": "参考 @图片1 的风格,生成 9:16 旅游海报",
        "inputAssetIds": [reference_id],
        "width": 360,
        "height": 640
    });
    let create = || {
        client
            .post(server.url("/api/v1/jobs"))
            .bearer_auth(&server.key)
            .header("Idempotency-Key", "demo-job-001")
            .json(&body)
            .send()
    };
    let response = create().await.unwrap();
    assert_eq!(response.status(), 202);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["reused"], false);
    let id = created["job"]["id"].as_str().unwrap().to_owned();
    let response = create().await.unwrap();
    assert_eq!(response.status(), 200);
    let again: Value = response.json().await.unwrap();
    assert_eq!((again["reused"].as_bool(), again["job"]["id"].as_str()), (Some(true), Some(id.as_str())));

    // 4. poll until it ends
    let (job, saw_progress) = wait_for_end(&client, &server, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(saw_progress, "progress between 0 and 100 was reported while running");

    // 5. download the output through the signed redirect
    let output = job["outputAssetIds"][0].as_str().unwrap();
    let no_redirects =
        genrelay_egress::http_client_builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = no_redirects
        .get(server.url(&format!("/api/v1/assets/{output}/download")))
        .bearer_auth(&server.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let response = client.get(&location).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    let png = response.bytes().await.unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let size =
        (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()));
    assert_eq!(size, (360, 640));
    let tampered = location.replace("signature=", "signature=ff");
    assert_eq!(client.get(&tampered).send().await.unwrap().status(), 403);

    // 6. a presigned upload, PUT straight to the signed URL, then completed
    let ticket: Value = client
        .post(server.url("/api/v1/assets/uploads"))
        .bearer_auth(&server.key)
        .json(&json!({"name": "large-reference.png"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut put = client.put(ticket["uploadUrl"].as_str().unwrap()).body(reference.clone());
    for (name, value) in ticket["headers"].as_object().unwrap() {
        put = put.header(name, value.as_str().unwrap());
    }
    assert_eq!(put.send().await.unwrap().status(), 200);
    let asset_id = ticket["assetId"].as_str().unwrap();
    let response = client
        .post(server.url(&format!("/api/v1/assets/{asset_id}/complete")))
        .bearer_auth(&server.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let completed: Value = response.json().await.unwrap();
    assert_eq!(
        (completed["asset"]["status"].as_str(), completed["asset"]["size"].as_u64()),
        (Some("ready"), Some(reference.len() as u64))
    );

    // One JSON log line per request, with method, path, status, latency and job id.
    let logs: Vec<Value> = server.terminate().iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let requests: Vec<&Value> = logs.iter().filter(|l| l["message"] == "request").collect();
    assert!(requests.len() >= 8, "{logs:?}");
    let create = requests
        .iter()
        .find(|l| l["method"] == "POST" && l["path"] == "/api/v1/jobs")
        .expect("the create request is logged");
    assert_eq!(create["status"], 202);
    assert_eq!(create["job_id"], id.as_str());
    assert!(create["latency_ms"].is_number());
    assert!(!logs.iter().any(|l| l.to_string().contains(&server_key)), "the key never appears in a log line");
}

#[tokio::test]
async fn a_job_accepted_before_sigterm_completes_after_restart() {
    let data = tempfile::tempdir().unwrap();
    let server = DevServer::start(data.path());
    let client = genrelay_egress::http_client_builder().build().unwrap();
    let key = server.key.clone();
    let body = json!({"capability": "video.generate", "prompt": "海边日落", "settings": {"ratio": "16:9", "duration": 4, "resolution": "480p"}});
    let response = client.post(server.url("/api/v1/jobs")).bearer_auth(&key).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let id = response.json::<Value>().await.unwrap()["job"]["id"].as_str().unwrap().to_owned();
    server.terminate();

    let server = DevServer::start(data.path());
    assert_eq!(server.key, key, "the dev key is kept in the data folder");
    let (job, _) = wait_for_end(&client, &server, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let output = job["outputAssetIds"][0].as_str().unwrap();
    let response =
        client.get(server.url(&format!("/api/v1/assets/{output}/download"))).bearer_auth(&key).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "video/mp4");
    let video = response.bytes().await.unwrap();
    assert_eq!(&video[4..8], b"ftyp");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_providers_file_jobs_run_on_the_configured_inference_server() {
    let fake = genrelay_tests::fake_inference::FakeInferenceServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let providers = data.path().join("providers.json");
    let config = json!({"channels": [{
        "name": "gpu-box", "type": "inference", "baseUrl": fake.base_url,
        "indexes": {"image.generate": 1}, "firstPollMs": 100, "pollIntervalMs": 100
    }]});
    std::fs::write(&providers, config.to_string()).unwrap();
    let server = DevServer::start_with(data.path(), &["--providers", providers.to_str().unwrap()]);
    let client = genrelay_egress::http_client_builder().build().unwrap();
    let create = |body: Value| client.post(server.url("/api/v1/jobs")).bearer_auth(&server.key).json(&body).send();
    let image = create(json!({"capability": "image.generate", "prompt": "on the gpu box"})).await.unwrap();
    let image_id = image.json::<Value>().await.unwrap()["job"]["id"].as_str().unwrap().to_owned();
    let video =
        create(json!({"capability": "video.generate", "prompt": "still the mock", "settings": {"duration": 4}}))
            .await
            .unwrap();
    let video_id = video.json::<Value>().await.unwrap()["job"]["id"].as_str().unwrap().to_owned();

    let (job, _) = wait_for_end(&client, &server, &image_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let output = job["outputAssetIds"][0].as_str().unwrap();
    let download = client.get(server.url(&format!("/api/v1/assets/{output}/download"))).bearer_auth(&server.key);
    let bytes = download.send().await.unwrap().bytes().await.unwrap();
    assert_eq!(bytes.as_ref(), fake.image.as_slice(), "the upstream's file, re-hosted");
    assert!(fake.requests() >= 4, "submitted, polled and fetched from the fake");
    let (job, _) = wait_for_end(&client, &server, &video_id).await;
    assert_eq!(job["status"], "succeeded", "capabilities no channel serves use the mock: {job}");
    server.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_job_notifies_its_signed_webhook() {
    let receiver = genrelay_tests::webhook_receiver::WebhookReceiver::start("dev-secret", None);
    let data = tempfile::tempdir().unwrap();
    let server = DevServer::start_with_env(
        data.path(),
        &["--allow-private-webhooks"],
        &[("ZHINIAN_WEBHOOK_SECRET", "dev-secret")],
    );
    let client = genrelay_egress::http_client_builder().build().unwrap();
    let body = json!({"capability": "image.generate", "prompt": "notify me", "width": 64, "height": 64,
                      "webhookUrl": receiver.url});
    let created = server.json(client.post(server.url("/api/v1/jobs")).json(&body)).await;
    let id = created["job"]["id"].as_str().unwrap().to_owned();
    let (job, _) = wait_for_end(&client, &server, &id).await;
    assert_eq!(job["status"], "succeeded");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while receiver.log().await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "no webhook arrived");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let log = receiver.log().await;
    assert_eq!(log[0]["body"]["event"], "generation.succeeded");
    assert_eq!((log[0]["standard"].as_bool(), log[0]["zhinian"].as_bool()), (Some(true), Some(true)));
    let deliveries = server.json(client.get(server.url(&format!("/api/v1/jobs/{id}/webhook-deliveries")))).await;
    assert_eq!(deliveries["deliveries"][0]["status"], "delivered", "{deliveries}");
    server.terminate();
}
