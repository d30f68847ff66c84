//! A function main fails fast at init, before reaching the Lambda runtime API, with a message
//! that says what to configure.

use std::process::Command;

fn start_with(vars: &[(&str, &str)]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_genrelay-api-meta"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn without_storage_configuration_the_function_names_what_to_set() {
    let (ok, output) = start_with(&[("ZHINIAN_API_KEYS", "a:secret-key")]);
    assert!(!ok);
    assert!(
        output.contains("GENRELAY_TABLE") && output.contains("GENRELAY_DATA_DIR"),
        "{output}"
    );
    assert!(!output.contains("secret-key"), "secrets never appear in an error");
}

#[test]
fn with_aws_configuration_the_function_says_the_adapters_are_missing() {
    let vars = [
        ("ZHINIAN_API_KEYS", "a:secret-key"),
        ("GENRELAY_TABLE", "genrelay"),
        ("AWS_REGION", "us-east-1"),
    ];
    let (ok, output) = start_with(&vars);
    assert!(!ok);
    assert!(output.contains("no AWS adapters"), "{output}");
}

#[test]
fn without_api_keys_the_function_refuses_to_start() {
    let data = std::env::temp_dir().join(format!("genrelay-init-test-{}", std::process::id()));
    let (ok, output) = start_with(&[("GENRELAY_DATA_DIR", data.to_str().unwrap())]);
    let _ = std::fs::remove_dir_all(&data);
    assert!(!ok);
    assert!(output.contains("ZHINIAN_API_KEYS"), "{output}");
}
