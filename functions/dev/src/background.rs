//! The engine's background work, as on Lambda but in-process: the worker drains the dispatch
//! queue, the poller advances due jobs, the reconciler re-dispatches jobs left queued, and
//! webhook delivery follows the store's change feed and sends retries as they fall due. On stop,
//! each loop finishes the step it is in, and the jobs in flight get `STOP_GRACE` to finish;
//! nothing accepted is lost, because jobs and the queue live in the database.

use std::sync::Arc;
use std::time::Duration;

use genrelay_bootstrap::Embedded;
use genrelay_core::Job;
use genrelay_engine::Engine;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

const WORKER_IDLE: Duration = Duration::from_millis(100);
const POLL_EVERY: Duration = Duration::from_millis(200);
const RECONCILE_EVERY: Duration = Duration::from_secs(10);
const WEBHOOKS_EVERY: Duration = Duration::from_millis(200);
const WEBHOOK_BATCH: usize = 50;
/// How long a received dispatch message stays hidden before it is delivered again.
const DISPATCH_VISIBILITY: Duration = Duration::from_secs(60);
const DISPATCH_BATCH: usize = 10;
const POLL_BATCH: usize = 50;
const RECONCILE_BATCH: usize = 100;
/// Jobs the worker, and the poller, hand to upstreams at once. Each runs as a task of its own,
/// so a synchronous upstream call that holds one for minutes holds up nothing else.
const IN_FLIGHT: usize = 32;
/// How long a stop waits for the jobs in flight (a synchronous upstream call may take minutes).
const STOP_GRACE: Duration = Duration::from_secs(30);

pub struct Loops {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Loops {
    pub fn start(engine: Arc<Engine>, embedded: Embedded) -> Self {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        tasks.spawn(worker(engine.clone(), stopped.clone()));
        tasks.spawn(poller(engine.clone(), stopped.clone()));
        tasks.spawn(webhooks(engine.clone(), embedded, stopped.clone()));
        tasks.spawn(reconciler(engine, stopped));
        Self { stop, tasks }
    }

    /// Asks every loop to stop after its current step, and waits for them.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Receives dispatch messages while fewer than `IN_FLIGHT` are being worked on, each worked on
/// in a task of its own.
async fn worker(engine: Arc<Engine>, mut stopped: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut in_flight = JoinSet::new();
    while !*stopped.borrow() {
        while in_flight.try_join_next().is_some() {}
        let free = slots.available_permits().min(DISPATCH_BATCH);
        let received = match free {
            0 => Ok(Vec::new()),
            _ => engine.receive_dispatches(free, DISPATCH_VISIBILITY).await,
        };
        match received {
            Ok(received) if !received.is_empty() => {
                for dispatch in received {
                    let (engine, slot) = (engine.clone(), slots.clone().acquire_owned().await);
                    in_flight.spawn(async move {
                        engine.work_dispatch(&dispatch).await;
                        drop(slot);
                    });
                }
                continue;
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %error.chain(), "worker step failed"),
        }
        pause(&mut stopped, WORKER_IDLE).await;
    }
    finish(in_flight).await;
}

/// Steps due jobs, each in a task of its own, while fewer than `IN_FLIGHT` are being stepped;
/// each step claims its job, so a job listed again while it is stepped is stepped once.
async fn poller(engine: Arc<Engine>, mut stopped: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut in_flight = JoinSet::new();
    while !*stopped.borrow() {
        while in_flight.try_join_next().is_some() {}
        let free = slots.available_permits().min(POLL_BATCH);
        match engine.due_polls(free).await {
            Ok(due) => {
                for job in due {
                    let (engine, slot) = (engine.clone(), slots.clone().acquire_owned().await);
                    in_flight.spawn(async move {
                        engine.poll_job(&job).await;
                        drop(slot);
                    });
                }
            }
            Err(error) => tracing::warn!(error = %error.chain(), "poller step failed"),
        }
        pause(&mut stopped, POLL_EVERY).await;
    }
    finish(in_flight).await;
}

/// Waits up to `STOP_GRACE` for the jobs in flight; those still running then are stopped, and
/// come back as their claims and message visibility end.
async fn finish(mut in_flight: JoinSet<()>) {
    let all = async { while in_flight.join_next().await.is_some() {} };
    if tokio::time::timeout(STOP_GRACE, all).await.is_err() {
        tracing::warn!(jobs = in_flight.len(), "stopping with jobs still in flight");
    }
}

async fn webhooks(engine: Arc<Engine>, embedded: Embedded, mut stopped: watch::Receiver<bool>) {
    while !*stopped.borrow() {
        let entered = |job: Job, status| {
            let engine = engine.clone();
            async move { engine.job_entered(&job, status).await }
        };
        if let Err(error) = embedded.store.feed_job_changes(WEBHOOK_BATCH, entered).await {
            tracing::warn!(error = %error.chain(), "webhook trigger step failed");
        }
        if let Err(error) = engine.deliver_due(WEBHOOK_BATCH).await {
            tracing::warn!(error = %error.chain(), "webhook retry step failed");
        }
        pause(&mut stopped, WEBHOOKS_EVERY).await;
    }
}

async fn reconciler(engine: Arc<Engine>, mut stopped: watch::Receiver<bool>) {
    while !*stopped.borrow() {
        match engine.reconcile(RECONCILE_BATCH).await {
            Ok(report) if report.redispatched + report.expired > 0 => {
                tracing::info!(redispatched = report.redispatched, expired = report.expired, "reconciled")
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %error.chain(), "reconciler step failed"),
        }
        pause(&mut stopped, RECONCILE_EVERY).await;
    }
}

/// Sleeps for `duration`, or less if asked to stop.
async fn pause(stopped: &mut watch::Receiver<bool>, duration: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(duration) => {}
        _ = stopped.changed() => {}
    }
}
