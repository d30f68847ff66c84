use axum::http::StatusCode;

use genrelay_tests::app::{KEY_A, TestApp};

#[tokio::test]
async fn openapi_document_is_3_1_and_documents_every_route() {
    let app = TestApp::new();
    let (status, document) = app.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"), "{}", document["openapi"]);
    let expected = [
        ("/api/v1/openapi.json", "get"),
        ("/api/v1/capabilities", "get"),
        ("/api/v1/jobs", "post"),
        ("/api/v1/jobs", "get"),
        ("/api/v1/jobs/{id}", "get"),
        ("/api/v1/jobs/{id}/cancel", "post"),
        ("/api/v1/assets", "post"),
        ("/api/v1/assets", "get"),
        ("/api/v1/assets/{id}", "get"),
        ("/api/v1/assets/{id}/download", "get"),
        ("/api/v1/assets/uploads", "post"),
        ("/api/v1/assets/{id}/complete", "post"),
    ];
    for (path, method) in expected {
        assert!(document["paths"][path][method].is_object(), "{method} {path} is not documented");
    }
    let schemas = &document["components"]["schemas"];
    for schema in ["CreateJobBody", "JobView", "CreatedJobEnvelope", "JobPage", "AssetView", "AssetPage", "ErrorBody"] {
        assert!(schemas[schema].is_object(), "schema {schema} missing");
    }
    let text = document.to_string();
    let unresolved: Vec<&str> = text
        .split("\"#/components/schemas/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|name| !schemas[*name].is_object())
        .collect();
    assert!(unresolved.is_empty(), "every reference resolves: {unresolved:?} do not");
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn capabilities_lists_seed_004s_four_then_image_edit_with_their_parameter_schemas() {
    let app = TestApp::new();
    let (status, answer) = app.get("/api/v1/capabilities", KEY_A).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> =
        answer["capabilities"].as_array().unwrap().iter().map(|c| c["capability"].as_str().unwrap()).collect();
    assert_eq!(names, ["image.generate", "image.inpaint", "image.upscale", "video.generate", "image.edit"]);
    let edit = &answer["capabilities"][4]["parameters"];
    assert_eq!(edit["properties"]["keepSize"]["type"], "boolean");
    assert_eq!(edit["required"], serde_json::json!(["capability", "prompt"]));
    let video = &answer["capabilities"][3]["parameters"]["properties"]["settings"]["properties"];
    assert_eq!(video["duration"]["minimum"], 4);
    assert_eq!(video["duration"]["maximum"], 15);
    assert_eq!(video["ratio"]["enum"].as_array().unwrap().len(), 7);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_format() {
    let app = TestApp::new();
    let (status, answer) = app.get("/api/v1/nothing", KEY_A).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(answer["error"].as_str().unwrap().contains("/api/v1/nothing"));
    let (status, answer) = app.call("DELETE", "/api/v1/jobs", Some(KEY_A), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(answer["error"].is_string());
}

#[tokio::test]
async fn published_bounds_are_the_ones_validation_uses() {
    use genrelay_core::spec::*;
    let app = TestApp::new();
    let (_, document) = app.call("GET", "/api/v1/openapi.json", None, None).await;
    let schemas = &document["components"]["schemas"];
    let body = &schemas["CreateJobBody"]["properties"];
    assert_eq!(body["width"]["minimum"], IMAGE_MIN_SIDE);
    assert_eq!(body["width"]["maximum"], IMAGE_MAX_SIDE);
    assert_eq!(body["height"]["maximum"], IMAGE_MAX_SIDE);
    assert!(body["prompt"].to_string().contains("#/components/schemas/Prompt"), "{}", body["prompt"]);
    assert_eq!(schemas["Prompt"]["maxLength"], PROMPT_MAX_CHARS);
    assert_eq!(body["imageUrls"]["maxItems"], MAX_INPUTS);
    let settings = &schemas["VideoSettingsBody"]["properties"];
    assert_eq!(settings["duration"]["minimum"], VIDEO_MIN_SECONDS);
    assert_eq!(settings["duration"]["maximum"], VIDEO_MAX_SECONDS);
    assert_eq!(schemas["VideoRatio"]["enum"].as_array().unwrap().len(), VideoRatio::NAMES.len());

    let (_, capabilities) = app.get("/api/v1/capabilities", KEY_A).await;
    let generate = &capabilities["capabilities"][0]["parameters"]["properties"];
    assert_eq!(generate["width"]["minimum"], body["width"]["minimum"]);
    assert_eq!(generate["width"]["maximum"], body["width"]["maximum"]);
}

/// With the mock switched off (as on AWS by default), a capability no channel serves is not
/// listed, and a job of it is refused at creation: never answered with test patterns.
#[tokio::test]
async fn without_the_mock_only_served_capabilities_are_listed_and_accepted() {
    let mock: std::sync::Arc<dyn genrelay_core::ports::Provider> =
        std::sync::Arc::new(genrelay_providers::MockProvider::new(
            Default::default(),
            std::sync::Arc::new(genrelay_core::ports::SystemClock),
        ));
    let images_only = genrelay_engine::Channel::new(vec![genrelay_core::Capability::ImageGenerate], mock);
    let app = TestApp::without_mock(vec![images_only]);
    let (status, body) = app.call("GET", "/api/v1/capabilities", Some(KEY_A), None).await;
    assert_eq!(status, StatusCode::OK);
    let listed: Vec<&str> =
        body["capabilities"].as_array().unwrap().iter().map(|c| c["capability"].as_str().unwrap()).collect();
    assert_eq!(listed, ["image.generate"]);
    let video = serde_json::json!({"capability": "video.generate", "prompt": "waves"});
    let (status, body) = app.call("POST", "/api/v1/jobs", Some(KEY_A), Some(video)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["error"],
        "capability: video.generate is not served by this deployment (no channel is configured for it)"
    );
    let (_, jobs) = app.call("GET", "/api/v1/jobs", Some(KEY_A), None).await;
    assert!(jobs["jobs"].as_array().unwrap().is_empty(), "nothing half-written");
}
