use axum::http::StatusCode;
use serde_json::{Value, json};

use genrelay_tests::app::{
    BLOB_BASE, FilePart, KEY_A, KEY_B, TestApp, json_of, multipart_request, read_signed_url, tiny_png,
};

async fn list_len(app: &TestApp, key: &str) -> usize {
    app.get("/api/v1/assets?limit=200", key).await.1["assets"].as_array().unwrap().len()
}

#[tokio::test]
async fn an_uploaded_file_is_read_listed_and_downloaded_through_a_signed_url() {
    let app = TestApp::new();
    let png = tiny_png();
    let (status, answer) = app.upload(KEY_A, "reference.png", "image/png", &png).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let asset = &answer["asset"];
    assert_eq!(answer["assets"][0], *asset);
    assert_eq!(asset["kind"], "image");
    assert_eq!(asset["source"], "upload");
    assert_eq!(asset["contentType"], "image/png");
    assert_eq!(asset["size"], png.len());
    let id = asset["id"].as_str().unwrap();

    let (status, read) = app.get(&format!("/api/v1/assets/{id}"), KEY_A).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["asset"]["name"], "reference.png");
    assert_eq!(list_len(&app, KEY_A).await, 1);

    let (status, location) = app.download_redirect(KEY_A, id).await;
    assert_eq!(status, StatusCode::FOUND);
    let location = location.as_str();
    assert!(location.contains("expires=") && location.contains("signature="), "{location}");
    let (bytes, content_type) = read_signed_url(&app, location).expect("a valid signed URL");
    assert_eq!(bytes, png);
    assert_eq!(content_type, "image/png");
    let tampered = location.replace("signature=", "signature=00");
    assert!(read_signed_url(&app, &tampered).is_none(), "a tampered link is refused");
}

#[tokio::test]
async fn several_files_upload_together() {
    let app = TestApp::new();
    let png = tiny_png();
    let request =
        multipart_request(KEY_A, &[("files", "a.png", "image/png", &png), ("files", "b.txt", "text/plain", b"notes")]);
    let (status, _, body) = app.send(request).await;
    let answer = json_of(&body);
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["assets"].as_array().unwrap().len(), 2);
    assert_eq!(answer["assets"][1]["kind"], "file");
    assert_eq!(list_len(&app, KEY_A).await, 2);
}

#[tokio::test]
async fn bad_uploads_are_400_and_write_nothing() {
    let app = TestApp::new();
    let png = tiny_png();
    let cases: Vec<(Vec<FilePart>, &str)> = vec![
        (vec![], "files"),
        (vec![("other", "a.png", "image/png", &png)], "files"),
        (vec![("files", "../../etc/passwd", "image/png", &png)], "files[0]"),
        (vec![("files", "a/b.png", "image/png", &png)], "files[0]"),
        (vec![("files", "fake.png", "image/png", b"this is not an image")], "files[0]"),
        (vec![("files", "ok.png", "image/png", &png), ("files", "fake.mp4", "video/mp4", &png)], "files[1]"),
        (vec![("files", "empty.png", "image/png", b"")], "files[0]"),
    ];
    for (parts, field) in cases {
        let (status, _, body) = app.send(multipart_request(KEY_A, &parts)).await;
        let answer = json_of(&body);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{parts:?}: {answer}");
        assert!(answer["error"].as_str().unwrap().starts_with(field), "{answer}");
    }
    assert_eq!(list_len(&app, KEY_A).await, 0);
    assert_eq!(app.stored_files(), 0);
}

#[tokio::test]
async fn an_upload_over_the_limit_is_413() {
    let app = TestApp::new();
    let big = vec![0u8; genrelay_http::MAX_UPLOAD_BYTES + 1024];
    let (status, _, body) =
        app.send(multipart_request(KEY_A, &[("files", "big.bin", "application/octet-stream", &big)])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(json_of(&body)["error"].is_string());
    assert_eq!(app.stored_files(), 0);
}

#[tokio::test]
async fn an_external_url_is_registered_and_downloads_redirect_to_it() {
    let app = TestApp::new();
    let body = json!({"url": "https://example.com/reference.png", "name": "reference.png", "kind": "image"});
    let (status, answer) = app.post("/api/v1/assets", KEY_A, body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["asset"]["source"], "url");
    assert_eq!(answer["asset"]["url"], "https://example.com/reference.png");
    let id = answer["asset"]["id"].as_str().unwrap();
    let (status, location) = app.download_redirect(KEY_A, id).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(location, "https://example.com/reference.png");
}

#[tokio::test]
async fn bad_url_registrations_are_400() {
    let app = TestApp::new();
    for (body, field) in [
        (json!({"name": "a.png"}), "url"),
        (json!({"url": "javascript:alert(1)"}), "url"),
        (json!({"url": "https://e.com/a.png", "kind": "hologram"}), "kind"),
        (json!({"url": "https://e.com/a.png", "name": "../a.png"}), "name"),
        (json!({"url": 42}), "url"),
    ] {
        let (status, answer) = app.post("/api/v1/assets", KEY_A, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(answer["error"].as_str().unwrap().starts_with(field), "{answer}");
    }
    let (status, _) = app.call("POST", "/api/v1/assets", Some(KEY_A), None).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(list_len(&app, KEY_A).await, 0);
}

#[tokio::test]
async fn another_clients_asset_is_404_everywhere() {
    let app = TestApp::new();
    let (_, answer) = app.upload(KEY_A, "mine.png", "image/png", &tiny_png()).await;
    let id = answer["asset"]["id"].as_str().unwrap();
    for path in
        [format!("/api/v1/assets/{id}"), format!("/api/v1/assets/{id}/download"), "/api/v1/assets/asset_nope".into()]
    {
        let (status, answer) = app.get(&path, KEY_B).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(answer["error"].is_string());
    }
    assert_eq!(list_len(&app, KEY_B).await, 0);
    let body = json!({"capability": "image.upscale", "inputAssetIds": [id]});
    let (status, _) = app.post("/api/v1/jobs", KEY_B, body.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a job cannot use another client's asset");
    let (status, _) = app.post("/api/v1/jobs", KEY_A, body).await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn asset_lists_page_by_cursor() {
    let app = TestApp::new();
    for i in 0..3 {
        app.upload(KEY_A, &format!("f{i}.png"), "image/png", &tiny_png()).await;
        app.clock.advance(std::time::Duration::from_secs(1));
    }
    let (_, first) = app.get("/api/v1/assets?limit=2", KEY_A).await;
    assert_eq!(first["assets"][0]["name"], "f2.png");
    let cursor = first["next"].as_str().unwrap();
    let (_, second) = app.get(&format!("/api/v1/assets?limit=2&cursor={cursor}"), KEY_A).await;
    assert_eq!(second["assets"].as_array().unwrap().len(), 1);
    assert_eq!(second["assets"][0]["name"], "f0.png");
    assert_eq!(second["next"], Value::Null);
    for query in ["limit=0", "limit=500", "sort=name"] {
        let (status, _) = app.get(&format!("/api/v1/assets?{query}"), KEY_A).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
    }
}

#[tokio::test]
async fn job_inputs_must_be_assets_of_the_right_kind() {
    let app = TestApp::new();
    let (_, notes) = app.upload(KEY_A, "notes.txt", "text/plain", b"some notes").await;
    let id = notes["asset"]["id"].as_str().unwrap();
    let body = json!({"capability": "image.upscale", "inputAssetIds": [id]});
    let (status, answer) = app.post("/api/v1/jobs", KEY_A, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["error"].as_str().unwrap().starts_with("inputAssetIds[0]"), "{answer}");
    let body = json!({"capability": "video.generate", "prompt": "x", "materials": [{"type": "image", "assetId": id}]});
    let (status, answer) = app.post("/api/v1/jobs", KEY_A, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["error"].as_str().unwrap().starts_with("materials[0].assetId"), "{answer}");
}

#[tokio::test]
async fn html_uploads_are_kept_as_files_not_media() {
    let app = TestApp::new();
    let (status, answer) = app.upload(KEY_A, "page.html", "text/html", b"<script>alert(1)</script>").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(answer["asset"]["kind"], "file");
    let disposition = genrelay_core::asset::content_disposition("text/html", "page.html");
    assert!(disposition.starts_with("attachment"), "served as a download, never rendered");
}

#[tokio::test]
async fn a_presigned_upload_is_put_then_completed_with_size_type_and_checksum() {
    let app = TestApp::new();
    let (status, ticket) =
        app.post("/api/v1/assets/uploads", KEY_A, json!({"name": "big.png", "contentType": "image/png"})).await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    assert_eq!(ticket["method"], "PUT");
    assert_eq!(ticket["headers"]["Content-Type"], "image/png");
    assert_eq!(ticket["asset"]["status"], "pending");
    let id = ticket["assetId"].as_str().unwrap();
    let url = ticket["uploadUrl"].as_str().unwrap();
    assert!(url.starts_with(&format!("{BLOB_BASE}/blobs/uploads/")) && url.contains("signature="), "{url}");

    // Not usable before its file arrives.
    let complete = format!("/api/v1/assets/{id}/complete");
    let (status, answer) = app.post(&complete, KEY_A, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(app.download_redirect(KEY_A, id).await.0, StatusCode::CONFLICT);
    let job = json!({"capability": "image.upscale", "inputAssetIds": [id]});
    assert_eq!(app.post("/api/v1/jobs", KEY_A, job.clone()).await.0, StatusCode::BAD_REQUEST);

    let png = tiny_png();
    put_through_signed_url(&app, url, &png).await;
    let (status, answer) = app.post(&complete, KEY_A, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let asset = &answer["asset"];
    assert_eq!((asset["status"].as_str(), asset["size"].as_u64()), (Some("ready"), Some(png.len() as u64)));
    assert_eq!(asset["sha256"].as_str().unwrap().len(), 64);
    let (status, again) = app.post(&complete, KEY_A, json!({})).await;
    assert_eq!((status, &again["asset"]), (StatusCode::OK, asset), "completing twice changes nothing");
    let (status, location) = app.download_redirect(KEY_A, id).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(read_signed_url(&app, &location).unwrap().0, png);
    assert_eq!(app.post("/api/v1/jobs", KEY_A, job).await.0, StatusCode::ACCEPTED);
    let (status, _) = app.post(&complete, KEY_B, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another client's upload");
}

#[tokio::test]
async fn an_upload_whose_content_is_not_what_was_declared_is_refused_and_removed() {
    let app = TestApp::new();
    let (_, ticket) = app.post("/api/v1/assets/uploads", KEY_A, json!({"name": "clip.mp4"})).await;
    assert_eq!(ticket["headers"]["Content-Type"], "video/mp4", "the type is guessed from the name");
    let id = ticket["assetId"].as_str().unwrap();
    put_through_signed_url(&app, ticket["uploadUrl"].as_str().unwrap(), b"not a video at all").await;
    let (status, answer) = app.post(&format!("/api/v1/assets/{id}/complete"), KEY_A, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["error"].as_str().unwrap().contains("video"), "{answer}");
    assert_eq!(app.stored_files(), 0, "the bad file is removed, so the upload can be retried");
    let (_, read) = app.get(&format!("/api/v1/assets/{id}"), KEY_A).await;
    assert_eq!(read["asset"]["status"], "pending");
    for body in [json!({}), json!({"name": "../x.png"}), json!({"name": "x.png", "kind": "hologram"})] {
        let (status, _) = app.post("/api/v1/assets/uploads", KEY_A, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
}

/// What the dev server's PUT route does with a signed upload URL.
async fn put_through_signed_url(app: &TestApp, url: &str, bytes: &[u8]) {
    use genrelay_embedded::LinkMethod;
    let rest = url.strip_prefix(&format!("{BLOB_BASE}/blobs/")).unwrap();
    let (path, query) = rest.split_once('?').unwrap();
    let key = percent_encoding::percent_decode_str(path).decode_utf8().unwrap();
    let blob = app.embedded.blobs.verify(LinkMethod::Put, &key, query, chrono::Utc::now()).expect("a valid PUT link");
    assert!(app.embedded.blobs.verify(LinkMethod::Get, &key, query, chrono::Utc::now()).is_none());
    app.embedded.blobs.write_from(&blob.key, bytes).await.unwrap();
}
