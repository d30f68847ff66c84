//! Time and new ids, behind ports so tests can hold them still.

use chrono::{DateTime, Utc};

use crate::ids::{AssetId, JobId};

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

pub trait IdGenerator: Send + Sync {
    fn job_id(&self) -> JobId;
    fn asset_id(&self) -> AssetId;
}

/// Random, time-ordered ids (ULIDs).
pub struct UlidGenerator;

impl IdGenerator for UlidGenerator {
    fn job_id(&self) -> JobId {
        JobId::from_ulid(ulid::Ulid::new())
    }

    fn asset_id(&self) -> AssetId {
        AssetId::from_ulid(ulid::Ulid::new())
    }
}
