//! With `GENRELAY_ADMIN_PASSWORD` unset, the dev server makes a password for the back office's
//! first admin, keeps it in the data folder (so it survives restarts) and prints it at start;
//! with `GENRELAY_SESSION_KEY` unset, it keeps a session key there too.

use std::path::Path;

use genrelay_back_office::{FirstAdmin, SessionKey};
use genrelay_bootstrap::{
    ADMIN_PASSWORD_VAR, ADMIN_USER_VAR, DEFAULT_ADMIN_USER, SESSION_KEY_VAR, session_key_from_text, session_key_text,
};

const PASSWORD_FILE: &str = "dev-admin-password";
const SESSION_KEY_FILE: &str = "session-key";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.trim().is_empty())
}

/// A value kept in `data_dir/file`, made by `make` the first time.
fn kept(data_dir: &Path, file: &str, make: impl FnOnce() -> String) -> std::io::Result<String> {
    let path = data_dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
        _ => {
            let value = make();
            std::fs::write(&path, &value)?;
            Ok(value)
        }
    }
}

pub fn session_key(data_dir: &Path) -> Result<SessionKey, Box<dyn std::error::Error>> {
    let text = match env(SESSION_KEY_VAR) {
        Some(text) => text,
        None => kept(data_dir, SESSION_KEY_FILE, || session_key_text(&SessionKey::generate()))?,
    };
    Ok(session_key_from_text(&text, SESSION_KEY_VAR)?)
}

pub fn first_admin(data_dir: &Path) -> Result<FirstAdmin, Box<dyn std::error::Error>> {
    let name = env(ADMIN_USER_VAR).unwrap_or_else(|| DEFAULT_ADMIN_USER.to_owned());
    if let Some(password) = env(ADMIN_PASSWORD_VAR) {
        return Ok(FirstAdmin::new(name, password)?);
    }
    let path = data_dir.join(PASSWORD_FILE);
    let password = kept(data_dir, PASSWORD_FILE, || {
        let bytes: [u8; 12] = rand::random();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    })?;
    println!("{ADMIN_PASSWORD_VAR} is not set: the back office's admin password is kept in {}", path.display());
    println!("  /admin/login  user {name}  password {password}");
    Ok(FirstAdmin::new(name, password)?)
}
