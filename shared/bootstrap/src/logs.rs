//! Logging, and the phases of init as spans: each phase's span is logged when it closes, with
//! its time (`time.busy` + `time.idle`), so a cold start's log says where its milliseconds
//! went (the benchmark reads them the same way).

use std::future::Future;

use tracing::Instrument;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{Targets, filter_fn};
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LOG_FORMAT_VAR, var};

/// The target of the init phases' spans (`RUST_LOG=warn,genrelay_init=info` shows only them).
pub const INIT_TARGET: &str = "genrelay_init";

/// Logs to stderr as text, or as JSON lines with `GENRELAY_LOG_FORMAT=json`; the levels from
/// `RUST_LOG` (`level` or `target=level`, comma-separated; default `info`). The init phases'
/// spans are logged as they close.
pub fn init_tracing() {
    let levels = std::env::var("RUST_LOG").ok().and_then(|levels| levels.parse::<Targets>().ok());
    let filter = levels.unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    let json = var(LOG_FORMAT_VAR).is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let colours = !json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    // Macros, not values: each layer is typed by the stack below it.
    macro_rules! lines {
        () => {
            tracing_subscriber::fmt::layer().with_target(false).with_ansi(colours).with_writer(std::io::stderr)
        };
    }
    macro_rules! phases {
        () => {
            lines!().with_span_events(FmtSpan::CLOSE)
        };
    }
    let only_phases = || filter_fn(|metadata| metadata.is_span() && metadata.target() == INIT_TARGET);
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        registry
            .with(lines!().json().flatten_event(true))
            .with(phases!().json().flatten_event(true).with_filter(only_phases()))
            .init();
    } else {
        registry.with(lines!()).with(phases!().with_filter(only_phases())).init();
    }
}

/// Runs `work` as the init phase `name` (a span logged with its time when it closes).
pub async fn phase<T>(name: &'static str, work: impl Future<Output = T>) -> T {
    work.instrument(tracing::info_span!(target: INIT_TARGET, "init", phase = name)).await
}

/// [`phase`] for work that does not wait.
pub fn phase_now<T>(name: &'static str, work: impl FnOnce() -> T) -> T {
    tracing::info_span!(target: INIT_TARGET, "init", phase = name).in_scope(work)
}
