//! The table's change records as DynamoDB Streams delivers them (to the webhook function): which
//! of them report a job entering a new status. The attribute names are this crate's own.

use genrelay_core::{Error, Job, Result};
use serde_dynamo::{AttributeValue, Item};

use crate::items::{DOC, JOB_SK, SK, STATUS};

/// The job a change record reports entering a new status; `None` when the record is of another
/// item, or the job's status did not change.
pub fn job_entering_status(new_image: &Item, old_image: &Item) -> Result<Option<Job>> {
    let Some(doc) = text(new_image, DOC) else { return Ok(None) };
    if text(new_image, SK) != Some(JOB_SK) || text(new_image, STATUS) == text(old_image, STATUS) {
        return Ok(None);
    }
    let job = serde_json::from_str(doc).map_err(|e| Error::internal(format!("a job item's doc: {e}")))?;
    Ok(Some(job))
}

fn text<'a>(image: &'a Item, name: &str) -> Option<&'a str> {
    match image.get(name) {
        Some(AttributeValue::S(value)) => Some(value),
        _ => None,
    }
}
