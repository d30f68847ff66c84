//! Passwords, kept only as argon2id hashes (PHC strings), and the first admin every store gets.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Utc};
use genrelay_core::ports::{BackOfficeStore, BackOfficeUser, Role};

/// The fewest characters a password has.
pub const MIN_PASSWORD_CHARS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is shorter than {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the user name must be 1 to 64 letters, digits, '.', '_' or '-'")]
    BadName,
    #[error("hashing failed: {0}")]
    Hashing(String),
    #[error(transparent)]
    Store(#[from] genrelay_core::Error),
}

pub fn hash(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    let salt =
        SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|e| PasswordError::Hashing(e.to_string()))?;
    let hashed = Argon2::default().hash_password(password.as_bytes(), &salt);
    Ok(hashed.map_err(|e| PasswordError::Hashing(e.to_string()))?.to_string())
}

/// Whether `password` is the one `stored` was hashed from. A malformed hash matches nothing.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Spends the time a verification takes, so an unknown user name answers as slowly as a wrong
/// password does.
pub fn verify_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("not a password of anyone").expect("hashing a constant works"));
    verify(password, dummy);
}

pub(crate) fn check_name(name: &str) -> Result<(), PasswordError> {
    let fine = (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if fine { Ok(()) } else { Err(PasswordError::BadName) }
}

/// The admin configured at start (`GENRELAY_ADMIN_USER` / `GENRELAY_ADMIN_PASSWORD`).
pub struct FirstAdmin {
    pub name: String,
    pub password: String,
}

impl FirstAdmin {
    /// Adds the admin unless a user of that name exists (a password changed since is kept).
    /// Returns whether it was added. Hashes only when the user is missing, so a warm store
    /// costs one read.
    pub async fn ensure(&self, users: &dyn BackOfficeStore, now: DateTime<Utc>) -> Result<bool, PasswordError> {
        check_name(&self.name)?;
        let exists = users.user(&self.name).await?.is_some();
        self.add_unless(exists, users, now).await
    }

    /// [`FirstAdmin::ensure`] with the lookup already made (`exists`), e.g. while other reads
    /// ran.
    pub async fn add_unless(
        &self,
        exists: bool,
        users: &dyn BackOfficeStore,
        now: DateTime<Utc>,
    ) -> Result<bool, PasswordError> {
        check_name(&self.name)?;
        if exists {
            return Ok(false);
        }
        let user = BackOfficeUser {
            name: self.name.clone(),
            role: Role::Admin,
            password_hash: hash(&self.password)?,
            created_at: now,
        };
        Ok(users.add_user(&user).await?)
    }
}

/// Shows the name only.
impl std::fmt::Debug for FirstAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstAdmin").field("name", &self.name).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let stored = hash("correct horse").unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(!stored.contains("correct horse"));
        assert!(verify("correct horse", &stored));
        assert!(!verify("correct horsE", &stored));
        assert!(!verify("correct horse", "not a hash"));
        assert_ne!(stored, hash("correct horse").unwrap(), "salted");
        assert!(matches!(hash("short"), Err(PasswordError::TooShort)));
    }
}
