//! The Jimeng (jimeng-api) adapter against its fake, asynchronous and synchronous.

use std::sync::Arc;
use std::time::Duration;

use genrelay_providers::{Jimeng, JimengConfig};
use genrelay_tests::fake_jimeng::{Dialect, FakeJimeng, SESSION_ID, Upstream};
use serde_json::{Value, json};

use genrelay_tests::app::{KEY_A, TestApp, png_size, read_signed_url};

fn jimeng(base_url: &str, session: &str, asynchronous: bool) -> Jimeng {
    let dialect = if asynchronous { "tasks" } else { "sync" };
    jimeng_with(json!({"baseUrl": base_url, "sessionId": session, "dialect": dialect}))
}

fn jimeng_with(mut config: Value) -> Jimeng {
    config["pollIntervalMs"] = json!(0);
    config["models"] = json!({"image.generate": "jimeng-4.5", "video.generate": "jimeng-video-3.5-pro"});
    Jimeng::new("jimeng", serde_json::from_value::<JimengConfig>(config).unwrap())
}

async fn finished(app: &TestApp, body: serde_json::Value) -> serde_json::Value {
    let id = app.create_job(KEY_A, body).await;
    for _ in 0..4 {
        app.drain().await;
    }
    app.job(KEY_A, &id).await
}

#[tokio::test]
async fn an_async_image_task_completes_with_ratio_and_strength_from_the_request() {
    let fake = FakeJimeng::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(jimeng(&base, SESSION_ID, true)));
    let job = finished(
        &app,
        json!({"capability": "image.generate", "prompt": "旅游海报", "width": 1440, "height": 2560, "scale": 50}),
    )
    .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let (_, location) = app.download_redirect(KEY_A, job["outputAssetIds"][0].as_str().unwrap()).await;
    assert_eq!(png_size(&read_signed_url(&app, &location).unwrap().0), (60, 60));
    let sent = &fake.bodies()[0];
    assert_eq!((sent["ratio"].as_str(), sent["sample_strength"].as_f64()), (Some("9:16"), Some(0.5)));
    assert!(sent["width"].is_null(), "jimeng-api refuses width and height");
}

#[tokio::test]
async fn the_synchronous_interface_finishes_at_submission() {
    let fake = FakeJimeng::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(jimeng(&base, SESSION_ID, false)));
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    app.engine.work_dispatch_queue(10, std::time::Duration::from_secs(60)).await.unwrap();
    assert_eq!(app.job(KEY_A, &id).await["status"], "succeeded", "no polling needed");
}

#[tokio::test]
async fn errors_in_200_bodies_are_classified() {
    let fake = FakeJimeng::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(jimeng(&base, SESSION_ID, true)));
    let job = finished(&app, json!({"capability": "image.generate", "prompt": "[filtered]"})).await;
    assert_eq!(job["status"], "failed");
    assert!(job["error"].as_str().unwrap().contains("filtered"), "{job}");

    let base = fake.base_url.clone();
    let expired = TestApp::with_provider(move |_, _| Arc::new(jimeng(&base, "expired-session", true)));
    let id = expired.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    expired.drain().await;
    let job = expired.job(KEY_A, &id).await;
    assert_eq!(job["status"], "failed", "the only channel refuses its session: no silent wait: {job}");
    assert!(!job.to_string().contains("expired-session"), "the session id never shows");
}

fn attempts(job: &Value) -> Vec<String> {
    job["attempts"].as_array().unwrap().iter().map(|a| a["outcome"].as_str().unwrap().to_owned()).collect()
}

const EXPIRED: &str = "Jimeng: session or credentials refused: the channel's session has expired or is not valid";

/// jimeng-api in front of a Jimeng that refuses the channel's session: every job fails at once
/// with the reason (no operator advice), later ones too while the channel cools down.
#[tokio::test]
async fn a_refused_session_fails_jobs_at_once_with_the_reason() {
    for dialect in [Dialect::Sync, Dialect::Tasks] {
        let fake = FakeJimeng::start_with(dialect).await;
        fake.set_upstream(Upstream::SessionExpired);
        let base = fake.base_url.clone();
        let name = if dialect == Dialect::Sync { "sync" } else { "tasks" };
        let app = TestApp::with_provider(move |_, _| {
            Arc::new(jimeng_with(json!({"baseUrl": base, "sessionId": SESSION_ID, "dialect": name})))
        });
        let job = finished(&app, json!({"capability": "image.generate", "prompt": "x"})).await;
        assert_eq!(
            (job["status"].as_str(), job["error"].as_str()),
            (Some("failed"), Some(EXPIRED)),
            "{dialect:?}: {job}"
        );
        assert!(!job.to_string().contains("refresh_token"), "operator advice stays in the log");
        let later = finished(&app, json!({"capability": "image.generate", "prompt": "y"})).await;
        assert_eq!((later["status"].as_str(), later["error"].as_str()), (Some("failed"), Some(EXPIRED)), "{later}");
        assert!(later["attempts"].as_array().unwrap().is_empty(), "the cooling channel is not asked again: {later}");
    }
    let fake = FakeJimeng::start_with(Dialect::Sync).await;
    fake.set_upstream(Upstream::NoCredits);
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(jimeng(&base, SESSION_ID, false)));
    let job = finished(&app, json!({"capability": "image.generate", "prompt": "x"})).await;
    assert_eq!(job["error"], "Jimeng: quota exhausted: the channel's account has no credits left", "{job}");
}

/// `-1000` with a transport message is Jimeng out of reach: the job waits, visibly and for a
/// bounded time, and fails with the reason when the wait is over.
#[tokio::test]
async fn an_unreachable_jimeng_is_waited_for_visibly_then_given_up() {
    let fake = FakeJimeng::start_with(Dialect::Sync).await;
    fake.set_upstream(Upstream::Unreachable);
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(jimeng(&base, SESSION_ID, false)));
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    app.drain().await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "running", "{job}");
    assert_eq!(job["waiting"]["reason"], "Jimeng: unreachable: jimeng-api could not reach Jimeng", "{job}");
    assert!(job["waiting"]["until"].is_string(), "{job}");

    let settings = app.engine.settings().clone();
    let mut waited = Duration::ZERO;
    while waited <= settings.channel_wait {
        app.clock.advance(settings.poll_retry);
        waited += settings.poll_retry;
        app.drain().await;
    }
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(error.starts_with("No channel took the job in 300 s: Jimeng: unreachable"), "{error}");
}

/// A synchronous generation that outlives its timeout is not sent again: jimeng-api keeps
/// generating (and Jimeng charging) after its caller leaves.
#[tokio::test]
async fn a_timed_out_synchronous_generation_is_never_paid_twice() {
    let fake = FakeJimeng::start_with(Dialect::Sync).await;
    fake.hold_sync(Duration::from_secs(3));
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| {
        Arc::new(jimeng_with(
            json!({"baseUrl": base, "sessionId": SESSION_ID, "dialect": "sync", "syncTimeoutSeconds": 1}),
        ))
    });
    let job = finished(&app, json!({"capability": "image.generate", "prompt": "x"})).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().starts_with("Jimeng: outcome unknown: no answer in time"), "{job}");
    assert_eq!(fake.generations(), 1, "one paid generation");
}

/// A server of another dialect answers 200 without the id the channel expects: the outcome is
/// unknown, and the job is not submitted again.
#[tokio::test]
async fn an_answer_without_a_task_id_is_never_submitted_again() {
    let fake = FakeJimeng::start_with(Dialect::History).await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(jimeng(&base, SESSION_ID, true)));
    let job = finished(&app, json!({"capability": "image.generate", "prompt": "x"})).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().starts_with("Jimeng: outcome unknown"), "{job}");
    assert_eq!(fake.generations(), 1);

    // The same server, spoken to in its dialect, runs images and videos.
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| {
        Arc::new(jimeng_with(json!({"baseUrl": base, "sessionId": SESSION_ID, "dialect": "history",
                                    "pollPath": "/v1/async/{kind}/tasks/{id}"})))
    });
    let image = finished(&app, json!({"capability": "image.generate", "prompt": "x"})).await;
    assert_eq!(image["status"], "succeeded", "{image}");
    let video =
        finished(&app, json!({"capability": "video.generate", "prompt": "x", "settings": {"duration": 5}})).await;
    assert_eq!(video["status"], "succeeded", "{video}");
    let filtered = finished(&app, json!({"capability": "image.generate", "prompt": "[filtered]"})).await;
    assert!(filtered["error"].as_str().unwrap().starts_with("Jimeng: content filtered"), "{filtered}");
}

/// PR #133 keeps tasks in memory: after a restart the task is unknown (`任务不存在`), and the job
/// is submitted again; a released server without async routes refuses the dialect at once.
#[tokio::test]
async fn a_task_lost_in_a_restart_is_submitted_again_and_a_wrong_dialect_is_named() {
    let fake = FakeJimeng::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(jimeng(&base, SESSION_ID, true)));
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    app.engine.work_dispatch_queue(10, Duration::from_secs(60)).await.unwrap();
    fake.restart();
    for _ in 0..4 {
        app.drain().await;
    }
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(attempts(&job).iter().any(|a| a.starts_with("Jimeng: lost the task")), "{job}");

    let released = FakeJimeng::start_with(Dialect::Sync).await;
    let base = released.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(jimeng(&base, SESSION_ID, true)));
    let job = finished(&app, json!({"capability": "image.generate", "prompt": "x"})).await;
    assert_eq!(job["error"], "Jimeng: refused as invalid: the server has no such route (check the channel's dialect)");
    assert_eq!(released.generations(), 0);
}

/// jimeng-api timing out on Jimeng while generating (`-1000 timeout of 45000ms exceeded`): Jimeng
/// may be generating (and charging), so the job is not handed to another channel.
#[tokio::test]
async fn jimeng_api_losing_jimeng_mid_generation_is_never_paid_twice() {
    let fake = FakeJimeng::start_with(Dialect::Sync).await;
    fake.set_upstream(Upstream::TimesOut);
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(jimeng(&base, SESSION_ID, false)));
    let job = finished(&app, json!({"capability": "image.generate", "prompt": "x"})).await;
    assert_eq!(
        job["error"], "Jimeng: outcome unknown: jimeng-api lost Jimeng while generating; not sent again",
        "{job}"
    );
    assert_eq!(fake.generations(), 1);
}
