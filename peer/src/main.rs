//! `natter`: the chat peer. Parses arguments, sets up logging, optionally hosts the
//! tracker, starts the node and hands it to the TUI or the headless mode.

mod cli;

use std::io::{IsTerminal, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use cli::{ChatArgs, Cli, Sub};
use natter::config::{self, Settings};
use natter::invite::Invite;
use natter::inviting::{self, DEFAULT_HOSTED_TRACKER, DEFAULT_TRACKER};
use natter::node::{self, NodeConfig};
use natter::paths::Places;
use natter::reach::{self, JoinHint};
use natter::tui::UiInfo;
use natter_protocol::{GroupName, Name};
use tokio_util::sync::CancellationToken;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::EnvFilter;

/// What a chatting process runs with: the arguments, merged with the config file.
struct Run {
    args: ChatArgs,
    settings: Settings,
    name: Name,
    /// `natter doctor [--json]`: run the checks instead of chatting (`Some(json)`).
    doctor: Option<bool>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    match cli.command {
        Some(Sub::Completions { shell }) => {
            cli::completions(shell, &mut out);
            return ExitCode::SUCCESS;
        }
        Some(Sub::Man) => {
            return match cli::man(&mut out) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(format!("cannot write the man page: {e}")),
            };
        }
        _ => {}
    }
    drop(out);
    let settings = match settings(&cli.chat) {
        Ok(settings) => settings,
        Err(e) => return fail(e),
    };
    if let Some(Sub::Invite { group }) = cli.command {
        return match invite_line(&cli.chat, &settings, group) {
            Ok(line) => {
                // Only the line on stdout, for scripts; how to use it on stderr.
                println!("{line}");
                eprintln!("natter: a friend joins with: natter --join '{line}' --name THEIR-NAME");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        };
    }
    let name = match settings.name.clone() {
        Some(name) => name,
        None => match ask_name() {
            Ok(name) => name,
            Err(e) => return fail(e),
        },
    };
    let doctor = match cli.command {
        Some(Sub::Doctor { json }) => Some(json),
        _ => None,
    };
    let run = Run {
        args: cli.chat,
        settings,
        name,
        doctor,
    };
    let Some(places) = Places::new(run.name.as_str(), run.args.data_dir.clone()) else {
        return fail("cannot find your data directory; pass --data-dir".to_owned());
    };
    // Here rather than in `run`: main must hold the guard to flush it before `exit`.
    // `natter doctor` logs to stderr like the headless mode: its stdout is the report.
    let to_stderr = run.args.headless || run.doctor.is_some();
    let log_guard = match init_logging(to_stderr, &places.logs) {
        Ok(guard) => guard,
        Err(e) => return fail(format!("{e:#}")),
    };
    // One thread: the node's tasks (connections, the actor, the front end) hand every
    // message to each other several times on its way, and on one thread each hand-off is
    // a task switch instead of a cross-thread wake-up. The disk has threads of its own.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    let code = match runtime.block_on(run_chat(run, places)) {
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

/// Says what went wrong on stderr; the exit status of a failure.
fn fail(why: String) -> ExitCode {
    eprintln!("natter: {why}");
    ExitCode::FAILURE
}

/// The command line and environment over the config file (`--config`, else the default
/// one if it exists), with an invite's tracker and key over both.
fn settings(args: &ChatArgs) -> Result<Settings, String> {
    let file = match (&args.config, config::default_path()) {
        (Some(path), _) => config::load(path, true),
        (None, Some(path)) => config::load(&path, false),
        (None, None) => Ok(config::FileConfig::default()),
    }
    .map_err(|e| e.to_string())?;
    let mut settings = config::choose(args.given(), file);
    if let Some(invite) = &args.join {
        settings.tracker = Some(invite.tracker.clone());
        settings.tracker_key = Some(invite.key);
    }
    Ok(settings)
}

/// Asks for the name on the terminal; an error when the input is not a terminal (a
/// script must pass --name).
fn ask_name() -> Result<Name, String> {
    const TRIES: usize = 3;
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(
            "no name: pass --name NAME (or set NATTER_NAME, or name in the config file)".to_owned(),
        );
    }
    for _ in 0..TRIES {
        eprint!("Your name in natter (letters, digits, '-', '_', '.'): ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        match stdin.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => match line.trim().parse::<Name>() {
                Ok(name) => return Ok(name),
                Err(e) => eprintln!("{e}"),
            },
        }
    }
    Err("no name given; pass --name NAME".to_owned())
}

/// `natter invite`: the line to hand a friend (see [`inviting`]).
fn invite_line(
    args: &ChatArgs,
    settings: &Settings,
    group: Option<GroupName>,
) -> Result<Invite, String> {
    let name = settings.name.as_ref().map(|n| n.as_str().to_owned());
    let data_dir = match (&args.data_dir, name) {
        (Some(dir), _) => dir.clone(),
        (None, Some(name)) => {
            Places::new(&name, None)
                .ok_or("cannot find your data directory; pass --data-dir")?
                .data
        }
        (None, None) => {
            return Err("natter invite needs --name (or --data-dir) to find your keys".into());
        }
    };
    let tracker = settings.tracker.as_deref();
    let host = reach::outward_host();
    let invite = if inviting::hosts(args.host_tracker, tracker, &data_dir) {
        let key_file = data_dir.join(inviting::HOSTED_KEY_FILE);
        let key = natter_tracker::load_identity(&key_file)
            .map_err(|e| format!("{e:#}"))?
            .public_key();
        // Where it listens: as given, else where the hosted tracker last listened.
        let addr = tracker
            .map(str::to_owned)
            .or_else(|| inviting::hosted_addr(&data_dir))
            .unwrap_or_else(|| DEFAULT_HOSTED_TRACKER.to_owned());
        inviting::hosted(&addr, key, &host, group)
    } else {
        // The tracker given, else the one the member lists came from (a user who joined
        // with an invite gave no --tracker), else the default.
        let tracker = tracker
            .map(str::to_owned)
            .or_else(|| inviting::cached_tracker(&data_dir))
            .unwrap_or_else(|| DEFAULT_TRACKER.to_owned());
        inviting::joined(&tracker, settings.tracker_key, &data_dir, &host, group)?
    };
    if inviting::local_only(&invite) {
        eprintln!(
            "natter: {} is reachable from this machine only; friends elsewhere need the \
             tracker on an address they can reach",
            invite.tracker
        );
    }
    Ok(invite)
}

async fn run_chat(run: Run, places: Places) -> anyhow::Result<()> {
    let Run {
        args: cli,
        settings,
        name,
        doctor,
    } = run;
    let Places {
        data: data_dir,
        logs: log_dir,
    } = places;
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    if doctor.is_some()
        && let Some(running) = natter::doctor::already_running(&data_dir, &name)
    {
        anyhow::bail!("{running}");
    }
    // This machine as others name it: found once, for the TUI's join hint and status bar
    // (headless mode shows neither).
    let host = if cli.headless || doctor.is_some() {
        String::new()
    } else {
        reach::outward_host()
    };

    let cancel = CancellationToken::new();
    let mut join_hint = None;
    let mut hosted = None;
    let mut invite = None;
    let mut tracker_key = settings.tracker_key;
    let tracker = if cli.host_tracker {
        let wanted = settings
            .tracker
            .as_deref()
            .unwrap_or(DEFAULT_HOSTED_TRACKER);
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
        if let Err(e) = inviting::remember_hosted(&data_dir, bound) {
            tracing::warn!(error = %e, "cannot note the hosted tracker's address for natter invite");
        }
        hosted = Some((listener, config));
        join_hint = Some(JoinHint::new(bound, &key, &host));
        invite = Some(inviting::hosted(&bound.to_string(), key, &host, None));
        reach::local_addr(bound).to_string()
    } else {
        settings
            .tracker
            .clone()
            .unwrap_or_else(|| DEFAULT_TRACKER.to_owned())
    };
    if invite.is_none() && !cli.headless {
        // The TUI's invite to someone else's tracker: the key given, else the pinned one
        // (none before the first contact). Resolving a host name may block.
        let (tracker, dir, host) = (tracker.clone(), data_dir.clone(), host.clone());
        invite = tokio::task::spawn_blocking(move || {
            inviting::joined(&tracker, tracker_key, &dir, &host, None).ok()
        })
        .await
        .ok()
        .flatten();
    }

    let mut config = NodeConfig::new(name.clone(), tracker.clone(), cli.listen, data_dir);
    config.tracker_key = tracker_key;
    config.outbox = node::OutboxLimits {
        per_recipient: cli.outbox_limit,
        total: cli.outbox_total,
    };
    config.expire_after = std::time::Duration::from_secs(cli.expire_after);
    config.ephemeral = cli.ephemeral;
    config.receipts = settings.receipts;
    config.typing_notices = settings.typing_notices;
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
    // An invite's group is joined once the tracker link is up.
    let events = match cli.join.and_then(|invite| invite.group) {
        Some(group) => {
            natter::auto_join::join_when_connected(node.handle.clone(), node.events, group)
        }
        None => node.events,
    };
    // `_hooks` lives to the end of `run`: commands still running then are killed.
    let (events, _hooks) = match cli.on_message.clone().filter(|c| !c.trim().is_empty()) {
        Some(command) => {
            let limits = natter::on_message::HookLimits {
                timeout: std::time::Duration::from_millis(cli.on_message_timeout_ms),
                ..Default::default()
            };
            let (events, running) = natter::on_message::tap(events, name.clone(), command, limits);
            (events, Some(running))
        }
        None => (events, None),
    };
    let result = if let Some(json) = doctor {
        match natter::doctor::run(node.handle.clone(), events, json).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(anyhow::anyhow!("a check failed")),
            Err(e) => Err(e),
        }
    } else if cli.headless {
        natter::headless::run(node.handle.clone(), events).await
    } else {
        let info = UiInfo {
            name,
            tracker,
            join_hint,
            host,
            log_dir,
            notify: settings.notify.unwrap_or_default(),
            invite,
        };
        natter::tui::run(node.handle.clone(), events, info).await
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
