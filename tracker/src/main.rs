//! `natter-tracker`: parses arguments, sets up logging, loads (or creates) the tracker's
//! identity key, binds, prints the bound address and the public key, and serves until
//! SIGINT or SIGTERM. A fatal error is one line on stderr, `natter-tracker: <what went
//! wrong: why>`, and exit status 1.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// jemalloc, set up for many small idle connections (see `.cargo/config.toml`): it keeps
/// far less resident per online peer than the system's malloc.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// natter's membership tracker: who is in which group, who is online, at which address.
#[derive(Debug, Parser)]
#[command(name = "natter-tracker", version)]
struct Cli {
    /// Address to listen on (port 0 picks a free port; the first stdout line names it).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:7700")]
    listen: SocketAddr,
    /// Membership state file [default: <data dir>/natter/tracker.json].
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// The tracker's identity key file, created (mode 0600) on first run; the second stdout
    /// line prints its public key for peers to pin [default: the state file with extension
    /// .key].
    #[arg(long, value_name = "PATH")]
    key: Option<PathBuf>,
    /// Seconds between pings; a peer silent for three of these goes offline.
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    heartbeat_secs: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One clean line with the whole chain of causes; no backtrace.
            eprintln!("natter-tracker: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let state_file = match cli.state {
        Some(path) => path,
        None => dirs::data_dir()
            .context("cannot find your data directory; pass --state FILE")?
            .join("natter")
            .join("tracker.json"),
    };
    // Refuse a corrupt state file or key file before announcing anything.
    natter_tracker::state_file::load(&state_file)?;
    let mut config = natter_tracker::Config::new(state_file);
    if let Some(key_file) = cli.key {
        config.key_file = key_file;
    }
    let identity = natter_tracker::load_identity(&config.key_file)?;
    let key = identity.public_key();
    config.identity = Some(Arc::new(identity));
    config.heartbeat = Duration::from_secs(cli.heartbeat_secs);

    // Watch the signals before announcing the address: a supervisor or test that stops the
    // tracker as soon as it reads that line must get a clean shutdown, not a kill.
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let listener = natter_tracker::bind(cli.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cli.listen))?;
    let bound = listener.local_addr().context("listener has no address")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {bound}").context("cannot write to stdout")?;
    writeln!(stdout, "key {key}").context("cannot write to stdout")?;
    stdout.flush().context("cannot write to stdout")?;
    drop(stdout);

    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
            _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
        }
        token.cancel();
    });
    natter_tracker::run(listener, config, shutdown).await
}
