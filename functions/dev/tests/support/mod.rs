// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

//! The `genrelay-dev` binary as the black-box tests drive it: started on a free port with its
//! own data folder, reached over real HTTP, stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const START_TIMEOUT: Duration = Duration::from_secs(30);
pub const JOB_TIMEOUT: Duration = Duration::from_secs(20);

pub struct DevServer {
    child: Child,
    pub base: String,
    pub key: String,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl DevServer {
    /// Starts the binary with no `ZHINIAN_API_KEYS`, so it makes (or reuses) its dev key, and
    /// reads the address and key it prints.
    pub fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[])
    }

    pub fn start_with(data_dir: &Path, extra_args: &[&str]) -> Self {
        Self::start_with_env(data_dir, extra_args, &[])
    }

    pub fn start_with_env(data_dir: &Path, extra_args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_genrelay-dev"))
            .args(["--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra_args)
            .envs(env.iter().copied())
            .env_remove("ZHINIAN_API_KEYS")
            .env("GENRELAY_MOCK_LATENCY_MS", "600")
            .env("GENRELAY_LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("genrelay-dev starts");
        let stdout = lines_of(child.stdout.take().unwrap());
        let stderr = lines_of(child.stderr.take().unwrap());
        let (mut base, mut key) = (None, None);
        let deadline = Instant::now() + START_TIMEOUT;
        while base.is_none() {
            let line = stdout.recv_timeout(deadline - Instant::now()).expect("genrelay-dev prints its address");
            if let Some(rest) = line.split("Authorization: Bearer ").nth(1) {
                key = Some(rest.trim().to_owned());
            }
            if let Some(rest) = line.split("listening on ").nth(1) {
                base = Some(rest.split_whitespace().next().unwrap().to_owned());
            }
        }
        Self { child, base: base.unwrap(), key: key.expect("a dev key is printed"), stdout, stderr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGKILL: the process ends at once, whatever it was doing (a crash).
    pub fn kill(&self) {
        let status = Command::new("kill").args(["-KILL", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// SIGTERM, then wait for a clean exit; returns what the server wrote to stderr.
    pub fn terminate(self) -> Vec<String> {
        self.terminate_with_output().1
    }

    /// SIGTERM, then wait for a clean exit; returns what the server wrote to stdout after its
    /// start-up lines, and to stderr.
    pub fn terminate_with_output(mut self) -> (Vec<String>, Vec<String>) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "graceful shutdown exits 0, got {exit}");
        // The pipes close with the process, so the reader threads end the channels.
        let stdout = std::mem::replace(&mut self.stdout, mpsc::channel().1);
        let stderr = std::mem::replace(&mut self.stderr, mpsc::channel().1);
        (stdout.iter().collect(), stderr.iter().collect())
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn lines_of(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

impl DevServer {
    /// Sends `request` with the dev key and reads its JSON answer.
    pub async fn json(&self, request: reqwest::RequestBuilder) -> Value {
        request.bearer_auth(&self.key).send().await.unwrap().json().await.unwrap()
    }

    /// Uploads a PNG as one of the dev client's assets; answers the asset.
    pub async fn upload_png(&self, client: &reqwest::Client, name: &str, png: Vec<u8>) -> Value {
        let part = reqwest::multipart::Part::bytes(png).file_name(name.to_owned()).mime_str("image/png").unwrap();
        let form = reqwest::multipart::Form::new().part("files", part);
        self.json(client.post(self.url("/api/v1/assets")).multipart(form)).await["asset"].clone()
    }
}

pub async fn wait_for_end(client: &reqwest::Client, server: &DevServer, id: &str) -> (Value, bool) {
    let deadline = Instant::now() + JOB_TIMEOUT;
    let mut saw_progress = false;
    loop {
        let job = server.json(client.get(server.url(&format!("/api/v1/jobs/{id}")))).await["job"].clone();
        saw_progress |= job["status"] == "running" && job["progress"].as_u64().is_some_and(|p| p > 0 && p < 100);
        if !matches!(job["status"].as_str(), Some("queued" | "running")) {
            return (job, saw_progress);
        }
        if Instant::now() >= deadline {
            let logs: Vec<String> =
                server.stderr.try_iter().filter(|line| !line.contains(r#""message":"request""#)).collect();
            let tail = logs[logs.len().saturating_sub(20)..].join("\n");
            panic!("job {id} did not finish: {job}\nthe server's last log lines:\n{tail}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
