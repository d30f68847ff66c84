#[test]
fn without_configuration_the_jimeng_async_api_fails_fast_naming_what_to_set() {
    genrelay_tests::assert_fails_fast_without_configuration(env!("CARGO_BIN_EXE_genrelay-api-jimeng-async").as_ref());
}
