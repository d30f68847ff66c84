//! genrelay's benchmark harness: `bench/run.sh` builds the release binaries and runs it. It
//! measures, in one run on this machine, the cold start of every function binary under a
//! Lambda Runtime API emulator against moto (and of a Python 3 + boto3 peer doing api-jobs'
//! create), the AWS requests a job costs end to end, the memory and throughput of ingesting
//! large outputs, `genrelay-dev`'s throughput under wrk against a FastAPI + SQLite peer, and
//! the size of each binary, then writes `bench/REPORT.md` and `bench/report.json`: each figure
//! with its budget and whether it holds.

mod aws_calls;
mod cold_start;
mod ingest;
mod profiles;
mod report;
mod scale;
mod sizes;
mod throughput;

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(about = "Measures genrelay's release build and writes bench/REPORT.md and bench/report.json")]
struct Args {
    /// Cold starts of each function (one at a time).
    #[arg(long, default_value_t = 15)]
    runs: usize,
    /// Seconds of load on each dev-server route.
    #[arg(long, default_value_t = 30)]
    load_seconds: u64,
    /// Where the report goes.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR")))]
    out: PathBuf,
    /// Measure only these sections (all but `profiles` by default), e.g. `--only scale --out /tmp`.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Section>,
}

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum Section {
    Sizes,
    ColdStart,
    AwsCalls,
    Ingest,
    Throughput,
    Scale,
    /// Release settings against size and cold start: five builds of api-jobs; writes
    /// bench/profiles.json, which full runs report.
    Profiles,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // The function binaries are built beside this one (same profile).
    let binaries = std::env::current_exe()?.parent().expect("a binary's folder").to_path_buf();
    let wanted = |section| (args.only.is_empty() && section != Section::Profiles) || args.only.contains(&section);
    let (mut figures, mut tables) = (Vec::new(), Vec::new());
    if wanted(Section::Sizes) {
        figures.extend(sizes::measure(&binaries));
    }
    if wanted(Section::ColdStart) {
        let (cold_starts, init_breakdown) = cold_start::measure(&binaries, args.runs).await;
        figures.extend(cold_starts);
        tables.push(init_breakdown);
    }
    if wanted(Section::AwsCalls) {
        let (requests, requests_by_api) = aws_calls::measure(&binaries).await;
        figures.extend(requests);
        tables.push(requests_by_api);
    }
    if wanted(Section::Ingest) {
        figures.extend(ingest::measure(&binaries));
    }
    if wanted(Section::Throughput) {
        figures.extend(throughput::measure(&binaries, args.load_seconds).await);
    }
    if wanted(Section::Scale) {
        let (costs, costs_by_size) = scale::measure().await;
        figures.extend(costs);
        tables.push(costs_by_size);
    }
    let profiles_file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(profiles::FILE);
    if wanted(Section::Profiles) {
        let table = profiles::measure(&binaries, args.runs).await;
        std::fs::write(&profiles_file, serde_json::to_string_pretty(&table)? + "\n")?;
        tables.push(table);
    } else if args.only.is_empty()
        && let Ok(measured) = std::fs::read_to_string(&profiles_file)
    {
        tables.push(serde_json::from_str(&measured)?);
    }
    let report = report::Report {
        measured_at: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        machine: machine(),
        figures,
        tables,
        notes: vec![
            "Cold starts: each function is spawned under the harness's Lambda Runtime API emulator \
             with the environment the template gives it (API keys, session key and admin password as \
             SSM SecureStrings on moto); init is spawn → its first request for an event."
                .into(),
            "The peer is a custom-runtime Python process (bench/peers/python_create.py); AWS's managed \
             Python runtime adds its own bootstrap, so the ratio understates the difference."
                .into(),
        ],
    };
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(args.out.join("REPORT.md"), report.to_markdown())?;
    std::fs::write(args.out.join("report.json"), serde_json::to_string_pretty(&report.to_json())? + "\n")?;
    println!("{}", report.to_markdown());
    println!("{} figure(s) miss their budget; written to {}", report.misses(), args.out.display());
    Ok(())
}

/// The CPU model and count, as `/proc/cpuinfo` gives them.
fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches(|c: char| c == ':' || c.is_whitespace()).to_owned());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    format!("{} ({cores} cores)", model.unwrap_or_else(|| "an unknown CPU".into()))
}
