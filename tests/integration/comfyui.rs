//! The ComfyUI adapter against its fake: a workflow template with slots, history polling, and
//! outputs streamed from `/view`.

use std::collections::HashMap;
use std::sync::Arc;

use genrelay_core::ports::{PollOutcome, Provider, ResolvedInputs, Submission};
use genrelay_core::{Capability, Cause, Error};
use genrelay_egress::Egress;
use genrelay_providers::comfyui::Workflow;
use genrelay_providers::{ComfyConfig, ComfyUi};
use genrelay_tests::fake_comfyui::{EMPTY_HISTORY_POLLS, FakeComfyUi};
use serde_json::json;

use genrelay_tests::app::{KEY_A, TestApp, cause_of, png_size, read_signed_url, tiny_png};

/// A text-to-image graph in ComfyUI's API format, as exported by its "Save (API)".
pub(crate) fn text_to_image(node_type: &str) -> Workflow {
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
        outputs: None,
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
        outputs: None,
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
    assert_eq!(error, "ComfyUI: generation failed: node 3 (KSampler): [Errno 28] No space left on device: [path]");
}

#[tokio::test]
async fn a_workflow_the_server_cannot_run_is_refused_as_invalid() {
    let fake = FakeComfyUi::start().await;
    let provider = comfy(&fake.base_url, "KSamplerAdvancedPro");
    let app = TestApp::new();
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    let job = app.stored_job(&id).await;
    let refused = provider.submit(&job, &ResolvedInputs::default()).await;
    assert_eq!(cause_of(&refused), Some(Cause::RefusedAsInvalid), "{refused:?}");
    let text = refused.unwrap_err().to_string();
    assert!(
        text.starts_with("ComfyUI: refused as invalid: missing_node_type: Node 'KSamplerAdvancedPro' not found"),
        "{text}"
    );
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
    assert_eq!(name, format!("genrelay-{}/image_1.png", job.id), "named for its job and slot, not its URL");
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

/// A loopback server holding `png` at `/inputs/original.png` (the last segment of every stored
/// asset's URL), and its URL.
async fn original_png(png: Vec<u8>) -> String {
    let app = axum::Router::new().route(
        "/inputs/original.png",
        axum::routing::get(move || async move { ([(axum::http::header::CONTENT_TYPE, "image/png")], png) }),
    );
    format!("{}/inputs/original.png", genrelay_tests::serve(app).await)
}

fn signed(urls: &[&String]) -> ResolvedInputs {
    let images: Vec<String> = urls.iter().map(|u| (*u).clone()).collect();
    ResolvedInputs { signed: images.iter().cloned().collect(), images, ..Default::default() }
}

async fn run_to_end(provider: &ComfyUi, job: &genrelay_core::Job) -> genrelay_core::Result<PollOutcome> {
    loop {
        match provider.poll(job).await? {
            PollOutcome::Running { .. } => continue,
            outcome => return Ok(outcome),
        }
    }
}

async fn bytes_of(outcome: PollOutcome) -> Vec<Vec<u8>> {
    use futures_util::TryStreamExt;
    let PollOutcome::Succeeded(files) = outcome else { panic!("the run succeeds") };
    let mut all = Vec::new();
    for file in files {
        let chunks: Vec<bytes::Bytes> = file.body.try_collect().await.unwrap();
        all.push(chunks.concat());
    }
    all
}

/// ComfyUI's input folder is shared by every client, and a `LoadImage` reads its file when the
/// prompt runs: two jobs queued together must not read each other's input.
#[tokio::test]
async fn two_clients_jobs_queued_together_each_get_their_own_image_back() {
    let fake = FakeComfyUi::start().await;
    let provider = comfy(&fake.base_url, "KSampler");
    let app = TestApp::new();
    let (png_a, png_b) = (
        genrelay_providers::mock::render_png("client a", 40, 24),
        genrelay_providers::mock::render_png("client b", 30, 30),
    );
    let (url_a, url_b) = (original_png(png_a.clone()).await, original_png(png_b.clone()).await);
    let body = json!({"capability": "image.upscale", "imageUrls": ["https://e.com/a.png"]});
    let mut job_a = app.stored_job(&app.create_job(KEY_A, body.clone()).await).await;
    let mut job_b = app.stored_job(&app.create_job(KEY_A, body).await).await;

    // Both queued before either runs.
    for (job, url) in [(&mut job_a, &url_a), (&mut job_b, &url_b)] {
        let Submission::Accepted { task_id, .. } = provider.submit(job, &signed(&[url])).await.unwrap() else {
            panic!("ComfyUI queues runs")
        };
        job.upstream_task_id = Some(task_id);
    }
    assert_eq!(bytes_of(run_to_end(&provider, &job_a).await.unwrap()).await, [png_a]);
    assert_eq!(bytes_of(run_to_end(&provider, &job_b).await.unwrap()).await, [png_b]);
}

#[tokio::test]
async fn an_inpaint_with_two_assets_uses_both() {
    let fake = FakeComfyUi::start().await;
    let graph = json!({
        "10": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
        "11": {"class_type": "LoadImage", "inputs": {"image": "mask.png"}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "gw", "images": ["10", 0]}}
    });
    let slot = |node: &str| (node.to_owned(), "image".to_owned());
    let inpaint = Workflow {
        graph: graph.as_object().unwrap().clone(),
        slots: HashMap::from([("image".to_owned(), slot("10")), ("mask".to_owned(), slot("11"))]),
        outputs: None,
    };
    let config = ComfyConfig {
        base_url: fake.base_url.parse().unwrap(),
        workflows: HashMap::from([(Capability::ImageInpaint, inpaint)]),
        first_poll_ms: Some(0),
        poll_interval_ms: Some(0),
    };
    config.check().unwrap();
    let provider = ComfyUi::new("comfy", config, Egress::public_only());
    let app = TestApp::new();
    let body = json!({"capability": "image.inpaint", "prompt": "a hat", "imageUrls": ["https://e.com/a.png", "https://e.com/m.png"]});
    let job = app.stored_job(&app.create_job(KEY_A, body).await).await;
    let (photo, mask) =
        (genrelay_providers::mock::render_png("photo", 40, 24), genrelay_providers::mock::render_png("mask", 40, 24));
    let (photo_url, mask_url) = (original_png(photo.clone()).await, original_png(mask.clone()).await);

    let Submission::Accepted { task_id, .. } = provider.submit(&job, &signed(&[&photo_url, &mask_url])).await.unwrap()
    else {
        panic!("ComfyUI queues runs")
    };
    let graph = fake.graph_of(&task_id).unwrap();
    let (image, masked) =
        (graph["10"]["inputs"]["image"].as_str().unwrap(), graph["11"]["inputs"]["image"].as_str().unwrap());
    assert_ne!(image, masked);
    assert_eq!((fake.input(image), fake.input(masked)), (Some(photo), Some(mask)), "each slot reads its own file");
}

#[tokio::test]
async fn a_refused_workflow_fails_the_job_at_once_and_leaves_the_channel_warm() {
    let fake = FakeComfyUi::start().await;
    let base = fake.base_url.clone();
    // image.generate's workflow needs a node the server lacks; image.upscale's is fine.
    let app =
        TestApp::with_provider(move |_, _| Arc::new(comfy_with(&base, "NoSuchNodeType", Egress::allow_private())));
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    app.drain().await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().starts_with("ComfyUI: refused as invalid: missing_node_type"), "{job}");
    let ledger: &dyn genrelay_core::ports::ChannelLedger = &app.embedded.store;
    let now = genrelay_core::ports::Clock::now(&app.clock);
    assert!(ledger.cooling(&["comfy"], now).await.unwrap().is_empty(), "not the channel's fault");

    let url = original_png(genrelay_providers::mock::render_png("fine", 20, 20)).await;
    let id = app.create_job(KEY_A, json!({"capability": "image.upscale", "imageUrls": [url]})).await;
    app.drain().await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "a valid job of another capability on the channel goes on: {job}");
}

#[tokio::test]
async fn a_run_reports_progress_while_it_runs() {
    let fake = FakeComfyUi::start().await;
    let provider = comfy(&fake.base_url, "KSampler");
    let app = TestApp::new();
    let mut job =
        app.stored_job(&app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await).await;
    let Submission::Accepted { task_id, .. } = provider.submit(&job, &ResolvedInputs::default()).await.unwrap() else {
        panic!("ComfyUI queues runs")
    };
    job.upstream_task_id = Some(task_id);
    let progress = |outcome: PollOutcome| match outcome {
        PollOutcome::Running { progress, .. } => progress,
        PollOutcome::Succeeded(_) => 100,
    };
    let seen = [
        progress(provider.poll(&job).await.unwrap()),
        progress(provider.poll(&job).await.unwrap()),
        progress(provider.poll(&job).await.unwrap()),
    ];
    assert_eq!(seen, [0, 50, 100], "pending, in progress (from /api/jobs/{{id}}), done");
}

#[tokio::test]
async fn a_task_lost_in_a_restart_is_submitted_again_and_then_ends() {
    let fake = FakeComfyUi::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(comfy(&base, "KSampler")));
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    app.engine.work_dispatch_queue(10, std::time::Duration::from_secs(60)).await.unwrap();
    let first = app.stored_job(&id).await.upstream_task_id.unwrap();
    fake.restart();
    app.drain().await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let outcomes: Vec<&str> =
        job["attempts"].as_array().unwrap().iter().map(|a| a["outcome"].as_str().unwrap()).collect();
    assert_eq!(
        outcomes[..2],
        ["accepted", "ComfyUI: lost the task: the server does not know the prompt (restarted or deleted)"]
    );
    assert_ne!(app.stored_job(&id).await.upstream_task_id.unwrap(), first);

    // Lost at every submission: the job ends with the reason, not at its deadline.
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "y"})).await;
    for _ in 0..app.engine.settings().max_submit_attempts {
        app.engine.work_dispatch_queue(10, std::time::Duration::from_secs(60)).await.unwrap();
        app.engine.poll_due(10).await.unwrap(); // submits again after a loss
        fake.restart();
        app.engine.poll_due(10).await.unwrap();
    }
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().starts_with("ComfyUI: lost the task"), "{job}");
}

#[tokio::test]
async fn previews_are_not_results_and_video_slots_get_their_size() {
    let fake = FakeComfyUi::start().await;
    let graph = json!({
        "5": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
        "6": {"class_type": "CreateVideo", "inputs": {"images": ["5", 0], "fps": 8}},
        "9": {"class_type": "SaveVideo", "inputs": {"video": ["6", 0], "filename_prefix": "clip"}},
        "10": {"class_type": "PreviewImage", "inputs": {"images": ["5", 0]}}
    });
    let slot = |node: &str, input: &str| (node.to_owned(), input.to_owned());
    let video = Workflow {
        graph: graph.as_object().unwrap().clone(),
        slots: HashMap::from([
            ("width".to_owned(), slot("5", "width")),
            ("height".to_owned(), slot("5", "height")),
            ("frames".to_owned(), slot("5", "batch_size")),
            ("fps".to_owned(), slot("6", "fps")),
        ]),
        outputs: None,
    };
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| {
        let config = ComfyConfig {
            base_url: base.parse().unwrap(),
            workflows: HashMap::from([(Capability::VideoGenerate, video)]),
            first_poll_ms: Some(0),
            poll_interval_ms: Some(0),
        };
        Arc::new(ComfyUi::new("comfy", config, Egress::public_only()))
    });
    let body = json!({"capability": "video.generate", "prompt": "waves", "settings": {"ratio": "9:16", "resolution": "480p", "duration": 5}});
    let id = app.create_job(KEY_A, body).await;
    app.drain().await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["outputAssetIds"].as_array().unwrap().len(), 1, "the preview is not a result: {job}");
    let graph = fake.graph_of(app.stored_job(&id).await.upstream_task_id.as_deref().unwrap()).unwrap();
    assert_eq!(
        (graph["5"]["inputs"]["width"].clone(), graph["5"]["inputs"]["height"].clone()),
        (json!(480), json!(854))
    );
    assert_eq!(
        (graph["5"]["inputs"]["batch_size"].clone(), graph["6"]["inputs"]["fps"].clone()),
        (json!(120), json!(24))
    );
    let (_, location) = app.download_redirect(KEY_A, job["outputAssetIds"][0].as_str().unwrap()).await;
    let (_, content_type) = read_signed_url(&app, &location).unwrap();
    assert_eq!(content_type, "video/mp4");
}

/// The run ended but its files cannot be fetched for a while: they are fetched again at the
/// next polls, and the prompt is never queued again.
#[tokio::test]
async fn outputs_that_cannot_be_fetched_yet_are_fetched_again_never_rerun() {
    let fake = FakeComfyUi::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(comfy(&base, "KSampler")));
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    fake.fail_views(3);
    for _ in 0..8 {
        app.drain().await;
        app.clock.advance(app.engine.settings().poll_retry);
    }
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(fake.prompts_queued(), 1, "never queued again");
}
