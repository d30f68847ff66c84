//! The channels' credentials as SSM SecureString parameters (encrypted with the account's
//! default key), under the path the template names.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_ssm::types::ParameterType;
use genrelay_core::ports::SecretStore;
use genrelay_core::{Error, Result};

#[derive(Clone)]
pub struct SsmSecrets {
    client: aws_sdk_ssm::Client,
}

impl SsmSecrets {
    pub fn new(client: aws_sdk_ssm::Client) -> Self {
        Self { client }
    }
}

/// An SSM failure, without the value it was about.
fn ssm(operation: &str, error: impl std::error::Error) -> Error {
    Error::internal(format!("SSM {operation}: {}", aws_sdk_ssm::error::DisplayErrorContext(error)))
}

#[async_trait]
impl SecretStore for SsmSecrets {
    async fn put_secret(&self, name: &str, value: &str) -> Result<()> {
        self.client
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            // A validation message may quote the value: only its code is passed on.
            .map_err(|e| {
                let code = e.as_service_error().and_then(|e| e.meta().code()).unwrap_or("no answer").to_owned();
                Error::internal(format!("SSM PutParameter {name}: {code}"))
            })?;
        Ok(())
    }

    async fn secrets(&self, names: &[String]) -> Result<HashMap<String, String>> {
        let mut found = HashMap::new();
        // GetParameters takes up to 10 names; those that do not exist come back as invalid.
        for group in names.chunks(10) {
            let output = self
                .client
                .get_parameters()
                .set_names(Some(group.to_vec()))
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| ssm("GetParameters", e))?;
            for parameter in output.parameters.unwrap_or_default() {
                if let (Some(name), Some(value)) = (parameter.name, parameter.value) {
                    found.insert(name, value);
                }
            }
        }
        Ok(found)
    }

    async fn delete_secret(&self, name: &str) -> Result<()> {
        match self.client.delete_parameter().name(name).send().await {
            Ok(_) => Ok(()),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_parameter_not_found()) => Ok(()),
            Err(error) => Err(ssm("DeleteParameter", error)),
        }
    }
}
