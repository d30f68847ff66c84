//! Secrets never leave: `genrelay-dev` runs with every secret it holds set to a recognisable
//! value (the API key, the webhook secret, the admin password, the session key, two channels'
//! upstream keys, one of them refused by its upstream) and is driven through every surface,
//! failures included, with logs at debug level. No response (status line, headers, body),
//! webhook request, log line or metric line of the run holds any of them.

mod support;

use base64::Engine as _;
use genrelay_tests::fake_runninghub::{self, FakeRunningHub};
use genrelay_tests::webhook_receiver::WebhookReceiver;
use serde_json::{Value, json};
use support::{DevServer, wait_for_end};

const WEBHOOK_SECRET: &str = "whsec-never-shown-4d8e0a";
const ADMIN_PASSWORD: &str = "admin-password-never-shown-93c1";
/// A RunningHub key its upstream refuses.
const REFUSED_KEY: &str = "rh-refused-key-never-shown-5b7f";

/// Every response of the run, as text: status, headers and body.
#[derive(Default)]
struct Transcript(Vec<String>);

impl Transcript {
    async fn send(&mut self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = format!("{:?}", response.headers());
        let body = response.text().await.unwrap();
        self.0.push(format!("{status} {headers} {body}"));
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_response_log_line_or_webhook_of_a_whole_run_holds_a_secret() {
    let upstream = FakeRunningHub::start().await;
    let receiver = WebhookReceiver::start(WEBHOOK_SECRET, None);
    let session_key = base64::engine::general_purpose::STANDARD.encode([0x5a; 64]);
    let data = tempfile::tempdir().unwrap();
    let providers = data.path().join("providers.json");
    let channels = json!({"channels": [
        {"name": "rh-good", "type": "runninghub", "baseUrl": upstream.base_url, "apiKey": fake_runninghub::API_KEY,
         "pollIntervalMs": 100,
         "workflows": {"image.generate": {"workflowId": "1904136902449209346", "slots": {"prompt": ["6", "text"]}}}},
        {"name": "rh-refused", "type": "runninghub", "baseUrl": upstream.base_url, "apiKey": REFUSED_KEY,
         "pollIntervalMs": 100,
         "workflows": {"image.upscale": {"webappId": fake_runninghub::WEBAPP_ID, "slots": {"image": ["39", "image"]}}}}
    ]});
    std::fs::write(&providers, channels.to_string()).unwrap();
    let server = DevServer::start_with_env(
        data.path(),
        &["--providers", providers.to_str().unwrap(), "--allow-private-webhooks"],
        &[
            ("ZHINIAN_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("GENRELAY_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("GENRELAY_SESSION_KEY", &session_key),
            ("RUST_LOG", "debug"),
        ],
    );
    let http = genrelay_egress::http_client_builder().build().unwrap();
    let api = |method: reqwest::Method, path: &str| http.request(method, server.url(path)).bearer_auth(&server.key);
    let mut run = Transcript::default();

    // The open API: a job that succeeds (with a webhook), one its upstream refuses, bad keys.
    let png = genrelay_providers::mock::render_png("a reference", 40, 24);
    let part = reqwest::multipart::Part::bytes(png).file_name("ref.png").mime_str("image/png").unwrap();
    let (_, uploaded) = run
        .send(
            api(reqwest::Method::POST, "/api/v1/assets").multipart(reqwest::multipart::Form::new().part("files", part)),
        )
        .await;
    let input = uploaded["asset"]["id"].as_str().unwrap().to_owned();
    let good = json!({"capability": "image.generate", "prompt": "a crane", "webhookUrl": receiver.url});
    let (_, created) = run.send(api(reqwest::Method::POST, "/api/v1/jobs").json(&good)).await;
    let good = created["job"]["id"].as_str().unwrap().to_owned();
    let refused = json!({"capability": "image.upscale", "inputAssetIds": [input]});
    let (_, created) = run.send(api(reqwest::Method::POST, "/api/v1/jobs").json(&refused)).await;
    let refused = created["job"]["id"].as_str().unwrap().to_owned();
    let (good_job, _) = wait_for_end(&http, &server, &good).await;
    let (refused_job, _) = wait_for_end(&http, &server, &refused).await;
    assert_eq!((good_job["status"].as_str(), refused_job["status"].as_str()), (Some("succeeded"), Some("failed")));
    for path in [
        format!("/api/v1/jobs/{good}"),
        format!("/api/v1/jobs/{refused}"),
        format!("/api/v1/jobs/{good}/webhook-deliveries"),
        "/api/v1/jobs".to_owned(),
        "/api/v1/assets".to_owned(),
        "/api/v1/capabilities".to_owned(),
        format!("/ps_tasks/result/{refused}"),
        format!("/v1/async/tasks/{refused}"),
        format!("/api/task/{refused}/status"),
        "/api/system/status".to_owned(),
    ] {
        run.send(api(reqwest::Method::GET, &path)).await;
    }
    for key in ["", "wrong-key", WEBHOOK_SECRET] {
        run.send(http.get(server.url("/api/v1/jobs")).bearer_auth(key)).await;
    }
    run.send(api(reqwest::Method::POST, "/api/v1/jobs").body("{not json")).await;

    // The back office: a wrong password, then the admin's; the channels, their tests, the tasks.
    let login = |password: &str| json!({"username": "admin", "password": password});
    let (status, _) = run.send(http.post(server.url("/admin/login")).json(&login("not the password"))).await;
    assert_eq!(status, 401);
    let response = http.post(server.url("/admin/login")).json(&login(ADMIN_PASSWORD)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let office = |method: reqwest::Method, path: &str| {
        http.request(method, server.url(path)).header("cookie", &cookie).header("origin", &server.base)
    };
    for path in ["/admin/ai-provider/api/configs", "/admin/ai-provider/api/configs/rh-refused", "/admin/ai/api/tasks"] {
        run.send(office(reqwest::Method::GET, path)).await;
    }
    run.send(office(reqwest::Method::GET, &format!("/admin/ai/api/tasks/{refused}"))).await;
    for channel in ["rh-good", "rh-refused"] {
        let (status, _) =
            run.send(office(reqwest::Method::POST, &format!("/admin/ai-provider/api/configs/{channel}/test"))).await;
        assert_eq!(status, 200, "the connection test of {channel} ran");
    }

    // The webhook of the job that succeeded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while receiver.log().await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "no webhook arrived");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let webhooks: Vec<String> = receiver.log().await.iter().map(|request| request.to_string()).collect();

    let key = server.key.clone();
    let (stdout, stderr) = server.terminate_with_output();
    let debug_lines = stderr.iter().filter(|line| line.contains(r#""level":"DEBUG""#)).count();
    assert!(debug_lines > 10, "debug logs were captured: {debug_lines} of {} lines", stderr.len());
    let secrets =
        [key.as_str(), WEBHOOK_SECRET, ADMIN_PASSWORD, session_key.as_str(), fake_runninghub::API_KEY, REFUSED_KEY];
    for (what, texts) in [("response", &run.0), ("webhook", &webhooks), ("stdout", &stdout), ("log", &stderr)] {
        for text in texts {
            for secret in secrets {
                assert!(!text.contains(secret), "a {what} holds a secret ({}…): {text}", &secret[..6]);
            }
        }
    }
}
