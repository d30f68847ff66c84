//! `infra/template.yaml` against the code: every route of the OpenAPI document is routed to a
//! function that exists as a package and has sample events; the table, the environment and the
//! functions are the ones the code expects.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_norway::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn template() -> Value {
    let text = std::fs::read_to_string(root().join("infra/template.yaml")).unwrap();
    serde_norway::from_str(&text).unwrap()
}

fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, resource)| resource["Type"].as_str() == Some(kind))
        .map(|(name, resource)| (name.as_str().unwrap(), resource))
        .collect()
}

/// The functions that serve routes outside the open API's document: the back office, and /docs.
const BACK_OFFICE: &str = "genrelay-admin";
const DOCS: &str = "genrelay-api-docs";

/// Function packages under `functions/`: package name → folder name.
fn function_packages() -> BTreeMap<String, String> {
    let mut packages = BTreeMap::new();
    let folders = std::fs::read_dir(root().join("functions")).unwrap().flatten().filter(|e| e.path().is_dir());
    for entry in folders {
        let manifest = std::fs::read_to_string(entry.path().join("Cargo.toml")).unwrap();
        let name = manifest.lines().find_map(|l| l.strip_prefix("name = \"")).unwrap().trim_end_matches('"');
        packages.insert(name.to_owned(), entry.file_name().to_string_lossy().into_owned());
    }
    packages
}

/// `routeKey`s of the sample events in `events/<folder>/`.
fn sample_route_keys(folder: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("events").join(folder)).into_iter().flatten().flatten() {
        let event: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(entry.path()).unwrap()).unwrap();
        if let Some(key) = event["routeKey"].as_str() {
            keys.insert(key.to_owned());
        }
    }
    keys
}

/// Every `METHOD /path` routed by the template's HTTP API, and the binary that serves it.
fn template_routes(template: &Value) -> BTreeMap<String, String> {
    let mut routes = BTreeMap::new();
    for (name, function) in resources_of_type(template, "AWS::Serverless::Function") {
        let binary = function["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap_or_else(|| panic!("{name}"));
        for event in function["Properties"]["Events"].as_mapping().into_iter().flatten().map(|(_, e)| e) {
            if event["Type"].as_str() == Some("HttpApi") {
                let properties = &event["Properties"];
                let route =
                    format!("{} {}", properties["Method"].as_str().unwrap(), properties["Path"].as_str().unwrap());
                assert!(routes.insert(route.clone(), binary.to_owned()).is_none(), "{route} routed twice");
            }
        }
    }
    routes
}

#[test]
fn every_openapi_route_is_routed_to_a_function_package_with_sample_events() {
    let document = serde_json::to_value(genrelay_http::openapi()).unwrap();
    let mut documented = BTreeSet::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let template = template();
    let routed = template_routes(&template);
    let routes_of = |function: &str| -> BTreeSet<&str> {
        routed.iter().filter(|(_, binary)| *binary == function).map(|(route, _)| route.as_str()).collect()
    };
    let api_routes: BTreeSet<String> = routed
        .iter()
        .filter(|(_, binary)| ![BACK_OFFICE, DOCS].contains(&binary.as_str()))
        .map(|(route, _)| route.clone())
        .collect();
    assert_eq!(documented, api_routes, "the template routes exactly the documented routes");
    assert_eq!(
        routes_of(BACK_OFFICE),
        BTreeSet::from(["ANY /admin", "ANY /admin/{proxy+}"]),
        "the back office's function serves everything under /admin"
    );
    assert_eq!(
        routes_of(DOCS),
        BTreeSet::from(["GET /docs", "GET /docs/{proxy+}"]),
        "the docs function serves everything under /docs"
    );
    let packages = function_packages();
    for (route, binary) in &routed {
        let folder = packages.get(binary).unwrap_or_else(|| panic!("{route}: no package named {binary}"));
        assert!(sample_route_keys(folder).contains(route), "{route}: no sample event under events/{folder}/");
    }
}

#[test]
fn every_function_package_but_the_dev_server_is_in_the_template() {
    let template = template();
    let built: BTreeSet<&str> = resources_of_type(&template, "AWS::Serverless::Function")
        .iter()
        .map(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap())
        .collect();
    for (package, _) in function_packages() {
        if package != "genrelay-dev" {
            assert!(built.contains(package.as_str()), "{package} is not deployed by the template");
        }
    }
    for (name, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        assert_eq!(function["Metadata"]["BuildMethod"], "rust-cargolambda", "{name}");
    }
}

#[test]
fn the_table_has_the_indexes_the_queries_use() {
    let template = template();
    let (_, table) = resources_of_type(&template, "AWS::DynamoDB::Table")[0];
    let mut declared = BTreeMap::new();
    for index in table["Properties"]["GlobalSecondaryIndexes"].as_sequence().unwrap() {
        let keys: Vec<(String, String)> = index["KeySchema"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|k| (k["AttributeName"].as_str().unwrap().to_owned(), k["KeyType"].as_str().unwrap().to_owned()))
            .collect();
        declared.insert(index["IndexName"].as_str().unwrap().to_owned(), keys);
        assert_eq!(index["Projection"]["ProjectionType"], "ALL");
    }
    let expected: BTreeMap<String, Vec<(String, String)>> = genrelay_aws::schema::INDEXES
        .iter()
        .map(|i| (i.name.to_owned(), vec![(i.pk.to_owned(), "HASH".to_owned()), (i.sk.to_owned(), "RANGE".to_owned())]))
        .collect();
    assert_eq!(declared, expected);
    let properties = &table["Properties"];
    assert_eq!(properties["TimeToLiveSpecification"]["AttributeName"], "expiresAt");
    assert_eq!(properties["StreamSpecification"]["StreamViewType"], "NEW_AND_OLD_IMAGES");
    assert_eq!(properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true);
}

#[test]
fn functions_get_the_environment_the_code_reads() {
    let template = template();
    let variables = &template["Globals"]["Function"]["Environment"]["Variables"];
    for name in genrelay_bootstrap::AWS_VARS.iter().chain([&genrelay_bootstrap::API_KEYS_PARAMETER_VAR]) {
        assert!(!variables[*name].is_null(), "{name} is not set for the functions");
    }
    assert!(variables[genrelay_bootstrap::API_KEYS_VAR].is_null(), "keys never travel in the template");
}

/// A step holds its job longer than any function running steps may run, so a step is never
/// taken over while it still runs.
#[test]
fn a_steps_hold_on_a_job_outlasts_the_functions_that_run_steps() {
    let template = template();
    let variables = &template["Globals"]["Function"]["Environment"]["Variables"];
    let lease = variables[genrelay_bootstrap::STEP_LEASE_VAR].as_u64().expect("the step lease is set");
    for binary in ["genrelay-worker", "genrelay-poller"] {
        let (_, function) = resources_of_type(&template, "AWS::Serverless::Function")
            .into_iter()
            .find(|(_, function)| properties_binary(function) == binary)
            .unwrap();
        let timeout = function["Properties"]["Timeout"].as_u64().unwrap();
        assert!(lease > timeout, "{binary} may run {timeout} s, longer than a step's hold ({lease} s)");
    }
}

#[test]
fn the_webhooks_function_reads_the_tables_stream_and_the_retry_queue() {
    let template = template();
    let mappings = resources_of_type(&template, "AWS::Lambda::EventSourceMapping");
    let source_of = |mapping: &Value| serde_norway::to_string(&mapping["Properties"]["EventSourceArn"]).unwrap();
    let to_webhooks: Vec<&Value> = mappings
        .iter()
        .map(|(_, m)| *m)
        .filter(|m| serde_norway::to_string(&m["Properties"]["FunctionName"]).unwrap().contains("GenrelayWebhooks"))
        .collect();
    let stream = to_webhooks.iter().find(|m| source_of(m).contains("StreamArn")).expect("a stream trigger");
    assert_eq!(stream["Properties"]["FunctionResponseTypes"][0], "ReportBatchItemFailures");
    let pattern = stream["Properties"]["FilterCriteria"]["Filters"][0]["Pattern"].as_str().unwrap();
    let pattern: serde_json::Value = serde_json::from_str(pattern).unwrap();
    assert_eq!(pattern, serde_json::json!({"dynamodb": {"NewImage": {"sk": {"S": ["JOB"]}}}}), "job items only");
    let queue = to_webhooks.iter().find(|m| source_of(m).contains("WebhookQueue")).expect("a retry-queue trigger");
    assert_eq!(queue["Properties"]["FunctionResponseTypes"][0], "ReportBatchItemFailures");
    let variables = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert!(!variables[genrelay_bootstrap::WEBHOOK_QUEUE_VAR].is_null());
}

#[test]
fn functions_read_only_the_secrets_their_role_may_read() {
    let template = template();
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert!(globals[genrelay_bootstrap::WEBHOOK_SECRET_PARAMETER_VAR].is_null(), "not every function sends webhooks");
    for (name, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        let properties = &function["Properties"];
        let policies = serde_norway::to_string(&properties["Policies"]).unwrap();
        let reads_webhook_secret =
            !properties["Environment"]["Variables"][genrelay_bootstrap::WEBHOOK_SECRET_PARAMETER_VAR].is_null();
        assert_eq!(reads_webhook_secret, policies.contains("WebhookSecretParameterName"), "{name}");
        // The functions that use the channels read their credentials at init; no other may.
        let binary = properties_binary(function);
        let main = std::fs::read_to_string(format!(
            "{}/../functions/{}/src/main.rs",
            env!("CARGO_MANIFEST_DIR"),
            binary.trim_start_matches("genrelay-")
        ))
        .unwrap();
        let uses_channels = main.contains("Channels::Used") || main.contains("run_admin_function");
        assert_eq!(policies.contains("ChannelSecretsPath"), uses_channels, "{name}");
        // Only the back office writes them, under that path, where it is told to.
        let writes = policies.contains("ssm:PutParameter");
        assert_eq!(writes, name == "GenrelayAdmin", "{name}");
        assert_eq!(writes, policies.contains("ssm:DeleteParameter"), "{name}");
        let path = &properties["Environment"]["Variables"][genrelay_bootstrap::CHANNEL_SECRETS_PATH_VAR];
        assert_eq!(writes, !path.is_null(), "{name}");
    }
}

/// The binary a function of the template runs (its cargo-lambda build property).
fn properties_binary(function: &Value) -> String {
    function["Metadata"]["BuildProperties"]["Binary"].as_str().expect("every function names its binary").to_owned()
}
