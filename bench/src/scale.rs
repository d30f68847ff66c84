//! Scale: what one read costs as the table grows. A client's first page of jobs, one idle poller
//! tick (its reconcile, overdue-webhook and due-poll reads, as the poller function runs them)
//! and the back office's first page, at 1k, 10k and 100k stored jobs: on DynamoDB (moto) the
//! items the reads examined, from the scanned counts the SDK interceptor logs; on SQLite, which
//! bills nothing, the time the call takes (median of 31, after one to warm the cache), which the
//! rows it visits drive.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use chrono::{Duration, Utc};
use genrelay_bootstrap::Embedded;
use genrelay_core::ports::{AdminJobQuery, IdGenerator, JobQuery, JobStore, UlidGenerator};
use genrelay_core::spec::{ImageGenerateParams, Inputs, Params};
use genrelay_core::{Capability, ClientId, Job, JobSpec, NewJob};
use genrelay_engine::{Engine, Settings};
use genrelay_providers::MockConfig;
use genrelay_tests::moto;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, SubscriberExt};

use crate::report::{Bound, Figure, Table};

const SECTION: &str = "scale (what a read costs as the table grows)";
const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
/// The most a call's cost may grow from 1k to 100k stored jobs.
const FLATNESS_BUDGET: f64 = 2.0;
const PAGE: usize = 20;
/// The poller function's batches (functions/poller/src/handler.rs).
const RECONCILE_BATCH: usize = 200;
const OVERDUE_WEBHOOK_BATCH: usize = 50;
const POLL_BATCH: usize = 10;

/// The items DynamoDB reads examined, summed from the SDK interceptor's `aws items read` events.
static DYNAMODB_ITEMS_READ: AtomicU64 = AtomicU64::new(0);

struct ItemsReadCounter;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ItemsReadCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        struct ItemsRead;
        impl Visit for ItemsRead {
            fn record_u64(&mut self, field: &Field, value: u64) {
                if field.name() == "items_read" {
                    DYNAMODB_ITEMS_READ.fetch_add(value, Ordering::Relaxed);
                }
            }
            fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
        }
        if event.metadata().target() == genrelay_aws::AWS_CALLS_TARGET {
            event.record(&mut ItemsRead);
        }
    }
}

/// The store under test, and how its reads are counted.
enum Backend {
    Sqlite { embedded: Embedded, _data: tempfile::TempDir },
    Dynamo { clients: genrelay_aws::AwsClients, table: String },
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Self::Sqlite { .. } => "SQLite",
            Self::Dynamo { .. } => "DynamoDB (moto)",
        }
    }

    fn unit(&self) -> &'static str {
        match self {
            Self::Sqlite { .. } => "µs",
            Self::Dynamo { .. } => "items",
        }
    }

    /// Stores `jobs` as the store's own writes would (DynamoDB: the same items, 25 a batch).
    async fn store(&self, jobs: Vec<Job>) {
        match self {
            Self::Sqlite { embedded, .. } => {
                for job in &jobs {
                    embedded.store.create(job, None).await.expect("a job is stored");
                }
            }
            Self::Dynamo { clients, table } => {
                let batches: Vec<Vec<WriteRequest>> = jobs
                    .chunks(25)
                    .map(|batch| {
                        batch
                            .iter()
                            .map(|job| {
                                let item = genrelay_aws::job_item(job).expect("a job item");
                                let put = PutRequest::builder().set_item(Some(item)).build().expect("a put");
                                WriteRequest::builder().put_request(put).build()
                            })
                            .collect()
                    })
                    .collect();
                let writes = futures_util::stream::iter(batches.into_iter().map(|batch| {
                    let (client, table) = (clients.dynamodb.clone(), table.clone());
                    async move {
                        let output = client
                            .batch_write_item()
                            .request_items(table, batch)
                            .send()
                            .await
                            .expect("BatchWriteItem on moto");
                        assert!(output.unprocessed_items.unwrap_or_default().is_empty(), "moto processes all");
                    }
                }));
                futures_util::StreamExt::for_each_concurrent(writes, 8, |write| write).await;
            }
        }
    }
}

/// `count` finished jobs, newest first going back a second each from `start` seconds ago;
/// one in ten is another client's.
fn finished_jobs(count: usize, start: usize) -> Vec<Job> {
    let params = Params::ImageGenerate(ImageGenerateParams::new(Some(1024), Some(1024), None, None, None).unwrap());
    let spec = JobSpec::new(
        Capability::ImageGenerate,
        Some("A product photo on a clean white background, soft light".into()),
        Inputs::default(),
        params,
    )
    .unwrap();
    let now = Utc::now();
    (start..start + count)
        .map(|i| {
            let client = if i % 10 == 0 { "other" } else { "bench" };
            let created = now - Duration::seconds(i as i64 + 60);
            let mut job = Job::new(
                UlidGenerator.job_id(),
                ClientId::parse(client).unwrap(),
                NewJob::of(spec.clone()),
                None,
                created,
                created + Duration::hours(1),
            );
            job.start(created).unwrap();
            job.succeed(Vec::new(), created + Duration::seconds(30)).unwrap();
            job
        })
        .collect()
}

/// What one call costs: the items it read, or its median time.
async fn cost(backend: &Backend, call: impl AsyncFn()) -> f64 {
    match backend {
        Backend::Sqlite { .. } => {
            call().await;
            let mut micros = Vec::new();
            for _ in 0..31 {
                let started = Instant::now();
                call().await;
                micros.push(started.elapsed().as_secs_f64() * 1e6);
            }
            micros.sort_by(f64::total_cmp);
            micros[micros.len() / 2].round()
        }
        Backend::Dynamo { .. } => {
            let before = DYNAMODB_ITEMS_READ.load(Ordering::Relaxed);
            call().await;
            (DYNAMODB_ITEMS_READ.load(Ordering::Relaxed) - before) as f64
        }
    }
}

/// The three calls' costs at each size, the store filled as it goes.
async fn costs(backend: &Backend, engine: &Engine) -> [[f64; 3]; 3] {
    let client = ClientId::parse("bench").unwrap();
    let first_page = JobQuery { status: None, capability: None, before: None, limit: PAGE, cursor: None };
    let admin_page = AdminJobQuery { limit: PAGE, ..AdminJobQuery::default() };
    let mut costs = [[0.0; 3]; 3];
    let mut stored = 0;
    for (column, size) in SIZES.into_iter().enumerate() {
        backend.store(finished_jobs(size - stored, stored)).await;
        stored = size;
        costs[0][column] = cost(backend, async || {
            engine.jobs(&client, &first_page).await.expect("a list");
        })
        .await;
        costs[1][column] = cost(backend, async || {
            engine.reconcile(RECONCILE_BATCH).await.expect("a reconcile");
            engine.deliver_overdue(OVERDUE_WEBHOOK_BATCH).await.expect("overdue webhooks");
            engine.poll_due(POLL_BATCH).await.expect("due polls");
        })
        .await;
        costs[2][column] = cost(backend, async || {
            engine.admin_jobs(&admin_page).await.expect("an admin list");
        })
        .await;
    }
    costs
}

pub async fn measure() -> (Vec<Figure>, Table) {
    let aws_calls = Targets::new().with_target(genrelay_aws::AWS_CALLS_TARGET, tracing::Level::DEBUG);
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(ItemsReadCounter.with_filter(aws_calls)),
    )
    .expect("the harness has no other subscriber");
    let data = tempfile::tempdir().expect("a data folder");
    let embedded = Embedded::open(data.path(), "http://bench.test").expect("the embedded store opens");
    let sqlite_engine = embedded.engine(MockConfig::default(), Settings::default());
    let sqlite = Backend::Sqlite { embedded, _data: data };

    let resources = moto::resources().await;
    let clients = genrelay_aws::AwsClients::new(&moto::sdk_config().await);
    let dynamo_engine = genrelay_bootstrap::aws_engine(
        &clients,
        &resources,
        None,
        Some(MockConfig::default()),
        Default::default(),
        &genrelay_egress::Egress::public_only(),
        Settings::default(),
    );
    let dynamo = Backend::Dynamo { clients, table: resources.table.clone() };

    let calls = ["a client's first page", "an idle poller tick", "the back office's first page"];
    let mut figures = Vec::new();
    let mut rows = Vec::new();
    for (backend, engine) in [(&sqlite, &sqlite_engine), (&dynamo, &dynamo_engine)] {
        let costs = costs(backend, engine).await;
        for (call, cost) in calls.iter().zip(costs) {
            let growth = cost[2].max(1.0) / cost[0].max(1.0);
            figures.push(Figure {
                section: SECTION,
                name: format!("{}, {call}: cost at 100k ÷ at 1k", backend.name()),
                value: growth,
                unit: "×",
                budget: Some((Bound::AtMost, FLATNESS_BUDGET)),
                how: format!("{}: 1k {}, 10k {}, 100k {}", backend.unit(), cost[0], cost[1], cost[2]),
            });
            rows.push((format!("{}, {call} ({})", backend.name(), backend.unit()), cost.map(Some).to_vec()));
        }
    }
    let table = Table {
        title: "What one read costs as the table grows".into(),
        how: "Each call once after the store holds that many finished jobs (one in ten another client's)".into(),
        unit: "".into(),
        columns: SIZES.iter().map(|size| format!("{}k jobs", size / 1000)).collect(),
        rows,
    };
    (figures, table)
}
