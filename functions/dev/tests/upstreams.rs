//! Every upstream end to end through the `genrelay-dev` binary: a providers file sends
//! capabilities to a fake of the upstream (speaking its real protocol on loopback), and jobs
//! created over HTTP complete with the upstream's output re-hosted. Together they cover every
//! capability.

mod support;

use genrelay_tests::{fake_ark, fake_comfyui, fake_evolink, fake_jimeng, fake_meitu, fake_runninghub};
use serde_json::{Value, json};
use support::{DevServer, wait_for_end};

/// A reference image for the jobs that take one.
const INPUT: &str = "$input";

/// Starts `genrelay-dev` with `channel` as its only channel, uploads a reference PNG, runs each
/// job (`$input` in `inputAssetIds` stands for the uploaded asset; inpainting gets it twice) and
/// checks it succeeded on the channel with an output of the expected type.
async fn run_through_dev(channel: Value, jobs: &[(Value, &str)]) {
    let data = tempfile::tempdir().unwrap();
    let providers = data.path().join("providers.json");
    let name = channel["name"].as_str().unwrap().to_owned();
    std::fs::write(&providers, json!({"channels": [channel]}).to_string()).unwrap();
    let server = DevServer::start_with(data.path(), &["--providers", providers.to_str().unwrap()]);
    let client = genrelay_egress::http_client_builder().build().unwrap();

    let png = genrelay_providers::mock::render_png("a reference", 40, 24);
    let input = server.upload_png(&client, "ref.png", png).await["id"].as_str().unwrap().to_owned();

    for (body, content_type) in jobs {
        let body = body.to_string().replace(INPUT, &input);
        let response = client
            .post(server.url("/api/v1/jobs"))
            .bearer_auth(&server.key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let id = response.json::<Value>().await.unwrap()["job"]["id"].as_str().unwrap().to_owned();
        let (job, _) = wait_for_end(&client, &server, &id).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(job["attempts"][0]["channel"], name.as_str(), "{job}");
        let output = job["outputAssetIds"][0].as_str().unwrap();
        let download = client.get(server.url(&format!("/api/v1/assets/{output}/download"))).bearer_auth(&server.key);
        let response = download.send().await.unwrap();
        assert_eq!(response.status(), 200, "the download redirect leads to the file");
        let served = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert_eq!(&served, content_type, "{job}");
        assert!(!response.bytes().await.unwrap().is_empty());
    }
    server.terminate();
}

fn image(prompt: &str) -> (Value, &'static str) {
    (json!({"capability": "image.generate", "prompt": prompt, "width": 320, "height": 192}), "image/png")
}

fn video(prompt: &str) -> (Value, &'static str) {
    (json!({"capability": "video.generate", "prompt": prompt, "settings": {"duration": 5}}), "video/mp4")
}

fn upscale() -> (Value, &'static str) {
    (json!({"capability": "image.upscale", "inputAssetIds": [INPUT]}), "image/png")
}

fn inpaint() -> (Value, &'static str) {
    (json!({"capability": "image.inpaint", "prompt": "a hat", "inputAssetIds": [INPUT, INPUT]}), "image/png")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comfyui_runs_text_and_image_workflows() {
    let fake = fake_comfyui::FakeComfyUi::start().await;
    let text = json!({
        "graph": {
            "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
            "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
            "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
            "3": {"class_type": "KSampler", "inputs": {"seed": 0, "model": ["4", 0], "positive": ["6", 0],
                  "latent_image": ["5", 0]}},
            "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
            "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "gw", "images": ["8", 0]}}
        },
        "slots": {"prompt": ["6", "text"], "seed": ["3", "seed"], "width": ["5", "width"], "height": ["5", "height"]}
    });
    let upscale_graph = json!({
        "graph": {
            "10": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
            "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "gw", "images": ["10", 0]}}
        },
        "slots": {"image": ["10", "image"]}
    });
    let inpaint_graph = json!({
        "graph": {
            "10": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
            "11": {"class_type": "LoadImage", "inputs": {"image": "mask.png"}},
            "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "gw", "images": ["10", 0]}}
        },
        "slots": {"image_1": ["10", "image"], "image_2": ["11", "image"]}
    });
    let channel = json!({
        "name": "comfy", "type": "comfyui", "baseUrl": fake.base_url, "firstPollMs": 100, "pollIntervalMs": 100,
        "workflows": {"image.generate": text, "image.upscale": upscale_graph, "image.inpaint": inpaint_graph}
    });
    run_through_dev(channel, &[image("a lighthouse"), upscale(), inpaint()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runninghub_runs_a_workflow_and_an_ai_app() {
    let fake = fake_runninghub::FakeRunningHub::start().await;
    let channel = json!({
        "name": "runninghub", "type": "runninghub", "baseUrl": fake.base_url, "apiKey": fake_runninghub::API_KEY,
        "pollIntervalMs": 100,
        "workflows": {
            "image.generate": {"workflowId": "1904136902449209346", "slots": {"prompt": ["6", "text"]}},
            "image.upscale": {"webappId": fake_runninghub::WEBAPP_ID, "slots": {"image": ["39", "image"]}}
        }
    });
    run_through_dev(channel, &[image("a paper crane"), upscale()]).await;
}

/// The README's jimeng channels, one per dialect, as written but for the server's address and
/// session, each against a jimeng-api fake of its dialect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jimeng_generates_images_and_videos_in_each_dialect_of_the_readme() {
    let readme = include_str!("../../../README.md");
    let example = readme.split("One example per upstream").nth(1).unwrap();
    let example: Value =
        serde_json::from_str(example.split("```json\n").nth(1).unwrap().split("```").next().unwrap()).unwrap();
    let channels: Vec<Value> =
        example["channels"].as_array().unwrap().iter().filter(|c| c["type"] == "jimeng").cloned().collect();
    let dialects: Vec<&str> = channels.iter().map(|c| c["dialect"].as_str().unwrap()).collect();
    assert_eq!(dialects, ["sync", "tasks", "history"]);
    for mut channel in channels {
        let dialect = match channel["dialect"].as_str() {
            Some("sync") => fake_jimeng::Dialect::Sync,
            Some("tasks") => fake_jimeng::Dialect::Tasks,
            _ => fake_jimeng::Dialect::History,
        };
        let fake = fake_jimeng::FakeJimeng::start_with(dialect).await;
        channel["baseUrl"] = json!(fake.base_url);
        channel["sessionId"] = json!(fake_jimeng::SESSION_ID);
        channel["pollIntervalMs"] = json!(100);
        let mut jobs = vec![image("mountains at dawn")];
        if channel["models"]["video.generate"].is_string() {
            jobs.push(video("waves"));
        }
        run_through_dev(channel, &jobs).await;
    }
}

/// A synchronous generation holds its worker for minutes; jobs behind it start at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_synchronous_generation_stalls_no_other_job() {
    let fake = fake_jimeng::FakeJimeng::start_with(fake_jimeng::Dialect::Sync).await;
    fake.hold_sync(std::time::Duration::from_secs(120));
    let channel = json!({"name": "jimeng", "type": "jimeng", "baseUrl": fake.base_url,
                         "sessionId": fake_jimeng::SESSION_ID, "models": {"image.generate": "jimeng-4.5"}});
    let data = tempfile::tempdir().unwrap();
    let providers = data.path().join("providers.json");
    std::fs::write(&providers, json!({"channels": [channel]}).to_string()).unwrap();
    let server = DevServer::start_with(data.path(), &["--providers", providers.to_str().unwrap()]);
    let client = genrelay_egress::http_client_builder().build().unwrap();
    let create = |body: Value| client.post(server.url("/api/v1/jobs")).bearer_auth(&server.key).json(&body).send();
    let held = create(json!({"capability": "image.generate", "prompt": "held"})).await.unwrap();
    let held = held.json::<Value>().await.unwrap()["job"]["id"].as_str().unwrap().to_owned();
    // Many held generations at once: more than a batch.
    for n in 0..12 {
        create(json!({"capability": "image.generate", "prompt": format!("held {n}")})).await.unwrap();
    }
    let started = std::time::Instant::now();
    let quick = create(json!({"capability": "video.generate", "prompt": "on the mock", "settings": {"duration": 5}}))
        .await
        .unwrap();
    let quick = quick.json::<Value>().await.unwrap()["job"]["id"].as_str().unwrap().to_owned();
    let (job, _) = wait_for_end(&client, &server, &quick).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "took {:?}", started.elapsed());
    let held = client.get(server.url(&format!("/api/v1/jobs/{held}"))).bearer_auth(&server.key).send().await.unwrap();
    assert_eq!(held.json::<Value>().await.unwrap()["job"]["status"], "running", "still held upstream");
    drop(server); // killed: a graceful stop would wait for the held calls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meitu_runs_a_preset() {
    let fake = fake_meitu::FakeMeitu::start().await;
    let channel = json!({
        "name": "meitu", "type": "meitu", "baseUrl": fake.base_url,
        "accessKey": fake_meitu::ACCESS_KEY, "secretKey": fake_meitu::SECRET_KEY,
        "firstPollMs": 100, "pollIntervalMs": 100,
        "presets": {"image.upscale": {"task": "/v1/openclaw/default/488260", "parameters": {"beatify_type": "0"}}}
    });
    run_through_dev(channel, &[upscale()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evolink_generates_images_and_videos() {
    let fake = fake_evolink::FakeEvoLink::start().await;
    let channel = json!({
        "name": "evolink", "type": "evolink", "baseUrl": fake.base_url, "apiKey": fake_evolink::API_KEY,
        "pollIntervalMs": 100,
        "models": {"image.generate": "gpt-image-1", "video.generate": "seedance-1.0-pro"}
    });
    run_through_dev(channel, &[image("a red kite"), video("a kite in the wind")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seedance_on_ark_generates_a_video() {
    let fake = fake_ark::FakeArk::start().await;
    let channel = json!({
        "name": "ark", "type": "seedance", "baseUrl": format!("{}/api/v3", fake.base_url),
        "apiKey": fake_ark::API_KEY, "model": "doubao-seedance-1-0-pro-250528",
        "firstPollMs": 100, "pollIntervalMs": 100
    });
    run_through_dev(channel, &[video("a timelapse of clouds")]).await;
}

/// A providers file that binds a value its capability does not have is refused at start-up,
/// naming the channel and the slot.
#[test]
fn a_workflow_slot_the_capability_lacks_stops_the_start() {
    let data = tempfile::tempdir().unwrap();
    let providers = data.path().join("providers.json");
    let channel = json!({"name": "comfy", "type": "comfyui", "baseUrl": "http://127.0.0.1:9",
        "workflows": {"image.generate": {"graph": {"5": {"class_type": "EmptyImage", "inputs": {}}},
                                         "slots": {"duration": ["5", "batch_size"]}}}});
    std::fs::write(&providers, json!({"channels": [channel]}).to_string()).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_genrelay-dev"))
        .args(["--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .args(["--providers", providers.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("genrelay-dev cannot start: channel \"comfy\": workflow for image.generate: slot \"duration\" is not a value of image.generate"),
        "{stderr}"
    );
}
