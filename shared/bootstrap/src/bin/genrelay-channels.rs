//! genrelay-channels: stores the providers document (the channels) in the table, where the
//! Lambda functions read it at init. Credentials must be SSM references
//! (`{"ssmParameter": "/genrelay/…"}`): the document is checked, and the referenced parameters
//! must exist, before anything is written.
//!
//! `GENRELAY_TABLE=… genrelay-channels put providers.json` · `genrelay-channels show`

use std::collections::HashMap;

use genrelay_aws::DynamoStore;
use genrelay_providers::ProvidersConfig;
use genrelay_providers::config::{plain_credentials, ssm_references, with_secrets};

const USAGE: &str = "usage: genrelay-channels put FILE | genrelay-channels show   (GENRELAY_TABLE names the table)";

#[tokio::main]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("genrelay-channels: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let table = std::env::var("GENRELAY_TABLE").map_err(|_| format!("GENRELAY_TABLE is not set\n{USAGE}"))?;
    let sdk = genrelay_bootstrap::sdk_config().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table);
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["put", file] => {
            let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
            let document: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("{file}: not JSON: {e}"))?;
            let plain = plain_credentials(&document);
            if !plain.is_empty() {
                return Err(format!(
                    "{file}: {} hold plain-text credentials; put each in an SSM SecureString and write \
                     {{\"ssmParameter\": \"<name>\"}} instead",
                    plain.join(", ")
                ));
            }
            let names: Vec<String> = ssm_references(&document).into_iter().collect();
            check_parameters_exist(&sdk, &names).await?;
            // The shape is checked with stand-ins for the secrets.
            let stand_ins: HashMap<String, String> = names.iter().map(|n| (n.clone(), "stand-in".into())).collect();
            let checked = with_secrets(document.clone(), &stand_ins).map_err(|e| e.to_string())?;
            let config = ProvidersConfig::from_document(checked, file).map_err(|e| e.to_string())?;
            store.put_providers_document(&document).await.map_err(|e| e.to_string())?;
            println!(
                "stored {} channel(s) in {table}; every function applies them within a minute",
                config.channels.len()
            );
            Ok(())
        }
        ["show"] => {
            let document = store.providers_document().await.map_err(|e| e.to_string())?;
            let shown = document.map(|d| d.to_string()).unwrap_or_else(|| "no providers document is stored".into());
            println!("{shown}");
            Ok(())
        }
        _ => Err(USAGE.to_owned()),
    }
}

async fn check_parameters_exist(sdk: &aws_config::SdkConfig, names: &[String]) -> Result<(), String> {
    let ssm = aws_sdk_ssm::Client::new(sdk);
    for group in names.chunks(10) {
        let output = ssm
            .get_parameters()
            .set_names(Some(group.to_vec()))
            .send()
            .await
            .map_err(|e| format!("GetParameters: {}", aws_sdk_ssm::error::DisplayErrorContext(e)))?;
        if let Some(missing) = output.invalid_parameters.filter(|missing| !missing.is_empty()) {
            return Err(format!("the SSM parameters {missing:?} do not exist"));
        }
    }
    Ok(())
}
