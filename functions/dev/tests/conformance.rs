//! The OpenAPI document is the wire: Schemathesis reads `GET /api/v1/openapi.json` as a client
//! generator would and drives every operation of every surface (the open API and seeds 001-003)
//! with all its checks — answers match their schemas, every status is documented, what the
//! document allows is accepted and what it forbids is refused, no 5xx. Any finding fails.
//! tests/conformance/schemathesis.toml holds the values only the server can supply.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::DevServer;

/// Bounded, so the run takes about a minute; a fixed seed, so a finding reproduces.
const EXAMPLES_PER_OPERATION: &str = "20";
const SEED: &str = "20261204";

#[test]
fn every_surface_answers_as_its_openapi_document_says() {
    let data = tempfile::tempdir().unwrap();
    let server = DevServer::start(data.path());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new(genrelay_tests::python_tool("schemathesis", "schemathesis"))
        // Schemathesis keeps a cache of findings in its working folder.
        .current_dir(data.path())
        .arg("--config-file")
        .arg(root.join("tests/conformance/schemathesis.toml"))
        .args(["--no-color", "run", &server.url("/api/v1/openapi.json"), "--url", &server.base])
        .args(["--checks", "all", "--max-examples", EXAMPLES_PER_OPERATION, "--seed", SEED])
        .args(["--generation-deterministic", "--header", &format!("Authorization: Bearer {}", server.key)])
        .output()
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&output.stdout);
    let server_errors: Vec<String> =
        server.terminate().into_iter().filter(|line| line.contains(r#""level":"ERROR""#)).collect();
    assert!(
        output.status.success(),
        "Schemathesis found the wire and the document apart:\n{report}\n{}\nthe server's errors:\n{}",
        String::from_utf8_lossy(&output.stderr),
        server_errors.join("\n")
    );
    let count = |label: &str| report.lines().find_map(|line| line.trim().strip_prefix(label)).map(str::to_owned);
    let (selected, tested) = (count("Selected: ").unwrap_or_default(), count("Tested: ").unwrap_or_default());
    let (chosen, total) = selected.split_once('/').unwrap_or_default();
    assert!(chosen == total && total == tested, "every operation was tested:\n{report}");
}
