//! End to end on the AWS path: the real function binaries, run as Lambda runs them, against
//! DynamoDB, S3 and SQS emulated by moto_server. Nothing of the dev server takes part.

use genrelay_tests::lambda::{LambdaFunction, sample_event as event, sqs_event, stream_event};
use genrelay_tests::{moto, workspace_binary};
use serde_json::{Value, json};

use genrelay_tests::fake_runninghub::{self, FakeRunningHub};

use genrelay_tests::app::png_size;

const SAMPLE_JOB: &str = "job_01jsample0000000000000000";
const SAMPLE_ASSET: &str = "asset_01jsample000000000000000";

/// What the template gives every function, pointed at the emulator, with the sample client's key.
fn function_env(resources: &genrelay_aws::AwsResources) -> Vec<(&'static str, String)> {
    let mut env = moto::resources_env(resources);
    env.extend([
        ("ZHINIAN_API_KEYS", "sample:sample-key".to_owned()),
        // A demo stack: the mock serves what no channel does (off by default on AWS).
        ("GENRELAY_MOCK_PROVIDER", "on".to_owned()),
    ]);
    env
}

/// The status and JSON body of an API Gateway (payload 2.0) answer.
fn http_answer(answer: Value) -> (u64, Value, Value) {
    let body = answer["body"].as_str().map(|b| serde_json::from_str(b).unwrap_or(Value::Null)).unwrap_or(Value::Null);
    (answer["statusCode"].as_u64().unwrap(), answer["headers"].clone(), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_through_the_function_binaries_on_moto() {
    let resources = moto::resources().await;
    let mut env = function_env(&resources);
    env.push(("GENRELAY_MOCK_LATENCY_MS", "0".to_owned()));
    let mut logged_env = env.clone();
    logged_env.extend([("GENRELAY_LOG_FORMAT", "json".to_owned()), ("RUST_LOG", "info".to_owned())]);
    let api_jobs = LambdaFunction::start(&workspace_binary("genrelay-api-jobs"), &logged_env).await;
    let api_assets = LambdaFunction::start(&workspace_binary("genrelay-api-assets"), &env).await;
    let worker = LambdaFunction::start(&workspace_binary("genrelay-worker"), &env).await;
    let poller = LambdaFunction::start(&workspace_binary("genrelay-poller"), &env).await;

    // Create the job through the HTTP function (seed 004's example).
    let (status, _, created) = http_answer(api_jobs.invoke(event("api-jobs/create-job.json", &[])).await.unwrap());
    assert_eq!(status, 202, "{created}");
    let id = created["job"]["id"].as_str().unwrap().to_owned();
    assert_logged_and_counted(&api_jobs, &id);

    // Deliver the dispatch message to the worker as Lambda's SQS integration does.
    let sqs = aws_sdk_sqs::Client::new(&moto::sdk_config().await);
    let received = sqs.receive_message().queue_url(&resources.dispatch_queue_url).send().await.unwrap();
    let messages = received.messages.unwrap_or_default();
    assert_eq!(messages.len(), 1, "one dispatch message, carrying ids only");
    let message = &messages[0];
    let body: Value = serde_json::from_str(message.body().unwrap()).unwrap();
    assert_eq!(body, json!({"jobId": id, "clientId": "sample"}));
    let sqs_event = json!({"Records": [{
        "messageId": message.message_id(),
        "receiptHandle": message.receipt_handle(),
        "body": message.body(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:dispatch",
        "awsRegion": "us-east-1",
    }]});
    let batch = worker.invoke(sqs_event).await.unwrap();
    assert_eq!(batch["batchItemFailures"], json!([]), "{batch}");

    // The scheduled poller finds nothing left to do.
    let sweep = poller.invoke(json!({"source": "aws.events", "detail-type": "Scheduled Event"})).await.unwrap();
    assert_eq!(sweep["polled"], 0, "{sweep}");

    let (status, _, read) =
        http_answer(api_jobs.invoke(event("api-jobs/get-job.json", &[(SAMPLE_JOB, &id)])).await.unwrap());
    assert_eq!(status, 200);
    assert_eq!(read["job"]["status"], "succeeded", "{read}");
    let output = read["job"]["outputAssetIds"][0].as_str().unwrap().to_owned();

    // Download the output through the presigned URL of the emulated S3.
    let download = event("api-assets/download-asset.json", &[(SAMPLE_ASSET, &output)]);
    let (status, headers, _) = http_answer(api_assets.invoke(download).await.unwrap());
    assert_eq!(status, 302);
    let location = headers["location"].as_str().unwrap();
    assert!(location.starts_with(&moto::moto().endpoint) && location.contains("X-Amz-Signature"), "{location}");
    assert!(location.contains("X-Amz-Expires=900"), "expires after 15 minutes: {location}");
    let response = reqwest::get(location).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(png_size(&response.bytes().await.unwrap()), (1440, 2560));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_presigned_upload_goes_straight_to_s3_and_completes_through_the_function() {
    let resources = moto::resources().await;
    let env = function_env(&resources);
    let api_assets = LambdaFunction::start(&workspace_binary("genrelay-api-assets"), &env).await;
    let (status, _, ticket) = http_answer(api_assets.invoke(event("api-assets/start-upload.json", &[])).await.unwrap());
    assert_eq!(status, 201, "{ticket}");
    let id = ticket["assetId"].as_str().unwrap().to_owned();
    let url = ticket["uploadUrl"].as_str().unwrap();
    assert!(url.contains("X-Amz-Signature"), "{url}");

    let video = genrelay_providers::mock::render_mp4("an upload", 64, 64, 1);
    let mut put = genrelay_egress::http_client_builder().build().unwrap().put(url).body(video.clone());
    for (name, value) in ticket["headers"].as_object().unwrap() {
        put = put.header(name, value.as_str().unwrap());
    }
    assert!(put.send().await.unwrap().status().is_success());

    let complete = event("api-assets/complete-upload.json", &[(SAMPLE_ASSET, &id)]);
    let (status, _, completed) = http_answer(api_assets.invoke(complete).await.unwrap());
    assert_eq!(status, 200, "{completed}");
    assert_eq!(completed["asset"]["status"], "ready");
    assert_eq!(completed["asset"]["size"], video.len());
    assert_eq!(completed["asset"]["contentType"], "video/mp4");
}

/// The create request left a JSON log line with the request id, client id and job id, and an
/// embedded-metric-format document counting the job.
fn assert_logged_and_counted(function: &LambdaFunction, job_id: &str) {
    let lines = function.json_lines_once(|lines| {
        lines.iter().any(|l| l["message"] == "request") && lines.iter().any(|l| l["_aws"].is_object())
    });
    let request = lines
        .iter()
        .find(|l| l["message"] == "request" && l["method"] == "POST")
        .unwrap_or_else(|| panic!("no request log line in {lines:?}"));
    assert_eq!(request["job_id"], job_id);
    let spans = request["spans"].to_string();
    assert!(spans.contains("requestId") && spans.contains("\"client_id\":\"sample\""), "{request}");
    let metric = lines.iter().find(|l| l["_aws"].is_object()).unwrap_or_else(|| panic!("no metric in {lines:?}"));
    assert_eq!(metric["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"], "JobsCreated");
    assert_eq!(metric["Capability"], "image.generate");
    assert!(!lines.iter().any(|l| l.to_string().contains("sample-key")), "the key never appears in a log line");
}

/// Runs `genrelay-channels` with the functions' environment.
fn channels_tool(env: &[(&'static str, String)], args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(workspace_binary("genrelay-channels"));
    command.args(args).envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    command.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_stored_in_the_table_with_credentials_in_ssm_serve_the_lambda_functions() {
    let fake = FakeRunningHub::start().await;
    let resources = moto::resources().await;
    let env = function_env(&resources);
    let parameter = format!("/{}/runninghub-key", resources.table);
    let ssm = aws_sdk_ssm::Client::new(&moto::sdk_config().await);
    ssm.put_parameter()
        .name(&parameter)
        .value(fake_runninghub::API_KEY)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.json");
    let channel = |api_key: Value| {
        json!({"channels": [{"name": "runninghub", "type": "runninghub", "baseUrl": fake.base_url,
            "apiKey": api_key, "pollIntervalMs": 0, "maxConcurrent": 2,
            "workflows": {"image.generate": {"workflowId": "1904136902449209346", "slots": {"prompt": ["6", "text"]}}}}]})
    };

    // A plain-text credential is refused, without echoing it.
    std::fs::write(&file, channel(json!(fake_runninghub::API_KEY)).to_string()).unwrap();
    let refused = channels_tool(&env, &["put", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("runninghub.apiKey"), "{stderr}");
    assert!(!stderr.contains(fake_runninghub::API_KEY));
    // So is a reference to a parameter that does not exist.
    std::fs::write(&file, channel(json!({"ssmParameter": "/nowhere"})).to_string()).unwrap();
    let refused = channels_tool(&env, &["put", file.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("/nowhere"));

    std::fs::write(&file, channel(json!({"ssmParameter": parameter})).to_string()).unwrap();
    let stored = channels_tool(&env, &["put", file.to_str().unwrap()]);
    assert!(stored.status.success(), "{}", String::from_utf8_lossy(&stored.stderr));
    let shown = String::from_utf8_lossy(&channels_tool(&env, &["show"]).stdout).into_owned();
    assert!(shown.contains(&parameter) && !shown.contains(fake_runninghub::API_KEY), "{shown}");

    // The functions read the channels at init: a job runs on the fake RunningHub.
    let api_jobs = LambdaFunction::start(&workspace_binary("genrelay-api-jobs"), &env).await;
    let worker = LambdaFunction::start(&workspace_binary("genrelay-worker"), &env).await;
    let poller = LambdaFunction::start(&workspace_binary("genrelay-poller"), &env).await;
    let (status, _, created) = http_answer(api_jobs.invoke(event("api-jobs/create-job.json", &[])).await.unwrap());
    assert_eq!(status, 202, "{created}");
    let id = created["job"]["id"].as_str().unwrap().to_owned();
    let sqs = aws_sdk_sqs::Client::new(&moto::sdk_config().await);
    let received = sqs.receive_message().queue_url(&resources.dispatch_queue_url).send().await.unwrap();
    let message = &received.messages.unwrap_or_default()[0];
    let sqs_event = json!({"Records": [{
        "messageId": message.message_id(), "receiptHandle": message.receipt_handle(), "body": message.body(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"}, "messageAttributes": {},
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:dispatch",
        "awsRegion": "us-east-1",
    }]});
    assert_eq!(worker.invoke(sqs_event).await.unwrap()["batchItemFailures"], json!([]));
    // Queued, running, done: three polls of the task.
    for _ in 0..3 {
        poller.invoke(json!({"source": "aws.events", "detail-type": "Scheduled Event"})).await.unwrap();
    }
    let (_, _, read) =
        http_answer(api_jobs.invoke(event("api-jobs/get-job.json", &[(SAMPLE_JOB, &id)])).await.unwrap());
    assert_eq!(read["job"]["status"], "succeeded", "{read}");
    assert_eq!(read["job"]["attempts"][0]["channel"], "runninghub");
    assert_eq!(fake.node_infos()[0][0]["fieldValue"], created["job"]["prompt"], "the prompt reached RunningHub");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_costs_two_aws_requests_each_logged_by_the_sdk_interceptor() {
    let resources = moto::resources().await;
    let mut env = function_env(&resources);
    env.extend([
        ("GENRELAY_LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", format!("warn,{}=debug", genrelay_aws::AWS_CALLS_TARGET)),
    ]);
    let api_jobs = LambdaFunction::start(&workspace_binary("genrelay-api-jobs"), &env).await;
    let requests = |function: &LambdaFunction| -> Vec<String> {
        let lines = function.json_lines();
        let logged = lines.iter().filter(|line| line["message"] == "aws request");
        logged
            .map(|line| format!("{}.{}", line["service"].as_str().unwrap(), line["operation"].as_str().unwrap()))
            .collect()
    };
    // What init reads (the keys, the channels, the AI settings) is read once, at init: once it
    // asks for its first event, and its lines have come through the pipe.
    api_jobs.init_duration().await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before = requests(&api_jobs).len();
    let (status, _, created) = http_answer(api_jobs.invoke(event("api-jobs/create-job.json", &[])).await.unwrap());
    assert_eq!(status, 202, "{created}");
    // Lines reach the emulator through a pipe, a moment after they are written.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let create_requests = requests(&api_jobs)[before..].to_vec();
    assert_eq!(create_requests.len(), 2, "the job (with its idempotency record) and its message: {create_requests:?}");
    assert!(create_requests.iter().any(|r| r.ends_with(".SendMessage")), "{create_requests:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_meta_lists_what_the_stored_channels_serve_without_reading_their_credentials() {
    let fake = FakeRunningHub::start().await;
    let resources = moto::resources().await;
    // The mock off: the capability list is what the channels serve.
    let mut env = function_env(&resources);
    env.retain(|(name, _)| *name != "GENRELAY_MOCK_PROVIDER");
    let parameter = format!("/{}/runninghub-key", resources.table);
    let ssm = aws_sdk_ssm::Client::new(&moto::sdk_config().await);
    let put = ssm.put_parameter().name(&parameter).value(fake_runninghub::API_KEY);
    put.r#type(aws_sdk_ssm::types::ParameterType::SecureString).send().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.json");
    let document = json!({"channels": [{"name": "runninghub", "type": "runninghub", "baseUrl": fake.base_url,
        "apiKey": {"ssmParameter": parameter},
        "workflows": {"image.generate": {"workflowId": "1904136902449209346", "slots": {"prompt": ["6", "text"]}}}}]});
    std::fs::write(&file, document.to_string()).unwrap();
    let stored = channels_tool(&env, &["put", file.to_str().unwrap()]);
    assert!(stored.status.success(), "{}", String::from_utf8_lossy(&stored.stderr));

    // Without the credential, a function that calls the channels cannot start ...
    ssm.delete_parameter().name(&parameter).send().await.unwrap();
    let vars: Vec<(&str, &str)> = env.iter().map(|(name, value)| (*name, value.as_str())).collect();
    let (started, output) = genrelay_tests::run_with_env(&workspace_binary("genrelay-api-jobs"), &vars);
    assert!(!started && output.contains("the channels could not be loaded"), "{output}");
    // ... while api-meta, which never reads it, lists what the channel serves.
    let api_meta = LambdaFunction::start(&workspace_binary("genrelay-api-meta"), &env).await;
    let (status, _, listed) =
        http_answer(api_meta.invoke(event("api-meta/list-capabilities.json", &[])).await.unwrap());
    assert_eq!(status, 200, "{listed}");
    let capabilities: Vec<&Value> =
        listed["capabilities"].as_array().unwrap().iter().map(|c| &c["capability"]).collect();
    assert_eq!(capabilities, [&json!("image.generate")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_go_out_from_the_stream_and_retry_through_delayed_sqs_messages() {
    let receiver = genrelay_tests::webhook_receiver::WebhookReceiver::start("aws-secret", None);
    receiver.answer(&[(503, None), (200, None)]).await;
    let resources = moto::resources().await;
    let mut env = function_env(&resources);
    env.extend([
        ("GENRELAY_MOCK_LATENCY_MS", "0".to_owned()),
        ("GENRELAY_WEBHOOK_QUEUE_URL", resources.webhook_queue_url.clone().unwrap()),
        ("ZHINIAN_WEBHOOK_SECRET", "aws-secret".to_owned()),
        // The receiver is on loopback: allowed for this emulated run only.
        ("GENRELAY_ALLOW_PRIVATE_URLS", "true".to_owned()),
        ("GENRELAY_LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ]);
    let api_jobs = LambdaFunction::start(&workspace_binary("genrelay-api-jobs"), &env).await;
    let worker = LambdaFunction::start(&workspace_binary("genrelay-worker"), &env).await;
    let webhooks = LambdaFunction::start(&workspace_binary("genrelay-webhooks"), &env).await;

    let mut create = event("api-jobs/create-job.json", &[]);
    let mut body: Value = serde_json::from_str(create["body"].as_str().unwrap()).unwrap();
    body["webhookUrl"] = json!(receiver.url);
    create["body"] = json!(body.to_string());
    let (status, _, created) = http_answer(api_jobs.invoke(create).await.unwrap());
    assert_eq!(status, 202, "{created}");
    let id = created["job"]["id"].as_str().unwrap().to_owned();
    let sqs = aws_sdk_sqs::Client::new(&moto::sdk_config().await);
    let received = sqs.receive_message().queue_url(&resources.dispatch_queue_url).send().await.unwrap();
    worker.invoke(sqs_event(&received.messages.unwrap()[0])).await.unwrap();

    // The stream reports the job's change to the webhooks function: the first attempt fails.
    let batch = webhooks.invoke(stream_event(&resources, &id, "running").await).await.unwrap();
    assert_eq!(batch["batchItemFailures"], json!([]), "{batch}");
    assert_eq!(receiver.log().await.len(), 1);

    // The retry's wake-up is a delayed message (the schedule's 5 s). Fed to the function as the
    // SQS trigger does; one that arrives early is sent again for the rest of the wait.
    let started = std::time::Instant::now();
    while receiver.log().await.len() < 2 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the retry never went out: {:?}",
            webhooks.json_lines()
        );
        let wakeup = sqs
            .receive_message()
            .queue_url(resources.webhook_queue_url.as_ref().unwrap())
            .wait_time_seconds(2)
            .send()
            .await
            .unwrap();
        let messages = wakeup.messages.unwrap_or_default();
        for message in messages {
            let body: Value = serde_json::from_str(message.body().unwrap()).unwrap();
            assert_eq!(
                (body["jobId"].as_str(), body["event"].as_str()),
                (Some(id.as_str()), Some("generation.succeeded"))
            );
            let batch = webhooks.invoke(sqs_event(&message)).await.unwrap();
            assert_eq!(batch["batchItemFailures"], json!([]), "{batch}");
            let receipt = message.receipt_handle().unwrap();
            let queue = resources.webhook_queue_url.as_ref().unwrap();
            sqs.delete_message().queue_url(queue).receipt_handle(receipt).send().await.unwrap();
        }
    }
    assert!(started.elapsed() >= std::time::Duration::from_secs(3), "not sent before its time");

    let log = receiver.log().await;
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log.iter().all(|r| r["standard"] == true && r["zhinian"] == true), "signed on the AWS path too");
    assert_eq!(log[1]["body"]["job"]["status"], "succeeded");
    let list = event("api-jobs/list-webhook-deliveries.json", &[(SAMPLE_JOB, &id)]);
    let (status, _, deliveries) = http_answer(api_jobs.invoke(list).await.unwrap());
    assert_eq!(status, 200);
    let delivery = &deliveries["deliveries"][0];
    assert_eq!(delivery["status"], "delivered", "{deliveries}");
    assert_eq!(delivery["attempts"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_surfaces_run_as_their_function_binaries_on_moto() {
    let resources = moto::resources().await;
    let env = function_env(&resources);
    for (binary, file, id_field) in [
        ("genrelay-api-ps-tasks", "api-ps-tasks/submit-task.json", "/data/task_id"),
        ("genrelay-api-jimeng-async", "api-jimeng-async/image-generations.json", "/history_id"),
        ("genrelay-api-inference", "api-inference/submit-inference.json", "/task_id"),
    ] {
        let function = LambdaFunction::start(&workspace_binary(binary), &env).await;
        let (status, _, body) = http_answer(function.invoke(event(file, &[])).await.unwrap());
        assert_eq!(status, 200, "{binary}: {body}");
        let id = body.pointer(id_field).and_then(Value::as_str).unwrap_or_else(|| panic!("{binary}: {body}"));
        assert!(id.starts_with("job_"), "{binary}: {body}");
    }
    // All three are ordinary jobs of the sample client, each marked with its surface.
    let api_jobs = LambdaFunction::start(&workspace_binary("genrelay-api-jobs"), &env).await;
    let (status, _, list) = http_answer(api_jobs.invoke(event("api-jobs/list-jobs.json", &[])).await.unwrap());
    assert_eq!(status, 200);
    let mut surfaces: Vec<&str> =
        list["jobs"].as_array().unwrap().iter().map(|j| j["source"]["surface"].as_str().unwrap()).collect();
    surfaces.sort();
    assert_eq!(surfaces, ["inference", "jimeng-async", "ps-tasks"]);
}

/// The back office's secrets are read from SSM in one request; one that does not exist stops
/// the function at init, naming the variable that names it, never showing the other's value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_back_office_function_names_a_secret_parameter_that_does_not_exist() {
    let resources = moto::resources().await;
    let ssm = aws_sdk_ssm::Client::new(&moto::sdk_config().await);
    let session_key = format!("/{}/session-key", resources.table);
    use base64::Engine as _;
    let key_text = base64::engine::general_purpose::STANDARD.encode([42u8; 64]);
    let put = ssm.put_parameter().name(&session_key).value(&key_text);
    put.r#type(aws_sdk_ssm::types::ParameterType::SecureString).send().await.unwrap();
    let missing = format!("/{}/no-such-password", resources.table);
    let mut env = function_env(&resources);
    env.extend([
        ("GENRELAY_SESSION_KEY_PARAMETER", session_key),
        ("GENRELAY_ADMIN_PASSWORD_PARAMETER", missing.clone()),
    ]);
    let vars: Vec<(&str, &str)> = env.iter().map(|(name, value)| (*name, value.as_str())).collect();
    let (started, output) = genrelay_tests::run_with_env(&workspace_binary("genrelay-admin"), &vars);
    assert!(!started, "{output}");
    assert!(output.contains("GENRELAY_ADMIN_PASSWORD_PARAMETER") && output.contains(&missing), "{output}");
    assert!(!output.contains(&key_text), "{output}");
}

/// The back office's function as the template wires it: its session key and first admin's
/// password from SSM SecureStrings, users and jobs in the table, fed the sample events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_back_office_function_signs_in_from_ssm_and_lists_every_clients_jobs_on_moto() {
    let resources = moto::resources().await;
    let ssm = aws_sdk_ssm::Client::new(&moto::sdk_config().await);
    let session_key = format!("/{}/session-key", resources.table);
    let admin_password = format!("/{}/admin-password", resources.table);
    use base64::Engine as _;
    let key_text = base64::engine::general_purpose::STANDARD.encode([42u8; 64]);
    for (name, value) in [(&session_key, key_text.as_str()), (&admin_password, "sample-admin-password")] {
        ssm.put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .unwrap();
    }
    let env = function_env(&resources);
    let api_jobs = LambdaFunction::start(&workspace_binary("genrelay-api-jobs"), &env).await;
    let mut admin_env = env.clone();
    admin_env.extend([
        ("GENRELAY_SESSION_KEY_PARAMETER", session_key),
        ("GENRELAY_ADMIN_USER", "admin".to_owned()),
        ("GENRELAY_ADMIN_PASSWORD_PARAMETER", admin_password),
        ("GENRELAY_CHANNEL_SECRETS_PATH", format!("/{}/channels", resources.table)),
    ]);
    let admin = LambdaFunction::start(&workspace_binary("genrelay-admin"), &admin_env).await;
    let (status, _, created) = http_answer(api_jobs.invoke(event("api-jobs/create-job.json", &[])).await.unwrap());
    assert_eq!(status, 202, "{created}");
    let id = created["job"]["id"].as_str().unwrap().to_owned();

    let (status, headers, _) = http_answer(admin.invoke(event("admin/console.json", &[])).await.unwrap());
    assert_eq!((status, headers["location"].as_str()), (303, Some("/admin/ai/tasks")));
    let (status, _, refused) = http_answer(admin.invoke(event("admin/list-tasks.json", &[])).await.unwrap());
    assert_eq!((status, refused), (401, json!({"status": "error", "message": "未登录"})));

    let answer = admin.invoke(event("admin/login.json", &[])).await.unwrap();
    let cookie = answer["cookies"]
        .as_array()
        .and_then(|cookies| cookies.iter().filter_map(Value::as_str).find(|c| c.starts_with("session=")))
        .unwrap_or_else(|| panic!("a session cookie: {answer}"))
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (status, _, signed_in) = http_answer(answer);
    assert_eq!((status, signed_in["data"]["role"].as_str()), (200, Some("admin")), "{signed_in}");

    // Seed 000's example: processing tasks (none yet), then every task.
    let with_session = [("session=SAMPLE_SESSION", cookie.as_str())];
    let (status, _, processing) =
        http_answer(admin.invoke(event("admin/list-tasks.json", &with_session)).await.unwrap());
    assert_eq!(status, 200, "{processing}");
    assert_eq!(processing["data"]["tasks"], json!([]));
    let every = [("session=SAMPLE_SESSION", cookie.as_str()), ("status=processing", ""), ("\"processing\"", "\"\"")];
    let (status, _, listed) = http_answer(admin.invoke(event("admin/list-tasks.json", &every)).await.unwrap());
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["data"]["tasks"][0]["task_id"], id.as_str(), "{listed}");
    assert_eq!(listed["data"]["tasks"][0]["status_text"], "待处理");
    let detail = [("session=SAMPLE_SESSION", cookie.as_str()), (SAMPLE_JOB, id.as_str())];
    let (status, _, task) = http_answer(admin.invoke(event("admin/get-task.json", &detail)).await.unwrap());
    assert_eq!((status, task["data"]["client_id"].as_str()), (200, Some("sample")), "{task}");

    // An admin adds a channel: its key becomes an SSM SecureString under the channel path, the
    // table keeps only the reference, answers show it masked, and its connection test reaches
    // the upstream with it.
    let fake = FakeRunningHub::start().await;
    let channel = [("session=SAMPLE_SESSION", cookie.as_str()), ("https://www.runninghub.cn", fake.base_url.as_str())];
    let (status, _, added) = http_answer(admin.invoke(event("admin/add-channel.json", &channel)).await.unwrap());
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["data"]["settings"]["apiKey"], "••••••••");
    assert!(!added.to_string().contains(fake_runninghub::API_KEY));
    let parameter = format!("/{}/channels/rh-main/apiKey", resources.table);
    let stored = ssm.get_parameter().name(&parameter).with_decryption(true).send().await.unwrap().parameter.unwrap();
    assert_eq!(stored.r#type, Some(aws_sdk_ssm::types::ParameterType::SecureString));
    assert_eq!(stored.value.as_deref(), Some(fake_runninghub::API_KEY));
    let table =
        genrelay_aws::DynamoStore::new(aws_sdk_dynamodb::Client::new(&moto::sdk_config().await), &resources.table);
    let document = table.providers_document().await.unwrap().unwrap().to_string();
    assert!(document.contains(&parameter) && !document.contains(fake_runninghub::API_KEY), "{document}");
    let (status, _, tested) = http_answer(admin.invoke(event("admin/test-channel.json", &with_session)).await.unwrap());
    assert_eq!((status, tested["data"]["ok"].clone()), (200, json!(true)), "{tested}");
    let (_, _, listed) = http_answer(admin.invoke(event("admin/list-channels.json", &with_session)).await.unwrap());
    assert_eq!(listed["data"][0]["name"], "rh-main", "in force on this instance at once: {listed}");

    // Seed 000's Meitu config example: the secret becomes an SSM SecureString too.
    let (status, _, saved) =
        http_answer(admin.invoke(event("admin/save-meitu-config.json", &with_session)).await.unwrap());
    assert_eq!((status, saved["message"].as_str()), (200, Some("配置保存成功")), "{saved}");
    assert_eq!(saved["data"]["api_secret"], "••••••••");
    let parameter = format!("/{}/channels/meitu-yunxiu/apiSecret", resources.table);
    let stored = ssm.get_parameter().name(&parameter).with_decryption(true).send().await.unwrap().parameter.unwrap();
    assert_eq!(stored.value.as_deref(), Some("your_secret"));
}

/// Meitu's retouch before the workflow on the function binaries: the channels and their
/// SecureStrings as `genrelay-channels` stores them, the style catalog in the table; the job is
/// created in a style, retouched on the Yunxiu fake by the worker, handed on to the EvoLink fake
/// by the poller with the retouch (stored in S3) as its input, and generated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_original_is_retouched_then_generated_through_the_function_binaries_on_moto() {
    use genrelay_core::ports::ConfigDocuments;
    use genrelay_core::styles::{STYLE_CATALOG_DOCUMENT, StyleCatalog};
    use genrelay_tests::fake_evolink::{self, FakeEvoLink};
    use genrelay_tests::fake_yunxiu::{self, FakeYunxiu};

    let (yunxiu, evolink) = (FakeYunxiu::start().await, FakeEvoLink::start().await);
    let resources = moto::resources().await;
    let env = function_env(&resources);
    let config = moto::sdk_config().await;
    let ssm = aws_sdk_ssm::Client::new(&config);
    let secrets = [
        ("yunxiu-key", fake_yunxiu::API_KEY),
        ("yunxiu-secret", fake_yunxiu::API_SECRET),
        ("evolink-key", fake_evolink::API_KEY),
    ];
    for (name, value) in secrets {
        let parameter = ssm.put_parameter().name(format!("/{}/{name}", resources.table)).value(value);
        parameter.r#type(aws_sdk_ssm::types::ParameterType::SecureString).send().await.unwrap();
    }
    let secret = |name: &str| json!({"ssmParameter": format!("/{}/{name}", resources.table)});
    let channels = json!({"channels": [
        {"name": "meitu-yunxiu", "type": "yunxiu", "baseUrl": yunxiu.base_url, "apiKey": secret("yunxiu-key"),
         "apiSecret": secret("yunxiu-secret"), "enableInWorkflow": true, "firstPollMs": 0, "pollIntervalMs": 0},
        {"name": "evolink", "type": "evolink", "baseUrl": evolink.base_url, "apiKey": secret("evolink-key"),
         "models": {"image.edit": "gpt-image-1"}, "pollIntervalMs": 0},
    ]});
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.json");
    std::fs::write(&file, channels.to_string()).unwrap();
    let stored = channels_tool(&env, &["put", file.to_str().unwrap()]);
    assert!(stored.status.success(), "{}", String::from_utf8_lossy(&stored.stderr));
    let mut catalog = StyleCatalog::default();
    let portrait = catalog
        .add_category(
            serde_json::from_value(json!({"name": "人像", "code": "portrait", "capability": "image.edit",
                                                    "prompt": "studio portrait"}))
            .unwrap(),
        )
        .unwrap();
    let film = catalog
        .add_image(serde_json::from_value(json!({"category_id": portrait.id, "name": "胶片", "code": "film"})).unwrap())
        .unwrap();
    catalog
        .add_preset(serde_json::from_value(json!({"preset_id": "MT-FILM", "style_image_id": film.id})).unwrap())
        .unwrap();
    let table = genrelay_aws::DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), &resources.table);
    assert!(table.replace_document(STYLE_CATALOG_DOCUMENT, None, &catalog.to_document()).await.unwrap());

    let api_jobs = LambdaFunction::start(&workspace_binary("genrelay-api-jobs"), &env).await;
    let worker = LambdaFunction::start(&workspace_binary("genrelay-worker"), &env).await;
    let poller = LambdaFunction::start(&workspace_binary("genrelay-poller"), &env).await;
    let original = "https://example.com/customers/original.jpg";
    let mut create = event("api-jobs/create-job.json", &[]);
    create["body"] = json!(json!({"style": "film", "imageType": "original", "imageUrls": [original]}).to_string());
    let (status, _, created) = http_answer(api_jobs.invoke(create).await.unwrap());
    assert_eq!(status, 202, "{created}");
    assert_eq!(
        (created["job"]["capability"].clone(), created["job"]["prompt"].clone()),
        (json!("image.edit"), json!("studio portrait"))
    );
    let id = created["job"]["id"].as_str().unwrap().to_owned();
    let sqs = aws_sdk_sqs::Client::new(&config);
    let received = sqs.receive_message().queue_url(&resources.dispatch_queue_url).send().await.unwrap();
    let message = &received.messages.unwrap_or_default()[0];
    assert_eq!(worker.invoke(sqs_event(message)).await.unwrap()["batchItemFailures"], json!([]));
    // Meitu: running, then retouched and handed to EvoLink; EvoLink: processing, then done.
    for _ in 0..5 {
        poller.invoke(json!({"source": "aws.events", "detail-type": "Scheduled Event"})).await.unwrap();
    }
    let (_, _, read) =
        http_answer(api_jobs.invoke(event("api-jobs/get-job.json", &[(SAMPLE_JOB, &id)])).await.unwrap());
    let job = &read["job"];
    assert_eq!(job["status"], "succeeded", "{read}");
    let channels: Vec<&str> =
        job["attempts"].as_array().unwrap().iter().map(|a| a["channel"].as_str().unwrap()).collect();
    assert_eq!(channels, ["meitu-yunxiu", "evolink"]);
    assert_eq!((job["imageType"].clone(), job["style"].clone()), (json!("retouched"), json!("film")));
    assert!(job["retouchedAssetId"].is_string(), "{job}");
    let requests = evolink.requests();
    let sent = requests[0]["image_urls"][0].as_str().unwrap();
    let retouch = reqwest::get(sent).await.unwrap().bytes().await.unwrap();
    assert_eq!(png_size(&retouch), (40, 56), "EvoLink got Meitu's retouch, from S3");
}

/// Creates seed 004's sample job through the api-jobs function, with `idempotency_key` in place
/// of the sample's; returns its id.
async fn create_sample_job(api_jobs: &LambdaFunction, idempotency_key: &str) -> String {
    let sample = event("api-jobs/create-job.json", &[("demo-job-001", idempotency_key)]);
    let (status, _, created) = http_answer(api_jobs.invoke(sample).await.unwrap());
    assert_eq!(status, 202, "{created}");
    created["job"]["id"].as_str().unwrap().to_owned()
}

/// A job, read through the api-jobs function.
async fn job_of(api_jobs: &LambdaFunction, id: &str) -> Value {
    let (_, _, read) = http_answer(api_jobs.invoke(event("api-jobs/get-job.json", &[(SAMPLE_JOB, id)])).await.unwrap());
    read["job"].clone()
}

/// Waits (a few seconds at most) until `done` holds.
async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{what} never happened");
}

/// Invokes `function` with `event`, and kills it with SIGKILL once `stuck` holds (it is then
/// mid-invocation), as Lambda's timeout or a crash of its host does.
async fn kill_mid_invocation(function: LambdaFunction, event: Value, stuck: impl Fn() -> bool) {
    {
        let invocation = function.invoke(event);
        tokio::pin!(invocation);
        tokio::select! {
            answer = &mut invocation => panic!("answered before it was killed: {answer:?}"),
            () = until("the call that hangs", stuck) => {}
        }
    }
    drop(function); // SIGKILL
}

/// A worker killed while the upstream holds its submission, and a poller killed while the
/// upstream holds its poll: their events come again (the message after its visibility timeout,
/// the schedule's next tick) to new instances, and once the killed step's hold on the job has
/// lapsed (`GENRELAY_STEP_LEASE_SECONDS`, 10 s here; no tick takes a job over before), both jobs end: the first failed as of
/// unknown outcome and never sent again, the second succeeded with the one prompt it had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_killed_mid_invocation_leave_jobs_that_end() {
    use genrelay_tests::fake_comfyui::FakeComfyUi;
    use genrelay_tests::faulty_proxy::{Fault, FaultyProxy};
    let fake = FakeComfyUi::start().await;
    let proxy = FaultyProxy::start(&fake.base_url).await;
    let resources = moto::resources().await;
    let mut env = function_env(&resources);
    let lease = std::time::Duration::from_secs(10);
    env.push(("GENRELAY_STEP_LEASE_SECONDS", lease.as_secs().to_string()));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.json");
    let graph = json!({
        "5": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "gw", "images": ["5", 0]}}
    });
    let channels = json!({"channels": [{"name": "comfy", "type": "comfyui", "baseUrl": proxy.base_url,
        "firstPollMs": 0, "pollIntervalMs": 0,
        "workflows": {"image.generate": {"graph": graph, "slots": {"width": ["5", "width"], "height": ["5", "height"]}}}}]});
    std::fs::write(&file, channels.to_string()).unwrap();
    let stored = channels_tool(&env, &["put", file.to_str().unwrap()]);
    assert!(stored.status.success(), "{}", String::from_utf8_lossy(&stored.stderr));

    let api_jobs = LambdaFunction::start(&workspace_binary("genrelay-api-jobs"), &env).await;
    let sqs = aws_sdk_sqs::Client::new(&moto::sdk_config().await);
    let receive = |visibility: i32| {
        sqs.receive_message().queue_url(&resources.dispatch_queue_url).visibility_timeout(visibility).send()
    };
    let sweep = json!({"source": "aws.events", "detail-type": "Scheduled Event"});

    // A worker killed during the submission; its message comes back to another instance.
    let first = create_sample_job(&api_jobs, "first").await;
    let message = receive(1).await.unwrap().messages.unwrap_or_default().remove(0);
    proxy.break_next("/prompt", Fault::Stall, 1);
    let worker = LambdaFunction::start(&workspace_binary("genrelay-worker"), &env).await;
    let claimed = std::time::Instant::now();
    kill_mid_invocation(worker, sqs_event(&message), || proxy.broken().len() == 1).await;
    let mut again = Vec::new();
    for _ in 0..50 {
        again = receive(30).await.unwrap().messages.unwrap_or_default();
        if !again.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(again.len(), 1, "the message comes back after its visibility timeout");
    let worker = LambdaFunction::start(&workspace_binary("genrelay-worker"), &env).await;
    assert_eq!(worker.invoke(sqs_event(&again[0])).await.unwrap()["batchItemFailures"], json!([]));
    assert_eq!(job_of(&api_jobs, &first).await["status"], "running", "held by the killed step");

    // A poller killed during a poll of the second job's prompt.
    let second = create_sample_job(&api_jobs, "second").await;
    let message = receive(30).await.unwrap().messages.unwrap_or_default().remove(0);
    assert_eq!(worker.invoke(sqs_event(&message)).await.unwrap()["batchItemFailures"], json!([]));
    assert_eq!(fake.prompts_queued(), 1, "the second job's prompt is queued");
    proxy.break_next("/api/jobs/", Fault::Stall, 1);
    let poller = LambdaFunction::start(&workspace_binary("genrelay-poller"), &env).await;
    kill_mid_invocation(poller, sweep.clone(), || proxy.broken().len() == 2).await;
    let polled = std::time::Instant::now();

    // While the killed steps hold them, a tick leaves both jobs alone.
    let poller = LambdaFunction::start(&workspace_binary("genrelay-poller"), &env).await;
    poller.invoke(sweep.clone()).await.unwrap();
    assert!(claimed.elapsed() < lease, "the check ran within the first hold");
    assert_eq!(job_of(&api_jobs, &first).await["status"], "running", "held by the killed worker");
    assert_eq!(proxy.calls_to("/api/jobs/"), 1, "held by the killed poller: its poll is the only one");

    // The holds lapse; the next ticks end both jobs.
    tokio::time::sleep((polled + lease + std::time::Duration::from_millis(500)) - std::time::Instant::now()).await;
    for _ in 0..6 {
        poller.invoke(sweep.clone()).await.unwrap();
    }
    let job = job_of(&api_jobs, &first).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("outcome unknown"), "{job}");
    let job = job_of(&api_jobs, &second).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(fake.prompts_queued(), 1, "nothing was sent twice");
    assert!(fake.unfinished().is_empty(), "no prompt left running");
}
