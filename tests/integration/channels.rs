//! Provider channels edited from the back office (seed 000's `/admin/ai-provider`): stored in
//! the providers document with write-only credentials in the secret store, applied without a
//! restart on every engine of the store, tested against each upstream's fake.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use genrelay_core::ports::{ConfigDocuments, PROVIDERS_DOCUMENT, Role, SecretStore};
use genrelay_engine::{Engine, REFRESH, Settings};
use genrelay_providers::MockConfig;
use genrelay_tests::app::{KEY_A, ManualClock, TestApp};
use genrelay_tests::{fake_ark, fake_comfyui, fake_evolink, fake_inference, fake_jimeng, fake_meitu, fake_runninghub};
use serde_json::{Value, json};

const ADMIN: (&str, &str) = ("root", "root-password-1");
const OPERATOR: (&str, &str) = ("olivia", "operator-password-1");
const MASK: &str = "••••••••";
const CONFIGS: &str = "/admin/ai-provider/api/configs";

async fn app() -> TestApp {
    let app = TestApp::with_stored_channels().await;
    app.add_back_office_user(ADMIN.0, Role::Admin, ADMIN.1).await;
    app.add_back_office_user(OPERATOR.0, Role::Operator, OPERATOR.1).await;
    app
}

fn runninghub(base_url: &str, key: &str) -> Value {
    json!({"name": "rh", "type": "runninghub", "baseUrl": base_url, "apiKey": key, "pollIntervalMs": 0,
           "workflows": {"image.generate": {"workflowId": "1904136902449209346", "slots": {"prompt": ["6", "text"]}}}})
}

fn names(list: &Value) -> Vec<&str> {
    list["data"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn admins_add_edit_disable_and_remove_channels_whose_credentials_are_write_only() {
    let fake = fake_runninghub::FakeRunningHub::start().await;
    let app = app().await;
    let (root, olivia) = (app.sign_in(ADMIN).await, app.sign_in(OPERATOR).await);
    let key = fake_runninghub::API_KEY;

    let (status, _, _) = app.back_office("POST", CONFIGS, &olivia, Some(runninghub(&fake.base_url, key))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "operators do not change channels");
    for (bad, complaint) in [
        (json!({"type": "runninghub"}), "name"),
        (json!({"name": "../x", "type": "comfyui"}), "name"),
        (json!({"name": "x", "type": "nope", "baseUrl": "http://x"}), "unknown variant `nope`"),
        (json!({"name": "x", "type": "runninghub", "apiKey": "k", "workflows": {}}), "baseUrl"),
        (json!({"name": "x", "type": "runninghub", "baseUrl": "http://x", "apiKey": 7, "workflows": {}}), "apiKey"),
    ] {
        let (status, body, _) = app.back_office("POST", CONFIGS, &root, Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["message"].as_str().unwrap().contains(complaint), "{bad}: {body}");
    }
    assert_eq!(app.embedded.store.document(PROVIDERS_DOCUMENT).await.unwrap(), None, "nothing half-written");

    // Added: the key goes to the secret store, the document and every answer hold no trace of it.
    let (status, added, text) = app.back_office("POST", CONFIGS, &root, Some(runninghub(&fake.base_url, key))).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["data"]["settings"]["apiKey"], MASK);
    assert_eq!((added["data"]["type"].clone(), added["data"]["enabled"].clone()), (json!("runninghub"), json!(true)));
    assert!(!text.contains(key));
    let secret = "/genrelay/channels/rh/apiKey".to_owned();
    assert_eq!(app.embedded.store.secrets(std::slice::from_ref(&secret)).await.unwrap()[&secret], key);
    let document = app.embedded.store.document(PROVIDERS_DOCUMENT).await.unwrap().unwrap();
    assert!(!document.to_string().contains(key) && document.to_string().contains(&secret), "{document}");
    let (status, _, _) = app.back_office("POST", CONFIGS, &root, Some(runninghub(&fake.base_url, key))).await;
    assert_eq!(status, StatusCode::CONFLICT, "one channel per name");

    // In force at once on this instance: a job goes to RunningHub.
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "a red fox"})).await;
    app.drain().await;
    assert_eq!(app.stored_job(&id).await.channel.as_deref(), Some("rh"));
    assert_eq!(fake.tasks_created(), 1);

    // Edited with the key left blank, then sent back masked: the stored key is kept.
    let mut edit = runninghub(&fake.base_url, "");
    edit["priority"] = json!(5);
    edit["maxConcurrent"] = json!(2);
    let (status, saved, _) = app.back_office("PUT", &format!("{CONFIGS}/rh"), &root, Some(edit.clone())).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!((saved["data"]["priority"].clone(), saved["data"]["maxConcurrent"].clone()), (json!(5), json!(2)));
    edit["apiKey"] = json!(MASK);
    assert_eq!(app.back_office("PUT", &format!("{CONFIGS}/rh"), &root, Some(edit.clone())).await.0, StatusCode::OK);
    assert_eq!(app.embedded.store.secrets(std::slice::from_ref(&secret)).await.unwrap()[&secret], key);
    let (_, tested, _) = app.back_office("POST", &format!("{CONFIGS}/rh/test"), &olivia, None).await;
    assert_eq!(tested["data"]["ok"], true, "the kept key still opens RunningHub: {tested}");
    let mut renamed = edit.clone();
    renamed["name"] = json!("other");
    let (status, body, _) = app.back_office("PUT", &format!("{CONFIGS}/rh"), &root, Some(renamed)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // A request names no stored secret (it could name another channel's), and a type stays.
    let mut borrowed = edit.clone();
    borrowed["workflows"]["image.generate"]["workflowId"] = json!({"ssmParameter": "/genrelay/channels/other/apiKey"});
    let (status, body, _) = app.back_office("PUT", &format!("{CONFIGS}/rh"), &root, Some(borrowed)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let mut retyped = edit.clone();
    retyped["type"] = json!("evolink");
    let (status, body, _) = app.back_office("PUT", &format!("{CONFIGS}/rh"), &root, Some(retyped)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("type:"), "{body}");
    let mut unnamed = edit.clone();
    unnamed.as_object_mut().unwrap().remove("name");
    assert_eq!(app.back_office("PUT", &format!("{CONFIGS}/nope"), &root, Some(unnamed)).await.0, StatusCode::NOT_FOUND);

    // A new key replaces the old one; a wrong one shows in the connection test, never echoed.
    edit["apiKey"] = json!("ffffffffffffffffffffffffffffffff");
    app.back_office("PUT", &format!("{CONFIGS}/rh"), &root, Some(edit.clone())).await;
    let (status, tested, text) = app.back_office("POST", &format!("{CONFIGS}/rh/test"), &olivia, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tested["data"]["ok"], false, "{tested}");
    assert!(tested["data"]["answer"].as_str().unwrap().contains("APIKEY_UNAUTHORIZED"), "{tested}");
    assert!(!text.contains("ffffffffffffffffffffffffffffffff"));

    // Enabled, it cannot be removed; disabled, it takes no new jobs (the mock does) and can.
    let (status, refused, _) = app.back_office("DELETE", &format!("{CONFIGS}/rh"), &root, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    edit["enabled"] = json!(false);
    let (_, disabled, _) = app.back_office("PUT", &format!("{CONFIGS}/rh"), &root, Some(edit)).await;
    assert_eq!(disabled["data"]["enabled"], false, "{disabled}");
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "a blue fox"})).await;
    app.drain().await;
    assert_eq!(app.stored_job(&id).await.channel.as_deref(), Some("mock"));
    assert_eq!(app.back_office("DELETE", &format!("{CONFIGS}/rh"), &olivia, None).await.0, StatusCode::FORBIDDEN);
    let (status, _, _) = app.back_office("DELETE", &format!("{CONFIGS}/rh"), &root, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(app.embedded.store.secrets(std::slice::from_ref(&secret)).await.unwrap().is_empty(), "its key is gone");
    let (_, list, _) = app.back_office("GET", CONFIGS, &olivia, None).await;
    assert_eq!(names(&list), ["mock"]);
}

#[tokio::test]
async fn the_channels_page_shows_credentials_masked_and_only_admins_get_the_form() {
    let fake = fake_runninghub::FakeRunningHub::start().await;
    let app = app().await;
    let (root, olivia) = (app.sign_in(ADMIN).await, app.sign_in(OPERATOR).await);
    app.back_office("POST", CONFIGS, &root, Some(runninghub(&fake.base_url, fake_runninghub::API_KEY))).await;
    let (status, _, page) = app.back_office("GET", "/admin/ai-provider/config", &root, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("apiKey: {MASK}")) && page.contains("id=\"channel-form\""), "{page}");
    assert!(!page.contains(fake_runninghub::API_KEY));
    let (_, _, page) = app.back_office("GET", "/admin/ai-provider/config", &olivia, None).await;
    assert!(page.contains("data-channel-action=\"test\"") && !page.contains("id=\"channel-form\""));
}

#[tokio::test]
async fn a_change_reaches_another_instance_on_the_store_within_a_refresh_without_a_restart() {
    let fake = fake_runninghub::FakeRunningHub::start().await;
    let app = app().await;
    let root = app.sign_in(ADMIN).await;
    // Another function instance on the same store, on its own clock, started before the change.
    let clock = ManualClock::new();
    let egress = genrelay_egress::Egress::allow_private();
    let other = Engine::new(app.embedded.deps(MockConfig::default(), Arc::new(clock.clone())), Settings::default())
        .with_channel_source(Arc::new(app.embedded.stored_channels(&egress)));
    other.reload_channels().await.unwrap();
    assert!(!channel_names(&other).await.contains(&"rh".to_owned()));

    app.back_office("POST", CONFIGS, &root, Some(runninghub(&fake.base_url, fake_runninghub::API_KEY))).await;
    other.refresh().await;
    assert!(!channel_names(&other).await.contains(&"rh".to_owned()), "kept until its refresh is due");
    clock.advance(REFRESH + Duration::from_secs(1));
    other.refresh().await;
    assert!(channel_names(&other).await.contains(&"rh".to_owned()), "read again within a minute");
}

async fn channel_names(engine: &Engine) -> Vec<String> {
    engine.channel_states().await.unwrap().iter().map(|s| s.channel.name().to_owned()).collect()
}

/// Each upstream's settings, as in the README's example, pointed at its fake.
fn every_upstream(fakes: &Fakes, good: bool) -> Vec<Value> {
    let credential = |right: &str| if good { right.to_owned() } else { format!("wrong-{right}") };
    vec![
        json!({"name": "gpu-box", "type": "inference", "baseUrl": fakes.inference, "indexes": {"image.generate": 1}}),
        json!({"name": "comfy", "type": "comfyui", "baseUrl": fakes.comfyui, "workflows": {"image.generate": {
            "graph": {"6": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}}},
            "slots": {"prompt": ["6", "text"]}}}}),
        runninghub(&fakes.runninghub, &credential(fake_runninghub::API_KEY)),
        json!({"name": "jimeng", "type": "jimeng", "baseUrl": fakes.jimeng, "sessionId": credential(fake_jimeng::SESSION_ID),
               "models": {"image.generate": "jimeng-4.5"}}),
        json!({"name": "meitu", "type": "meitu", "baseUrl": fakes.meitu, "accessKey": fake_meitu::ACCESS_KEY,
               "secretKey": credential(fake_meitu::SECRET_KEY),
               "presets": {"image.upscale": {"task": "/v1/openclaw/default/488260"}}}),
        json!({"name": "evolink", "type": "evolink", "baseUrl": fakes.evolink, "apiKey": credential(fake_evolink::API_KEY),
               "models": {"image.generate": "gpt-image-1"}}),
        json!({"name": "ark", "type": "seedance", "baseUrl": format!("{}/api/v3", fakes.ark),
               "apiKey": credential(fake_ark::API_KEY), "model": "doubao-seedance-1-0-pro-250528"}),
    ]
}

struct Fakes {
    inference: String,
    comfyui: String,
    runninghub: String,
    jimeng: String,
    meitu: String,
    evolink: String,
    ark: String,
}

#[tokio::test]
async fn every_upstream_answers_a_connection_test_with_the_channels_credentials() {
    let fakes = Fakes {
        inference: fake_inference::FakeInferenceServer::start().await.base_url,
        comfyui: fake_comfyui::FakeComfyUi::start().await.base_url,
        runninghub: fake_runninghub::FakeRunningHub::start().await.base_url,
        jimeng: fake_jimeng::FakeJimeng::start().await.base_url,
        meitu: fake_meitu::FakeMeitu::start().await.base_url,
        evolink: fake_evolink::FakeEvoLink::start().await.base_url,
        ark: fake_ark::FakeArk::start().await.base_url,
    };
    let app = app().await;
    let root = app.sign_in(ADMIN).await;
    for channel in every_upstream(&fakes, true) {
        let name = channel["name"].as_str().unwrap().to_owned();
        let (status, added, _) = app.back_office("POST", CONFIGS, &root, Some(channel)).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {added}");
        let (status, tested, _) = app.back_office("POST", &format!("{CONFIGS}/{name}/test"), &root, None).await;
        assert_eq!(status, StatusCode::OK);
        let test = &tested["data"];
        // EvoLink has no account endpoint: a task it cannot have answers 404 to a key it takes.
        let status = if name == "evolink" { 404 } else { 200 };
        assert_eq!((test["ok"].clone(), test["status"].clone()), (json!(true), json!(status)), "{name}: {test}");
        assert!(test["latency_ms"].as_u64().is_some(), "{test}");
    }
    // With a wrong credential, each upstream that has one says so, and the answer never holds it.
    for channel in every_upstream(&fakes, false).into_iter().filter(|c| c.to_string().contains("wrong-")) {
        let name = channel["name"].as_str().unwrap().to_owned();
        let (status, saved, _) = app.back_office("PUT", &format!("{CONFIGS}/{name}"), &root, Some(channel)).await;
        assert_eq!(status, StatusCode::OK, "{name}: {saved}");
        let (_, tested, text) = app.back_office("POST", &format!("{CONFIGS}/{name}/test"), &root, None).await;
        assert_eq!(tested["data"]["ok"], false, "{name}: {tested}");
        assert!(!text.contains("wrong-"), "{name}: {text}");
    }
    // An upstream that does not answer: the test says why, and how long it tried.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut gone = every_upstream(&fakes, true).remove(0);
    gone["baseUrl"] = json!(format!("http://{closed}"));
    app.back_office("PUT", &format!("{CONFIGS}/gpu-box"), &root, Some(gone)).await;
    let (_, tested, _) = app.back_office("POST", &format!("{CONFIGS}/gpu-box/test"), &root, None).await;
    assert_eq!((tested["data"]["ok"].clone(), tested["data"]["status"].clone()), (json!(false), Value::Null));
    assert!(tested["data"]["answer"].as_str().unwrap().contains("unreachable"), "{tested}");
}
