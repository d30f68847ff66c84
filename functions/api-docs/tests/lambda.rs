//! The docs function as the template wires it, under the Lambda runtime API emulator: nothing
//! configured and nothing read, the sample events answered; what it does not serve answers in
//! the open API's error format.

use genrelay_tests::lambda::{LambdaFunction, sample_event as event};
use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_genrelay-api-docs");

fn body(answer: &Value) -> &str {
    answer["body"].as_str().unwrap_or_else(|| panic!("a text body: {answer}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_function_serves_swagger_ui_over_every_surface_with_nothing_configured() {
    let docs = LambdaFunction::start(BINARY.as_ref(), &[]).await;
    let page = docs.invoke(event("api-docs/page.json", &[])).await.unwrap();
    assert_eq!(page["statusCode"], 200);
    assert!(body(&page).contains("/docs/ui/swagger-ui-bundle.js"), "{page}");

    let answer = docs.invoke(event("api-docs/document.json", &[])).await.unwrap();
    assert_eq!(answer["statusCode"], 200);
    let document: Value = serde_json::from_str(body(&answer)).unwrap();
    assert_eq!(document["paths"]["/admin/ai/api/tasks"]["get"]["tags"], json!(["管理后台"]));
    assert!(document["paths"]["/api/v1/jobs"]["post"].is_object());

    let bundle = docs.invoke(event("api-docs/page.json", &[("/docs", "/docs/ui/swagger-ui-bundle.js")])).await.unwrap();
    assert_eq!(bundle["statusCode"], 200);
    assert!(body(&bundle).contains("SwaggerUIBundle"), "Swagger UI's script, as text");

    let missing = docs.invoke(event("api-docs/page.json", &[("/docs", "/docs/ui/nope.js")])).await.unwrap();
    assert_eq!(missing["statusCode"], 404);
    let error: Value = serde_json::from_str(body(&missing)).unwrap();
    assert!(error["error"].is_string(), "{error}");
}
