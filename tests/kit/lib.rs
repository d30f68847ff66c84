//! genrelay's test kit: a test application on embedded adapters with a clock moved by hand
//! (and adapters that fail on demand, as an unavailable dependency does),
//! `moto_server` on loopback, a Lambda Runtime API emulator that runs the real function
//! binaries, fakes of every upstream, a proxy that breaks their calls, a webhook receiver, and checks shared by the function
//! packages' own tests.

pub mod app;
pub mod fake_ark;
pub mod fake_comfyui;
pub mod fake_evolink;
pub mod fake_inference;
pub mod fake_jimeng;
pub mod fake_meitu;
pub mod fake_runninghub;
pub mod fake_yunxiu;
pub mod faulty_proxy;
pub mod lambda;
pub mod moto;
pub mod outage;
pub mod webhook_receiver;

use std::path::PathBuf;
use std::process::Command;

/// Serves `app` on a free loopback port, in the background; returns its base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port");
    let base_url = format!("http://{}", listener.local_addr().expect("a bound address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base_url
}

/// A binary of this workspace, next to the running test (cargo builds every function package's
/// binary before its tests, and each function package has tests).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps/<test>");
    let binary = profile_dir.join(name);
    assert!(binary.is_file(), "{} is not built; `cargo test --workspace` builds it", binary.display());
    binary
}

/// A command-line tool of the Python packages in tests/requirements.txt: in the project's
/// `.venv` (tests/run.sh installs them there) or on PATH.
pub fn python_tool(name: &str, package: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = std::env::var_os("PATH").unwrap_or_default();
    [root.join(".venv/bin"), root.join(".venv/packages/bin")]
        .into_iter()
        .chain(std::env::split_paths(&path))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} was not found (in .venv or on PATH); install it with `pip install \"{package}\"`, \
                 or run tests/run.sh, which does"
            )
        })
}

/// Starts a function binary with only `vars` in its environment; returns whether it exited
/// successfully and everything it printed.
pub fn run_with_env(binary: &std::path::Path, vars: &[(&str, &str)]) -> (bool, String) {
    let mut command = Command::new(binary);
    command.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command.output().expect("the binary runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// A function started with no storage configuration stops at init, before reaching the Lambda
/// runtime, with a message naming what to set, and without repeating any secret.
pub fn assert_fails_fast_without_configuration(binary: &std::path::Path) {
    let (ok, output) = run_with_env(binary, &[("ZHINIAN_API_KEYS", "a:secret-key")]);
    assert!(!ok, "{} started without configuration", binary.display());
    assert!(output.contains("GENRELAY_TABLE") && output.contains("GENRELAY_DATA_DIR"), "{output}");
    assert!(!output.contains("secret-key"), "secrets never appear in an error: {output}");
}
