//! Races the gateway must win, run for real on several threads: one dispatch message delivered
//! five times at once submits once; two pollers on one due job ingest once; a cancel racing
//! the completion ends the job once, with one webhook.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use genrelay_core::ports::{
    DispatchMessage, GeneratedFile, PollOutcome, Provider, ResolvedInputs, Submission, WebhookSender,
};
use genrelay_core::webhook::SendOutcome;
use genrelay_core::{ClientId, Job, JobId, Result, WebhookDelivery};
use genrelay_engine::ChannelRegistry;
use serde_json::json;

use genrelay_tests::app::{KEY_A, TestApp, tiny_png};

/// Counts its submits and polls; each takes `delay`, so that concurrent callers overlap.
#[derive(Default)]
struct Counting {
    submits: AtomicUsize,
    polls: AtomicUsize,
    delay: Duration,
}

#[async_trait]
impl Provider for Counting {
    fn name(&self) -> &str {
        "counting"
    }

    async fn submit(&self, _job: &Job, _inputs: &ResolvedInputs) -> Result<Submission> {
        self.submits.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        Ok(Submission::Accepted { task_id: "task-1".into(), poll_after: Duration::ZERO })
    }

    async fn poll(&self, job: &Job) -> Result<PollOutcome> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        Ok(PollOutcome::Succeeded(vec![GeneratedFile::from_bytes(format!("{}.png", job.id), "image/png", tiny_png())]))
    }
}

/// Records every webhook it is asked to send, and answers 200.
#[derive(Default)]
struct Recording(Mutex<Vec<(String, String)>>);

#[async_trait]
impl WebhookSender for Recording {
    async fn send(&self, delivery: &WebhookDelivery, job: &Job) -> SendOutcome {
        self.0.lock().unwrap().push((job.id.to_string(), delivery.event.to_string()));
        SendOutcome::Answered { status: 200, latency: Duration::ZERO, retry_after: None }
    }

    fn check_url(&self, _url: &str, _field: &str) -> Result<()> {
        Ok(())
    }
}

fn app_on(provider: Arc<Counting>, webhooks: Arc<Recording>) -> TestApp {
    TestApp::new().rewired(|deps| {
        deps.channels = ChannelRegistry::all_to(provider);
        deps.webhooks.sender = webhooks;
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_message_delivered_five_times_at_once_submits_once() {
    let provider = Arc::new(Counting { delay: Duration::from_millis(30), ..Counting::default() });
    let app = app_on(provider.clone(), Arc::default());
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "once"})).await;
    let message =
        DispatchMessage { job_id: JobId::parse(&id).unwrap(), client_id: ClientId::parse("partner-a").unwrap() };
    let deliveries: Vec<_> = (0..5)
        .map(|_| {
            let (engine, message) = (app.engine.clone(), message.clone());
            tokio::spawn(async move { engine.run_dispatch(&message).await })
        })
        .collect();
    for delivery in deliveries {
        delivery.await.unwrap().unwrap();
    }
    assert_eq!(provider.submits.load(Ordering::SeqCst), 1, "one upstream submit");
    app.drain().await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!((job["status"].as_str(), job["outputAssetIds"].as_array().unwrap().len()), (Some("succeeded"), 1));
    assert_eq!(provider.submits.load(Ordering::SeqCst), 1, "and none later");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pollers_on_one_due_job_ingest_once() {
    let provider = Arc::new(Counting { delay: Duration::from_millis(30), ..Counting::default() });
    let app = app_on(provider.clone(), Arc::default());
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "once"})).await;
    app.engine.work_dispatch_queue(10, Duration::from_secs(60)).await.unwrap();
    let pollers: Vec<_> = (0..2)
        .map(|_| {
            let engine = app.engine.clone();
            tokio::spawn(async move { engine.poll_due(10).await })
        })
        .collect();
    for poller in pollers {
        poller.await.unwrap().unwrap();
    }
    assert_eq!(provider.polls.load(Ordering::SeqCst), 1, "one poll of the upstream task");
    app.drain().await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!((job["status"].as_str(), job["outputAssetIds"].as_array().unwrap().len()), (Some("succeeded"), 1));
    let (_, assets) = app.get("/api/v1/assets", KEY_A).await;
    assert_eq!(assets["assets"].as_array().unwrap().len(), 1, "one output recorded");
    assert_eq!(app.stored_files(), 1, "one output stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancel_racing_the_completion_ends_the_job_once_with_one_webhook() {
    for head_start_ms in [0, 10, 20, 40] {
        let provider = Arc::new(Counting { delay: Duration::from_millis(20), ..Counting::default() });
        let webhooks = Arc::new(Recording::default());
        let app = app_on(provider.clone(), webhooks.clone());
        let body = json!({"capability": "image.generate", "prompt": "race", "webhookUrl": "https://hooks.test/a"});
        let id = app.create_job(KEY_A, body).await;
        app.engine.work_dispatch_queue(10, Duration::from_secs(60)).await.unwrap();
        let poller = tokio::spawn({
            let engine = app.engine.clone();
            async move { engine.poll_due(10).await }
        });
        tokio::time::sleep(Duration::from_millis(head_start_ms)).await;
        let (cancel_status, cancelled) = app.post(&format!("/api/v1/jobs/{id}/cancel"), KEY_A, json!({})).await;
        poller.await.unwrap().unwrap();
        app.drain().await;

        let job = app.job(KEY_A, &id).await;
        let status = job["status"].as_str().unwrap().to_owned();
        assert!(status == "succeeded" || status == "cancelled", "{job}");
        match cancel_status.as_u16() {
            200 => assert_eq!(status, "cancelled", "the cancel won: {cancelled}"),
            409 => assert_eq!(status, "succeeded", "the completion won: {cancelled}"),
            other => panic!("cancel answered {other}: {cancelled}"),
        }
        let (_, assets) = app.get("/api/v1/assets", KEY_A).await;
        let outputs = usize::from(status == "succeeded");
        assert_eq!(assets["assets"].as_array().unwrap().len(), outputs, "outputs only of a success");
        assert_eq!(app.stored_files(), outputs, "no file left behind by the loser");
        let sent = webhooks.0.lock().unwrap().clone();
        assert_eq!(sent.len(), 1, "one webhook for the one ending: {sent:?}");
        assert!(sent[0].1.ends_with(&status), "the webhook tells the ending that won: {sent:?} {status}");
    }
}
