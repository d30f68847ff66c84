//! The ComfyUI adapter against its fake: a workflow template with slots, history polling, and
//! outputs streamed from `/view`.

use std::collections::HashMap;
use std::sync::Arc;

use genrelay_core::ports::{PollOutcome, Provider, ResolvedInputs, Submission};
use genrelay_core::{Capability, Error};
use genrelay_egress::Egress;
use genrelay_providers::comfyui::Workflow;
use genrelay_providers::{ComfyConfig, ComfyUi};
use genrelay_tests::fake_comfyui::{EMPTY_HISTORY_POLLS, FakeComfyUi};
use serde_json::json;

use crate::support::{KEY_A, TestApp, png_size, read_signed_url, tiny_png};

/// A text-to-image graph in ComfyUI's API format, as exported by its "Save (API)".
fn text_to_image(node_type: &str) -> Workflow {
    let graph = json!({
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
        "3": {"class_type": node_type, "inputs": {"seed": 0, "steps": 20, "cfg": 7.0, "sampler_name": "euler",
              "scheduler": "normal", "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0],
              "negative": ["7", 0], "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "gw", "images": ["8", 0]}}
    });
    let slot = |node: &str, input: &str| (node.to_owned(), input.to_owned());
    Workflow {
        graph: graph.as_object().unwrap().clone(),
        slots: HashMap::from([
            ("prompt".to_owned(), slot("6", "text")),
            ("negative_prompt".to_owned(), slot("7", "text")),
            ("seed".to_owned(), slot("3", "seed")),
            ("width".to_owned(), slot("5", "width")),
            ("height".to_owned(), slot("5", "height")),
        ]),
    }
}

/// An image-to-image graph: the input image, loaded and saved (the fake renders at its size).
fn image_to_image() -> Workflow {
    let graph = json!({
        "10": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "gw", "images": ["10", 0]}}
    });
    Workflow {
        graph: graph.as_object().unwrap().clone(),
        slots: HashMap::from([("image".to_owned(), ("10".to_owned(), "image".to_owned()))]),
    }
}

fn comfy(base_url: &str, node_type: &str) -> ComfyUi {
    comfy_with(base_url, node_type, Egress::public_only())
}

fn comfy_with(base_url: &str, node_type: &str, egress: Egress) -> ComfyUi {
    let config = ComfyConfig {
        base_url: base_url.parse().unwrap(),
        workflows: HashMap::from([
            (Capability::ImageGenerate, text_to_image(node_type)),
            (Capability::ImageUpscale, image_to_image()),
        ]),
        first_poll_ms: Some(0),
        poll_interval_ms: Some(0),
    };
    ComfyUi::new("comfy", config, egress)
}

/// A loopback server holding one PNG, and its URL.
async fn image_server(png: Vec<u8>) -> String {
    let app = axum::Router::new().route(
        "/inputs/photo.png",
        axum::routing::get(move || async move { ([(axum::http::header::CONTENT_TYPE, "image/png")], png) }),
    );
    format!("{}/inputs/photo.png", genrelay_tests::serve(app).await)
}

#[tokio::test]
async fn a_workflow_runs_with_the_jobs_values_in_its_slots() {
    let fake = FakeComfyUi::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(comfy(&base, "KSampler")));
    let body = json!({"capability": "image.generate", "prompt": "a lighthouse at dusk", "width": 320, "height": 192});
    let id = app.create_job(KEY_A, body).await;
    for _ in 0..=EMPTY_HISTORY_POLLS + 1 {
        app.drain().await;
    }
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let output = job["outputAssetIds"][0].as_str().unwrap();
    let (_, location) = app.download_redirect(KEY_A, output).await;
    let (png, content_type) = read_signed_url(&app, &location).unwrap();
    assert_eq!((content_type.as_str(), png_size(&png)), ("image/png", (320, 192)));

    let stored = app.stored_job(&id).await;
    let graph = fake.graph_of(stored.upstream_task_id.as_deref().unwrap()).unwrap();
    assert_eq!(graph["6"]["inputs"]["text"], "a lighthouse at dusk");
    assert_eq!(graph["5"]["inputs"]["width"], 320);
    assert!(graph["3"]["inputs"]["seed"].as_u64().unwrap() > 0, "a seed from the job");
    assert_eq!(graph["3"]["inputs"]["model"], json!(["4", 0]), "links are kept");
}

#[tokio::test]
async fn an_execution_error_fails_the_job_with_the_node_and_message() {
    let fake = FakeComfyUi::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(comfy(&base, "KSampler")));
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "please [fail]"})).await;
    for _ in 0..=EMPTY_HISTORY_POLLS + 1 {
        app.drain().await;
    }
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "failed");
    let error = job["error"].as_str().unwrap();
    assert!(error.contains("node 3") && error.contains("exceed allowed memory"), "{error}");
}

#[tokio::test]
async fn a_workflow_the_server_cannot_run_is_the_channels_fault() {
    let fake = FakeComfyUi::start().await;
    let provider = comfy(&fake.base_url, "KSamplerAdvancedPro");
    let app = TestApp::new();
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    let job = app.stored_job(&id).await;
    let error = provider.submit(&job, &ResolvedInputs::default()).await.unwrap_err();
    assert!(matches!(&error, Error::ChannelFault(m) if m.contains("missing_node_type")), "{error:?}");
    let unserved = app.create_job(KEY_A, json!({"capability": "video.generate", "prompt": "waves"})).await;
    let unserved = app.stored_job(&unserved).await;
    assert!(matches!(provider.submit(&unserved, &ResolvedInputs::default()).await, Err(Error::Upstream(_))));
}

#[tokio::test]
async fn cancelling_a_job_stops_its_run_on_the_server() {
    let fake = FakeComfyUi::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(comfy(&base, "KSampler")));
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    app.engine.work_dispatch_queue(10, std::time::Duration::from_secs(60)).await.unwrap();
    let prompt_id = app.stored_job(&id).await.upstream_task_id.unwrap();
    let (status, _) = app.post(&format!("/api/v1/jobs/{id}/cancel"), KEY_A, json!({})).await;
    assert_eq!(status, axum::http::StatusCode::OK);
    assert_eq!(fake.stopped(), [format!("interrupt {prompt_id}"), format!("delete {prompt_id}")]);
}

#[tokio::test]
async fn input_images_are_uploaded_and_bound_to_the_load_image_node() {
    let fake = FakeComfyUi::start().await;
    let png = genrelay_providers::mock::render_png("input", 40, 24);
    let url = image_server(png.clone()).await;
    let app = TestApp::new();
    let id = app.create_job(KEY_A, json!({"capability": "image.upscale", "imageUrls": ["https://e.com/a.png"]})).await;
    let job = app.stored_job(&id).await;
    // A URL genrelay signed for its own stored file is fetched directly, even on loopback.
    let inputs = ResolvedInputs { images: vec![url.clone()], signed: [url].into(), ..Default::default() };

    let provider = comfy(&fake.base_url, "KSampler");
    let Submission::Accepted { task_id, .. } = provider.submit(&job, &inputs).await.unwrap() else {
        panic!("ComfyUI queues runs")
    };
    let graph = fake.graph_of(&task_id).unwrap();
    let name = graph["10"]["inputs"]["image"].as_str().unwrap();
    assert_eq!(name, "photo.png");
    assert_eq!(fake.input(name), Some(png), "the bytes reached the input folder");
    let mut job = job;
    job.upstream_task_id = Some(task_id);
    let outcome = loop {
        match provider.poll(&job).await.unwrap() {
            PollOutcome::Running { .. } => continue,
            outcome => break outcome,
        }
    };
    let PollOutcome::Succeeded(files) = outcome else { panic!("the run succeeds") };
    assert_eq!(files.len(), 1);
}

#[tokio::test]
async fn an_input_url_the_client_named_on_an_internal_address_is_refused() {
    let fake = FakeComfyUi::start().await;
    let url = image_server(tiny_png()).await;
    let app = TestApp::new();
    let id = app.create_job(KEY_A, json!({"capability": "image.upscale", "imageUrls": [url.clone()]})).await;
    let job = app.stored_job(&id).await;
    let inputs = ResolvedInputs { images: vec![url.clone()], ..Default::default() };

    let error = comfy(&fake.base_url, "KSampler").submit(&job, &inputs).await.unwrap_err();
    assert!(matches!(&error, Error::Invalid(m) if m.contains("loopback")), "{error:?}");
    assert!(!error.to_string().contains("/inputs/photo.png"), "the path (which may hold a token) is not echoed");
    for internal in ["http://169.254.169.254/latest/meta-data/", "http://[::ffff:10.0.0.1]/a.png", "file:///etc/passwd"]
    {
        let inputs = ResolvedInputs { images: vec![internal.to_owned()], ..Default::default() };
        let error = comfy(&fake.base_url, "KSampler").submit(&job, &inputs).await.unwrap_err();
        assert!(matches!(error, Error::Invalid(_)), "{internal}: {error:?}");
    }

    let allowed = comfy_with(&fake.base_url, "KSampler", Egress::allow_private());
    assert!(allowed.submit(&job, &inputs_of(&url)).await.is_ok(), "the dev flag lets loopback through");
}

fn inputs_of(url: &str) -> ResolvedInputs {
    ResolvedInputs { images: vec![url.to_owned()], ..Default::default() }
}
