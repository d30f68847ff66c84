//! AWS requests per job, counted by the functions' own SDK interceptor (genrelay-aws's
//! `clients` logs each request it sends): an image job and a video job, each with a webhook, end
//! to end through the function binaries on moto (the create, the dispatch, the polls, the
//! output's ingest, the webhook from the table's stream), by function and by API, and what a
//! million such jobs cost in requests at list prices.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use genrelay_tests::lambda::{LambdaFunction, sample_event, sqs_event, stream_event};
use genrelay_tests::moto;
use serde_json::{Value, json};

use crate::cold_start::{create_job, function_env};
use crate::report::{Bound, Figure, Table};

const SECTION: &str = "AWS requests per job (moto, counted by the SDK interceptor)";
/// The create path: the job's item and its dispatch message.
const CREATE_BUDGET: f64 = 2.0;
const FUNCTIONS: [&str; 4] = ["genrelay-api-jobs", "genrelay-worker", "genrelay-poller", "genrelay-webhooks"];

/// List prices (us-east-1, on demand), in dollars per million requests, by API.
fn price(service: &str, operation: &str) -> f64 {
    match (service.to_ascii_lowercase().as_str(), operation) {
        // One write request unit per write of an item up to 1 KB; one read unit per strongly
        // consistent read up to 4 KB (a larger item or a transaction costs more).
        ("dynamodb", "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem" | "TransactWriteItems") => 0.625,
        ("dynamodb", _) => 0.125,
        ("sqs", _) => 0.40,
        ("s3", "GetObject" | "HeadObject") => 0.40,
        ("s3", "DeleteObject" | "DeleteObjects") => 0.0,
        ("s3", _) => 5.0,
        // Standard parameters at standard throughput.
        _ => 0.0,
    }
}

/// One scenario: what the job is and how long the mock takes to make it.
struct Scenario {
    name: &'static str,
    body: Value,
    mock_latency_ms: u64,
}

/// Requests by `service.Operation`, and the create's and a status read's alone.
struct Counted {
    by_api: BTreeMap<String, usize>,
    create: usize,
    status_read: usize,
    idle_tick: usize,
}

pub async fn measure(binaries: &Path) -> (Vec<Figure>, Table) {
    let scenarios = [
        Scenario {
            name: "image job (done at submit)",
            body: json!({"capability": "image.generate", "prompt": "a product shot", "width": 1024, "height": 1024}),
            mock_latency_ms: 0,
        },
        Scenario {
            name: "video job (polled until done)",
            body: json!({"capability": "video.generate", "prompt": "a short brand clip",
                "settings": {"ratio": "9:16", "duration": 5, "resolution": "720p"}}),
            mock_latency_ms: 1500,
        },
    ];
    let mut figures = Vec::new();
    let mut counted = Vec::new();
    for scenario in &scenarios {
        let job = run(binaries, scenario).await;
        let total: usize = job.by_api.values().sum();
        let cost: f64 = job.by_api.iter().map(|(api, n)| *n as f64 * api_price(api)).sum();
        figures.push(Figure {
            section: SECTION,
            name: format!("{}: create path", scenario.name),
            value: job.create as f64,
            unit: "requests",
            budget: Some((Bound::AtMost, CREATE_BUDGET)),
            how: "POST /api/v1/jobs through api-jobs".into(),
        });
        figures.push(Figure {
            section: SECTION,
            name: format!("{}: end to end", scenario.name),
            value: total as f64,
            unit: "requests",
            budget: None,
            how: "create, dispatch, polls, ingest, terminal write, webhook (after init)".into(),
        });
        figures.push(Figure {
            section: SECTION,
            name: format!("{}: requests' cost per 1M jobs", scenario.name),
            value: cost,
            unit: "$",
            budget: None,
            how: "list prices (see the notes); Lambda and API Gateway not included".into(),
        });
        figures.push(Figure {
            section: SECTION,
            name: format!("{}: a status read", scenario.name),
            value: job.status_read as f64,
            unit: "requests",
            budget: None,
            how: "GET /api/v1/jobs/{id}".into(),
        });
        counted.push((scenario.name, job));
    }
    let idle = counted.first().map_or(0, |(_, job)| job.idle_tick);
    figures.push(Figure {
        section: SECTION,
        name: "an idle poller tick".into(),
        value: idle as f64,
        unit: "requests",
        budget: None,
        how: "a scheduled tick with nothing due (once a minute)".into(),
    });
    let apis: Vec<String> = {
        let mut all: Vec<String> = counted.iter().flat_map(|(_, job)| job.by_api.keys().cloned()).collect();
        all.sort();
        all.dedup();
        all
    };
    let rows = counted
        .iter()
        .map(|(name, job)| {
            let values = apis.iter().map(|api| job.by_api.get(api).map(|n| *n as f64)).collect();
            (name.to_string(), values)
        })
        .collect();
    let table = Table {
        title: "AWS requests per job, by API".into(),
        how: "Requests each job caused end to end, counted from the functions' request log (after init; a \
              retried request counts once per attempt). Prices per million requests: DynamoDB writes $0.625, \
              reads $0.125 (one unit each: items ≤ 1 KB written, ≤ 4 KB read), SQS $0.40, S3 PUT/LIST \
              $5.00, GET $0.40, SSM standard parameters $0."
            .into(),
        unit: "requests".into(),
        columns: apis,
        rows,
    };
    (figures, table)
}

fn api_price(api: &str) -> f64 {
    let (service, operation) = api.split_once('.').unwrap_or((api, ""));
    price(service, operation)
}

/// Runs one job through the functions and counts the requests each made for it.
async fn run(binaries: &Path, scenario: &Scenario) -> Counted {
    let receiver = Receiver::start().await;
    let resources = moto::resources().await;
    let mut env = function_env(&resources).await;
    env.retain(|(name, _)| *name != "RUST_LOG");
    env.extend([
        ("RUST_LOG", format!("warn,{}=debug", genrelay_aws::AWS_CALLS_TARGET)),
        ("GENRELAY_MOCK_LATENCY_MS", scenario.mock_latency_ms.to_string()),
        ("GENRELAY_WEBHOOK_QUEUE_URL", resources.webhook_queue_url.clone().expect("a webhook queue")),
        ("ZHINIAN_WEBHOOK_SECRET", "bench-webhook-secret".into()),
        // The receiver is on loopback: allowed for this emulated run only.
        ("GENRELAY_ALLOW_PRIVATE_URLS", "true".into()),
    ]);
    let mut functions = Vec::new();
    for binary in FUNCTIONS {
        let function = LambdaFunction::start(&binaries.join(binary), &env).await;
        function.init_duration().await;
        functions.push(function);
    }
    settle().await;
    let after_init: Vec<usize> = functions.iter().map(|f| requests(f).len()).collect();
    let [api_jobs, worker, poller, webhooks] = &functions[..] else { unreachable!("four functions") };

    let mut create = create_job();
    let mut body = scenario.body.clone();
    body["webhookUrl"] = json!(receiver.url);
    create["body"] = json!(body.to_string());
    let created = http_body(api_jobs.invoke(create).await.expect("the create is answered"));
    let id = created["job"]["id"].as_str().unwrap_or_else(|| panic!("a created job: {created}")).to_owned();
    settle().await;
    let create_requests = requests(api_jobs).len() - after_init[0];

    let sqs = aws_sdk_sqs::Client::new(&moto::sdk_config().await);
    let received = sqs.receive_message().queue_url(&resources.dispatch_queue_url).send().await.expect("a receive");
    let message = received.messages.unwrap_or_default().into_iter().next().expect("the dispatch message");
    worker.invoke(sqs_event(&message)).await.expect("the dispatch is handled");

    // The scheduled poller ticks once a minute; here it ticks once the mock is done, then every
    // half second, so the job's polls are few, as they are on AWS.
    tokio::time::sleep(Duration::from_millis(scenario.mock_latency_ms)).await;
    let started = Instant::now();
    let mut last_status = status(&resources, &id).await;
    while !matches!(last_status.as_str(), "succeeded" | "failed" | "canceled") {
        assert!(started.elapsed() < Duration::from_secs(60), "the job never ended: {last_status}");
        poller.invoke(json!({"source": "aws.events", "detail-type": "Scheduled Event"})).await.expect("a tick");
        last_status = status(&resources, &id).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(last_status, "succeeded", "the bench job succeeds");
    webhooks.invoke(stream_event(&resources, &id, "running").await).await.expect("the stream event is handled");
    assert_eq!(receiver.received().await, 1, "the webhook was delivered");
    settle().await;
    // The poller's ticks while the job waited are the job's; count an idle tick apart.
    let per_job: Vec<usize> = functions.iter().map(|f| requests(f).len()).collect();
    let mut by_api = BTreeMap::new();
    for (function, (from, to)) in functions.iter().zip(after_init.iter().zip(&per_job)) {
        for api in &requests(function)[*from..*to] {
            *by_api.entry(api.clone()).or_insert(0) += 1;
        }
    }
    poller.invoke(json!({"source": "aws.events", "detail-type": "Scheduled Event"})).await.expect("a tick");
    let get = sample_event("api-jobs/get-job.json", &[(SAMPLE_JOB, &id)]);
    api_jobs.invoke(get).await.expect("the status read is answered");
    settle().await;
    Counted {
        by_api,
        create: create_requests,
        status_read: requests(api_jobs).len() - per_job[0],
        idle_tick: requests(poller).len() - per_job[2],
    }
}

const SAMPLE_JOB: &str = "job_01jsample0000000000000000";

/// Lines reach the harness through a pipe, a moment after they are written.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// The requests a function logged so far, as `service.Operation`.
fn requests(function: &LambdaFunction) -> Vec<String> {
    let lines = function.json_lines();
    let logged = lines.iter().filter(|line| line["message"] == "aws request");
    logged
        .map(|line| {
            format!("{}.{}", line["service"].as_str().unwrap_or("?"), line["operation"].as_str().unwrap_or("?"))
        })
        .collect()
}

/// The job's status as the table holds it (read by the harness, not counted).
async fn status(resources: &genrelay_aws::AwsResources, id: &str) -> String {
    let dynamo = aws_sdk_dynamodb::Client::new(&moto::sdk_config().await);
    let key = |value: String| aws_sdk_dynamodb::types::AttributeValue::S(value);
    let item = dynamo
        .get_item()
        .table_name(&resources.table)
        .key("pk", key(format!("JOB#{id}")))
        .key("sk", key("JOB".into()))
        .send()
        .await
        .expect("moto answers")
        .item
        .expect("the job's item");
    item.get("status").and_then(|value| value.as_s().ok()).cloned().unwrap_or_default()
}

/// An API Gateway answer's JSON body.
fn http_body(answer: Value) -> Value {
    answer["body"].as_str().and_then(|body| serde_json::from_str(body).ok()).unwrap_or(Value::Null)
}

/// A webhook receiver that answers 200 and counts what it received.
struct Receiver {
    url: String,
    count: std::sync::Arc<tokio::sync::Mutex<usize>>,
}

impl Receiver {
    async fn start() -> Self {
        let count = std::sync::Arc::new(tokio::sync::Mutex::new(0));
        let counter = count.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move || {
                let counter = counter.clone();
                async move {
                    *counter.lock().await += 1;
                    "ok"
                }
            }),
        );
        let url = format!("{}/hook", genrelay_tests::serve(app).await);
        Self { url, count }
    }

    async fn received(&self) -> usize {
        *self.count.lock().await
    }
}
