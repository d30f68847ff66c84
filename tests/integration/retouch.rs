//! Meitu's retouch before a job's own capability (seed 000's `enable_in_workflow`): a job names
//! a style of the catalog, inherits its capability and prompt, and, its input being an original
//! and the style having a Meitu preset, is retouched by Meitu (the Yunxiu fake) first, then
//! generated on the retouched image by its own channel (the EvoLink fake), as one job with both
//! steps in its attempts. Everything is configured as operators do, through the back office.

use std::time::Duration;

use axum::http::StatusCode;
use genrelay_core::ports::Role;
use genrelay_tests::app::{KEY_A, TestApp, png_size, read_signed_url};
use genrelay_tests::fake_evolink::{self, FakeEvoLink};
use genrelay_tests::fake_yunxiu::{API_KEY, API_SECRET, FakeYunxiu};
use serde_json::{Value, json};

const ADMIN: (&str, &str) = ("root", "root-password-1");
const ORIGINAL: &str = "https://example.com/customers/original.jpg";

/// A studio whose Meitu config points at `yunxiu` (retouching originals when `enabled`), whose
/// EvoLink channel serves `image.edit`, and whose catalog has the category `portrait` (an edit
/// with a studio prompt, Meitu preset `MT-PORTRAIT`) with the styles `film` (its own preset
/// `MT-FILM`), `plain` (the category's), `broken` (a preset Meitu fails) and `lost` (one whose
/// task Meitu loses once).
async fn studio(yunxiu: &FakeYunxiu, evolink: &FakeEvoLink, enabled: bool) -> TestApp {
    let app = TestApp::with_stored_channels().await;
    app.add_back_office_user(ADMIN.0, Role::Admin, ADMIN.1).await;
    let root = app.sign_in(ADMIN).await;
    let post = |path: &'static str, body: Value| {
        let (app, root) = (&app, root.clone());
        async move {
            let (status, answer, _) = app.back_office("POST", path, &root, Some(body)).await;
            assert!(status.is_success(), "{path}: {answer}");
            answer["data"]["id"].as_u64()
        }
    };
    post(
        "/admin/meitu/api/config",
        json!({"api_key": API_KEY, "api_secret": API_SECRET, "api_base_url": yunxiu.base_url,
               "enable_in_workflow": enabled}),
    )
    .await;
    post(
        "/admin/ai-provider/api/configs",
        json!({"name": "evolink", "type": "evolink", "baseUrl": evolink.base_url, "apiKey": fake_evolink::API_KEY,
               "models": {"image.edit": "gpt-image-1"}, "pollIntervalMs": 0}),
    )
    .await;
    let portrait = post(
        "/admin/meitu/api/style-categories",
        json!({"name": "人像", "code": "portrait", "capability": "image.edit", "prompt": "studio portrait, soft light"}),
    )
    .await
    .unwrap();
    let styles = [
        ("film", Some("MT-FILM")),
        ("plain", None),
        ("broken", Some("[fail] MT-BROKEN")),
        ("lost", Some("[lost] MT-LOST")),
    ];
    for (code, preset) in styles {
        let image = json!({"category_id": portrait, "name": format!("风格 {code}"), "code": code});
        let image = post("/admin/meitu/api/style-images", image).await.unwrap();
        if let Some(preset) = preset {
            post("/admin/meitu/api/presets", json!({"preset_id": preset, "style_image_id": image})).await;
        }
    }
    post("/admin/meitu/api/presets", json!({"preset_id": "MT-PORTRAIT", "style_category_id": portrait})).await;
    app
}

/// Runs workers and pollers past every poll interval (Meitu is first asked after 10 s).
async fn run(app: &TestApp) {
    for _ in 0..8 {
        app.drain().await;
        app.clock.advance(Duration::from_secs(15));
    }
}

fn attempts(job: &Value) -> Vec<(String, String)> {
    let attempts = job["attempts"].as_array().unwrap();
    attempts.iter().map(|a| (a["channel"].as_str().unwrap().into(), a["outcome"].as_str().unwrap().into())).collect()
}

#[tokio::test]
async fn an_original_in_a_style_is_retouched_by_meitu_then_generated_on_the_retouch_as_one_job() {
    let (yunxiu, evolink) = (FakeYunxiu::start().await, FakeEvoLink::start().await);
    let app = studio(&yunxiu, &evolink, true).await;
    let body = json!({"style": "film", "imageType": "original", "imageUrls": [ORIGINAL], "orderNumber": "ORD-R1"});
    let id = app.create_job(KEY_A, body).await;
    run(&app).await;

    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        attempts(&job),
        [("meitu-yunxiu".into(), "accepted".into()), ("evolink".into(), "accepted".into())],
        "both steps, in order"
    );
    assert_eq!(
        (job["capability"].clone(), job["prompt"].clone()),
        (json!("image.edit"), json!("studio portrait, soft light"))
    );
    assert_eq!((job["style"].clone(), job["imageType"].clone()), (json!("film"), json!("retouched")));
    assert_eq!(job["imageUrls"], json!([ORIGINAL]), "what the client asked stays as it asked");

    // Meitu retouched the original with the style's own preset ...
    let retouch = app.stored_job(&id).await.retouch.expect("the retouch is recorded");
    let call = yunxiu.retouch(&retouch.msg_id).unwrap();
    assert_eq!((call.media_code.as_str(), call.media_data.as_str()), ("MT-FILM", ORIGINAL));
    // ... which is kept as the client's asset ...
    let retouched = job["retouchedAssetId"].as_str().expect("the retouched image is an asset");
    let (status, location) = app.download_redirect(KEY_A, retouched).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(png_size(&read_signed_url(&app, &location).unwrap().0), (40, 56), "Meitu's image");
    // ... and EvoLink generated from it, not from the original.
    let requests = evolink.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0]["prompt"], "studio portrait, soft light");
    let sent = requests[0]["image_urls"][0].as_str().unwrap();
    assert_ne!(sent, ORIGINAL);
    assert_eq!(png_size(&read_signed_url(&app, sent).unwrap().0), (40, 56), "the retouch went to EvoLink");
    assert_eq!(job["outputAssetIds"].as_array().unwrap().len(), 1);

    // The Meitu task shows the call: its preset, msg_id and result, done.
    let root = app.sign_in(ADMIN).await;
    let (_, tasks, _) = app.back_office("GET", "/admin/meitu/api/tasks", &root, None).await;
    let task = &tasks["data"]["tasks"][0];
    assert_eq!(
        (task["id"].as_str(), task["preset_id"].as_str(), task["msg_id"].as_str(), task["status"].as_str()),
        (Some(id.as_str()), Some("MT-FILM"), Some(retouch.msg_id.as_str()), Some("success")),
        "{tasks}"
    );
    assert_eq!(task["result"][0]["asset_id"], retouched);
    let recheck = format!("/admin/meitu/api/tasks/{id}/recheck");
    assert_eq!(app.back_office("POST", &recheck, &root, None).await.0, StatusCode::CONFLICT, "nothing to ask");
    let (_, ai_task, _) = app.back_office("GET", &format!("/admin/ai/api/tasks/{id}"), &root, None).await;
    assert_eq!(ai_task["data"]["style_name"], "风格 film", "{ai_task}");
}

#[tokio::test]
async fn a_style_without_its_own_preset_uses_its_categorys_and_a_failed_retouch_fails_the_job() {
    let (yunxiu, evolink) = (FakeYunxiu::start().await, FakeEvoLink::start().await);
    let app = studio(&yunxiu, &evolink, true).await;
    let plain = app
        .create_job(
            KEY_A,
            json!({"style": "plain", "imageType": "original", "imageUrls": [ORIGINAL], "prompt": "mine"}),
        )
        .await;
    let broken =
        app.create_job(KEY_A, json!({"style": "broken", "imageType": "original", "imageUrls": [ORIGINAL]})).await;
    let lost = app.create_job(KEY_A, json!({"style": "lost", "imageType": "original", "imageUrls": [ORIGINAL]})).await;
    run(&app).await;

    // A retouch Meitu lost is sent again, then the job goes on.
    let job = app.job(KEY_A, &lost).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let channels: Vec<String> = attempts(&job).into_iter().map(|(channel, _)| channel).collect();
    assert_eq!(channels, ["meitu-yunxiu", "meitu-yunxiu", "meitu-yunxiu", "evolink"], "{job}");

    let job = app.job(KEY_A, &plain).await;
    assert_eq!((job["status"].clone(), job["prompt"].clone()), (json!("succeeded"), json!("mine")), "{job}");
    let msg_id = app.stored_job(&plain).await.retouch.unwrap().msg_id;
    assert_eq!(yunxiu.retouch(&msg_id).unwrap().media_code, "MT-PORTRAIT");

    // Meitu refusing the image fails the job with its reason; nothing is generated from it.
    let job = app.job(KEY_A, &broken).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"], "Meitu Yunxiu: refused as invalid: 20008 UNSUITABLE_IMAGE");
    assert_eq!((job["imageType"].clone(), job["retouchedAssetId"].clone()), (json!("original"), Value::Null));
    assert_eq!(attempts(&job), [("meitu-yunxiu".into(), "accepted".into())]);
    assert_eq!(evolink.requests().len(), 2, "the broken job never reached EvoLink");
}

#[tokio::test]
async fn with_the_retouch_off_or_an_input_already_retouched_jobs_go_straight_to_their_channel() {
    let (yunxiu, evolink) = (FakeYunxiu::start().await, FakeEvoLink::start().await);
    let off = studio(&yunxiu, &evolink, false).await;
    let id = off.create_job(KEY_A, json!({"style": "film", "imageType": "original", "imageUrls": [ORIGINAL]})).await;
    run(&off).await;
    let job = off.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!((attempts(&job).len(), job["imageType"].clone()), (1, json!("original")));
    assert_eq!(evolink.requests()[0]["image_urls"], json!([ORIGINAL]));

    let on = studio(&yunxiu, &evolink, true).await;
    let id = on.create_job(KEY_A, json!({"style": "film", "imageType": "retouched", "imageUrls": [ORIGINAL]})).await;
    run(&on).await;
    let job = on.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(attempts(&job), [("evolink".into(), "accepted".into())]);

    // A style no one defined is refused, and nothing is created.
    let (status, refused) = on.post("/api/v1/jobs", KEY_A, json!({"style": "nope", "imageUrls": [ORIGINAL]})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(refused["error"].as_str().unwrap().starts_with("style:"), "{refused}");
    let (_, listed) = on.get("/api/v1/jobs", KEY_A).await;
    assert_eq!(listed["jobs"].as_array().map(Vec::len), Some(1), "{listed}");
}

#[tokio::test]
async fn a_job_whose_generation_failed_after_its_retouch_is_retried_from_the_original() {
    let (yunxiu, evolink) = (FakeYunxiu::start().await, FakeEvoLink::start().await);
    let app = studio(&yunxiu, &evolink, true).await;
    // EvoLink fails this prompt's tasks as overloaded: sent again, then failed.
    let body = json!({"style": "film", "imageType": "original", "imageUrls": [ORIGINAL], "prompt": "[overload] x"});
    let id = app.create_job(KEY_A, body).await;
    run(&app).await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!((job["status"].clone(), job["imageType"].clone()), (json!("failed"), json!("retouched")), "{job}");
    let root = app.sign_in(ADMIN).await;
    let (_, tasks, _) = app.back_office("GET", "/admin/meitu/api/tasks?status=failed", &root, None).await;
    assert_eq!(tasks["data"]["tasks"][0]["status"], "failed", "a task's status is its job's: {tasks}");
    assert!(tasks["data"]["tasks"][0]["result"][0]["asset_id"].is_string(), "the retouch is still shown");

    let (status, retried, _) = app.back_office("POST", &format!("/admin/ai/api/tasks/{id}/retry"), &root, None).await;
    assert_eq!(status, StatusCode::CREATED, "{retried}");
    let retry = retried["data"]["task"]["task_id"].as_str().unwrap().to_owned();
    assert_eq!(retried["data"]["task"]["image_type"], "original", "from the client's original");
    run(&app).await;
    let job = app.job(KEY_A, &retry).await;
    assert_eq!(attempts(&job)[0], ("meitu-yunxiu".into(), "accepted".into()), "retouched again: {job}");
    let msg_id = app.stored_job(&retry).await.retouch.unwrap().msg_id;
    assert_eq!(yunxiu.retouch(&msg_id).unwrap().media_data, ORIGINAL);
}
