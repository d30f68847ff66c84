//! A webhook receiver on loopback that verifies signatures independently of genrelay: a Python
//! process (`webhook_receiver.py`) using the `standardwebhooks` library and Python's hmac.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

pub struct WebhookReceiver {
    child: Child,
    pub url: String,
}

impl WebhookReceiver {
    /// Starts a receiver checking signatures made with `secret` (and `previous`, if any).
    pub fn start(secret: &str, previous: Option<&str>) -> Self {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kit/webhook_receiver.py");
        let mut child = Command::new(crate::moto::python())
            .arg(script)
            .args([secret, previous.unwrap_or("")])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the webhook receiver (pip install -r tests/requirements.txt)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port: u16 = line.trim().parse().unwrap_or_else(|_| {
            panic!("the webhook receiver did not start (is `standardwebhooks` installed? run tests/run.sh)")
        });
        Self { child, url: format!("http://127.0.0.1:{port}/hooks/genrelay") }
    }

    /// What the next requests are answered: `(status, Retry-After seconds)`; the last repeats.
    pub async fn answer(&self, answers: &[(u16, Option<u64>)]) {
        let answers: Vec<Value> = answers.iter().map(|(status, retry)| json!([status, retry])).collect();
        let url = self.url.replace("/hooks/genrelay", "/_script");
        genrelay_egress::http_client_builder()
            .build()
            .unwrap()
            .post(url)
            .json(&json!({"answers": answers}))
            .send()
            .await
            .unwrap();
    }

    /// Every request received: headers, JSON body and whether each signature verified.
    pub async fn log(&self) -> Vec<Value> {
        let url = self.url.replace("/hooks/genrelay", "/_log");
        reqwest::get(url).await.unwrap().json().await.unwrap()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
