#[test]
fn without_configuration_the_function_fails_fast_naming_what_to_set() {
    genrelay_tests::assert_fails_fast_without_configuration(env!("CARGO_BIN_EXE_genrelay-admin").as_ref());
}

#[test]
fn without_a_session_key_the_function_fails_fast_and_never_shows_the_admin_password() {
    let data = tempfile::tempdir().unwrap();
    let (ok, output) = genrelay_tests::run_with_env(
        env!("CARGO_BIN_EXE_genrelay-admin").as_ref(),
        &[("GENRELAY_DATA_DIR", data.path().to_str().unwrap()), ("GENRELAY_ADMIN_PASSWORD", "a-secret-password")],
    );
    assert!(!ok, "started without a session key");
    assert!(output.contains("GENRELAY_SESSION_KEY"), "{output}");
    assert!(!output.contains("a-secret-password"), "{output}");
    let (ok, output) = genrelay_tests::run_with_env(
        env!("CARGO_BIN_EXE_genrelay-admin").as_ref(),
        &[("GENRELAY_DATA_DIR", data.path().to_str().unwrap()), ("GENRELAY_SESSION_KEY", "c2hvcnQ=")],
    );
    assert!(!ok && output.contains("GENRELAY_SESSION_KEY is invalid: 5 bytes; at least 64 are needed"), "{output}");
}
