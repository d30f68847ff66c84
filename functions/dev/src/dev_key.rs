//! With `ZHINIAN_API_KEYS` unset, the dev server makes one key for client `dev`, keeps it in the
//! data folder (so it survives restarts) and prints it at start.

use std::path::Path;

use genrelay_http::ApiKeys;

const KEY_FILE: &str = "dev-api-key";
const DEV_CLIENT: &str = "dev";

pub fn load_or_create(data_dir: &Path) -> Result<ApiKeys, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join(KEY_FILE);
    let key = match std::fs::read_to_string(&path) {
        Ok(key) if !key.trim().is_empty() => key.trim().to_owned(),
        _ => {
            let key = format!("gr_dev_{}", hex_token());
            std::fs::write(&path, &key)?;
            key
        }
    };
    println!("ZHINIAN_API_KEYS is not set: using the dev key of client '{DEV_CLIENT}' kept in {}", path.display());
    println!("  Authorization: Bearer {key}");
    Ok(ApiKeys::parse(&format!("{DEV_CLIENT}:{key}"))?)
}

fn hex_token() -> String {
    let bytes: [u8; 20] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
