#[test]
fn without_configuration_the_ps_tasks_api_fails_fast_naming_what_to_set() {
    genrelay_tests::assert_fails_fast_without_configuration(env!("CARGO_BIN_EXE_genrelay-api-ps-tasks").as_ref());
}
