//! Cold starts under the Lambda Runtime API emulator against moto: each function binary is
//! started `runs` times, one at a time, with what the template gives it (API keys and secrets
//! as SSM SecureStrings); its init is the time from the spawn until it first asks for an event,
//! then one sample event from `events/` is its first event. Its init phases are read from the
//! spans it logs as they close (genrelay-bootstrap's `logs`). A Python 3 + boto3 handler doing
//! api-jobs' create (its peer) is measured the same way.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use genrelay_tests::lambda::LambdaFunction;
use genrelay_tests::moto;
use serde_json::{Value, json};

use crate::report::{Bound, Figure, Table, median_and_p90};

/// Init of each function alone (spawn → first `/next`).
const INIT_BUDGET_MS: f64 = 20.0;
/// How much faster api-jobs' cold create must be than its Python peer's.
const PEER_RATIO_BUDGET: f64 = 10.0;
const SECTION: &str = "cold start (moto, one function at a time)";
/// The phases of init a function logs (in the order they start); `configure` holds the others.
const PHASES: [&str; 9] = [
    "sdk_config",
    "webhook_secrets",
    "documents",
    "channels",
    "api_keys",
    "engine",
    "back_office",
    "router",
    "configure",
];

/// A function binary and the sample event that is its first.
struct Function {
    binary: &'static str,
    event: fn() -> Value,
}

const FUNCTIONS: [Function; 11] = [
    Function { binary: "genrelay-api-jobs", event: create_job },
    Function { binary: "genrelay-api-meta", event: || sample("api-meta/list-capabilities.json") },
    Function { binary: "genrelay-api-docs", event: || sample("api-docs/page.json") },
    Function { binary: "genrelay-api-assets", event: || sample("api-assets/list-assets.json") },
    Function { binary: "genrelay-api-inference", event: || sample("api-inference/list-tasks.json") },
    Function { binary: "genrelay-api-ps-tasks", event: || sample("api-ps-tasks/task-result.json") },
    Function { binary: "genrelay-api-jimeng-async", event: || sample("api-jimeng-async/query-task.json") },
    Function { binary: "genrelay-worker", event: unknown_dispatch },
    Function { binary: "genrelay-poller", event: || sample("poller/schedule.json") },
    Function { binary: "genrelay-webhooks", event: || sample("webhooks/retry-wakeups.json") },
    Function { binary: "genrelay-admin", event: || sample("admin/console.json") },
];

fn sample(file: &str) -> Value {
    genrelay_tests::lambda::sample_event(file, &[])
}

/// Seed 004's create of the sample event, without its Idempotency-Key (each run creates a job).
pub(crate) fn create_job() -> Value {
    let mut event = sample("api-jobs/create-job.json");
    event["headers"].as_object_mut().expect("headers").remove("idempotency-key");
    event
}

/// A dispatch of a job that does not exist (the worker reads it and drops the message).
fn unknown_dispatch() -> Value {
    let body = json!({"jobId": "job_01jbench000000000000000000", "clientId": "sample"}).to_string();
    json!({"Records": [{
        "messageId": "bench-1", "receiptHandle": "bench-receipt", "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"}, "messageAttributes": {},
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:dispatch",
        "awsRegion": "us-east-1",
    }]})
}

/// What the template gives the functions, pointed at moto, secrets in SSM.
pub(crate) async fn function_env(resources: &genrelay_aws::AwsResources) -> Vec<(&'static str, String)> {
    let ssm = aws_sdk_ssm::Client::new(&moto::sdk_config().await);
    let parameter = |name: &str| format!("/{}/{name}", resources.table);
    let secrets = [
        ("api-keys", "sample:sample-key".to_owned()),
        (
            "session-key",
            "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=".into(),
        ),
        ("admin-password", "bench-admin-password".into()),
    ];
    for (name, value) in secrets {
        let put = ssm.put_parameter().name(parameter(name)).value(value).overwrite(true);
        put.r#type(aws_sdk_ssm::types::ParameterType::SecureString).send().await.expect("moto takes the parameter");
    }
    let mut env = moto::resources_env(resources);
    env.extend([
        ("ZHINIAN_API_KEYS_PARAMETER", parameter("api-keys")),
        ("GENRELAY_MOCK_PROVIDER", "on".to_owned()),
        ("GENRELAY_SESSION_KEY_PARAMETER", parameter("session-key")),
        ("GENRELAY_ADMIN_PASSWORD_PARAMETER", parameter("admin-password")),
        ("GENRELAY_CHANNEL_SECRETS_PATH", parameter("channels")),
        // The init phases' spans as JSON lines, and no other line below a warning.
        ("GENRELAY_LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", format!("warn,{}=info", genrelay_bootstrap::INIT_TARGET)),
    ]);
    env
}

/// One cold start: the init and the first event's latency, in milliseconds.
pub(crate) async fn cold_start(function: &LambdaFunction, event: Value) -> (f64, f64) {
    let init = function.init_duration().await;
    let sent = Instant::now();
    let answer = function.invoke(event).await;
    let first = sent.elapsed();
    if let Ok(answer) = &answer
        && answer["statusCode"].as_u64().is_some_and(|status| status >= 500)
    {
        panic!("a first event failed: {answer}");
    }
    (init.as_secs_f64() * 1000.0, first.as_secs_f64() * 1000.0)
}

/// The init phases a function logged (once it has logged the last, `configure`).
fn logged_phases(function: &LambdaFunction) -> HashMap<String, f64> {
    let configured = |lines: &[Value]| lines.iter().any(|line| line["span"]["phase"] == "configure");
    phase_times(&function.json_lines_once(configured))
}

/// Each init phase's time, from the lines its span logged when it closed.
fn phase_times(lines: &[Value]) -> HashMap<String, f64> {
    let closes = lines.iter().filter(|line| line["message"] == "close");
    closes
        .filter_map(|line| {
            let time = |field: &str| line[field].as_str().and_then(milliseconds);
            Some((line["span"]["phase"].as_str()?.to_owned(), time("time.busy")? + time("time.idle")?))
        })
        .collect()
}

/// A span's time as tracing-subscriber prints it (`812µs`, `1.25ms`, `3.0s`), in milliseconds.
fn milliseconds(text: &str) -> Option<f64> {
    let unit_at = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(unit_at);
    let scale = match unit {
        "ns" => 1e-6,
        "µs" => 1e-3,
        "ms" => 1.0,
        "s" => 1e3,
        _ => return None,
    };
    Some(number.parse::<f64>().ok()? * scale)
}

/// The cold-start figures of every function and of the Python peer, `runs` runs each, and the
/// breakdown of each function's init.
pub async fn measure(binaries: &Path, runs: usize) -> (Vec<Figure>, Table) {
    let resources = moto::resources().await;
    let env = function_env(&resources).await;
    let how = |what: &str| format!("median of {runs} runs; {what}");
    let mut figures = Vec::new();
    let mut api_jobs_create = 0.0;
    let mut breakdown = Vec::new();
    for function in &FUNCTIONS {
        let (mut inits, mut firsts, mut totals) = (Vec::new(), Vec::new(), Vec::new());
        let mut phases: HashMap<String, Vec<f64>> = HashMap::new();
        for _ in 0..runs {
            let started = LambdaFunction::start(&binaries.join(function.binary), &env).await;
            let (init, first) = cold_start(&started, (function.event)()).await;
            inits.push(init);
            firsts.push(first);
            totals.push(init + first);
            let logged = logged_phases(&started);
            let outside = init - logged.get("configure").copied().unwrap_or(0.0);
            phases.entry("outside".into()).or_default().push(outside);
            for (phase, time) in logged {
                phases.entry(phase).or_default().push(time);
            }
        }
        let median = |phase: &str| phases.get_mut(phase).map(|times| median_and_p90(times).0);
        let row = std::iter::once("outside").chain(PHASES).map(median).collect();
        breakdown.push((function.binary.to_owned(), row));
        let (init, init_p90) = median_and_p90(&mut inits);
        let (first, _) = median_and_p90(&mut firsts);
        let (total, _) = median_and_p90(&mut totals);
        if function.binary == "genrelay-api-jobs" {
            api_jobs_create = total;
        }
        figures.push(Figure {
            section: SECTION,
            name: format!("{} init", function.binary),
            value: init,
            unit: "ms",
            budget: Some((Bound::AtMost, INIT_BUDGET_MS)),
            how: how(&format!("spawn → first /next; p90 {init_p90:.1} ms")),
        });
        figures.push(Figure {
            section: SECTION,
            name: format!("{} first event", function.binary),
            value: first,
            unit: "ms",
            budget: None,
            how: how(&format!("sent → answered: {}", function_event_name(function.binary))),
        });
    }
    let peer = measure_peer(&env, runs).await;
    figures.push(Figure {
        section: SECTION,
        name: "api-jobs cold create (init + first create)".into(),
        value: api_jobs_create,
        unit: "ms",
        budget: None,
        how: how("spawn → 202 of the first create"),
    });
    figures.push(Figure {
        section: SECTION,
        name: "Python 3 + boto3 peer cold create".into(),
        value: peer,
        unit: "ms",
        budget: None,
        how: how("bench/peers/python_create.py: SSM keys at init, PutItem + SendMessage"),
    });
    figures.push(Figure {
        section: SECTION,
        name: "peer cold create ÷ api-jobs cold create".into(),
        value: peer / api_jobs_create,
        unit: "×",
        budget: Some((Bound::AtLeast, PEER_RATIO_BUDGET)),
        how: "same run, same moto".into(),
    });
    let table = Table {
        title: "init breakdown (moto)".into(),
        how: format!(
            "Median of {runs} runs of each phase's span, in ms (genrelay-bootstrap logs them as they \
             close). `configure` holds the phases before it. webhook_secrets, documents (the AI config and \
             providers documents, in one read), api_keys, and the back office's back_office (its SSM \
             parameters) and router (built on a thread of its own) run concurrently; channels (their \
             credentials) follows documents. `outside` is the rest of init: process start, the runtime, logging set-up and \
             the Lambda runtime client until its first /next."
        ),
        unit: "ms".into(),
        columns: std::iter::once("outside").chain(PHASES).map(str::to_owned).collect(),
        rows: breakdown,
    };
    (figures, table)
}

fn function_event_name(binary: &str) -> &'static str {
    match binary {
        "genrelay-api-jobs" => "POST /api/v1/jobs",
        "genrelay-api-meta" => "GET /api/v1/capabilities",
        "genrelay-api-docs" => "GET /docs",
        "genrelay-api-assets" => "GET /api/v1/assets",
        "genrelay-api-inference" => "GET /api/tasks",
        "genrelay-api-ps-tasks" => "a PS task's result",
        "genrelay-api-jimeng-async" => "a Jimeng task query",
        "genrelay-worker" => "an SQS dispatch of an unknown job",
        "genrelay-poller" => "a scheduled tick",
        "genrelay-webhooks" => "an SQS webhook retry wakeup",
        _ => "GET /admin (to the login)",
    }
}

/// The Python peer's median cold create (init + first create), in milliseconds.
async fn measure_peer(env: &[(&'static str, String)], runs: usize) -> f64 {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/python_create.py");
    let mut env = env.to_vec();
    // Where the Python packages are when they are not in a virtualenv (see tests/python-env.sh).
    env.extend(std::env::var("PYTHONPATH").ok().map(|path| ("PYTHONPATH", path)));
    let mut totals = Vec::new();
    for _ in 0..runs {
        let mut command = Command::new(moto::python());
        command.arg(&script);
        let started = LambdaFunction::start_program("python-boto3-create", command, &env).await;
        let (init, first) = cold_start(&started, create_job()).await;
        totals.push(init + first);
    }
    median_and_p90(&mut totals).0
}
