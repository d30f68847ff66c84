//! The engine's lifecycle on the embedded adapters: worker, poller, reconciler, mock provider.

use std::time::Duration;

use axum::http::StatusCode;
use genrelay_core::ports::DispatchMessage;
use genrelay_core::{ClientId, JobId};
use genrelay_providers::MockConfig;
use serde_json::{Value, json};

use genrelay_tests::app::{KEY_A, TestApp, png_size, read_signed_url};

async fn download(app: &TestApp, asset_id: &str) -> (Vec<u8>, String) {
    let (status, location) = app.download_redirect(KEY_A, asset_id).await;
    assert_eq!(status, StatusCode::FOUND);
    read_signed_url(app, &location).unwrap()
}

fn slow_mock(latency_ms: u64) -> MockConfig {
    MockConfig { latency: Duration::from_millis(latency_ms), failure_rate: 0.0 }
}

#[tokio::test]
async fn an_image_job_succeeds_with_a_png_of_the_requested_size() {
    let app = TestApp::new();
    let body = json!({"capability": "image.generate", "prompt": "a red fox", "width": 320, "height": 200});
    let id = app.create_job(KEY_A, body).await;
    app.drain().await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["progress"], 100);
    let outputs = job["outputAssetIds"].as_array().unwrap();
    assert_eq!(outputs.len(), 1);
    let (_, asset) = app.get(&format!("/api/v1/assets/{}", outputs[0].as_str().unwrap()), KEY_A).await;
    assert_eq!(asset["asset"]["source"], "output");
    assert_eq!(asset["asset"]["jobId"], id.as_str());
    let (bytes, content_type) = download(&app, outputs[0].as_str().unwrap()).await;
    assert_eq!(content_type, "image/png");
    assert_eq!(png_size(&bytes), (320, 200));
}

#[tokio::test]
async fn the_png_derives_from_the_prompt() {
    let app = TestApp::new();
    let mut images = Vec::new();
    for prompt in ["a red fox", "a blue whale", "a red fox"] {
        let id = app
            .create_job(KEY_A, json!({"capability": "image.generate", "prompt": prompt, "width": 64, "height": 64}))
            .await;
        app.drain().await;
        let job = app.job(KEY_A, &id).await;
        images.push(download(&app, job["outputAssetIds"][0].as_str().unwrap()).await.0);
    }
    assert_ne!(images[0], images[1]);
    assert_eq!(images[0], images[2]);
}

#[tokio::test]
async fn a_video_job_makes_a_real_mp4_of_the_requested_duration() {
    let app = TestApp::new();
    let body = json!({"capability": "video.generate", "prompt": "waves", "settings": {"ratio": "9:16", "duration": 4, "resolution": "480p"}});
    let id = app.create_job(KEY_A, body).await;
    app.drain().await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let (bytes, content_type) = download(&app, job["outputAssetIds"][0].as_str().unwrap()).await;
    assert_eq!(content_type, "video/mp4");
    assert_eq!(&bytes[4..8], b"ftyp");
    let reader = mp4::Mp4Reader::read_header(std::io::Cursor::new(&bytes), bytes.len() as u64).unwrap();
    assert_eq!(reader.duration(), Duration::from_secs(4));
    let track = reader.tracks().values().next().unwrap();
    assert!(track.height() > track.width(), "portrait 9:16");
}

#[tokio::test]
async fn progress_is_reported_while_running_and_reaches_100() {
    let app = TestApp::with_mock(slow_mock(400));
    let id = app
        .create_job(KEY_A, json!({"capability": "image.generate", "prompt": "slow", "width": 64, "height": 64}))
        .await;
    app.engine.work_dispatch_queue(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(app.job(KEY_A, &id).await["status"], "running");
    app.clock.advance(Duration::from_millis(200));
    app.engine.poll_due(10).await.unwrap();
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "running");
    let progress = job["progress"].as_u64().unwrap();
    assert!((1..100).contains(&progress), "progress {progress}");
    app.clock.advance(Duration::from_millis(300));
    app.engine.poll_due(10).await.unwrap();
    let job = app.job(KEY_A, &id).await;
    assert_eq!((job["status"].as_str().unwrap(), job["progress"].as_u64().unwrap()), ("succeeded", 100));
}

#[tokio::test]
async fn a_running_job_can_be_cancelled_and_stays_cancelled() {
    let app = TestApp::with_mock(slow_mock(400));
    let id =
        app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x", "width": 64, "height": 64})).await;
    app.engine.work_dispatch_queue(10, Duration::from_secs(60)).await.unwrap();
    let (status, answer) = app.post(&format!("/api/v1/jobs/{id}/cancel"), KEY_A, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["job"]["status"], "cancelled");
    app.clock.advance(Duration::from_secs(1));
    app.drain().await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "cancelled");
    assert_eq!(job["outputAssetIds"], json!([]));
}

#[tokio::test]
async fn simulated_failures_end_the_job_failed_with_a_reason() {
    let app = TestApp::new();
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "please [mock:fail]"})).await;
    app.drain().await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "failed");
    assert!(job["error"].as_str().unwrap().contains("simulated"));

    let always = TestApp::with_mock(MockConfig { latency: Duration::from_millis(50), failure_rate: 1.0 });
    let id =
        always.create_job(KEY_A, json!({"capability": "image.upscale", "imageUrls": ["https://e.com/a.png"]})).await;
    always.drain().await;
    always.clock.advance(Duration::from_millis(100));
    always.drain().await;
    assert_eq!(always.job(KEY_A, &id).await["status"], "failed");
}

#[tokio::test]
async fn a_duplicate_delivery_does_not_run_the_job_twice() {
    let app = TestApp::new();
    let id = app
        .create_job(KEY_A, json!({"capability": "image.generate", "prompt": "once", "width": 64, "height": 64}))
        .await;
    let message =
        DispatchMessage { job_id: JobId::parse(&id).unwrap(), client_id: ClientId::parse("partner-a").unwrap() };
    app.engine.run_dispatch(&message).await.unwrap();
    app.engine.run_dispatch(&message).await.unwrap();
    app.drain().await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded");
    assert_eq!(job["outputAssetIds"].as_array().unwrap().len(), 1);
    let (_, assets) = app.get("/api/v1/assets", KEY_A).await;
    assert_eq!(assets["assets"].as_array().unwrap().len(), 1, "one output stored");
}

#[tokio::test]
async fn the_reconciler_dispatches_a_job_whose_message_was_lost() {
    let app = TestApp::new();
    let id = app
        .create_job(KEY_A, json!({"capability": "image.generate", "prompt": "lost", "width": 64, "height": 64}))
        .await;
    // Lose the dispatch message: receive it and never acknowledge; it stays hidden for a minute.
    use genrelay_core::ports::DispatchQueue;
    assert_eq!(app.embedded.standard_queue.receive(10, Duration::from_secs(60)).await.unwrap().len(), 1);
    app.drain().await;
    assert_eq!(app.job(KEY_A, &id).await["status"], "queued");
    let report = app.engine.reconcile(10).await.unwrap();
    assert_eq!(report.redispatched, 0, "not before the grace period");
    app.clock.advance(app.engine.settings().queued_grace);
    let report = app.engine.reconcile(10).await.unwrap();
    assert_eq!(report.redispatched, 1);
    let again = app.engine.reconcile(10).await.unwrap();
    assert_eq!(again.redispatched, 0, "at most once per grace period, however often it runs");
    app.drain().await;
    assert_eq!(app.job(KEY_A, &id).await["status"], "succeeded");
}

#[tokio::test]
async fn jobs_past_their_deadline_expire() {
    let app = TestApp::with_mock(slow_mock(10_000_000));
    let running = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "forever"})).await;
    app.engine.work_dispatch_queue(10, Duration::from_secs(60)).await.unwrap();
    let queued = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "never started"})).await;
    use genrelay_core::ports::DispatchQueue;
    app.embedded.standard_queue.receive(10, Duration::from_secs(3600)).await.unwrap();

    app.clock.advance(app.engine.settings().video_timeout + Duration::from_secs(1));
    app.engine.poll_due(10).await.unwrap();
    let report = app.engine.reconcile(10).await.unwrap();
    assert_eq!(report.expired, 1);
    for id in [running, queued] {
        let job = app.job(KEY_A, &id).await;
        assert_eq!(job["status"], "expired", "{job}");
        assert!(job["error"].as_str().unwrap().contains("deadline"));
    }
}

#[tokio::test]
async fn a_job_accepted_before_a_restart_completes_after_it() {
    let app = TestApp::with_mock(slow_mock(100));
    let running =
        app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "a", "width": 64, "height": 64})).await;
    app.engine.work_dispatch_queue(10, Duration::from_secs(60)).await.unwrap();
    let queued =
        app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "b", "width": 64, "height": 64})).await;
    assert_eq!(app.job(KEY_A, &running).await["status"], "running");

    let restarted = app.restart(slow_mock(100));
    restarted.clock.advance(Duration::from_secs(1));
    restarted.drain().await;
    restarted.clock.advance(Duration::from_secs(1));
    restarted.drain().await;
    for id in [queued, running] {
        let job: Value = restarted.job(KEY_A, &id).await;
        assert_eq!(job["status"], "succeeded", "{job}");
    }
}

#[tokio::test]
async fn priority_jobs_overtake_a_backlog_of_standard_ones() {
    let app = TestApp::with_mock(slow_mock(10_000));
    let body = |prompt: &str, priority: u32| json!({"capability": "image.generate", "prompt": prompt, "width": 64, "height": 64, "priority": priority});
    let mut backlog = Vec::new();
    for i in 0..5 {
        backlog.push(app.create_job(KEY_A, body(&format!("bulk {i}"), 50)).await);
    }
    let urgent = app.create_job(KEY_A, body("urgent", 0)).await;
    assert_eq!(app.job(KEY_A, &urgent).await["priority"], 0);
    app.engine.work_dispatch_queue(1, Duration::from_secs(60)).await.unwrap();
    assert_eq!(app.job(KEY_A, &urgent).await["status"], "running", "the priority lane is served first");
    for id in &backlog {
        assert_eq!(app.job(KEY_A, id).await["status"], "queued");
    }
    let (status, answer) = app.post("/api/v1/jobs", KEY_A, body("too low", 1001)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["error"].as_str().unwrap().starts_with("priority"));
}

#[tokio::test]
async fn the_engine_counts_jobs_created_and_finished_and_times_upstream_calls() {
    let app = TestApp::new();
    let done =
        app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x", "width": 64, "height": 64})).await;
    let cancelled =
        app.create_job(KEY_A, json!({"capability": "image.upscale", "imageUrls": ["https://e.com/a.png"]})).await;
    app.post(&format!("/api/v1/jobs/{cancelled}/cancel"), KEY_A, json!({})).await;
    app.drain().await;
    assert_eq!(app.job(KEY_A, &done).await["status"], "succeeded");
    assert_eq!(
        app.metrics.recorded(),
        [
            "created image.generate",
            "created image.upscale",
            "finished image.upscale cancelled",
            "upstream mock submit true",
            "finished image.generate succeeded",
        ]
    );
}

#[tokio::test]
async fn images_get_15_minutes_and_videos_20_before_they_expire() {
    let app = TestApp::new();
    let minutes = |job: &Value| {
        let at = |field: &str| chrono::DateTime::parse_from_rfc3339(job[field].as_str().unwrap()).unwrap();
        (at("deadlineAt") - at("createdAt")).num_minutes()
    };
    let image = app.create_job(KEY_A, json!({"capability": "image.inpaint", "prompt": "x", "imageUrls": ["https://e.com/a.png", "https://e.com/m.png"]})).await;
    let video = app.create_job(KEY_A, json!({"capability": "video.generate", "prompt": "x"})).await;
    assert_eq!(minutes(&app.job(KEY_A, &image).await), 15);
    assert_eq!(minutes(&app.job(KEY_A, &video).await), 20);
}
