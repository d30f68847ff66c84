//! One ingest of a large output into blob storage, in a process of its own so its peak RSS is
//! the ingest's: `genrelay-bench-ingest <embedded|s3> <MiB> <gateway|copy>`. A fake inference
//! server generates the file as it sends it. `gateway`: a job runs through the engine (worker,
//! poller, ingest) on the embedded store, or on DynamoDB/S3/SQS emulated by moto. `copy`: the
//! same bytes streamed straight into the same store (a file written and synced; an S3 multipart
//! upload of the same part size), the limit the gateway is held to.
//!
//! Both are timed from the status poll that finds the file ready until it is stored: for the
//! gateway, from the poller's call of the adapter's poll (which fetches the file) until the
//! step has stored it, recorded the asset and ended the job. Prints one JSON line: that time, the whole job's (submitted →
//! succeeded) for the gateway, and the process's peak RSS (VmHWM).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use genrelay_bootstrap::{Embedded, aws_engine};
use genrelay_core::NewJob;
use genrelay_core::ports::{PollOutcome, Provider, ResolvedInputs, Submission, SystemClock};
use genrelay_core::spec::{ImageGenerateParams, Inputs, Params};
use genrelay_core::{Capability, ClientId, Job, JobSpec, JobStatus};
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
    // With RUST_LOG set, the engine's and the SDK's logs, as a function's (to see where the time goes).
    if std::env::var_os("RUST_LOG").is_some() {
        genrelay_bootstrap::init_tracing();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store, mib, mode] = <[String; 3]>::try_from(args).map_err(|_| "usage: <embedded|s3> <MiB> <gateway|copy>")?;
    let mib: u64 = mib.parse()?;
    let bytes = mib * 1024 * 1024;
    let fake = FakeInferenceServer::serving_files_of(bytes).await;
    let data = tempfile::tempdir()?;
    let (ingest, job) = match (store.as_str(), mode.as_str()) {
        (_, "gateway") => {
            let last_poll = Arc::new(LastPoll::default());
            let engine = engine(&store, &fake, data.path(), &last_poll).await?;
            let (ingest, job) = ingest_through(&engine, &last_poll, bytes).await?;
            (ingest, Some(job))
        }
        ("embedded", "copy") => {
            let mut file = tokio::fs::File::create(data.path().join("copy")).await?;
            let ready = ReadyFile::wait_for(&fake).await?;
            let started = Instant::now();
            let mut body = ready.fetch().await?;
            while let Some(chunk) = body.next().await {
                file.write_all(&chunk?).await?;
            }
            file.sync_all().await?;
            (started.elapsed(), None)
        }
        ("s3", "copy") => (copy_to_s3(&S3Bucket::new().await, &fake).await?, None),
        _ => return Err(format!("unknown store or mode: {store} {mode}").into()),
    };
    let line = serde_json::json!({
        "store": store, "mib": mib, "mode": mode, "seconds": ingest.as_secs_f64(),
        "job_seconds": job.map(|job| job.as_secs_f64()), "peak_rss_mib": peak_rss_mib(),
    });
    println!("{line}");
    Ok(())
}

/// An engine on `store` whose only channel is the fake, its polls noted in `last_poll`.
async fn engine(
    store: &str,
    fake: &FakeInferenceServer,
    data: &std::path::Path,
    last_poll: &Arc<LastPoll>,
) -> Result<Engine, Failure> {
    let adapter = InferenceServer::new(
        "bench",
        InferenceConfig {
            base_url: fake.base_url.parse()?,
            indexes: HashMap::from([(Capability::ImageGenerate, 1)]),
            first_poll_ms: Some(0),
            poll_interval_ms: Some(0),
        },
    );
    let upstream = Noted { adapter, last_poll: last_poll.clone() };
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
/// Returns the time from the adapter's last poll to the end of the poller's step that ended the
/// job (the ingest), and the whole job's.
async fn ingest_through(engine: &Engine, last_poll: &LastPoll, bytes: u64) -> Result<(Duration, Duration), Failure> {
    let client = ClientId::parse("bench")?;
    let params = Params::ImageGenerate(ImageGenerateParams::new(Some(64), Some(64), None, None, None)?);
    let spec = JobSpec::new(Capability::ImageGenerate, Some("big".into()), Inputs::default(), params)?;
    let submitted = Instant::now();
    let job = engine.submit(&client, NewJob::of(spec), None).await?.job;
    let (ended, ingest) = loop {
        engine.work_dispatch_queue(10, Duration::from_secs(600)).await?;
        engine.poll_due(10).await?;
        let stepped = Instant::now();
        let job = engine.job(&client, &job.id).await?;
        if job.status.is_terminal() {
            break (job, stepped - last_poll.at().ok_or("the job was polled")?);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let whole = submitted.elapsed();
    assert_eq!(ended.status, JobStatus::Succeeded, "{:?}", ended.error);
    let output = engine.asset(&client, &ended.output_asset_ids[0]).await?;
    assert_eq!(output.size, Some(bytes));
    Ok((ingest, whole))
}

/// When the gateway's adapter was last asked to poll.
#[derive(Default)]
struct LastPoll(std::sync::Mutex<Option<Instant>>);

impl LastPoll {
    fn note(&self) {
        *self.0.lock().unwrap() = Some(Instant::now());
    }

    fn at(&self) -> Option<Instant> {
        *self.0.lock().unwrap()
    }
}

/// The fake's adapter, each poll noted.
struct Noted {
    adapter: InferenceServer,
    last_poll: Arc<LastPoll>,
}

#[async_trait::async_trait]
impl Provider for Noted {
    fn name(&self) -> &str {
        self.adapter.name()
    }

    async fn submit(&self, job: &Job, inputs: &ResolvedInputs) -> genrelay_core::Result<Submission> {
        self.adapter.submit(job, inputs).await
    }

    async fn poll(&self, job: &Job) -> genrelay_core::Result<PollOutcome> {
        self.last_poll.note();
        self.adapter.poll(job).await
    }
}

/// A task of the fake polled until its next status poll finds the file ready, as the gateway's
/// adapter polls it.
struct ReadyFile {
    http: reqwest::Client,
    task: String,
    base_url: String,
}

impl ReadyFile {
    async fn wait_for(fake: &FakeInferenceServer) -> Result<Self, Failure> {
        let http = genrelay_egress::http_client_builder().build()?;
        let created: serde_json::Value =
            http.post(format!("{}/api/inference?index=1", fake.base_url)).send().await?.json().await?;
        let task = created["task_id"].as_str().ok_or("a task id")?.to_owned();
        for _ in 1..POLLS_TO_COMPLETE {
            http.get(format!("{}/api/task/{task}/status", fake.base_url)).send().await?;
        }
        Ok(Self { http, task, base_url: fake.base_url.clone() })
    }

    /// The poll that finds the file ready, then the file as a stream.
    async fn fetch(self) -> Result<impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>>, Failure> {
        let (http, task, base_url) = (self.http, self.task, self.base_url);
        let status: serde_json::Value =
            http.get(format!("{base_url}/api/task/{task}/status")).send().await?.json().await?;
        assert_eq!(status["status"], "completed", "{status}");
        let file = http.get(format!("{base_url}/api/task/{task}/file/result_001.png")).send().await?;
        Ok(file.error_for_status()?.bytes_stream())
    }
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

/// A plain multipart upload of the fake's file, part by part as it arrives, as the same kind
/// of object the gateway's store writes; its time.
async fn copy_to_s3(into: &S3Bucket, fake: &FakeInferenceServer) -> Result<Duration, Failure> {
    let (s3, bucket, key) = (&into.s3, into.name.as_str(), "copy");
    let ready = ReadyFile::wait_for(fake).await?;
    let started = Instant::now();
    // The object the gateway's store writes: its content type, encrypted at rest (SSE-S3).
    let upload = s3.create_multipart_upload().bucket(bucket).key(key).content_type("image/png");
    let upload = upload.server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256).send().await?;
    let upload_id = upload.upload_id().ok_or("an upload id")?;
    let mut parts = Vec::new();
    let mut part = Vec::with_capacity(genrelay_aws::PART_SIZE);
    let mut body = ready.fetch().await?;
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
    Ok(started.elapsed())
}
