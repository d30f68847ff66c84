//! Crash and load: clients create jobs and poll them to their end against `genrelay-dev`, with
//! no error; then it is killed (SIGKILL) under that load and restarted on the same data, and
//! every job that was answered 2xx exists and ends. Scaled down here (32 clients, 4 s before
//! the kill); `GENRELAY_FULL_LOAD=1` runs it full size (200 clients, 60 s).

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{DevServer, wait_for_end};

/// Clients, and how long they run before the kill.
fn load() -> (usize, Duration) {
    match std::env::var("GENRELAY_FULL_LOAD").as_deref() {
        Ok("1") => (200, Duration::from_secs(60)),
        _ => (32, Duration::from_secs(4)),
    }
}

/// What the clients saw.
#[derive(Default)]
struct Seen {
    /// Jobs whose creation was answered 2xx.
    accepted: Vec<String>,
    /// Answers that were not 2xx, and requests that got no answer.
    errors: Vec<String>,
}

/// One client until `until` (or until the server stops answering): creates a job, polls it
/// until it ends, again.
async fn client(http: reqwest::Client, base: String, key: String, until: Instant, seen: Arc<Mutex<Seen>>) {
    let body = json!({"capability": "image.generate", "prompt": "under load", "width": 64, "height": 64});
    while Instant::now() < until {
        let created = http.post(format!("{base}/api/v1/jobs")).bearer_auth(&key).json(&body).send().await;
        let id = match created {
            Ok(response) if response.status().is_success() => {
                let answer: Value = response.json().await.unwrap_or_default();
                answer["job"]["id"].as_str().unwrap_or_default().to_owned()
            }
            Ok(response) => return seen.lock().unwrap().errors.push(format!("create: {}", response.status())),
            Err(error) => return seen.lock().unwrap().errors.push(format!("create: {error}")),
        };
        seen.lock().unwrap().accepted.push(id.clone());
        loop {
            let polled = http.get(format!("{base}/api/v1/jobs/{id}")).bearer_auth(&key).send().await;
            let job: Value = match polled {
                Ok(response) if response.status().is_success() => response.json().await.unwrap_or_default(),
                Ok(response) => return seen.lock().unwrap().errors.push(format!("poll: {}", response.status())),
                Err(error) => return seen.lock().unwrap().errors.push(format!("poll: {error}")),
            };
            if !matches!(job["job"]["status"].as_str(), Some("queued" | "running")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Runs `clients` clients against `server` for `duration`; what they saw.
async fn run_load(server: &DevServer, clients: usize, duration: Duration, kill_after: Option<Duration>) -> Seen {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let http = genrelay_egress::http_client_builder().pool_max_idle_per_host(clients).build().unwrap();
    let until = Instant::now() + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|_| tokio::spawn(client(http.clone(), server.base.clone(), server.key.clone(), until, seen.clone())))
        .collect();
    if let Some(after) = kill_after {
        tokio::time::sleep(after).await;
        server.kill();
    }
    for task in tasks {
        task.await.unwrap();
    }
    Arc::into_inner(seen).unwrap().into_inner().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_load_nothing_fails_and_after_a_kill_9_every_accepted_job_exists_and_ends() {
    let (clients, duration) = load();
    let data = tempfile::tempdir().unwrap();
    let server = DevServer::start(data.path());

    let calm = run_load(&server, clients, duration, None).await;
    assert!(
        calm.errors.is_empty(),
        "{} errors under load: {:?}",
        calm.errors.len(),
        &calm.errors[..5.min(calm.errors.len())]
    );
    assert!(calm.accepted.len() >= clients, "every client made jobs: {}", calm.accepted.len());

    // Killed under load: requests cut by the kill fail; every job answered 2xx must survive.
    let cut = run_load(&server, clients, Duration::from_secs(600), Some(duration / 2)).await;
    drop(server);
    let server = DevServer::start(data.path());
    let http = genrelay_egress::http_client_builder().build().unwrap();
    let accepted: Vec<&String> = calm.accepted.iter().chain(&cut.accepted).collect();
    for id in &accepted {
        let (job, _) = wait_for_end(&http, &server, id).await;
        assert_eq!(job["status"], "succeeded", "{job}");
    }
    println!(
        "{clients} clients: {} jobs before the kill with 0 errors; {} accepted in the {:?} before it ({} requests cut); \
         all {} ended after the restart",
        calm.accepted.len(),
        cut.accepted.len(),
        duration / 2,
        cut.errors.len(),
        accepted.len(),
    );
    server.terminate();
}
