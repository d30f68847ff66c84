//! Metrics as CloudWatch embedded metric format: one JSON line on stdout per data point, which
//! Lambda ships to CloudWatch Logs and CloudWatch turns into metrics (no API call, no latency).

use std::io::Write;
use std::time::Duration;

use genrelay_core::ports::{Metrics, UpstreamOperation, WebhookOutcome};
use genrelay_core::{Capability, JobStatus};
use serde_json::{Value, json};

pub const NAMESPACE: &str = "genrelay";

pub struct EmbeddedMetrics;

impl EmbeddedMetrics {
    /// One EMF document: `metric` (with `unit`) and its value, under `dimensions`.
    pub fn document(metric: &str, unit: &str, value: f64, dimensions: &[(&str, &str)]) -> Value {
        let mut document = json!({
            "_aws": {
                "Timestamp": chrono::Utc::now().timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [dimensions.iter().map(|(name, _)| *name).collect::<Vec<_>>()],
                    "Metrics": [{"Name": metric, "Unit": unit}],
                }],
            },
            metric: value,
        });
        for (name, dimension) in dimensions {
            document[*name] = Value::from(*dimension);
        }
        document
    }

    fn emit(metric: &str, unit: &str, value: f64, dimensions: &[(&str, &str)]) {
        let line = Self::document(metric, unit, value, dimensions).to_string();
        // A lost metric line must never fail a job.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

impl Metrics for EmbeddedMetrics {
    fn job_created(&self, capability: Capability) {
        Self::emit("JobsCreated", "Count", 1.0, &[("Capability", capability.as_str())]);
    }

    fn job_finished(&self, capability: Capability, status: JobStatus) {
        Self::emit("JobsFinished", "Count", 1.0, &[("Capability", capability.as_str()), ("Status", status.as_str())]);
    }

    fn upstream_call(&self, channel: &str, operation: UpstreamOperation, latency: Duration, succeeded: bool) {
        let outcome = if succeeded { "ok" } else { "error" };
        let dimensions = [("Channel", channel), ("Operation", operation.as_str()), ("Outcome", outcome)];
        Self::emit("UpstreamLatency", "Milliseconds", latency.as_secs_f64() * 1000.0, &dimensions);
    }

    fn webhook_attempt(&self, outcome: WebhookOutcome) {
        Self::emit("WebhookAttempts", "Count", 1.0, &[("Outcome", outcome.as_str())]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_follow_the_embedded_metric_format() {
        let document = EmbeddedMetrics::document(
            "JobsFinished",
            "Count",
            1.0,
            &[("Capability", "image.generate"), ("Status", "succeeded")],
        );
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], json!([["Capability", "Status"]]));
        assert_eq!(directive["Metrics"], json!([{"Name": "JobsFinished", "Unit": "Count"}]));
        assert!(document["_aws"]["Timestamp"].as_i64().unwrap() > 0);
        assert_eq!((document["JobsFinished"].as_f64(), document["Status"].as_str()), (Some(1.0), Some("succeeded")));
    }
}
