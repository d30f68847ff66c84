//! `moto_server` on a free loopback port, started once per test run and stopped when the test
//! process ends, and AWS SDK configuration pointing at it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;

/// The environment that points an AWS SDK (in a function binary) at the emulator.
pub fn sdk_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", moto().endpoint.clone()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
    ]
}

/// Runs moto's server in one thread, and stops it when this test process closes the guard's
/// stdin (that is, when the process ends, however it ends). One thread applies each request
/// whole, as DynamoDB applies a transaction atomically; moto's own threaded server does not.
const GUARD: &str = "import os, sys, threading
os.environ.setdefault('MOTO_PORT', sys.argv[1])
from werkzeug.serving import run_simple
from moto import server
def watch():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
app = server.DomainDispatcherApplication(server.create_backend_app)
run_simple('127.0.0.1', int(sys.argv[1]), app, threaded=False, use_reloader=False,
           request_handler=server.MotoRequestHandler)";

pub struct Moto {
    pub endpoint: String,
    _guard: Child,
}

/// The shared emulator, started on first use.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(start)
}

fn moto_server_path() -> PathBuf {
    crate::python_tool("moto_server", "moto[server]")
}

/// The Python the test tools were installed for (it has moto): the interpreter named by
/// `moto_server`'s first line.
pub fn python() -> String {
    let script = std::fs::read_to_string(moto_server_path()).unwrap_or_default();
    script
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("#!"))
        .map(|interpreter| interpreter.trim().to_owned())
        .filter(|interpreter| !interpreter.contains(' '))
        .unwrap_or_else(|| "python3".to_owned())
}

fn start() -> Moto {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let guard = Command::new(python())
        .args(["-c", GUARD])
        .arg(port.to_string())
        // Objects and parts kept in memory up to 2 GiB (moto's default spills any over 5 MiB to
        // a temporary file): on this disk, the spilling set the pace of the benchmark's S3
        // ingest, 8 MiB parts taking 36 or 55 ms from one build of the same code to the next.
        .env("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE", (2u64 << 30).to_string())
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 starts the moto guard");
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Moto { endpoint, _guard: guard }
}

/// What the template gives every function to find its resources, pointed at the emulator.
pub fn resources_env(resources: &genrelay_aws::AwsResources) -> Vec<(&'static str, String)> {
    let mut env = sdk_env();
    env.extend([
        ("GENRELAY_TABLE", resources.table.clone()),
        ("GENRELAY_BUCKET", resources.bucket.clone()),
        ("GENRELAY_DISPATCH_QUEUE_URL", resources.dispatch_queue_url.clone()),
        ("GENRELAY_PRIORITY_QUEUE_URL", resources.priority_queue_url.clone()),
    ]);
    env
}

/// SDK configuration for the emulator: dummy credentials, a fixed region.
pub async fn sdk_config() -> aws_config::SdkConfig {
    sdk_config_of(&moto().endpoint).load().await
}

/// The SDK configuration of an AWS stand-in at `endpoint`, still to be loaded: dummy
/// credentials, a fixed region.
pub fn sdk_config_of(endpoint: &str) -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(genrelay_aws::https_client())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
}

/// A fresh table, bucket and queues for one test.
pub async fn resources() -> genrelay_aws::AwsResources {
    let prefix = format!("t{}", ulid::Ulid::new().to_string().to_lowercase());
    genrelay_aws::schema::provision(&sdk_config().await, &prefix).await.unwrap()
}
