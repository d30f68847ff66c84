#[test]
fn without_configuration_the_inference_api_fails_fast_naming_what_to_set() {
    genrelay_tests::assert_fails_fast_without_configuration(env!("CARGO_BIN_EXE_genrelay-api-inference").as_ref());
}
