//! Configuration read once at start-up, and the wiring of adapters into an engine. Every
//! function main and the dev server start here, so they are configured the same way.

mod aws;
mod back_office;
mod config;
mod embedded;
mod lambda;
mod logs;

pub use aws::{aws_engine, sdk_config};
pub use back_office::*;
pub use config::*;
pub use embedded::Embedded;
pub use lambda::{
    Channels, engine_from_env, lambda_app_state, run_admin_function, run_configured_http_function, run_docs_function,
    run_http_function, start_event_function,
};
pub use logs::{INIT_TARGET, init_tracing};
