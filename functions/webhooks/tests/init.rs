#[test]
fn without_configuration_the_webhooks_function_fails_fast_naming_what_to_set() {
    genrelay_tests::assert_fails_fast_without_configuration(env!("CARGO_BIN_EXE_genrelay-webhooks").as_ref());
}
