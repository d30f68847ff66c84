//! genrelay-dev: the whole bundle in one process, on the embedded store with the mock provider.
//!
//! `genrelay-dev --addr 127.0.0.1:8080 --data-dir .genrelay`

mod background;
mod blob_links;
mod dev_admin;
mod dev_key;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::middleware::from_fn;
use clap::Parser;
use genrelay_back_office::{BackOfficeState, SessionSettings};
use genrelay_bootstrap::{
    Embedded, api_keys_from_env, engine_settings_from_env, inference_presets_from_env, init_tracing,
    mock_config_from_env,
};
use genrelay_egress::Egress;
use genrelay_http::{AppState, inference_routes, jimeng_async_routes, log_requests, open_api_router, ps_tasks_routes};
use genrelay_providers::ProvidersConfig;
use tokio::net::TcpListener;

#[derive(Debug, Parser)]
#[command(version, about = "genrelay in one process, on the embedded store with the mock provider")]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Folder for the database, stored files and the dev API key; kept across restarts.
    #[arg(long, default_value = ".genrelay")]
    data_dir: PathBuf,
    /// The address clients reach this server at, for signed download links
    /// [default: http://<addr>].
    #[arg(long)]
    public_url: Option<String>,
    /// A providers file: the upstream channels that serve capabilities (see the README),
    /// stored in place of those kept in the data folder (the back office edits them after).
    /// The mock provider serves the others, unless `GENRELAY_MOCK_PROVIDER=off`.
    #[arg(long)]
    providers: Option<PathBuf>,
    /// For local testing only: let URLs clients name (input files, webhooks) reach loopback and
    /// private addresses, over plain http too. Without it they are refused (the SSRF guard).
    #[arg(long, alias = "allow-private-webhooks")]
    allow_private_urls: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    init_tracing();
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("genrelay-dev cannot start: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind(args.addr).await?;
    let addr = listener.local_addr()?;
    let public_url = args.public_url.unwrap_or_else(|| default_public_url(addr));

    let keys = match api_keys_from_env()? {
        Some(keys) => keys,
        None => dev_key::load_or_create(&args.data_dir)?,
    };
    let embedded = Embedded::open(&args.data_dir, &public_url)?;
    let egress = if args.allow_private_urls { Egress::allow_private() } else { Egress::public_only() };
    let channels = embedded.stored_channels(&egress);
    if let Some(file) = &args.providers {
        let stored = channels.import(ProvidersConfig::read(file)?, &file.display().to_string()).await?;
        println!("stored the {stored} channel(s) of {}", file.display());
    }
    let mock = mock_config_from_env(true)?;
    let engine = embedded
        .engine_with_mock(mock, &egress, engine_settings_from_env()?)
        .with_channel_source(Arc::new(channels.clone()));
    engine.reload_channels().await?;
    let engine = Arc::new(engine);
    let loops = background::Loops::start(engine.clone(), embedded.clone());

    let admin = dev_admin::first_admin(&args.data_dir)?;
    genrelay_bootstrap::ensure_admin(&admin, &embedded.store).await?;
    let mut sessions = SessionSettings::new(dev_admin::session_key(&args.data_dir)?);
    if public_url.starts_with("http://") {
        sessions = sessions.over_http();
    }
    let users = Arc::new(embedded.store.clone());
    let back_office = BackOfficeState { engine: engine.clone(), users, channels, sessions, first_admin: None };

    let state = AppState { engine, keys: Arc::new(keys) };
    let app = open_api_router(state.clone())
        .merge(ps_tasks_routes(state.clone()))
        .merge(jimeng_async_routes(state.clone()))
        .merge(inference_routes(state, inference_presets_from_env()?))
        .merge(genrelay_back_office::router().with_state(back_office))
        .merge(genrelay_docs::router())
        .merge(blob_links::router(embedded.blobs.clone()))
        .layer(from_fn(log_requests));
    println!("genrelay-dev listening on http://{addr} (data in {})", args.data_dir.display());
    println!("  back office: http://{addr}/admin   API documentation: http://{addr}/docs");
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await?;

    tracing::info!("shutting down: finishing the background steps in progress");
    loops.stop().await;
    Ok(())
}

/// `http://<addr>`, with a wildcard address replaced by loopback (a link to 0.0.0.0 leads
/// nowhere); behind anything else, pass `--public-url`.
fn default_public_url(addr: SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() { std::net::Ipv4Addr::LOCALHOST.into() } else { addr.ip() };
    format!("http://{}", SocketAddr::new(host, addr.port()))
}

/// SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler installs");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
