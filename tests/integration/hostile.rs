//! Hostile input, by hand, beside Schemathesis' generated cases: each is a 4xx in the surface's
//! format (never a 5xx, never a crash), and leaves nothing written; URLs that point inside are
//! refused wherever a client may give one, and never fetched.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

use genrelay_tests::app::{KEY_A, TestApp, json_of, multipart_request, tiny_png};

use crate::routes::{Caller, call};

/// Sends raw bytes as `content_type` to `path` with client A's key.
async fn raw(app: &TestApp, path: &str, content_type: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let request = Request::post(path)
        .header(header::AUTHORIZATION, format!("Bearer {KEY_A}"))
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap();
    let (status, _, bytes) = app.send(request).await;
    (status, json_of(&bytes))
}

/// Nothing of client A's was written: no job, no asset, no file.
async fn nothing_written(app: &TestApp) {
    assert_eq!(app.get("/api/v1/jobs", KEY_A).await.1["jobs"], json!([]));
    assert_eq!(app.get("/api/v1/assets", KEY_A).await.1["assets"], json!([]));
    assert_eq!(app.stored_files(), 0);
}

#[tokio::test]
async fn malformed_huge_and_deeply_nested_bodies_are_4xx_and_write_nothing() {
    let app = TestApp::new();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let huge = format!(r#"{{"capability":"image.generate","prompt":"{}"}}"#, "x".repeat(3 * 1024 * 1024));
    let cases: Vec<(&str, Vec<u8>, StatusCode)> = vec![
        ("deeply nested", deep.into_bytes(), StatusCode::BAD_REQUEST),
        ("larger than the limit", huge.into_bytes(), StatusCode::PAYLOAD_TOO_LARGE),
        (
            "invalid UTF-8",
            b"{\"capability\":\"image.generate\",\"prompt\":\"\xff\xfe\"}".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        ("truncated", b"{\"capability\":\"image.gen".to_vec(), StatusCode::BAD_REQUEST),
        ("not an object", b"[1, 2, 3]".to_vec(), StatusCode::BAD_REQUEST),
        ("empty", Vec::new(), StatusCode::BAD_REQUEST),
    ];
    for (what, body, expected) in cases {
        let (status, answer) = raw(&app, "/api/v1/jobs", "application/json", body).await;
        assert_eq!(status, expected, "{what}: {answer}");
        assert!(answer["error"].is_string(), "{what}: {answer}");
    }
    nothing_written(&app).await;

    // A NUL in a prompt is text like any other: kept as given, or refused, never a 5xx.
    let (status, answer) =
        app.post("/api/v1/jobs", KEY_A, json!({"capability": "image.generate", "prompt": "a\u{0}b"})).await;
    assert!(status == StatusCode::ACCEPTED || status == StatusCode::BAD_REQUEST, "{status}: {answer}");
    if status == StatusCode::ACCEPTED {
        let id = answer["job"]["id"].as_str().unwrap();
        assert_eq!(app.job(KEY_A, id).await["prompt"], "a\u{0}b", "stored as given");
    }
}

#[tokio::test]
async fn hostile_uploads_are_4xx_and_leave_no_file() {
    let app = TestApp::new();
    let (status, answer) = raw(&app, "/api/v1/assets", "multipart/form-data", b"--x\r\n\r\n".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no boundary: {answer}");
    let mut many = Vec::new();
    for i in 0..5000 {
        many.extend_from_slice(format!("--B\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nx\r\n").as_bytes());
    }
    many.extend_from_slice(b"--B--\r\n");
    let (status, answer) = raw(&app, "/api/v1/assets", "multipart/form-data; boundary=B", many).await;
    assert!(status.is_client_error(), "thousands of parts: {status} {answer}");
    let oversize = vec![0u8; genrelay_http::MAX_UPLOAD_BYTES + 1];
    let (status, _, _) = app.send(multipart_request(KEY_A, &[("files", "big.png", "image/png", &oversize)])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    nothing_written(&app).await;

    // File names are names, never paths: whatever the client calls a file, it lands in the store.
    for name in ["../../../../etc/passwd.png", "/etc/shadow.png", "..\\..\\boot.ini.png", "a/../../b.png"] {
        let (status, _, body) = app.send(multipart_request(KEY_A, &[("files", name, "image/png", &tiny_png())])).await;
        let body = json_of(&body);
        assert!(status == StatusCode::CREATED || status == StatusCode::BAD_REQUEST, "{name}: {status} {body}");
        if status == StatusCode::CREATED {
            let stored = body["asset"]["name"].as_str().unwrap();
            assert!(!stored.contains('/') && !stored.contains('\\') && !stored.contains(".."), "{name} → {stored}");
        }
    }
    let outside = |path: &std::path::Path| walk(path).into_iter().filter(|file| !file.starts_with(path)).count();
    assert_eq!(outside(app.dir.path()), 0);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().flat_map(|e| if e.path().is_dir() { walk(&e.path()) } else { vec![e.path()] }).collect()
}

/// Counts the requests it gets: an inside address a client names must never be fetched.
async fn inside_server() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        async { "inside" }
    });
    (genrelay_tests::serve(app).await, hits)
}

/// Webhook URLs are checked when the job is made; input URLs where they are fetched (a provider
/// that fetches one goes through the egress guard, which also checks the addresses names
/// resolve to, and each redirect): a job whose input points inside fails, saying why, and the
/// address is never reached.
#[tokio::test]
async fn urls_pointing_inside_are_refused_wherever_a_client_gives_one_and_never_fetched() {
    let app = TestApp::new();
    let (inside, hits) = inside_server().await;
    let port = inside.rsplit(':').next().unwrap().to_owned();
    let urls = [
        format!("{inside}/a.png"),
        format!("http://localhost:{port}/a.png"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.7/a.png".to_owned(),
        "http://192.168.1.1/a.png".to_owned(),
        format!("http://[::ffff:127.0.0.1]:{port}/a.png"),
        format!("http://2130706433:{port}/a.png"),
        format!("http://0x7f.0.0.1:{port}/a.png"),
        format!("http://0177.0.0.1:{port}/a.png"),
        format!("http://127.1:{port}/a.png"),
        "http://[fd00::1]/a.png".to_owned(),
    ];
    for url in &urls {
        let webhook = json!({"capability": "image.generate", "prompt": "x", "webhookUrl": url});
        let (status, _, body) = call("POST", "/api/v1/jobs", Some(webhook)).send(&app, Caller::client(KEY_A)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "webhookUrl {url}: {body}");
        assert!(body["error"].as_str().unwrap().starts_with("webhookUrl"), "{url}: {body}");

        // The mock fetches the input of an edit that keeps its size, as an upstream adapter does.
        let edit = json!({"image_url": url, "prompt": "x", "keep_size": true});
        let (status, _, body) = call("POST", "/ps_tasks/submit", Some(edit)).send(&app, Caller::client(KEY_A)).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        app.drain().await;
        let job = app.job(KEY_A, body["data"]["task_id"].as_str().unwrap()).await;
        assert_eq!(job["status"], "failed", "{url}: {job}");
        let reason = job["error"].as_str().unwrap_or_default();
        assert!(reason.contains("which genrelay does not call"), "{url}: the refusal is the reason: {job}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "no inside address was reached");
}
