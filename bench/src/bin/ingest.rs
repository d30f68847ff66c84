//! One ingest of a large output into blob storage, in a process of its own so its peak RSS is
//! the ingest's: `genrelay-bench-ingest <embedded|s3> <MiB> <gateway|copy>`. A fake inference
//! server generates the file as it sends it. `gateway`: a job runs through the engine (worker,
//! poller, ingest) on the embedded store, or on DynamoDB/S3/SQS emulated by moto. `copy`: the
//! same bytes streamed straight into the same store (a file written and synced; an S3 multipart
//! upload of the same part size), the limit the gateway is held to. Prints one JSON line: the
//! time taken and the process's peak RSS (VmHWM).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use genrelay_bootstrap::{Embedded, aws_engine};
use genrelay_core::NewJob;
use genrelay_core::ports::SystemClock;
use genrelay_core::spec::{ImageGenerateParams, Inputs, Params};
use genrelay_core::{Capability, ClientId, JobSpec, JobStatus};
use genrelay_engine::{ChannelRegistry, Engine, Settings};
use genrelay_providers::{InferenceConfig, InferenceServer, MockConfig};
use genrelay_tests::fake_inference::{FakeInferenceServer, POLLS_TO_COMPLETE};
use genrelay_tests::moto;
use tokio::io::AsyncWriteExt;

type Failure = Box<dyn std::error::Error>;

/// Peak resident memory of this process so far, in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store, mib, mode] = <[String; 3]>::try_from(args).map_err(|_| "usage: <embedded|s3> <MiB> <gateway|copy>")?;
    let mib: u64 = mib.parse()?;
    let bytes = mib * 1024 * 1024;
    let fake = FakeInferenceServer::serving_files_of(bytes).await;
    let data = tempfile::tempdir()?;
    // Each is timed from its first request for the file: opening the store (or creating the
    // bucket) is not the ingest.
    let engine = match mode.as_str() {
        "gateway" => Some(engine(&store, &fake, data.path()).await?),
        _ => None,
    };
    let bucket = match (store.as_str(), mode.as_str()) {
        ("s3", "copy") => Some(S3Bucket::new().await),
        _ => None,
    };
    let started = Instant::now();
    match (store.as_str(), mode.as_str()) {
        (_, "gateway") => ingest_through(engine.as_ref().expect("built above"), bytes).await?,
        ("embedded", "copy") => {
            let mut file = tokio::fs::File::create(data.path().join("copy")).await?;
            let mut body = fetch(&fake).await?;
            while let Some(chunk) = body.next().await {
                file.write_all(&chunk?).await?;
            }
            file.sync_all().await?;
        }
        ("s3", "copy") => copy_to_s3(bucket.as_ref().expect("made above"), &fake).await?,
        _ => return Err(format!("unknown store or mode: {store} {mode}").into()),
    }
    let line = serde_json::json!({
        "store": store, "mib": mib, "mode": mode,
        "seconds": started.elapsed().as_secs_f64(), "peak_rss_mib": peak_rss_mib(),
    });
    println!("{line}");
    Ok(())
}

/// An engine on `store` whose only channel is the fake.
async fn engine(store: &str, fake: &FakeInferenceServer, data: &std::path::Path) -> Result<Engine, Failure> {
    let upstream = InferenceServer::new(
        "bench",
        InferenceConfig {
            base_url: fake.base_url.parse()?,
            indexes: HashMap::from([(Capability::ImageGenerate, 1)]),
            first_poll_ms: Some(0),
            poll_interval_ms: Some(0),
        },
    );
    let settings = Settings { max_output_bytes: u64::MAX, ..Settings::default() };
    match store {
        "embedded" => {
            let embedded = Embedded::open(data, "http://bench.test")?;
            let mut deps = embedded.deps(MockConfig::default(), Arc::new(SystemClock));
            deps.channels = ChannelRegistry::all_to(Arc::new(upstream));
            Ok(Engine::new(deps, settings))
        }
        "s3" => {
            let resources = moto::resources().await;
            let clients = genrelay_aws::AwsClients::new(&moto::sdk_config().await);
            let engine = aws_engine(
                &clients,
                &resources,
                None,
                Some(MockConfig::default()),
                Default::default(),
                &genrelay_egress::Egress::public_only(),
                settings,
            );
            Ok(engine.with_providers(ChannelRegistry::all_to(Arc::new(upstream))))
        }
        other => Err(format!("unknown store {other:?}: embedded or s3").into()),
    }
}

/// Runs one job of `bytes` output through the engine until it ends, driving the worker and the
/// poller as fast as the fake answers (it needs `POLLS_TO_COMPLETE` polls, as the copy makes).
async fn ingest_through(engine: &Engine, bytes: u64) -> Result<(), Failure> {
    let client = ClientId::parse("bench")?;
    let params = Params::ImageGenerate(ImageGenerateParams::new(Some(64), Some(64), None, None, None)?);
    let spec = JobSpec::new(Capability::ImageGenerate, Some("big".into()), Inputs::default(), params)?;
    let job = engine.submit(&client, NewJob::of(spec), None).await?.job;
    let ended = loop {
        engine.work_dispatch_queue(10, Duration::from_secs(600)).await?;
        engine.poll_due(10).await?;
        let job = engine.job(&client, &job.id).await?;
        if job.status.is_terminal() {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    assert_eq!(ended.status, JobStatus::Succeeded, "{:?}", ended.error);
    let output = engine.asset(&client, &ended.output_asset_ids[0]).await?;
    assert_eq!(output.size, Some(bytes));
    Ok(())
}

/// The fake's result file as a stream, fetched as the gateway's adapter would: a task is
/// created and polled until it completes.
async fn fetch(
    fake: &FakeInferenceServer,
) -> Result<impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>>, Failure> {
    let http = genrelay_egress::http_client_builder().build()?;
    let created: serde_json::Value =
        http.post(format!("{}/api/inference?index=1", fake.base_url)).send().await?.json().await?;
    let id = created["task_id"].as_str().ok_or("a task id")?;
    for _ in 0..POLLS_TO_COMPLETE {
        http.get(format!("{}/api/task/{id}/status", fake.base_url)).send().await?;
    }
    let file = http.get(format!("{}/api/task/{id}/file/result_001.png", fake.base_url)).send().await?;
    Ok(file.error_for_status()?.bytes_stream())
}

/// A bucket on moto and a client of it.
struct S3Bucket {
    s3: aws_sdk_s3::Client,
    name: String,
}

impl S3Bucket {
    async fn new() -> Self {
        let resources = moto::resources().await;
        Self { s3: genrelay_aws::AwsClients::new(&moto::sdk_config().await).s3, name: resources.bucket }
    }
}

/// A plain multipart upload of the fake's file, part by part as it arrives.
async fn copy_to_s3(into: &S3Bucket, fake: &FakeInferenceServer) -> Result<(), Failure> {
    let (s3, bucket, key) = (&into.s3, into.name.as_str(), "copy");
    let upload = s3.create_multipart_upload().bucket(bucket).key(key).send().await?;
    let upload_id = upload.upload_id().ok_or("an upload id")?;
    let mut parts = Vec::new();
    let mut part = Vec::with_capacity(genrelay_aws::PART_SIZE);
    let mut body = fetch(fake).await?;
    loop {
        let chunk = body.next().await.transpose()?;
        if let Some(chunk) = &chunk {
            part.extend_from_slice(chunk);
        }
        if part.len() >= genrelay_aws::PART_SIZE || (chunk.is_none() && !part.is_empty()) {
            let number = parts.len() as i32 + 1;
            let sent = s3.upload_part().bucket(bucket).key(key).upload_id(upload_id).part_number(number);
            let done = sent.body(std::mem::take(&mut part).into()).send().await?;
            let completed = aws_sdk_s3::types::CompletedPart::builder().part_number(number);
            parts.push(completed.set_e_tag(done.e_tag().map(str::to_owned)).build());
        }
        if chunk.is_none() {
            break;
        }
    }
    let completed = aws_sdk_s3::types::CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(completed)
        .send()
        .await?;
    Ok(())
}
