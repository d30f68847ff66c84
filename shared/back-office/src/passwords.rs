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
    check_length(password)?;
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

fn check_length(password: &str) -> Result<(), PasswordError> {
    match password.chars().count() < MIN_PASSWORD_CHARS {
        true => Err(PasswordError::TooShort),
        false => Ok(()),
    }
}

pub(crate) fn check_name(name: &str) -> Result<(), PasswordError> {
    let fine = (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if fine { Ok(()) } else { Err(PasswordError::BadName) }
}

/// The admin configured at start (`GENRELAY_ADMIN_USER` / `GENRELAY_ADMIN_PASSWORD`). It is
/// added the first time someone signs in under its name while no user has that name (or at
/// start, by [`FirstAdmin::ensure`]), so a function's start-up need not read the store for it.
#[derive(Clone)]
pub struct FirstAdmin {
    name: String,
    password: String,
}

impl FirstAdmin {
    /// Checked now, so a bad name or a short password stops start-up, not a sign-in.
    pub fn new(name: String, password: String) -> Result<Self, PasswordError> {
        check_name(&name)?;
        check_length(&password)?;
        Ok(Self { name, password })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds the admin unless a user of that name exists (a password changed since is kept).
    /// Returns whether it was added. Hashes only when the user is missing.
    pub async fn ensure(&self, users: &dyn BackOfficeStore, now: DateTime<Utc>) -> Result<bool, PasswordError> {
        match users.user(&self.name).await? {
            Some(_) => Ok(false),
            None => self.add(users, now).await,
        }
    }

    /// The user signing in as `name`: the stored one; or, when `name` is this admin's and no
    /// user has it yet, this admin, added now.
    pub async fn user_signing_in(
        admin: Option<&Self>,
        name: &str,
        users: &dyn BackOfficeStore,
        now: DateTime<Utc>,
    ) -> genrelay_core::Result<Option<BackOfficeUser>> {
        let stored = users.user(name).await?;
        match admin {
            Some(admin) if stored.is_none() && admin.name == name => {
                // Its name and password were checked when it was made: only the store can fail.
                let added = admin.add(users, now).await.map_err(|error| match error {
                    PasswordError::Store(error) => error,
                    other => genrelay_core::Error::internal(other.to_string()),
                })?;
                if added {
                    tracing::info!(user = %admin.name, "back-office admin added at its first sign-in");
                }
                Ok(users.user(name).await?)
            }
            _ => Ok(stored),
        }
    }

    /// Adds the admin unless a user of that name was added first; whether it was added.
    async fn add(&self, users: &dyn BackOfficeStore, now: DateTime<Utc>) -> Result<bool, PasswordError> {
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
