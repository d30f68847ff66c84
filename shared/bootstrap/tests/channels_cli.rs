//! `genrelay-channels` fails clearly without its table. (Storing and reading documents against
//! moto is tested end to end in `tests/integration/on_aws.rs`.)

#[test]
fn without_a_table_the_tool_says_what_to_set() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_genrelay-channels"))
        .args(["put", "providers.json"])
        .env_remove("GENRELAY_TABLE")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("GENRELAY_TABLE is not set") && stderr.contains("usage:"), "{stderr}");
}
