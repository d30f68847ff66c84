//! One scheduled sweep: re-dispatch jobs left queued and expire those past their deadline, send
//! webhook retries whose wake-up is long overdue (a lost message), then poll due jobs in small
//! batches while the invocation has time left. The event's content does
//! not matter (an EventBridge schedule); the answer summarises what was done.

use std::time::{Duration, SystemTime};

use genrelay_engine::Engine;
use serde::Serialize;

/// Small batches, so the time left is checked often (a poll may ingest a large output).
const POLL_BATCH: usize = 10;
const RECONCILE_BATCH: usize = 200;
const OVERDUE_WEBHOOK_BATCH: usize = 50;
/// Stop starting poll batches when less than this is left before the invocation's deadline.
const TIME_RESERVE: Duration = Duration::from_secs(10);

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Sweep {
    pub polled: usize,
    pub finished: usize,
    pub redispatched: usize,
    pub expired: usize,
    pub overdue_webhooks: usize,
}

pub async fn handle(engine: &Engine, context: lambda_runtime::Context) -> Result<Sweep, lambda_runtime::Error> {
    let deadline = SystemTime::UNIX_EPOCH + Duration::from_millis(context.deadline);
    // The reconciler first: it is bounded and cheap, and must not starve behind slow polls.
    let reconciled = engine.reconcile(RECONCILE_BATCH).await?;
    let overdue_webhooks = engine.deliver_overdue(OVERDUE_WEBHOOK_BATCH).await?;
    let mut sweep = Sweep {
        redispatched: reconciled.redispatched,
        expired: reconciled.expired,
        overdue_webhooks,
        ..Sweep::default()
    };
    loop {
        let time_left = deadline.duration_since(SystemTime::now()).unwrap_or_default();
        if time_left < TIME_RESERVE {
            break;
        }
        let report = engine.poll_due(POLL_BATCH).await?;
        sweep.polled += report.polled;
        sweep.finished += report.finished;
        if report.polled < POLL_BATCH {
            break;
        }
    }
    tracing::info!(
        polled = sweep.polled,
        finished = sweep.finished,
        redispatched = sweep.redispatched,
        expired = sweep.expired,
        overdue_webhooks = sweep.overdue_webhooks,
        "sweep done"
    );
    Ok(sweep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_sample_schedule_event_runs_a_sweep() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/poller/schedule.json");
        let event: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(event["detail-type"], "Scheduled Event");
        let dir = tempfile::tempdir().unwrap();
        let embedded = genrelay_bootstrap::Embedded::open(dir.path(), "http://dev.test").unwrap();
        let engine = embedded.engine(Default::default(), Default::default());
        let mut context = lambda_runtime::Context::default();
        context.deadline = (chrono::Utc::now() + chrono::Duration::seconds(60)).timestamp_millis() as u64;
        let sweep = handle(&engine, context).await.unwrap();
        assert_eq!(sweep, Sweep::default(), "nothing to do on an empty store");
    }
}
