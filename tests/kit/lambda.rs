//! A Lambda Runtime API emulator: runs a real function binary as Lambda would, hands it events
//! one at a time, and returns what it answers. The binary polls
//! `/2018-06-01/runtime/invocation/next` and posts `…/{id}/response` or `…/{id}/error`.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

type Answer = Result<Value, Value>;

#[derive(Clone)]
struct Runtime {
    events: Arc<tokio::sync::Mutex<mpsc::Receiver<(String, Value)>>>,
    waiting: Arc<Mutex<HashMap<String, oneshot::Sender<Answer>>>>,
    init_error: Arc<Mutex<Option<Value>>>,
    /// When the function first asked for an event: the end of its init.
    first_next: Arc<Mutex<Option<Instant>>>,
}

/// A function binary running under the emulator.
pub struct LambdaFunction {
    name: String,
    child: Child,
    events: mpsc::Sender<(String, Value)>,
    runtime: Runtime,
    next_id: Mutex<u64>,
    /// Every line the function printed so far (stdout and stderr).
    output: Arc<Mutex<Vec<String>>>,
    spawned_at: Instant,
}

impl LambdaFunction {
    /// Starts `binary` with `vars` (and the variables Lambda sets) against a fresh emulator.
    pub async fn start(binary: &Path, vars: &[(&str, String)]) -> Self {
        let name = binary.file_name().unwrap().to_string_lossy().into_owned();
        Self::start_program(&name, Command::new(binary), vars).await
    }

    /// Starts `program` (a function of another runtime, e.g. a Python script with its
    /// interpreter) as the function `name`, with `vars` and the variables Lambda sets.
    pub async fn start_program(name: &str, mut command: Command, vars: &[(&str, String)]) -> Self {
        let (sender, receiver) = mpsc::channel(16);
        let runtime = Runtime {
            events: Arc::new(tokio::sync::Mutex::new(receiver)),
            waiting: Arc::default(),
            init_error: Arc::default(),
            first_next: Arc::default(),
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(respond))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_failed))
            .with_state(runtime.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });

        let name = name.to_owned();
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in vars {
            command.env(key, value);
        }
        let spawned_at = Instant::now();
        let mut child = command.spawn().expect("the function binary starts");
        let output = Arc::new(Mutex::new(Vec::new()));
        collect_lines(child.stdout.take().unwrap(), output.clone());
        collect_lines(child.stderr.take().unwrap(), output.clone());
        Self { name, child, events: sender, runtime, next_id: Mutex::new(0), output, spawned_at }
    }

    /// Its init: from the spawn until it first asked for an event (waits for that).
    pub async fn init_duration(&self) -> Duration {
        let deadline = Instant::now() + INVOKE_TIMEOUT;
        loop {
            if let Some(ready) = *self.runtime.first_next.lock().unwrap() {
                return ready - self.spawned_at;
            }
            assert!(
                Instant::now() < deadline,
                "{} never asked for an event (init error: {:?}); its output:\n{}",
                self.name,
                self.runtime.init_error.lock().unwrap().clone(),
                self.output.lock().unwrap().join("\n")
            );
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }

    /// Delivers one event and waits for the function's answer: `Ok(response)` or
    /// `Err(error payload)`.
    pub async fn invoke(&self, event: Value) -> Answer {
        let id = {
            let mut next = self.next_id.lock().unwrap();
            *next += 1;
            format!("{}-{next}", self.name)
        };
        let (answer, answered) = oneshot::channel();
        self.runtime.waiting.lock().unwrap().insert(id.clone(), answer);
        self.events.send((id, event)).await.unwrap();
        match tokio::time::timeout(INVOKE_TIMEOUT, answered).await {
            Ok(Ok(answer)) => answer,
            _ => panic!(
                "{} gave no answer (init error: {:?}); its output:\n{}",
                self.name,
                self.runtime.init_error.lock().unwrap().clone(),
                self.output.lock().unwrap().join("\n")
            ),
        }
    }
}

impl LambdaFunction {
    /// The lines printed so far that are JSON objects (log lines, metric documents).
    pub fn json_lines(&self) -> Vec<Value> {
        self.output.lock().unwrap().iter().filter_map(|line| serde_json::from_str(line).ok()).collect()
    }

    /// The JSON lines printed, once `complete` holds for them (lines arrive through a pipe, a
    /// little after the function printed them); whatever there is after a few seconds anyway.
    pub fn json_lines_once(&self, complete: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let lines = self.json_lines();
            if complete(&lines) || std::time::Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn collect_lines(pipe: impl std::io::Read + Send + 'static, lines: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
    });
}

impl Drop for LambdaFunction {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn next(State(runtime): State<Runtime>) -> Response {
    runtime.first_next.lock().unwrap().get_or_insert_with(Instant::now);
    let Some((id, event)) = runtime.events.lock().await.recv().await else {
        return axum::http::StatusCode::GONE.into_response();
    };
    let deadline = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
        + INVOKE_TIMEOUT.as_millis();
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
    headers.insert("lambda-runtime-deadline-ms", deadline.to_string().parse().unwrap());
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:test".parse().unwrap(),
    );
    headers.insert("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000".parse().unwrap());
    (headers, axum::Json(event)).into_response()
}

async fn respond(
    State(runtime): State<Runtime>,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Bytes,
) -> &'static str {
    answer(&runtime, &id, Ok(serde_json::from_slice(&body).unwrap_or(Value::Null)));
    "{}"
}

async fn fail(State(runtime): State<Runtime>, UrlPath(id): UrlPath<String>, body: axum::body::Bytes) -> &'static str {
    answer(&runtime, &id, Err(serde_json::from_slice(&body).unwrap_or(Value::Null)));
    "{}"
}

async fn init_failed(State(runtime): State<Runtime>, body: axum::body::Bytes) -> &'static str {
    *runtime.init_error.lock().unwrap() = Some(serde_json::from_slice(&body).unwrap_or(Value::Null));
    "{}"
}

fn answer(runtime: &Runtime, id: &str, answer: Answer) {
    if let Some(waiting) = runtime.waiting.lock().unwrap().remove(id) {
        let _ = waiting.send(answer);
    }
}

/// An SQS batch event of one received message, as Lambda's SQS integration delivers it.
pub fn sqs_event(message: &aws_sdk_sqs::types::Message) -> Value {
    json!({"Records": [{
        "messageId": message.message_id(), "receiptHandle": message.receipt_handle(), "body": message.body(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"}, "messageAttributes": {},
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:queue", "awsRegion": "us-east-1",
    }]})
}

/// A DynamoDB stream record of a job item changing from `old_status` to what the table holds
/// now, in the stream's JSON (attribute values typed as `{"S": ...}`).
pub async fn stream_event(resources: &genrelay_aws::AwsResources, job_id: &str, old_status: &str) -> Value {
    let dynamo = aws_sdk_dynamodb::Client::new(&crate::moto::sdk_config().await);
    let key = |pk: String| {
        std::collections::HashMap::from([
            ("pk".to_owned(), aws_sdk_dynamodb::types::AttributeValue::S(pk)),
            ("sk".to_owned(), aws_sdk_dynamodb::types::AttributeValue::S("JOB".into())),
        ])
    };
    let item = dynamo
        .get_item()
        .table_name(&resources.table)
        .set_key(Some(key(format!("JOB#{job_id}"))))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let mut new_image = serde_json::Map::new();
    for (name, value) in &item {
        if let Ok(text) = value.as_s() {
            new_image.insert(name.clone(), json!({"S": text}));
        }
    }
    let mut old_image = new_image.clone();
    old_image.insert("status".into(), json!({"S": old_status}));
    json!({"Records": [{
        "eventID": "1", "eventName": "MODIFY", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {"Keys": {"pk": {"S": format!("JOB#{job_id}")}, "sk": {"S": "JOB"}},
                     "NewImage": new_image, "OldImage": old_image,
                     "SequenceNumber": "100000000000000000001", "SizeBytes": 1, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        "eventSourceARN": format!("arn:aws:dynamodb:us-east-1:123456789012:table/{}/stream/x", resources.table),
    }]})
}

/// A sample event from `events/`, with the sample ids in it replaced.
pub fn sample_event(file: &str, replacements: &[(&str, &str)]) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events").join(file);
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{} exists", path.display()));
    for (from, to) in replacements {
        text = text.replace(from, to);
    }
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{} is JSON", path.display()))
}
