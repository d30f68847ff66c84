//! Dev-server throughput: `genrelay-dev` against a FastAPI + SQLite (WAL) peer
//! (bench/peers/fastapi_inference.py) on seed 003's create (`POST /api/inference?index=1`) and
//! status (`GET /api/task/{id}/status`), each loaded by wrk (bench/wrk/seed003.lua) with 64
//! connections for 30 s, in the same run; every non-2xx answer and socket error is counted.
//! The peer runs as uvicorn runs an app by default, in one process (Python runs one thread at
//! a time in it); the same peer with a worker process per core is measured beside it for
//! reference.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use genrelay_tests::moto;
use serde_json::Value;

use crate::report::{Bound, Figure};

const SECTION: &str = "dev-server throughput (seed 003, wrk, 64 connections)";
const CONNECTIONS: u32 = 64;
const CREATE_BUDGET: f64 = 5.0;
const STATUS_BUDGET: f64 = 10.0;
/// Tasks created before the status run, which reads them at random.
const READ_SET: usize = 1000;
const CLIENT_KEY: &str = "bench-key-0123456789abcdef";

/// A server under load, stopped when dropped.
struct Server {
    child: Child,
    url: String,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("a free port").port()
}

/// genrelay-dev as the README runs it, with the bench's key and no pending-queue limit (the
/// load creates far more tasks than the mock finishes; the peer has none either). The mock
/// provider holds each task for ten minutes, as a slow upstream does: genrelay-dev accepts,
/// stores, dispatches and serves the tasks under load, but renders no outputs meanwhile (the
/// peer does none of that work). It logs as the peer is run: warnings only, no line per request
/// (uvicorn's `--no-access-log --log-level warning`).
fn start_genrelay(binaries: &Path) -> Server {
    let data = tempfile::tempdir().expect("a data folder");
    let port = free_port();
    let child = Command::new(binaries.join("genrelay-dev"))
        .args(["--addr", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data.path())
        .env("ZHINIAN_API_KEYS", format!("bench:{CLIENT_KEY}"))
        .env("GENRELAY_INFERENCE_QUEUE_LIMIT", u32::MAX.to_string())
        .env("GENRELAY_MOCK_LATENCY_MS", "600000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("genrelay-dev starts");
    Server { child, url: format!("http://127.0.0.1:{port}"), _data: data }
}

/// The peer under uvicorn with `workers` worker processes.
fn start_peer(workers: usize) -> Server {
    let data = tempfile::tempdir().expect("a data folder");
    let port = free_port();
    let child = Command::new(moto::python())
        .args(["-m", "uvicorn", "fastapi_inference:app", "--no-access-log", "--log-level", "warning"])
        .args(["--port", &port.to_string(), "--workers", &workers.to_string()])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("peers"))
        .env("BENCH_DB", data.path().join("tasks.db"))
        .env("BENCH_KEYS", format!("bench:{CLIENT_KEY}"))
        .env("BENCH_QUEUE_LIMIT", u32::MAX.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("uvicorn starts the peer");
    Server { child, url: format!("http://127.0.0.1:{port}"), _data: data }
}

/// Creates the read set once the server answers, and writes its ids a line each.
async fn prepare(server: &Server, http: &reqwest::Client) -> tempfile::NamedTempFile {
    let create = format!("{}/api/inference?index=1", server.url);
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.post(&create).bearer_auth(CLIENT_KEY).send().await.is_err() {
        assert!(Instant::now() < deadline, "{} did not start within 30 s", server.url);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut ids = String::new();
    for _ in 0..READ_SET {
        let answer: Value = http
            .post(&create)
            .bearer_auth(CLIENT_KEY)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("a create")
            .json()
            .await
            .expect("a JSON answer");
        ids.push_str(answer["task_id"].as_str().expect("a task id"));
        ids.push('\n');
    }
    let file = tempfile::NamedTempFile::new().expect("a file of ids");
    std::fs::write(file.path(), ids).expect("the ids are written");
    file
}

/// One wrk run's summary line.
struct Load {
    per_second: f64,
    errors: u64,
    p50_ms: f64,
    p99_ms: f64,
}

fn wrk(server: &Server, mode: &str, ids: &Path, seconds: u64) -> Load {
    let script: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("wrk/seed003.lua");
    let output = Command::new("wrk")
        .args(["-t2", &format!("-c{CONNECTIONS}"), &format!("-d{seconds}s"), "-s"])
        .arg(&script)
        .arg(&server.url)
        .env("BENCH_KEY", CLIENT_KEY)
        .env("BENCH_MODE", mode)
        .env("BENCH_IDS", ids)
        .output()
        .expect("wrk runs (bench/run.sh installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line: Value = stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("wrk printed no summary: {stdout}{}", String::from_utf8_lossy(&output.stderr)));
    let number = |name: &str| line[name].as_f64().expect("a number");
    Load {
        per_second: number("requests") / number("seconds"),
        errors: (number("non_2xx") + number("socket_errors")) as u64,
        p50_ms: number("p50_ms"),
        p99_ms: number("p99_ms"),
    }
}

/// Status first (on the read set alone), then creates, for each server.
async fn load(server: Server, seconds: u64) -> (Load, Load) {
    let http = genrelay_egress::http_client_builder().build().unwrap();
    let ids = prepare(&server, &http).await;
    let status = wrk(&server, "status", ids.path(), seconds);
    let create = wrk(&server, "create", ids.path(), seconds);
    (create, status)
}

pub async fn measure(binaries: &Path, seconds: u64) -> Vec<Figure> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (peer_create, peer_status) = load(start_peer(1), seconds).await;
    let (scaled_create, scaled_status) = load(start_peer(cores), seconds).await;
    let (create, status) = load(start_genrelay(binaries), seconds).await;
    let mut figures = Vec::new();
    for (name, ours, peer, scaled, budget) in [
        ("creates", create, peer_create, scaled_create, CREATE_BUDGET),
        ("status GETs", status, peer_status, scaled_status, STATUS_BUDGET),
    ] {
        let how = format!(
            "{seconds} s each: genrelay-dev {:.0}/s (p50 {:.1} ms, p99 {:.1} ms), the peer {:.0}/s (p50 {:.1} ms, \
             p99 {:.1} ms); with {cores} workers {:.0}/s ({:.1}×)",
            ours.per_second,
            ours.p50_ms,
            ours.p99_ms,
            peer.per_second,
            peer.p50_ms,
            peer.p99_ms,
            scaled.per_second,
            ours.per_second / scaled.per_second
        );
        figures.push(Figure {
            section: SECTION,
            name: format!("{name} ÷ FastAPI + SQLite peer's"),
            value: ours.per_second / peer.per_second,
            unit: "×",
            budget: Some((Bound::AtLeast, budget)),
            how,
        });
        figures.push(Figure {
            section: SECTION,
            name: format!("{name}: errors (non-2xx and socket)"),
            value: ours.errors as f64,
            unit: "",
            budget: Some((Bound::AtMost, 0.0)),
            how: format!("the peer's: {}", peer.errors),
        });
    }
    figures
}
