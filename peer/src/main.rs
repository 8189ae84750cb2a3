//! `natter`: the chat peer. Parses arguments, sets up logging, optionally hosts the
//! tracker, starts the node and hands it to the TUI or the headless mode.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use natter::node::{self, NodeConfig};
use natter::paths::Places;
use natter::reach::{self, JoinHint};
use natter::tui::UiInfo;
use natter_protocol::{Name, PublicKey};
use tokio_util::sync::CancellationToken;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::EnvFilter;

/// The tracker address used when none is given.
const DEFAULT_TRACKER: &str = "127.0.0.1:7700";
/// Where `--host-tracker` binds when `--tracker` is not given.
const DEFAULT_HOSTED_TRACKER: &str = "0.0.0.0:7700";

/// natter: peer-to-peer chat for the terminal.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Your name (1-32 letters, digits, '-', '_' or '.').
    #[arg(long)]
    name: Name,
    /// The tracker's address, HOST:PORT [default: 127.0.0.1:7700; with --host-tracker,
    /// where to host it: 0.0.0.0:7700].
    #[arg(long, value_parser = parse_host_port)]
    tracker: Option<String>,
    /// Where other peers reach you.
    #[arg(long, default_value = "0.0.0.0:0")]
    listen: SocketAddr,
    /// Where the keys, the member cache and (when hosting) the tracker state live, and the
    /// TUI's logs in logs/ [default: natter/NAME in your data directory, the logs in
    /// natter/NAME/logs in your state directory].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Commands on stdin, JSON events on stdout (the scripting interface).
    #[arg(long)]
    headless: bool,
    /// Run the tracker inside this process, on the --tracker address.
    #[arg(long)]
    host_tracker: bool,
    /// The tracker's key (as it prints it: `key KEY`). Without it the key met on first
    /// contact is pinned; with it, it replaces the pin (to accept a changed key on purpose).
    #[arg(long, value_name = "KEY", value_parser = parse_key)]
    tracker_key: Option<PublicKey>,
    /// How many messages may wait for one recipient (offline or unreachable); past it,
    /// /msg to it is refused.
    #[arg(long, value_name = "N", default_value_t = node::OutboxLimits::default().per_recipient)]
    outbox_limit: usize,
    /// How many messages may wait for their recipients in all.
    #[arg(long, value_name = "N", default_value_t = node::OutboxLimits::default().total)]
    outbox_total: usize,
    /// How long a message waits for a recipient before it is given up and reported
    /// failed, in seconds (2592000: 30 days).
    #[arg(long, value_name = "SECS", default_value_t = 30 * 24 * 3600)]
    expire_after: u64,
    /// Do not tell others when you have read their messages (also `/receipts off`).
    #[arg(long)]
    no_receipts: bool,
    /// Do not tell others when you are typing (also `/typing-notices off`).
    #[arg(long)]
    no_typing_notices: bool,
    /// Keep messages in memory only, without natter.db (to measure what the store costs).
    #[arg(long, hide = true)]
    ephemeral: bool,
    /// Wait this many milliseconds before each store commit (for tests that need a write
    /// to be on its way when they kill the process).
    #[arg(long, hide = true, value_name = "MS", default_value_t = 0)]
    store_delay_ms: u64,
    #[command(subcommand)]
    command: Option<Sub>,
}

/// What to do instead of chatting.
#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Check the tracker, whether peers can reach you, your clock, the members of your
    /// groups and your data directory, each with a fix; exits 1 if a check failed.
    Doctor {
        /// Print the `doctor` event of the headless mode (one JSON line) instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn parse_key(s: &str) -> Result<PublicKey, String> {
    s.parse::<PublicKey>()
        .map_err(|_| format!("{s:?} is not a key (43 characters of URL-safe base64)"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(places) = Places::new(cli.name.as_str(), cli.data_dir.clone()) else {
        eprintln!("natter: cannot find your data directory; pass --data-dir");
        return ExitCode::FAILURE;
    };
    // Here rather than in `run`: main must hold the guard to flush it before `exit`.
    let to_stderr = cli.headless || cli.command.is_some();
    let log_guard = match init_logging(to_stderr, &places.logs) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("natter: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("natter: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(run(cli, places)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("natter: {e:#}");
            1
        }
    };
    // `exit` runs no destructors: drop the guard first, which writes out queued log lines.
    drop(log_guard);
    // Exit at once: a blocking read of stdin may still be in flight, and waiting for it
    // would hang the shutdown until the next line of input.
    std::process::exit(code)
}

async fn run(cli: Cli, places: Places) -> anyhow::Result<()> {
    let Places {
        data: data_dir,
        logs: log_dir,
    } = places;
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    if cli.command.is_some()
        && let Some(running) = natter::doctor::already_running(&data_dir, &cli.name)
    {
        anyhow::bail!("{running}");
    }
    // This machine as others name it: found once, for the TUI's join hint and status bar
    // (headless mode shows neither).
    let host = if cli.headless || cli.command.is_some() {
        String::new()
    } else {
        reach::outward_host()
    };

    let cancel = CancellationToken::new();
    let mut join_hint = None;
    let mut hosted = None;
    let mut tracker_key = cli.tracker_key;
    let tracker = if cli.host_tracker {
        let wanted = cli.tracker.as_deref().unwrap_or(DEFAULT_HOSTED_TRACKER);
        let addr = resolve(wanted).await?;
        let mut config = natter_tracker::Config::new(data_dir.join("tracker.json"));
        // Everything that can stop the tracker from starting is checked here, before the
        // node and the front end start: its state file, its key, its port.
        natter_tracker::state_file::load(&config.state_file).context("cannot host the tracker")?;
        // Load the tracker's key here, so this peer can pin it without trusting the wire.
        let identity =
            natter_tracker::load_identity(&config.key_file).context("cannot host the tracker")?;
        let key = identity.public_key();
        tracker_key = Some(key);
        config.identity = Some(std::sync::Arc::new(identity));
        let listener = natter_tracker::bind(addr)
            .await
            .with_context(|| format!("cannot host the tracker on {addr}"))?;
        let bound = listener.local_addr().context("no tracker address")?;
        hosted = Some((listener, config));
        join_hint = Some(JoinHint::new(bound, &key, &host));
        reach::local_addr(bound).to_string()
    } else {
        cli.tracker.unwrap_or_else(|| DEFAULT_TRACKER.to_owned())
    };

    let mut config = NodeConfig::new(cli.name.clone(), tracker.clone(), cli.listen, data_dir);
    config.tracker_key = tracker_key;
    config.outbox = node::OutboxLimits {
        per_recipient: cli.outbox_limit,
        total: cli.outbox_total,
    };
    config.expire_after = std::time::Duration::from_secs(cli.expire_after);
    config.ephemeral = cli.ephemeral;
    config.receipts = !cli.no_receipts;
    config.typing_notices = !cli.no_typing_notices;
    config.store_delay = std::time::Duration::from_millis(cli.store_delay_ms);
    let node = node::start(config).await?;
    // The hosted tracker serves until the end; if it fails, the peer quits with its error
    // rather than chat on without the tracker everyone else relies on.
    let hosted = hosted.map(|(listener, config)| {
        let token = cancel.child_token();
        let on_failure = node.handle.clone();
        tokio::spawn(async move {
            let result = natter_tracker::run(listener, config, token).await;
            if let Err(e) = &result {
                tracing::error!(error = %e, "hosted tracker failed");
                let _ = on_failure.send(node::Command::Quit).await;
            }
            result
        })
    });
    // SIGINT/SIGTERM: quit like `/quit`, so messages on their way are settled and the
    // front end sees the event stream end.
    let on_signal = node.handle.clone();
    let signalled = shutdown_signal();
    tokio::spawn(async move {
        signalled.await;
        let _ = on_signal.send(node::Command::Quit).await;
    });
    let result = if let Some(Sub::Doctor { json }) = cli.command {
        match natter::doctor::run(node.handle.clone(), node.events, json).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(anyhow::anyhow!("a check failed")),
            Err(e) => Err(e),
        }
    } else if cli.headless {
        natter::headless::run(node.handle.clone(), node.events).await
    } else {
        let info = UiInfo {
            name: cli.name,
            tracker,
            join_hint,
            host,
            log_dir,
        };
        natter::tui::run(node.handle.clone(), node.events, info).await
    };
    // Whatever way the front end ended, stop the node and let it close its connections.
    let _ = node.handle.send(node::Command::Quit).await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), node.task).await;
    cancel.cancel();
    if let Some(hosted) = hosted
        && let Ok(Ok(Err(e))) =
            tokio::time::timeout(std::time::Duration::from_secs(2), hosted).await
    {
        return Err(e.context("the hosted tracker failed"));
    }
    result
}

/// How many daily log files the TUI keeps (the oldest are deleted as new days start).
const LOG_FILES_KEPT: usize = 7;

/// Headless: logs to stderr, in colour only on a terminal (a pipe or file gets plain
/// text). TUI: logs to daily files in `log_dir` (the TUI owns the terminal), written by a
/// background thread so a slow disk never stalls the UI; the returned guard flushes it
/// when dropped, so it lives as long as the program.
fn init_logging(headless: bool, log_dir: &Path) -> anyhow::Result<Option<WorkerGuard>> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    if headless {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .init();
        return Ok(None);
    }
    create_private_dir(log_dir)
        .with_context(|| format!("cannot create the log directory {}", log_dir.display()))?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix("natter")
        .filename_suffix("log")
        .max_log_files(LOG_FILES_KEPT)
        .build(log_dir)
        .with_context(|| format!("cannot open a log file in {}", log_dir.display()))?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(writer)
        .init();
    Ok(Some(guard))
}

/// Creates `dir` (and missing parents) for the user's eyes only: logs name peers and
/// addresses, and the appender creates its files with the default mode, so the directory
/// is what keeps them private.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    // It may have existed with a looser mode.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Resolves on SIGINT or SIGTERM (or never, if neither can be watched). The signals are
/// watched from the call on, not from the first poll: a spawned task may first run after
/// the front end said it is ready, and a signal sent in between would kill the process.
fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let watched = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    );
    async move {
        let (Ok(mut int), Ok(mut term)) = watched else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    }
}

/// Checks that an address is `HOST:PORT` (a name or an IP, then a port number); the name is
/// resolved when connecting.
fn parse_host_port(s: &str) -> Result<String, String> {
    if s.parse::<SocketAddr>().is_ok() {
        return Ok(s.to_owned());
    }
    let bad = || format!("{s:?} is not HOST:PORT (for example 192.168.1.20:7700)");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if !host_ok || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    Ok(s.to_owned())
}

/// Resolves `host:port` to one socket address.
async fn resolve(addr: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(addr) = addr.parse() {
        return Ok(addr);
    }
    tokio::net::lookup_host(addr)
        .await
        .with_context(|| format!("cannot resolve {addr}"))?
        .next()
        .with_context(|| format!("{addr} resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_addresses_must_be_host_port() {
        for ok in ["127.0.0.1:7700", "[::1]:7700", "example.org:80", "my-box:1"] {
            assert_eq!(parse_host_port(ok), Ok(ok.to_owned()));
        }
        for bad in [
            "not-an-address",
            ":7700",
            "host:",
            "host:99999",
            "a b:1",
            "h:x",
        ] {
            assert!(parse_host_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tracker_keys_must_parse() {
        let key = natter_protocol::Identity::from_secrets(&[1; 32], &[2; 32]).public_key();
        assert_eq!(parse_key(&key.to_string()), Ok(key));
        for bad in ["", "abc", &format!("{key}x")] {
            assert!(parse_key(bad).is_err(), "{bad}");
        }
        assert!(Cli::try_parse_from(["natter", "--name", "a", "--tracker-key", "nope"]).is_err());
    }
}
