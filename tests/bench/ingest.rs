//! Peak memory while ingesting one large output from an upstream into blob storage:
//! `cargo run --release -p genrelay-tests --bin genrelay-bench-ingest -- [embedded|s3] [MiB]`.
//! A fake inference server generates the file as it sends it; a job runs through the engine
//! (worker, poller, ingest) on the embedded store, or on DynamoDB/S3/SQS emulated by moto.
//! Prints the process's peak RSS (VmHWM) before and after, and the time taken.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use genrelay_bootstrap::{Embedded, aws_engine};
use genrelay_core::NewJob;
use genrelay_core::ports::SystemClock;
use genrelay_core::spec::{ImageGenerateParams, Inputs, Params};
use genrelay_core::{Capability, ClientId, JobSpec, JobStatus};
use genrelay_engine::{ChannelRegistry, Engine, Settings};
use genrelay_providers::{InferenceConfig, InferenceServer, MockConfig};
use genrelay_tests::fake_inference::FakeInferenceServer;
use genrelay_tests::moto;

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
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let store = args.first().map(String::as_str).unwrap_or("embedded").to_owned();
    let mib: u64 = args.get(1).and_then(|m| m.parse().ok()).unwrap_or(1024);
    let fake = FakeInferenceServer::serving_files_of(mib * 1024 * 1024).await;
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
    let data = tempfile::tempdir()?;
    let engine = match store.as_str() {
        "embedded" => {
            let embedded = Embedded::open(data.path(), "http://bench.test")?;
            let mut deps = embedded.deps(MockConfig::default(), Arc::new(SystemClock));
            deps.channels = ChannelRegistry::all_to(Arc::new(upstream));
            Engine::new(deps, settings)
        }
        "s3" => {
            let resources = moto::resources().await;
            for (name, value) in moto::sdk_env() {
                // SAFETY: set before any other thread reads the environment for AWS settings.
                unsafe { std::env::set_var(name, value) };
            }
            let sdk = genrelay_bootstrap::sdk_config().await;
            let engine = aws_engine(
                &sdk,
                &resources,
                None,
                Some(MockConfig::default()),
                Default::default(),
                &genrelay_egress::Egress::public_only(),
                settings,
            );
            engine.with_providers(ChannelRegistry::all_to(Arc::new(upstream)))
        }
        other => return Err(format!("unknown store {other:?}: embedded or s3").into()),
    };
    let client = ClientId::parse("bench")?;
    let params = Params::ImageGenerate(ImageGenerateParams::new(Some(64), Some(64), None, None, None)?);
    let spec = JobSpec::new(Capability::ImageGenerate, Some("big".into()), Inputs::default(), params)?;
    let job = engine.submit(&client, NewJob::of(spec), None).await?.job;
    let before = peak_rss_mib();
    let started = Instant::now();
    let ended = loop {
        engine.work_dispatch_queue(10, Duration::from_secs(600)).await?;
        engine.poll_due(10).await?;
        let job = engine.job(&client, &job.id).await?;
        if job.status.is_terminal() {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let elapsed = started.elapsed();
    assert_eq!(ended.status, JobStatus::Succeeded, "{:?}", ended.error);
    let output = engine.asset(&client, &ended.output_asset_ids[0]).await?;
    assert_eq!(output.size, Some(mib * 1024 * 1024));
    println!(
        "store={store} output={mib} MiB time={:.1}s throughput={:.0} MiB/s peak_rss_before={before:.1} MiB peak_rss_after={:.1} MiB",
        elapsed.as_secs_f64(),
        mib as f64 / elapsed.as_secs_f64(),
        peak_rss_mib()
    );
    drop(engine);
    Ok(())
}
