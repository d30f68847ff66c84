//! The engine's background work, as on Lambda but in-process: the worker drains the dispatch
//! queue, the poller advances due jobs, the reconciler re-dispatches jobs left queued, and
//! webhook delivery follows the store's change feed and sends retries as they fall due. On stop,
//! each loop finishes the step it is in; nothing accepted is lost, because jobs and the queue
//! live in the database.

use std::sync::Arc;
use std::time::Duration;

use genrelay_bootstrap::Embedded;
use genrelay_engine::Engine;
use tokio::sync::watch;
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
/// Worker loops: each runs its batch's jobs concurrently and waits for the slowest (a
/// synchronous upstream call may hold one for minutes), so the others keep taking new work.
const WORKER_LOOPS: usize = 4;
/// Poller loops: a step waits for its slowest job (a submission again after a loss may be a
/// long synchronous call); each job is claimed before it is polled, so loops never double up.
const POLLER_LOOPS: usize = 2;

pub struct Loops {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Loops {
    pub fn start(engine: Arc<Engine>, embedded: Embedded) -> Self {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        for _ in 0..WORKER_LOOPS {
            tasks.spawn(worker(engine.clone(), stopped.clone()));
        }
        for _ in 0..POLLER_LOOPS {
            tasks.spawn(poller(engine.clone(), stopped.clone()));
        }
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

async fn worker(engine: Arc<Engine>, mut stopped: watch::Receiver<bool>) {
    while !*stopped.borrow() {
        match engine.work_dispatch_queue(DISPATCH_BATCH, DISPATCH_VISIBILITY).await {
            Ok(received) if received > 0 => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %error.chain(), "worker step failed"),
        }
        pause(&mut stopped, WORKER_IDLE).await;
    }
}

async fn poller(engine: Arc<Engine>, mut stopped: watch::Receiver<bool>) {
    while !*stopped.borrow() {
        if let Err(error) = engine.poll_due(POLL_BATCH).await {
            tracing::warn!(error = %error.chain(), "poller step failed");
        }
        pause(&mut stopped, POLL_EVERY).await;
    }
}

async fn webhooks(engine: Arc<Engine>, embedded: Embedded, mut stopped: watch::Receiver<bool>) {
    while !*stopped.borrow() {
        if let Err(error) = embedded.feed_job_changes(&engine, WEBHOOK_BATCH).await {
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
