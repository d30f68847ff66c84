//! Ingest: peak RSS and throughput moving a 10 MiB, 100 MiB and 1 GiB output into the blob
//! store (embedded, and S3 on moto), each in a process of its own (`genrelay-bench-ingest`),
//! through the gateway and as a plain streaming copy of the same bytes into the same store,
//! alternately, several times each (more for the small files, whose times a scheduling hiccup
//! sways most): the medians are reported (a single copy's speed varied by almost 2× between
//! runs on this machine, a 10 MiB one's from 0.13 to 0.17 s). Both are timed from the status poll that finds the
//! file ready until it is stored (for the gateway, the poller's step that also records the asset
//! and ends the job); the whole job's time is reported beside.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::report::{Bound, Figure};

const SECTION: &str = "ingest (one output into the blob store)";
/// Peak RSS of the process ingesting a 1 GiB output.
const RSS_BUDGET_MIB: f64 = 32.0;
/// The gateway's throughput against a plain copy's.
const THROUGHPUT_BUDGET: f64 = 0.8;
const SIZES_MIB: [u64; 3] = [10, 100, 1024];
const STORES: [&str; 2] = ["embedded", "s3"];

/// How many times each way moves a file of `mib`.
fn runs(mib: u64) -> usize {
    match mib {
        0..=10 => 9,
        11..=100 => 5,
        _ => 3,
    }
}

/// The median of `values`.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// One run: its ingest time in seconds, its peak RSS in MiB, and (for the gateway) the whole
/// job's time in seconds.
fn run(binary: &Path, store: &str, mib: u64, mode: &str) -> (f64, f64, Option<f64>) {
    let output = Command::new(binary).args([store, &mib.to_string(), mode]).output().expect("the ingest bench starts");
    assert!(output.status.success(), "{store} {mib} MiB {mode} failed: {}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line: Value = stdout.lines().rev().find_map(|line| serde_json::from_str(line).ok()).expect("a result line");
    let seconds = line["seconds"].as_f64().expect("seconds");
    (seconds, line["peak_rss_mib"].as_f64().expect("peak RSS"), line["job_seconds"].as_f64())
}

pub fn measure(binaries: &Path) -> Vec<Figure> {
    let binary = binaries.join("genrelay-bench-ingest");
    let mut figures = Vec::new();
    for store in STORES {
        for mib in SIZES_MIB {
            let (mut gateway_runs, mut copy_runs) = (Vec::new(), Vec::new());
            let runs = runs(mib);
            for _ in 0..runs {
                gateway_runs.push(run(&binary, store, mib, "gateway"));
                copy_runs.push(run(&binary, store, mib, "copy"));
            }
            type Runs = [(f64, f64, Option<f64>)];
            let speed = |runs: &Runs| median(runs.iter().map(|(seconds, _, _)| mib as f64 / seconds).collect());
            let peak = |runs: &Runs| runs.iter().map(|(_, rss, _)| *rss).fold(0.0, f64::max);
            let (gateway, copy) = (speed(&gateway_runs), speed(&copy_runs));
            let whole_job = median(gateway_runs.iter().filter_map(|(_, _, job)| job.map(|s| mib as f64 / s)).collect());
            let (rss, copy_rss) = (peak(&gateway_runs), peak(&copy_runs));
            let at_limit = mib == 1024;
            figures.push(Figure {
                section: SECTION,
                name: format!("{store}, {mib} MiB: peak RSS"),
                value: rss,
                unit: "MiB",
                budget: at_limit.then_some((Bound::AtMost, RSS_BUDGET_MIB)),
                how: format!(
                    "the ingesting process's VmHWM, the highest of {runs}; the plain copy's {copy_rss:.1} MiB"
                ),
            });
            figures.push(Figure {
                section: SECTION,
                name: format!("{store}, {mib} MiB: throughput ÷ plain copy's"),
                value: gateway / copy,
                unit: "×",
                budget: Some((Bound::AtLeast, THROUGHPUT_BUDGET)),
                how: format!(
                    "medians of {runs}, from the poll finding the file ready to the file stored: gateway \
                     {gateway:.0} MiB/s (to the job's end), copy {copy:.0} MiB/s; the whole job (submitted → \
                     succeeded) {whole_job:.0} MiB/s"
                ),
            });
        }
    }
    figures
}
