//! No client sees another's data, and each door takes only its own credential: every route
//! that names a job, an asset, a delivery, a seed task or a file answers another client's ids
//! 404 in its surface's format with nothing of theirs in the body; every back-office operation
//! refuses a caller without a session (an API key is no session), and an operator on what only
//! admins do; every API operation refuses a session cookie without a key.

use axum::http::StatusCode;
use genrelay_core::ports::Role;
use serde_json::{Value, json};

use genrelay_tests::app::{KEY_A, KEY_B, TestApp, tiny_png};

use crate::routes::{Caller, call, documented_operations, filled};

/// What client B owns and must not leak: words of its job's prompt, its file's name, its
/// client id.
const B_PROMPT: &str = "the secret garden of partner b";
const B_FILE: &str = "partner-b-private.png";

/// Client B's ended job (with an output), its input asset and output.
async fn client_b_data(app: &TestApp) -> (String, String, String, String) {
    let (status, asset) = app.upload(KEY_B, B_FILE, "image/png", &tiny_png()).await;
    assert_eq!(status, StatusCode::CREATED, "{asset}");
    let asset = asset["asset"]["id"].as_str().unwrap().to_owned();
    let body = json!({"capability": "image.edit", "prompt": B_PROMPT, "inputAssetIds": [asset]});
    let job = app.create_job(KEY_B, body).await;
    app.drain().await;
    let ended = app.job(KEY_B, &job).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    let output = ended["outputAssetIds"][0].as_str().unwrap().to_owned();
    let (_, output_asset) = app.get(&format!("/api/v1/assets/{output}"), KEY_B).await;
    (job, asset, output, output_asset["asset"]["name"].as_str().unwrap().to_owned())
}

fn shows_nothing_of_b(body: &Value) -> bool {
    let text = body.to_string();
    !text.contains(B_PROMPT) && !text.contains(B_FILE) && !text.contains("partner-b")
}

#[tokio::test]
async fn another_clients_ids_are_not_found_on_every_route_and_nothing_of_theirs_shows() {
    let app = TestApp::new();
    let (job, asset, output, output_name) = client_b_data(&app).await;
    let calls = [
        call("GET", format!("/api/v1/jobs/{job}"), None),
        call("POST", format!("/api/v1/jobs/{job}/cancel"), None),
        call("GET", format!("/api/v1/jobs/{job}/webhook-deliveries"), None),
        call("POST", format!("/api/v1/jobs/{job}/webhook-deliveries/redeliver"), Some(json!({}))),
        call("GET", format!("/api/v1/assets/{asset}"), None),
        call("GET", format!("/api/v1/assets/{asset}/download"), None),
        call("GET", format!("/api/v1/assets/{output}/download"), None),
        call("POST", format!("/api/v1/assets/{asset}/complete"), None),
        call("GET", format!("/ps_tasks/result/{job}"), None),
        call("GET", format!("/v1/async/tasks/{job}"), None),
        call("POST", "/v1/async/tasks/query", Some(json!({"history_id": job}))),
        call("GET", format!("/api/task/{job}/status"), None),
        call("GET", format!("/api/task/{job}/result"), None),
        call("GET", format!("/api/task/{job}/file/{output_name}"), None),
    ];
    for call in &calls {
        let (status, _, body) = call.send(&app, Caller::client(KEY_A)).await;
        let route = call.route();
        assert_eq!(status, StatusCode::NOT_FOUND, "{route}: {body}");
        assert!(call.surface.is_error_answer(status, &body), "{route}: not the surface's format: {body}");
        assert!(shows_nothing_of_b(&body), "{route}: {body}");
    }

    // Naming B's asset as an input is refused as a missing asset; lists show nothing of B's.
    let body = json!({"capability": "image.edit", "prompt": "x", "inputAssetIds": [asset]});
    let (status, refused) = app.post("/api/v1/jobs", KEY_A, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(refused["error"].as_str().unwrap().contains("not found") && shows_nothing_of_b(&refused), "{refused}");
    let lists =
        [call("GET", "/api/v1/jobs", None), call("GET", "/api/v1/assets", None), call("GET", "/api/tasks", None)];
    for list in &lists {
        let (status, _, body) = list.send(&app, Caller::client(KEY_A)).await;
        assert!(status.is_success(), "{}: {body}", list.route());
        assert!(shows_nothing_of_b(&body) && !body.to_string().contains(&job), "{}: {body}", list.route());
    }
}

#[tokio::test]
async fn every_back_office_operation_needs_a_session_and_admin_only_ones_an_admin() {
    let app = TestApp::new();
    app.add_back_office_user("olivia", Role::Operator, "operator-password-1").await;
    let operator = app.sign_in(("olivia", "operator-password-1")).await;
    let operations: Vec<_> = documented_operations()
        .into_iter()
        .filter(|(_, path, _)| path.starts_with("/admin") && !path.starts_with("/admin/log"))
        .collect();
    assert!(operations.len() > 30, "the back office's operations are read from its document");
    for (method, template, statuses) in &operations {
        let route = call(method, filled(template, "x1"), Some(json!({})));
        for caller in [Caller::default(), Caller::client(KEY_A)] {
            let (status, _, body) = route.send(&app, caller).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{} with {:?}: {body}", route.route(), caller.key);
            assert!(route.surface.is_error_answer(status, &body), "{}: {body}", route.route());
        }
        if statuses.iter().any(|s| s == "403") {
            let (status, _, body) = route.send(&app, Caller::operator(&operator)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{}: an operator: {body}", route.route());
            assert_eq!(body, json!({"status": "error", "message": "权限不足"}));
        }
    }
}

#[tokio::test]
async fn every_api_operation_refuses_a_session_cookie_without_a_key() {
    let app = TestApp::new();
    app.add_back_office_user("root", Role::Admin, "admin-password-1").await;
    let admin = app.sign_in(("root", "admin-password-1")).await;
    let operations: Vec<_> = documented_operations()
        .into_iter()
        .filter(|(_, path, statuses)| !path.starts_with("/admin") && statuses.iter().any(|s| s == "401"))
        .collect();
    assert!(operations.len() > 20, "the API's operations are read from its document");
    for (method, template, _) in &operations {
        let route = call(method, filled(template, "x1"), Some(json!({})));
        let (status, _, body) = route.send(&app, Caller::operator(&admin)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{}: {body}", route.route());
        assert!(route.surface.is_error_answer(status, &body), "{}: {body}", route.route());
    }
}
