//! Release settings against size and cold start: api-jobs built with each combination of
//! `opt-level`, LTO and `panic` tried here (Cargo's `CARGO_PROFILE_RELEASE_*` variables over
//! the workspace's `[profile.release]`), then measured as the cold-start section measures it.
//! Each build is a clean build of the function's dependencies (about six minutes here), so this
//! section runs only when asked for (`--only profiles`); it writes `bench/profiles.json`, which
//! every full run reports as it was measured.

use std::path::{Path, PathBuf};
use std::process::Command;

use genrelay_tests::lambda::LambdaFunction;
use genrelay_tests::moto;

use crate::cold_start::{cold_start, create_job, function_env};
use crate::report::{Table, median_and_p90};

/// What the table is read from and written to, beside the report.
pub const FILE: &str = "profiles.json";

const BINARY: &str = "genrelay-api-jobs";

/// A combination of release settings.
struct Variant {
    opt_level: &'static str,
    lto: &'static str,
    panic: &'static str,
}

/// The workspace's `[profile.release]` first (built by bench/run.sh already), then one change
/// of each setting at a time.
const KEPT: Variant = Variant { opt_level: "z", lto: "fat", panic: "abort" };
const TRIED: [Variant; 4] = [
    Variant { opt_level: "s", ..KEPT },
    Variant { opt_level: "3", ..KEPT },
    Variant { lto: "thin", ..KEPT },
    Variant { panic: "unwind", ..KEPT },
];

impl Variant {
    fn name(&self) -> String {
        format!("opt-level {}, {} LTO, panic {}", self.opt_level, self.lto, self.panic)
    }

    /// Builds api-jobs with these settings into `target/profiles`; the binary's path. The
    /// build scripts and proc-macros are shared between variants, the rest is built anew.
    fn build(&self, workspace: &Path) -> PathBuf {
        let target = workspace.join("target/profiles");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(workspace)
            .args(["build", "--release", "--locked", "-p", BINARY, "--target-dir"])
            .arg(&target)
            .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", self.opt_level)
            .env("CARGO_PROFILE_RELEASE_LTO", self.lto)
            .env("CARGO_PROFILE_RELEASE_PANIC", self.panic)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building {BINARY} with {} failed", self.name());
        let kept = target.join(format!("{BINARY}-{}-{}-{}", self.opt_level, self.lto, self.panic));
        std::fs::copy(target.join("release").join(BINARY), &kept).expect("the built binary is there");
        kept
    }
}

/// Builds and measures every variant: size, init and first create, `runs` cold starts each.
pub async fn measure(binaries: &Path, runs: usize) -> Table {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut built = vec![(KEPT.name() + " (kept)", binaries.join(BINARY))];
    for variant in &TRIED {
        built.push((variant.name(), variant.build(&workspace)));
    }
    let resources = moto::resources().await;
    let env = function_env(&resources).await;
    let mut rows = Vec::new();
    for (name, binary) in built {
        let size = std::fs::metadata(&binary).expect("a built binary").len() as f64 / (1024.0 * 1024.0);
        let (mut inits, mut creates) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let function = LambdaFunction::start(&binary, &env).await;
            let (init, first) = cold_start(&function, create_job()).await;
            inits.push(init);
            creates.push(first);
        }
        let (init, _) = median_and_p90(&mut inits);
        let (create, _) = median_and_p90(&mut creates);
        rows.push((name, vec![Some(size), Some(init), Some(create)]));
    }
    Table {
        title: "release settings: api-jobs' size and cold start".into(),
        how: format!(
            "Measured {} by `bench/run.sh --only profiles` (each variant is a clean build of the \
             function, so full runs report the last measurement rather than repeat it). api-jobs \
             built with the workspace's release profile, then with one setting changed at a time \
             (stripped, codegen-units 1, sha2 at opt-level 3 in all); median of {runs} cold starts \
             on moto each, as above.",
            chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        ),
        unit: String::new(),
        columns: vec!["size (MiB)".into(), "init (ms)".into(), "first create (ms)".into()],
        rows,
    }
}
