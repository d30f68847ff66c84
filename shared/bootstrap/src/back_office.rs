//! The back office's configuration: the session key and the first admin, from the environment
//! or (on AWS) from SSM SecureStrings the template names.

use base64::Engine as _;
use genrelay_back_office::{FirstAdmin, PasswordError, SessionKey, SessionSettings};
use genrelay_core::ports::BackOfficeStore;

use crate::config::{ConfigError, var};

/// The key that encrypts session cookies: at least 64 bytes, base64.
pub const SESSION_KEY_VAR: &str = "GENRELAY_SESSION_KEY";
/// On AWS: the SSM SecureString holding the session key.
pub const SESSION_KEY_PARAMETER_VAR: &str = "GENRELAY_SESSION_KEY_PARAMETER";
/// The first admin's name (default `admin`) and password; added when missing.
pub const ADMIN_USER_VAR: &str = "GENRELAY_ADMIN_USER";
pub const ADMIN_PASSWORD_VAR: &str = "GENRELAY_ADMIN_PASSWORD";
/// On AWS: the SSM SecureString holding the first admin's password.
pub const ADMIN_PASSWORD_PARAMETER_VAR: &str = "GENRELAY_ADMIN_PASSWORD_PARAMETER";
/// `true` for local invocation over plain http: session cookies without `Secure`.
pub const INSECURE_COOKIES_VAR: &str = "GENRELAY_INSECURE_COOKIES";
pub const DEFAULT_ADMIN_USER: &str = "admin";

/// A session key from its base64 text.
pub fn session_key_from_text(text: &str, source: &'static str) -> Result<SessionKey, ConfigError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| ConfigError::Invalid { var: source, reason: "not base64".into() })?;
    SessionKey::from_bytes(&bytes).ok_or_else(|| ConfigError::Invalid {
        var: source,
        reason: format!("{} bytes; at least 64 are needed", bytes.len()),
    })
}

/// A session key as base64 text, to keep.
pub fn session_key_text(key: &SessionKey) -> String {
    base64::engine::general_purpose::STANDARD.encode(key.master())
}

/// Secrets, each from the environment (`value_var`), else (on AWS) from the SSM SecureString
/// its `parameter_var` names: those from SSM in one request.
async fn secrets<const N: usize>(
    wanted: [(&'static str, &'static str); N],
    ssm: Option<&aws_sdk_ssm::Client>,
) -> Result<[Option<String>; N], ConfigError> {
    let mut values = wanted.map(|(value_var, _)| var(value_var));
    let named: Vec<(usize, &'static str, String)> = (0..N)
        .filter(|&i| values[i].is_none())
        .filter_map(|i| var(wanted[i].1).map(|name| (i, wanted[i].1, name)))
        .collect();
    let (Some(ssm), false) = (ssm, named.is_empty()) else { return Ok(values) };
    let read = ssm.get_parameters().set_names(Some(named.iter().map(|(_, _, name)| name.clone()).collect()));
    let output = read.with_decryption(true).send().await.map_err(|e| ConfigError::Invalid {
        var: named[0].1,
        reason: format!("GetParameters: {}", aws_sdk_ssm::error::DisplayErrorContext(e)),
    })?;
    for (i, parameter_var, name) in named {
        let found = output.parameters().iter().find(|p| p.name() == Some(name.as_str()));
        let value = found.and_then(|p| p.value()).ok_or_else(|| ConfigError::Invalid {
            var: parameter_var,
            reason: format!("GetParameters: {name} does not exist"),
        })?;
        values[i] = Some(value.to_owned());
    }
    Ok(values)
}

/// What the back office is configured with besides its stores.
pub struct BackOfficeSettings {
    pub sessions: SessionSettings,
    /// Added at its first sign-in (see [`FirstAdmin`]): start-up reads nothing for it.
    pub first_admin: Option<FirstAdmin>,
}

/// The back office's session settings and first admin, from the environment (or SSM, both
/// secrets in one request).
pub async fn back_office_settings(ssm: Option<&aws_sdk_ssm::Client>) -> Result<BackOfficeSettings, ConfigError> {
    let wanted = [(SESSION_KEY_VAR, SESSION_KEY_PARAMETER_VAR), (ADMIN_PASSWORD_VAR, ADMIN_PASSWORD_PARAMETER_VAR)];
    let [key, password] = secrets(wanted, ssm).await?;
    let key = key.ok_or(ConfigError::Invalid {
        var: SESSION_KEY_VAR,
        reason: format!("not set (nor {SESSION_KEY_PARAMETER_VAR}); expected 64 random bytes in base64"),
    })?;
    let mut sessions = SessionSettings::new(session_key_from_text(&key, SESSION_KEY_VAR)?);
    if var(INSECURE_COOKIES_VAR).as_deref() == Some("true") {
        sessions = sessions.over_http();
    }
    let name = var(ADMIN_USER_VAR).unwrap_or_else(|| DEFAULT_ADMIN_USER.to_owned());
    let first_admin = password.map(|password| FirstAdmin::new(name, password)).transpose().map_err(|e| {
        let var = if matches!(e, PasswordError::BadName) { ADMIN_USER_VAR } else { ADMIN_PASSWORD_VAR };
        ConfigError::Invalid { var, reason: e.to_string() }
    })?;
    Ok(BackOfficeSettings { sessions, first_admin })
}

/// Adds the first admin unless a user of that name exists.
pub async fn ensure_admin(admin: &FirstAdmin, users: &dyn BackOfficeStore) -> Result<(), ConfigError> {
    let added = admin.ensure(users, chrono::Utc::now()).await;
    if added.map_err(|e| ConfigError::Invalid { var: ADMIN_PASSWORD_VAR, reason: e.to_string() })? {
        tracing::info!(user = %admin.name(), "back-office admin added");
    }
    Ok(())
}
