//! Webhook delivery: a job entering a status its webhook announces yields exactly one delivery
//! per event (its id derives from the job and the event), attempted at once and then on the
//! retry schedule until delivered, refused, or exhausted (a dead letter). Every attempt is kept
//! in the delivery's log. The trigger is the store's change feed: DynamoDB Streams on AWS, the
//! SQLite change table in the dev server; both call [`Engine::job_entered`].

use chrono::{DateTime, Utc};
use genrelay_core::ports::WebhookOutcome;
use genrelay_core::webhook::{Verdict, Wakeup};
use genrelay_core::{ClientId, DeliveryStatus, Error, Job, JobId, JobStatus, Result, WebhookDelivery};

use crate::Engine;

/// Why a delivery to a disabled URL was not sent.
const DISABLED: &str = "not sent: the receiver answered 410 Gone before, which disabled this URL";

/// How late a retry may be before the poller's sweep sends it (its wake-up message was lost).
pub const OVERDUE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Why an attempt is made, and what its caller already read for it.
enum Occasion<'a> {
    /// The change feed reported the job entering an announced status: the job as reported, and
    /// whether its URL was found disabled just now.
    Entered { job: &'a Job, url_disabled: bool },
    /// A scheduled retry: the job and the URL are read now.
    Retry,
    /// The client asked to send again (its URL enabled again): the job as the client read it.
    Redelivery(&'a Job),
}

impl Engine {
    /// A job entered `status` (reported by the change feed, at least once): if its webhook
    /// announces that, the event's delivery is created and attempted. A repeated report finds
    /// the delivery made by the first and only attempts it if that is still due.
    pub async fn job_entered(&self, job: &Job, status: JobStatus) -> Result<()> {
        let (Some(event), Some(url)) = (job.announces(status), &job.webhook_url) else { return Ok(()) };
        let now = self.deps.clock.now();
        let store = &self.deps.webhooks.store;
        let mut delivery = WebhookDelivery::new(job.client_id.clone(), job.id.clone(), event, url.clone(), now);
        let url_disabled = store.is_url_disabled(&job.client_id, url).await?;
        if url_disabled {
            delivery.settle(DeliveryStatus::Failed, Some(DISABLED.to_owned()));
        }
        if !store.insert_delivery(&delivery).await? {
            match store.delivery(&job.client_id, &job.id, event).await? {
                Some(existing) if existing.is_due(now) => delivery = existing,
                _ => return Ok(()),
            }
        }
        if delivery.status == DeliveryStatus::Pending {
            self.attempt_delivery(delivery, Occasion::Entered { job, url_disabled }).await?;
        }
        Ok(())
    }

    /// Sends one attempt and records it; a receiver's 410 disables its URL for the client. A
    /// delivery still pending afterwards is scheduled. Returns the delivery as recorded.
    async fn attempt_delivery(&self, delivery: WebhookDelivery, occasion: Occasion<'_>) -> Result<WebhookDelivery> {
        let read;
        let (job, disabled, manual) = match occasion {
            Occasion::Entered { job, url_disabled } => (Some(job), url_disabled, false),
            Occasion::Redelivery(job) => (Some(job), false, true),
            Occasion::Retry => {
                read = self.deps.jobs.get(&delivery.client_id, &delivery.job_id).await?;
                let store = &self.deps.webhooks.store;
                (read.as_ref(), store.is_url_disabled(&delivery.client_id, &delivery.url).await?, false)
            }
        };
        let mut next = delivery.revise();
        let verdict = match job {
            _ if disabled => {
                next.settle(DeliveryStatus::Failed, Some(DISABLED.to_owned()));
                Verdict::Refused
            }
            Some(job) => {
                let outcome = self.deps.webhooks.sender.send(&delivery, job).await;
                // The retry waits from the answer, not from the start of a slow attempt.
                next.record(&outcome, self.deps.clock.now(), manual)
            }
            None => {
                next.settle(DeliveryStatus::Failed, Some("the job no longer exists".to_owned()));
                Verdict::Refused
            }
        };
        if !self.deps.webhooks.store.replace_delivery(&delivery, &next).await? {
            // Another attempt of the same delivery won the race: its record stands.
            let stored =
                self.deps.webhooks.store.delivery(&delivery.client_id, &delivery.job_id, delivery.event).await?;
            return stored.ok_or_else(|| Error::internal(format!("delivery {} vanished", delivery.id)));
        }
        let outcome = match (verdict, next.status) {
            (Verdict::Delivered, _) => WebhookOutcome::Delivered,
            (_, DeliveryStatus::Pending) => WebhookOutcome::Retry,
            (Verdict::Retry, _) if !manual => WebhookOutcome::DeadLetter,
            _ => WebhookOutcome::Failed,
        };
        self.deps.metrics.webhook_attempt(outcome);
        let fields = (next.id.as_str(), next.job_id.as_str(), next.attempts.len());
        match outcome {
            WebhookOutcome::DeadLetter => tracing::warn!(
                delivery_id = fields.0,
                job_id = fields.1,
                attempts = fields.2,
                "webhook retries exhausted; dead-lettered"
            ),
            _ => tracing::info!(
                delivery_id = fields.0,
                job_id = fields.1,
                attempts = fields.2,
                outcome = outcome.as_str(),
                "webhook attempt"
            ),
        }
        if verdict == Verdict::Gone {
            self.deps.webhooks.store.set_url_disabled(&next.client_id, &next.url, true).await?;
        }
        if let Some(due) = next.next_attempt_at {
            self.deps.webhooks.scheduler.schedule(&next, due).await?;
        }
        Ok(next)
    }

    /// Attempts the deliveries due now, up to `limit`; returns how many (the dev server's sweep).
    pub async fn deliver_due(&self, limit: usize) -> Result<usize> {
        self.deliver_due_before(self.deps.clock.now(), limit).await
    }

    /// Attempts the deliveries overdue by more than [`OVERDUE`], whose wake-up was lost (the
    /// poller's safety net on AWS).
    pub async fn deliver_overdue(&self, limit: usize) -> Result<usize> {
        let overdue = chrono::Duration::from_std(OVERDUE).expect("a short span");
        self.deliver_due_before(self.deps.clock.now() - overdue, limit).await
    }

    async fn deliver_due_before(&self, before: DateTime<Utc>, limit: usize) -> Result<usize> {
        let due = self.deps.webhooks.store.due_deliveries(before, limit).await?;
        let count = due.len();
        for delivery in due {
            if let Err(error) = self.attempt_delivery(delivery, Occasion::Retry).await {
                tracing::warn!(error = %error.chain(), "webhook attempt could not be recorded; it stays due");
            }
        }
        Ok(count)
    }

    /// A scheduled wake-up of a delivery (on AWS, a delayed SQS message) for the attempt due at
    /// `due`: if that attempt is due, it is made; if it is not yet (SQS delays at most 15
    /// minutes), the wake-up is sent again for the rest of the wait; a wake-up for an attempt
    /// the delivery no longer waits for (made already, or rescheduled) is dropped.
    ///
    /// A wake-up names the delivery's revision when it was sent: a duplicate (SQS delivers at
    /// least once) or an outdated one finds another revision and is dropped, so the chain of
    /// wake-ups never forks. Re-sending for the rest of a wait is itself a revision.
    pub async fn wake_delivery(&self, wakeup: &Wakeup) -> Result<()> {
        let store = &self.deps.webhooks.store;
        let Some(delivery) = store.delivery(&wakeup.client_id, &wakeup.job_id, wakeup.event).await? else {
            return Ok(());
        };
        if delivery.revision != wakeup.revision || delivery.status != DeliveryStatus::Pending {
            return Ok(());
        }
        match delivery.next_attempt_at {
            Some(next) if next > self.deps.clock.now() => {
                let waiting = delivery.revise();
                if store.replace_delivery(&delivery, &waiting).await? {
                    self.deps.webhooks.scheduler.schedule(&waiting, next).await?;
                }
                Ok(())
            }
            Some(_) => self.attempt_delivery(delivery, Occasion::Retry).await.map(drop),
            None => Ok(()),
        }
    }

    /// The deliveries of a job's webhook, with every attempt.
    pub async fn webhook_deliveries(&self, client: &ClientId, id: &JobId) -> Result<Vec<WebhookDelivery>> {
        self.job(client, id).await?;
        self.deps.webhooks.store.deliveries(client, id).await
    }

    /// Sends each of the job's deliveries again, now (a manual attempt, logged as such). A URL
    /// disabled by a 410 is enabled again: the client asked.
    pub async fn redeliver(&self, client: &ClientId, id: &JobId) -> Result<Vec<WebhookDelivery>> {
        let job = self.job(client, id).await?;
        let Some(url) = &job.webhook_url else {
            return Err(Error::Conflict(format!("Job {id} has no webhookUrl.")));
        };
        let deliveries = self.deps.webhooks.store.deliveries(client, id).await?;
        if deliveries.is_empty() {
            return Err(Error::Conflict(format!(
                "Job {id} has sent no webhook yet: it is {}, and webhooks are sent when it ends.",
                job.status
            )));
        }
        self.deps.webhooks.store.set_url_disabled(client, url, false).await?;
        let mut redelivered = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            redelivered.push(self.attempt_delivery(delivery, Occasion::Redelivery(&job)).await?);
        }
        Ok(redelivered)
    }

    /// Checks a webhook URL at job creation.
    pub(crate) fn check_webhook_url(&self, url: &str) -> Result<()> {
        self.deps.webhooks.sender.check_url(url, "webhookUrl")
    }
}
