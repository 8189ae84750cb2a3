//! The command line: `natter [OPTIONS]` chats; `natter invite`, `natter completions SHELL`
//! and `natter man` are subcommands. Every option is also read from a `NATTER_*`
//! environment variable (clap's `env`), and some from the config file
//! ([`natter::config`]), which the binary merges after parsing.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::FalseyValueParser;
use clap::{Args, Parser, Subcommand};
use natter::config::Given;
use natter::invite::{Invite, check_host_port};
use natter::node;
use natter::tui::notify::NotifyMode;
use natter_protocol::{GroupName, Name, PublicKey};

/// natter: peer-to-peer chat for the terminal.
#[derive(Debug, Parser)]
#[command(name = "natter", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Sub>,
    #[command(flatten)]
    pub chat: ChatArgs,
}

/// What `natter` does besides chatting.
#[derive(Debug, Subcommand)]
pub enum Sub {
    /// Print the invite line for your tracker: a friend runs `natter --join LINE`.
    ///
    /// When you host the tracker (--host-tracker, or a tracker.key in your data directory
    /// and no --tracker), it holds this machine's address as others reach it and the
    /// tracker's key; otherwise the tracker you use and the key you gave or pinned.
    Invite {
        /// Have the friend join this group once connected.
        #[arg(long, value_parser = parse_group)]
        group: Option<GroupName>,
    },
    /// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print natter's man page (roff), e.g. `natter man > natter.1`.
    Man,
    /// Check the tracker, whether peers can reach you, your clock, the members of your
    /// groups and your data directory, each with a fix; exits 1 if a check failed.
    Doctor {
        /// Print the `doctor` event of the headless mode (one JSON line) instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// The options of chatting (and, the global ones, of `natter invite`).
#[derive(Debug, Args)]
pub struct ChatArgs {
    /// Your name (1-32 letters, digits, '-', '_' or '.'); asked for at start when missing
    /// and the input is a terminal.
    #[arg(long, global = true, env = "NATTER_NAME")]
    pub name: Option<Name>,
    /// The tracker's address, HOST:PORT [default: 127.0.0.1:7700; with --host-tracker,
    /// where to host it: 0.0.0.0:7700].
    #[arg(long, global = true, env = "NATTER_TRACKER", value_parser = check_host_port)]
    pub tracker: Option<String>,
    /// Join with an invite (`natter invite` prints one): its tracker and key, and its group
    /// once connected. It takes the place of --tracker and --tracker-key.
    #[arg(long, value_name = "INVITE", env = "NATTER_JOIN", value_parser = parse_invite)]
    pub join: Option<Invite>,
    /// Where other peers reach you.
    #[arg(long, env = "NATTER_LISTEN", default_value = "0.0.0.0:0")]
    pub listen: SocketAddr,
    /// Where the keys, the member cache and (when hosting) the tracker state live, and the
    /// TUI's logs in logs/ [default: natter/NAME in your data directory, the logs in
    /// natter/NAME/logs in your state directory].
    #[arg(long, global = true, env = "NATTER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The config file [default: natter/config.toml in your config directory,
    /// $XDG_CONFIG_HOME or ~/.config].
    #[arg(long, global = true, value_name = "PATH", env = "NATTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Commands on stdin, JSON events on stdout (the scripting interface).
    #[arg(long, env = "NATTER_HEADLESS", value_parser = FalseyValueParser::new())]
    pub headless: bool,
    /// Run the tracker inside this process, on the --tracker address.
    #[arg(long, global = true, env = "NATTER_HOST_TRACKER", value_parser = FalseyValueParser::new())]
    pub host_tracker: bool,
    /// The tracker's key (as it prints it: `key KEY`). Without it the key met on first
    /// contact is pinned; with it, it replaces the pin (to accept a changed key on purpose).
    // A key is URL-safe base64, so one in 64 starts with `-`: a value, not a flag.
    #[arg(long, global = true, value_name = "KEY", env = "NATTER_TRACKER_KEY", value_parser = parse_key, allow_hyphen_values = true)]
    pub tracker_key: Option<PublicKey>,
    /// How many messages may wait for one recipient (offline or unreachable); past it,
    /// /msg to it is refused.
    #[arg(long, value_name = "N", env = "NATTER_OUTBOX_LIMIT", default_value_t = node::OutboxLimits::default().per_recipient)]
    pub outbox_limit: usize,
    /// How many messages may wait for their recipients in all.
    #[arg(long, value_name = "N", env = "NATTER_OUTBOX_TOTAL", default_value_t = node::OutboxLimits::default().total)]
    pub outbox_total: usize,
    /// How long a message waits for a recipient before it is given up and reported
    /// failed, in seconds (2592000: 30 days).
    #[arg(long, value_name = "SECS", env = "NATTER_EXPIRE_AFTER", default_value_t = 30 * 24 * 3600)]
    pub expire_after: u64,
    /// Do not tell others when you have read their messages (also `/receipts off`;
    /// `receipts = false` in the config file).
    #[arg(long, env = "NATTER_NO_RECEIPTS", value_parser = FalseyValueParser::new())]
    pub no_receipts: bool,
    /// Do not tell others when you are typing (also `/typing-notices off`;
    /// `typing_notices = false` in the config file).
    #[arg(long, env = "NATTER_NO_TYPING_NOTICES", value_parser = FalseyValueParser::new())]
    pub no_typing_notices: bool,
    /// Keep messages in memory only, without natter.db (to measure what the store costs).
    #[arg(long, hide = true)]
    pub ephemeral: bool,
    /// Wait this many milliseconds before each store commit (for tests that need a write
    /// to be on its way when they kill the process).
    #[arg(long, hide = true, value_name = "MS", default_value_t = 0)]
    pub store_delay_ms: u64,
    /// How private messages and mentions get your attention: the bell, plus a desktop
    /// notification while the terminal is not focused (auto: the terminal's own OSC 777 or
    /// OSC 9 when it is known to show them, else notify-send when installed) [default: auto;
    /// `notify = "MODE"` in the config file].
    #[arg(long, value_name = "MODE", env = "NATTER_NOTIFY", value_enum)]
    pub notify: Option<NotifyMode>,
    /// Run CMD (with `sh -c`) for each incoming message, the message's JSON (as the
    /// headless `message` event) on its stdin; at most 4 at once, each killed after 10 s.
    #[arg(long, value_name = "CMD", env = "NATTER_ON_MESSAGE")]
    pub on_message: Option<String>,
    /// How long an --on-message command may run before it is killed, in milliseconds (for
    /// tests).
    #[arg(long, hide = true, value_name = "MS", default_value_t = 10_000)]
    pub on_message_timeout_ms: u64,
}

impl ChatArgs {
    /// The settings the config file may also hold, as the command line and environment
    /// gave them (a `--no-…` flag not given leaves the choice to the file).
    pub fn given(&self) -> Given {
        Given {
            name: self.name.clone(),
            tracker: self.tracker.clone(),
            tracker_key: self.tracker_key,
            receipts: self.no_receipts.then_some(false),
            typing_notices: self.no_typing_notices.then_some(false),
            notify: self.notify,
        }
    }
}

pub fn parse_key(s: &str) -> Result<PublicKey, String> {
    s.parse::<PublicKey>()
        .map_err(|_| format!("{s:?} is not a key (43 characters of URL-safe base64)"))
}

fn parse_invite(s: &str) -> Result<Invite, String> {
    Invite::parse(s).map_err(|e| e.to_string())
}

fn parse_group(s: &str) -> Result<GroupName, String> {
    GroupName::parse_user(s).map_err(|e| format!("{s:?} is not a group name: {e}"))
}

/// The completion script for `shell`, on `out`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    let mut command = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut command, "natter", out);
}

/// The man page, as roff, on `out`.
pub fn man(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("natter").chain(args.iter().copied()))
    }

    #[test]
    fn the_definition_is_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn chatting_needs_no_subcommand() {
        let cli =
            parse(&["--name", "alice", "--headless", "--tracker", "127.0.0.1:9"]).expect("parse");
        assert!(cli.command.is_none());
        assert_eq!(
            cli.chat.name.map(|n| n.to_string()).as_deref(),
            Some("alice")
        );
        assert!(cli.chat.headless);
        assert_eq!(cli.chat.tracker.as_deref(), Some("127.0.0.1:9"));
    }

    #[test]
    fn subcommands_take_the_global_options() {
        let cli = parse(&["invite", "--group", "#room", "--name", "alice"]).expect("parse");
        let Some(Sub::Invite { group }) = cli.command else {
            panic!("not invite");
        };
        assert_eq!(group.as_ref().map(GroupName::as_str), Some("room"));
        assert!(cli.chat.name.is_some());
        assert!(matches!(
            parse(&["completions", "bash"]).expect("parse").command,
            Some(Sub::Completions { .. })
        ));
        assert!(parse(&["completions", "tcsh"]).is_err());
        assert!(matches!(
            parse(&["man"]).expect("parse").command,
            Some(Sub::Man)
        ));
    }

    #[test]
    fn a_bad_invite_is_refused_with_its_reason() {
        let err = parse(&["--join", "natter://h:1?key=abc"]).expect_err("bad");
        assert!(err.to_string().contains("cut short"), "{err}");
    }

    #[test]
    fn tracker_keys_must_parse() {
        let key = natter_protocol::Identity::from_secrets(&[1; 32], &[2; 32]).public_key();
        assert_eq!(parse_key(&key.to_string()), Ok(key));
        for bad in ["", "abc", &format!("{key}x")] {
            assert!(parse_key(bad).is_err(), "{bad}");
        }
        assert!(parse(&["--name", "a", "--tracker-key", "nope"]).is_err());
        // One key in 64 starts with `-` (URL-safe base64): still a key, not a flag.
        let dashed = (0..=255_u8)
            .map(|i| natter_protocol::Identity::from_secrets(&[i; 32], &[2; 32]).public_key())
            .find(|k| k.to_string().starts_with('-'))
            .expect("a key starting with '-' among 256");
        let dashed_text = dashed.to_string();
        let cli = parse(&["--name", "a", "--tracker-key", &dashed_text]).expect("parse");
        assert_eq!(cli.chat.given().tracker_key, Some(dashed));
        assert!(parse(&["--tracker", "nowhere"]).is_err());
    }

    #[test]
    fn a_no_flag_leaves_the_choice_to_the_file() {
        let cli = parse(&["--name", "a"]).expect("parse");
        assert_eq!(cli.chat.given().receipts, None);
        let cli = parse(&["--name", "a", "--no-receipts"]).expect("parse");
        assert_eq!(cli.chat.given().receipts, Some(false));
    }

    #[test]
    fn completions_and_the_man_page_are_generated() {
        let mut out = Vec::new();
        completions(clap_complete::Shell::Bash, &mut out);
        let script = String::from_utf8(out).expect("utf-8");
        assert!(
            script.contains("--join") && script.contains("invite"),
            "{script}"
        );
        let mut out = Vec::new();
        man(&mut out).expect("man");
        let page = String::from_utf8(out).expect("utf-8");
        assert!(page.starts_with(".ie") || page.contains(".TH"), "{page}");
        assert!(page.contains("tracker"), "{page}");
        // The environment variables too, as --help shows them.
        for var in ["NATTER_NAME", "NATTER_TRACKER_KEY", "NATTER_NOTIFY"] {
            assert!(page.contains(var), "{var} not in the man page");
        }
    }
}
