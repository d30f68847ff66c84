//! A function main fails fast at init, before reaching the Lambda runtime API, with a message
//! that says what to configure.

use genrelay_tests::{assert_fails_fast_without_configuration, run_with_env};

const BINARY: &str = env!("CARGO_BIN_EXE_genrelay-api-meta");

#[test]
fn without_storage_configuration_the_function_names_what_to_set() {
    assert_fails_fast_without_configuration(BINARY.as_ref());
}

#[test]
fn incomplete_aws_configuration_names_what_is_missing() {
    let vars = [("ZHINIAN_API_KEYS", "a:secret-key"), ("GENRELAY_TABLE", "genrelay"), ("AWS_REGION", "us-east-1")];
    let (ok, output) = run_with_env(BINARY.as_ref(), &vars);
    assert!(!ok);
    assert!(output.contains("GENRELAY_BUCKET") && output.contains("GENRELAY_DISPATCH_QUEUE_URL"), "{output}");
}

#[test]
fn without_api_keys_the_function_refuses_to_start() {
    let data = std::env::temp_dir().join(format!("genrelay-init-test-{}", std::process::id()));
    let (ok, output) = run_with_env(BINARY.as_ref(), &[("GENRELAY_DATA_DIR", data.to_str().unwrap())]);
    let _ = std::fs::remove_dir_all(&data);
    assert!(!ok);
    assert!(output.contains("ZHINIAN_API_KEYS"), "{output}");
}
