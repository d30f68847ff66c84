//! The back office's use cases: every client's jobs as operators see them, and what operators
//! do to a job (recheck, cancel, retry), each recorded on the job it acted on.

use genrelay_core::ports::{AdminJobPage, AdminJobQuery};
use genrelay_core::{Error, Job, JobId, JobStatus, OperatorAction, OperatorActionKind, Result, WebhookDelivery};

use crate::Engine;

/// A job with what an operator's detail view adds: its webhook deliveries.
#[derive(Debug, Clone)]
pub struct JobRecord {
    pub job: Job,
    pub deliveries: Vec<WebhookDelivery>,
}

/// What a retry made.
#[derive(Debug, Clone)]
pub struct Retried {
    /// The job retried, with the retry recorded.
    pub original: Job,
    /// The new job.
    pub retry: Job,
}

/// A channel as operators watch it: its settings, the slots its jobs hold now, and why it
/// cools down, while it does.
#[derive(Clone)]
pub struct ChannelState {
    pub channel: genrelay_core::ports::Channel,
    pub slots_in_use: u32,
    pub cooling_down: Option<String>,
}

/// Writes of one action record that may lose a race with the job's own progress.
const RECORD_ATTEMPTS: usize = 10;

impl Engine {
    /// Every client's jobs that match, newest first.
    pub async fn admin_jobs(&self, query: &AdminJobQuery) -> Result<AdminJobPage> {
        self.deps.jobs.admin_list(query).await
    }

    /// Any client's job.
    pub async fn admin_job(&self, id: &JobId) -> Result<Job> {
        self.deps.jobs.find(id).await?.ok_or_else(|| Error::NotFound(format!("Job {id} not found.")))
    }

    /// Any client's job with its webhook deliveries.
    pub async fn admin_job_record(&self, id: &JobId) -> Result<JobRecord> {
        let job = self.admin_job(id).await?;
        let deliveries = self.deps.webhooks.store.deliveries(&job.client_id, id).await?;
        Ok(JobRecord { job, deliveries })
    }

    /// Every channel with its live slot use and cooldown.
    pub async fn channel_states(&self) -> Result<Vec<ChannelState>> {
        let channels = self.channels().channels();
        let now = self.deps.clock.now();
        let names: Vec<&str> = channels.iter().map(|channel| channel.name()).collect();
        let mut cooling = self.deps.ledger.cooling(&names, now).await?;
        let mut states = Vec::with_capacity(channels.len());
        for channel in &channels {
            let slots_in_use = self.deps.ledger.slots_in_use(channel.name(), now).await?;
            let cooling_down = cooling.remove(channel.name());
            states.push(ChannelState { channel: channel.clone(), slots_in_use, cooling_down });
        }
        Ok(states)
    }

    /// Asks the upstream about the job's task now and applies its answer (a running job), or
    /// dispatches a queued job again. A job that ended, or whose submission is under way, has
    /// nothing to ask.
    pub async fn recheck(&self, id: &JobId, by: &str) -> Result<Job> {
        let job = self.admin_job(id).await?;
        let outcome = match job.status {
            JobStatus::Queued => {
                self.dispatch(&job).await;
                "queued: dispatched again".to_owned()
            }
            JobStatus::Running if job.upstream_task_id.is_some() || job.waiting.is_some() => {
                self.poll_job(&job).await;
                let now = self.admin_job(id).await?;
                match (&now.error, now.status) {
                    (Some(error), status) if status.is_terminal() => format!("{status}: {error}"),
                    (_, status) => format!("{status}, progress {}%", now.progress),
                }
            }
            JobStatus::Running => {
                return Err(Error::Conflict(format!(
                    "Job {id} is being submitted to its upstream right now; there is no task to ask about yet."
                )));
            }
            ended => {
                return Err(Error::Conflict(format!("Job {id} is already {ended}; there is nothing to ask.")));
            }
        };
        self.record_action(id, OperatorActionKind::Recheck, by, outcome).await
    }

    /// Cancels any client's queued or running job on an operator's behalf.
    pub async fn operator_cancel(&self, id: &JobId, by: &str) -> Result<Job> {
        let job = self.admin_job(id).await?;
        self.cancel_because(&job.client_id, id, &format!("Cancelled by operator {by}.")).await?;
        self.record_action(id, OperatorActionKind::Cancel, by, "cancelled".to_owned()).await
    }

    /// Submits a failed, expired or cancelled job again, as a new job of the same client that
    /// links back to it.
    pub async fn retry(&self, id: &JobId, by: &str) -> Result<Retried> {
        let job = self.admin_job(id).await?;
        if !job.can_be_retried() {
            return Err(Error::Conflict(format!(
                "Job {id} is {}; only failed, expired or cancelled jobs can be retried.",
                job.status
            )));
        }
        let retry = self.submit(&job.client_id, job.retried(), None).await?.job;
        tracing::info!(job_id = %id, retry_id = %retry.id, by, "job retried by an operator");
        let original = self.record_action(id, OperatorActionKind::Retry, by, retry.id.to_string()).await?;
        Ok(Retried { original, retry })
    }

    /// Adds an operator's action to the job, whatever else changes it meanwhile.
    async fn record_action(&self, id: &JobId, action: OperatorActionKind, by: &str, outcome: String) -> Result<Job> {
        for _ in 0..RECORD_ATTEMPTS {
            let current = self.admin_job(id).await?;
            let mut next = current.revise();
            let at = self.deps.clock.now();
            next.operator_actions.push(OperatorAction { action, by: by.to_owned(), at, outcome: outcome.clone() });
            if self.deps.jobs.replace(&current, &next).await? {
                return Ok(next);
            }
        }
        Err(Error::Unavailable(format!("job {id} kept changing while recording the operator's action")))
    }
}
