//! Webhook delivery through the engine on the embedded store, to a real receiver on loopback
//! that verifies both signatures with independent implementations. The retry schedule runs on
//! the test's clock.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use genrelay_core::ports::{JobStore, WebhookSender};
use genrelay_core::{ClientId, JobId, JobStatus};
use genrelay_egress::Egress;
use genrelay_tests::webhook_receiver::WebhookReceiver;
use genrelay_webhook_sender::{HttpWebhookSender, WebhookSecrets};
use serde_json::{Value, json};

use genrelay_tests::app::{KEY_A, TestApp};

const SECRET: &str = "whk-current-secret";
const PREVIOUS: &str = "whk-previous-secret";

/// An app whose webhooks reach loopback (as `genrelay-dev --allow-private-webhooks` does).
fn app_signing_with(current: &str, previous: Option<&str>) -> TestApp {
    let secrets = WebhookSecrets::new(Some(current.into()), previous.map(str::to_owned));
    let sender: Arc<dyn WebhookSender> = Arc::new(HttpWebhookSender::new(Egress::allow_private(), secrets));
    TestApp::with_webhook_sender(sender)
}

async fn job_with_hook(app: &TestApp, url: &str, extra: Value) -> String {
    let mut body = json!({"capability": "image.generate", "prompt": "a webhook test", "width": 64, "height": 64,
                          "webhookUrl": url});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    app.create_job(KEY_A, body).await
}

async fn deliveries(app: &TestApp, id: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/api/v1/jobs/{id}/webhook-deliveries"), KEY_A).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["deliveries"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_job_posts_seed_004s_payload_with_both_signatures() {
    let receiver = WebhookReceiver::start(SECRET, Some(PREVIOUS));
    let app = app_signing_with(SECRET, Some(PREVIOUS));
    let id = job_with_hook(&app, &receiver.url, json!({})).await;
    app.drain().await;

    let log = receiver.log().await;
    assert_eq!(log.len(), 1, "one request for the one ending: {log:?}");
    let request = &log[0];
    assert_eq!(request["body"]["event"], "generation.succeeded");
    assert_eq!(request["body"]["job"]["id"], id.as_str());
    assert_eq!(request["body"]["job"]["status"], "succeeded");
    assert_eq!(request["body"]["job"]["outputAssetIds"], app.job(KEY_A, &id).await["outputAssetIds"]);
    assert_eq!(request["standard"], true, "the standardwebhooks library verifies webhook-signature");
    assert_eq!(request["zhinian"], true, "X-Zhinian-Signature is the HMAC-SHA256 of the raw body");
    assert_eq!(request["standardPrevious"], true, "during a rotation the old secret verifies too");
    assert_eq!(request["zhinianPrevious"], true);
    let headers = &request["headers"];
    assert!(headers["webhook-id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(headers["content-type"], "application/json");
    assert!(!headers.to_string().contains(SECRET), "secrets never travel");

    let deliveries = deliveries(&app, &id).await;
    assert_eq!(deliveries.len(), 1);
    let delivery = &deliveries[0];
    assert_eq!(
        (delivery["event"].as_str(), delivery["status"].as_str()),
        (Some("generation.succeeded"), Some("delivered"))
    );
    assert_eq!(delivery["id"], headers["webhook-id"]);
    assert_eq!(delivery["attempts"][0]["statusCode"], 200);
    assert!(delivery["attempts"][0]["latencyMs"].is_u64());
    assert_eq!(app.metrics.recorded().iter().filter(|m| *m == "webhook delivered").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_retried_on_the_schedule_with_the_same_id_and_fresh_signatures() {
    let receiver = WebhookReceiver::start(SECRET, None);
    receiver.answer(&[(503, None), (500, None), (200, None)]).await;
    let app = app_signing_with(SECRET, None);
    let id = job_with_hook(&app, &receiver.url, json!({})).await;
    app.drain().await;
    let pending = &deliveries(&app, &id).await[0];
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending["attempts"][0]["statusCode"], 503);

    // Not due yet: nothing is sent before the 5 s wait is over.
    app.clock.advance(Duration::from_secs(4));
    app.drain().await;
    assert_eq!(receiver.log().await.len(), 1);
    app.clock.advance(Duration::from_secs(1));
    // A real second passes, so the attempt's webhook-timestamp is a new one.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.drain().await;
    assert_eq!(receiver.log().await.len(), 2);
    app.clock.advance(Duration::from_secs(5 * 60));
    app.drain().await;

    let log = receiver.log().await;
    assert_eq!(log.len(), 3, "{log:?}");
    let ids: Vec<&Value> = log.iter().map(|r| &r["headers"]["webhook-id"]).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "webhook-id is stable across retries");
    assert!(log.iter().all(|r| r["standard"] == true && r["zhinian"] == true), "every attempt is signed afresh");
    assert_ne!(log[0]["headers"]["webhook-timestamp"], log[1]["headers"]["webhook-timestamp"]);
    let delivered = &deliveries(&app, &id).await[0];
    assert_eq!(delivered["status"], "delivered");
    let codes: Vec<&Value> = delivered["attempts"].as_array().unwrap().iter().map(|a| &a["statusCode"]).collect();
    assert_eq!(codes, [&json!(503), &json!(500), &json!(200)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_and_exhaustion_dead_letters_with_a_metric() {
    let receiver = WebhookReceiver::start(SECRET, None);
    receiver.answer(&[(429, Some(120)), (500, None)]).await;
    let app = app_signing_with(SECRET, None);
    let id = job_with_hook(&app, &receiver.url, json!({})).await;
    app.drain().await;
    let first = &deliveries(&app, &id).await[0];
    let (at, next) = (&first["attempts"][0]["at"], &first["nextAttemptAt"]);
    let wait = chrono::DateTime::parse_from_rfc3339(next.as_str().unwrap()).unwrap()
        - chrono::DateTime::parse_from_rfc3339(at.as_str().unwrap()).unwrap();
    assert_eq!(wait.num_seconds(), 120, "Retry-After: 120 outranks the 5 s step");

    for _ in 0..10 {
        app.clock.advance(Duration::from_secs(10 * 3600));
        app.drain().await;
    }
    let dead = &deliveries(&app, &id).await[0];
    assert_eq!((dead["status"].as_str(), dead["failure"].as_str()), (Some("failed"), Some("retries exhausted")));
    assert_eq!(dead["attempts"].as_array().unwrap().len(), 8);
    assert_eq!(receiver.log().await.len(), 8);
    assert!(app.metrics.recorded().contains(&"webhook dead_letter".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_disables_the_url_until_a_redelivery_and_redirects_are_not_followed() {
    let receiver = WebhookReceiver::start(SECRET, None);
    receiver.answer(&[(410, None)]).await;
    let app = app_signing_with(SECRET, None);
    let first = job_with_hook(&app, &receiver.url, json!({})).await;
    app.drain().await;
    let gone = &deliveries(&app, &first).await[0];
    assert_eq!(gone["status"], "failed");
    assert!(gone["failure"].as_str().unwrap().contains("410"), "{gone}");

    let second = job_with_hook(&app, &receiver.url, json!({})).await;
    app.drain().await;
    let skipped = &deliveries(&app, &second).await[0];
    assert_eq!(skipped["attempts"], json!([]), "nothing is sent to a disabled URL: {skipped}");
    assert_eq!(receiver.log().await.len(), 1);

    receiver.answer(&[(200, None)]).await;
    let (status, body) =
        app.post(&format!("/api/v1/jobs/{first}/webhook-deliveries/redeliver"), KEY_A, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let redelivered = &body["deliveries"][0];
    assert_eq!(redelivered["status"], "delivered");
    assert_eq!(redelivered["attempts"][1]["manual"], true);

    // A 3xx is an answer, not a way elsewhere: recorded, not followed, not retried.
    receiver.answer(&[(302, None)]).await;
    let third = job_with_hook(&app, &receiver.url, json!({})).await;
    app.drain().await;
    let redirected = &deliveries(&app, &third).await[0];
    assert_eq!(
        (redirected["status"].as_str(), &redirected["attempts"][0]["statusCode"]),
        (Some("failed"), &json!(302))
    );
    assert_eq!(receiver.log().await.len(), 3, "the redirect target was never called");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_events_can_ask_for_running_and_each_event_is_delivered_once() {
    let receiver = WebhookReceiver::start(SECRET, None);
    let app = app_signing_with(SECRET, None);
    let events = json!({"webhookEvents": ["generation.running", "generation.succeeded"]});
    let id = job_with_hook(&app, &receiver.url, events).await;
    app.drain().await;
    let events: Vec<Value> = receiver.log().await.iter().map(|r| r["body"]["event"].clone()).collect();
    assert_eq!(events, [json!("generation.running"), json!("generation.succeeded")]);

    // The change feed delivers at least once: a repeated report sends nothing more.
    let client = ClientId::parse("partner-a").unwrap();
    let job = app.embedded.store.get(&client, &JobId::parse(&id).unwrap()).await.unwrap().unwrap();
    app.engine.job_entered(&job, JobStatus::Succeeded).await.unwrap();
    assert_eq!(receiver.log().await.len(), 2);
    assert_eq!(deliveries(&app, &id).await.len(), 2);
}

#[tokio::test]
async fn webhook_urls_are_checked_at_creation() {
    let app = TestApp::new();
    for (url, expected) in [
        ("http://example.com/hook", "https"),
        ("ftp://example.com/hook", "http and https"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://[::ffff:169.254.169.254]/", "link-local"),
        ("https://[fd00::1]/", "private"),
        ("https://user:pw@example.com/hook", "credentials"),
        ("not a url", "webhookUrl"),
    ] {
        let body = json!({"capability": "image.generate", "prompt": "x", "webhookUrl": url});
        let (status, answer) = app.post("/api/v1/jobs", KEY_A, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(expected), "{url}: {error}");
    }
    let (status, _) = app
        .post(
            "/api/v1/jobs",
            KEY_A,
            json!({"capability": "image.generate", "prompt": "x",
                                             "webhookUrl": "https://example.com/zhinian/webhook"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "seed 004's example URL is fine");
    let (status, answer) = app
        .post(
            "/api/v1/jobs",
            KEY_A,
            json!({"capability": "image.generate", "prompt": "x",
                                             "webhookEvents": ["generation.succeeded"]}),
        )
        .await;
    assert_eq!((status, answer["error"].as_str().unwrap().contains("webhookUrl")), (StatusCode::BAD_REQUEST, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_resolving_to_an_internal_address_is_refused_at_delivery() {
    let receiver = WebhookReceiver::start(SECRET, None);
    let app = TestApp::new(); // the production guard
    let port = receiver.url.split(':').nth(2).unwrap().split('/').next().unwrap().to_owned();
    let id = job_with_hook(&app, &format!("https://localhost:{port}/hooks/genrelay"), json!({})).await;
    app.drain().await;
    let refused = &deliveries(&app, &id).await[0];
    assert_eq!(refused["status"], "failed", "{refused}");
    let error = refused["attempts"][0]["error"].as_str().unwrap();
    assert!(error.contains("localhost") && error.contains("loopback"), "{error}");
    assert!(receiver.log().await.is_empty());
}

#[tokio::test]
async fn deliveries_of_unknown_jobs_are_404_and_redelivery_needs_a_sent_webhook() {
    let app = TestApp::new();
    let (status, _) = app.get("/api/v1/jobs/job_01jnothere000000000000000/webhook-deliveries", KEY_A).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    let (status, body) = app.post(&format!("/api/v1/jobs/{id}/webhook-deliveries/redeliver"), KEY_A, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["error"].as_str().unwrap().contains("no webhookUrl"), "{body}");
    assert_eq!(deliveries(&app, &id).await, Vec::<Value>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_also_stops_the_pending_retries_of_other_jobs_to_that_url() {
    let receiver = WebhookReceiver::start(SECRET, None);
    receiver.answer(&[(503, None), (410, None)]).await;
    let app = app_signing_with(SECRET, None);
    let first = job_with_hook(&app, &receiver.url, json!({})).await;
    app.drain().await; // 503: a retry is pending
    let second = job_with_hook(&app, &receiver.url, json!({})).await;
    app.drain().await; // 410: the URL is disabled
    assert_eq!(deliveries(&app, &second).await[0]["status"], "failed");

    app.clock.advance(Duration::from_secs(5));
    app.drain().await;
    assert_eq!(receiver.log().await.len(), 2, "the pending retry was not sent");
    let stopped = &deliveries(&app, &first).await[0];
    assert_eq!(stopped["status"], "failed");
    assert!(stopped["failure"].as_str().unwrap().contains("410"), "{stopped}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicated_wakeup_is_dropped_so_the_retry_chain_never_forks() {
    let receiver = WebhookReceiver::start(SECRET, None);
    receiver.answer(&[(503, None)]).await;
    let app = app_signing_with(SECRET, None);
    let id = job_with_hook(&app, &receiver.url, json!({})).await;
    app.drain().await;
    let client = ClientId::parse("partner-a").unwrap();
    let job = JobId::parse(&id).unwrap();
    let store: &dyn genrelay_core::ports::WebhookStore = &app.embedded.store;
    let pending = store.delivery(&client, &job, genrelay_core::WebhookEvent::Succeeded).await.unwrap().unwrap();
    let wakeup = pending.wakeup(pending.next_attempt_at.unwrap());

    // Early: the wake-up is sent again for the rest of the wait, as a new revision.
    app.engine.wake_delivery(&wakeup).await.unwrap();
    let waiting = store.delivery(&client, &job, genrelay_core::WebhookEvent::Succeeded).await.unwrap().unwrap();
    assert_eq!(waiting.revision, pending.revision + 1);
    // Its duplicate names the old revision: dropped, nothing changes, nothing is sent.
    app.clock.advance(Duration::from_secs(5));
    app.engine.wake_delivery(&wakeup).await.unwrap();
    let after = store.delivery(&client, &job, genrelay_core::WebhookEvent::Succeeded).await.unwrap().unwrap();
    assert_eq!(after, waiting);
    assert_eq!(receiver.log().await.len(), 1);
    // The current wake-up attempts.
    app.engine.wake_delivery(&waiting.wakeup(waiting.next_attempt_at.unwrap())).await.unwrap();
    assert_eq!(receiver.log().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_from_the_seed_surfaces_notify_their_webhook_too() {
    let receiver = WebhookReceiver::start(SECRET, None);
    let app = app_signing_with(SECRET, None);
    let state = genrelay_http::AppState {
        engine: app.engine.clone(),
        keys: Arc::new(genrelay_http::ApiKeys::parse(genrelay_tests::app::API_KEYS).unwrap()),
    };
    let post = |path: String, body: Option<Value>| {
        let request = axum::http::Request::post(path)
            .header("authorization", format!("Bearer {KEY_A}"))
            .header("content-type", "application/json");
        request.body(axum::body::Body::from(body.map(|b| b.to_string()).unwrap_or_default())).unwrap()
    };
    use tower::ServiceExt;
    let ps = serde_json::json!({"image_url": "https://example.com/a.png", "prompt": "x", "webhook_url": receiver.url});
    let answer =
        genrelay_http::ps_tasks_router(state.clone()).oneshot(post("/ps_tasks/submit".into(), Some(ps))).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let jimeng = serde_json::json!({"prompt": "x", "model": "jimeng-4.5", "webhook_url": receiver.url});
    let answer = genrelay_http::jimeng_async_router(state.clone())
        .oneshot(post("/v1/async/images/generations".into(), Some(jimeng)))
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let query = format!("/api/inference?index=1&webhook_url={}", receiver.url);
    let presets = genrelay_http::inference::InferencePresets::defaults();
    let answer = genrelay_http::inference_router(state, presets).oneshot(post(query, None)).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    app.drain().await;

    let log = receiver.log().await;
    let mut surfaces: Vec<&str> = log.iter().map(|r| r["body"]["job"]["source"]["surface"].as_str().unwrap()).collect();
    surfaces.sort();
    assert_eq!(surfaces, ["inference", "jimeng-async", "ps-tasks"], "{log:?}");
    assert!(log.iter().all(|r| r["zhinian"] == true));
}
