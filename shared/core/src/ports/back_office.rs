//! Where the back office keeps its users and counts failed logins.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;

named_values!(
    /// What a back-office user may do.
    Role {
        /// Everything, configuration and users included.
        Admin = "admin",
        /// Reads jobs and rechecks, retries and cancels them.
        Operator = "operator",
    }
);

/// A back-office user. The password is kept only as an argon2 hash (PHC string).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackOfficeUser {
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

/// Failed logins counted under one key (a user at an address, or an address) since a window
/// began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedLogins {
    pub since: DateTime<Utc>,
    pub count: u32,
}

#[async_trait]
pub trait BackOfficeStore: Send + Sync {
    async fn user(&self, name: &str) -> Result<Option<BackOfficeUser>>;

    /// Adds the user unless one of that name exists; returns whether it was added.
    async fn add_user(&self, user: &BackOfficeUser) -> Result<bool>;

    /// The failed logins counted under `key`, if any.
    async fn failed_logins(&self, key: &str) -> Result<Option<FailedLogins>>;

    /// Counts one more failed login under `key`: in the current window if it began after
    /// `window_start`, else in a new one beginning `now`. Returns the count.
    async fn count_failed_login(&self, key: &str, window_start: DateTime<Utc>, now: DateTime<Utc>) -> Result<u32>;

    /// Forgets the failed logins under `key` (after a successful login).
    async fn clear_failed_logins(&self, key: &str) -> Result<()>;
}
