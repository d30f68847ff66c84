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

/// Runs moto_server and stops it when this test process closes the guard's stdin (that is,
/// when the process ends, however it ends).
const GUARD: &str = "import subprocess, sys
server = subprocess.Popen([sys.argv[1], '-H', '127.0.0.1', '-p', sys.argv[2]],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
sys.stdin.read()
server.terminate()
server.wait()";

pub struct Moto {
    pub endpoint: String,
    _guard: Child,
}

/// The shared emulator, started on first use.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(start)
}

/// `moto_server` on PATH (tests/run.sh puts its install there) or in the project's `.venv`.
fn moto_server_path() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::iter::once(venv)
        .chain(std::env::split_paths(&path))
        .map(|dir| dir.join("moto_server"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "moto_server was not found (in .venv/bin or on PATH); install it with \
                 `pip install \"moto[server]\"`, or run tests/run.sh, which does"
            )
        })
}

fn start() -> Moto {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let guard = Command::new("python3")
        .args(["-c", GUARD])
        .arg(moto_server_path())
        .arg(port.to_string())
        .stdin(Stdio::piped())
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

/// SDK configuration for the emulator: dummy credentials, a fixed region.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&moto().endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

/// A fresh table, bucket and queues for one test.
pub async fn resources() -> genrelay_aws::AwsResources {
    let prefix = format!("t{}", ulid::Ulid::new().to_string().to_lowercase());
    genrelay_aws::schema::provision(&sdk_config().await, &prefix).await.unwrap()
}
