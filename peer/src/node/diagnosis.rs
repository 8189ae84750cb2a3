//! `/doctor`: from the facts the node gathered to the checks the user reads, each with a
//! plain-language fix. Pure: the core gathers [`Facts`] (the tracker link, the tracker's
//! reachability probe, the members of our groups, the store's health) and
//! [`checks`] turns them into [`Check`]s; nothing here touches a socket, a file or a
//! clock.

use std::net::SocketAddr;

use natter_protocol::{GroupName, Name, PublicKey};
use serde::Serialize;

/// Clocks further apart than this fail the clock check: the history cut between members
/// (README, "The cut") moves by as much as two clocks disagree.
pub const CLOCK_TOLERANCE_MS: i64 = 5_000;

/// One check of a `doctor` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable, for scripts: `tracker`, `tracker_key`, `reachable`, `clock`,
    /// `member:NAME`, `data_dir`, `database`.
    pub name: String,
    pub ok: bool,
    /// What was found, in words.
    pub detail: String,
    /// What to do about it (`None` when all is well).
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }

    fn bad(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// The tracker link as the core last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackerFact {
    Connected,
    /// Down (or never up), with the last reason.
    Down {
        reason: Option<String>,
    },
    /// It refused our hello.
    Refused {
        message: String,
    },
}

/// What the reachability probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeFact {
    /// The tracker answered: it dialled `addr`; `sent_ms` and `received_ms` are our clock
    /// when we asked and when the answer came, `clock` the tracker's when it answered.
    Answered {
        addr: SocketAddr,
        reachable: bool,
        error: Option<String>,
        clock: u64,
        sent_ms: u64,
        received_ms: u64,
    },
    /// Not asked, or no answer: why.
    Missing(String),
}

/// How one member of our groups stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberState {
    /// A connection to it is open now.
    Connected,
    /// The tracker lists it offline (when last seen, Unix milliseconds, if known).
    Offline { last_seen: Option<u64> },
    /// Online at `addr`, but the last attempt to reach it failed.
    Unreachable { addr: SocketAddr, error: String },
    /// Online, and not tried in time (nothing known either way).
    Untried { addr: SocketAddr },
}

/// One member of our groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberFact {
    pub name: Name,
    pub key: PublicKey,
    pub groups: Vec<GroupName>,
    pub state: MemberState,
}

/// What the store thread found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// The data directory (`None`: the store is in memory).
    pub dir: Option<String>,
    /// Whether a file can be created in the data directory, and why not.
    pub writable: Result<(), String>,
    /// The database file as errors name it.
    pub file: String,
    /// `PRAGMA quick_check` and a write lock: fine, or what is wrong.
    pub database: Result<(), String>,
}

/// Everything `/doctor` looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The tracker's address as given (`--tracker`).
    pub tracker: String,
    pub link: TrackerFact,
    /// The tracker key pinned for it, when known, and a key it presented instead (refused).
    pub pinned: Option<PublicKey>,
    pub key_changed: Option<PublicKey>,
    /// Where we listen (the address bound).
    pub listen: SocketAddr,
    pub probe: ProbeFact,
    pub members: Vec<MemberFact>,
    /// The store's answer, or why there is none.
    pub health: Result<Health, String>,
    /// Our clock now, Unix milliseconds (for "last seen … ago").
    pub now_ms: u64,
}

/// The longest detail or fix shown, in characters: the texts quoted in them (the tracker's
/// probe error and refusal, a connection's error) come from others.
pub const MAX_CHECK_TEXT: usize = 500;

/// The checks, in the order they are shown: the tracker, us as seen from outside, our
/// clock, each member, then the disk. Every detail and fix is made [`printable`]: they
/// quote what the tracker and other peers said, and `natter doctor` prints them on a
/// terminal.
pub fn checks(facts: &Facts) -> Vec<Check> {
    let mut out = vec![
        tracker(facts),
        tracker_key(facts),
        reachable(facts),
        clock(facts),
    ];
    out.extend(facts.members.iter().map(|m| member(m, facts.now_ms)));
    out.extend(disk(&facts.health));
    for check in &mut out {
        check.detail = printable(&check.detail);
        check.fix = check.fix.as_deref().map(printable);
    }
    out
}

/// `text` as one harmless line: line breaks and tabs become spaces, other control
/// characters (C0, DEL, C1: an `ESC` starts a terminal escape) and bidirectional
/// overrides are dropped, and it is cut to [`MAX_CHECK_TEXT`] characters with `…`.
pub fn printable(text: &str) -> String {
    crate::printable::one_line(text, MAX_CHECK_TEXT)
}

fn tracker(facts: &Facts) -> Check {
    let t = &facts.tracker;
    match &facts.link {
        TrackerFact::Connected => Check::ok("tracker", format!("connected to the tracker at {t}")),
        TrackerFact::Down { reason } => Check::bad(
            "tracker",
            match reason {
                Some(why) => format!("cannot reach the tracker at {t}: {why}"),
                None => format!("not connected to the tracker at {t}"),
            },
            format!(
                "start the tracker (natter-tracker, or natter --host-tracker) or check --tracker \
                 ({t}); natter keeps retrying, and chats with the members it knows meanwhile"
            ),
        ),
        TrackerFact::Refused { message } => Check::bad(
            "tracker",
            format!("the tracker at {t} refused us: {message}"),
            "do what the tracker's message says (a name in use: pick another --name)",
        ),
    }
}

fn tracker_key(facts: &Facts) -> Check {
    if let Some(presented) = facts.key_changed {
        let pinned = facts
            .pinned
            .map_or_else(|| "the pinned one".to_owned(), |k| k.to_string());
        return Check::bad(
            "tracker_key",
            format!(
                "the tracker at {} presented key {presented} (fingerprint {}), not {pinned}: \
                 natter refuses it",
                facts.tracker,
                presented.fingerprint()
            ),
            "ask whoever runs the tracker for its key over a channel you trust; do not accept \
             the presented key unless they confirm it changed",
        );
    }
    match (&facts.link, facts.pinned) {
        (TrackerFact::Connected, Some(key)) => Check::ok(
            "tracker_key",
            format!(
                "the tracker presented its pinned key {key} (fingerprint {})",
                key.fingerprint()
            ),
        ),
        (TrackerFact::Connected, None) => {
            Check::ok("tracker_key", "the tracker presented the key pinned for it")
        }
        (_, Some(key)) => Check::ok(
            "tracker_key",
            format!(
                "key {key} (fingerprint {}) is pinned; not checked now: the tracker is not connected",
                key.fingerprint()
            ),
        ),
        (_, None) => Check::bad(
            "tracker_key",
            "no key pinned yet: natter has never reached this tracker",
            "get the tracker's key from whoever runs it and pass it with --tracker-key",
        ),
    }
}

fn reachable(facts: &Facts) -> Check {
    let (addr, reachable, error) = match &facts.probe {
        ProbeFact::Missing(why) => {
            return Check::bad(
                "reachable",
                format!(
                    "you listen on {}; whether peers can reach you is unknown: {why}",
                    facts.listen
                ),
                "connect to the tracker (see the tracker check), then run /doctor again",
            );
        }
        ProbeFact::Answered {
            addr,
            reachable,
            error,
            ..
        } => (*addr, *reachable, error),
    };
    let seen = if addr.ip() == facts.listen.ip() || facts.listen.ip().is_unspecified() {
        format!("the tracker sees you at {addr}")
    } else {
        format!(
            "you listen on {}; the tracker sees you at {addr}",
            facts.listen
        )
    };
    let local = if addr.ip().is_loopback() {
        " (the tracker is on this machine: this says nothing of peers elsewhere)"
    } else {
        ""
    };
    if reachable {
        return Check::ok(
            "reachable",
            format!("{seen} and connected back to you there{local}"),
        );
    }
    let why = error.as_deref().unwrap_or("no reason given");
    let port = addr.port();
    Check::bad(
        "reachable",
        format!("{seen} but could not connect back: {why}{local}"),
        format!(
            "open port {port} (TCP) in your firewall / forward it on your router to this \
             machine; or start natter with --listen on a port that is open"
        ),
    )
}

fn clock(facts: &Facts) -> Check {
    let ProbeFact::Answered {
        clock,
        sent_ms,
        received_ms,
        ..
    } = &facts.probe
    else {
        return Check::bad(
            "clock",
            "not checked: the tracker did not answer the probe",
            "connect to the tracker (see the tracker check), then run /doctor again",
        );
    };
    // The tracker read its clock somewhere between our asking and its answer: the middle.
    let ours = i128::from(*sent_ms) + (i128::from(*received_ms) - i128::from(*sent_ms)) / 2;
    let skew = i64::try_from(ours - i128::from(*clock)).unwrap_or(i64::MAX);
    let rtt = received_ms.saturating_sub(*sent_ms);
    let (side, by) = if skew >= 0 {
        ("ahead of", skew)
    } else {
        ("behind", -skew)
    };
    let amount = seconds(by.unsigned_abs());
    if by <= CLOCK_TOLERANCE_MS {
        return Check::ok(
            "clock",
            format!("your clock is within {amount} of the tracker's (round trip {rtt} ms)"),
        );
    }
    Check::bad(
        "clock",
        format!("your clock is {amount} {side} the tracker's"),
        format!(
            "your clock is {amount} {side} the tracker's: enable NTP (on Linux: timedatectl \
             set-ntp true), or ask the tracker's host to; history sync between members is cut \
             by these clocks"
        ),
    )
}

/// Milliseconds as people say them: "300 ms", "40 s", "2 min".
fn seconds(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..120_000 => format!("{} s", ms / 1000),
        120_000..7_200_000 => format!("{} min", ms / 60_000),
        _ => format!("{} h", ms / 3_600_000),
    }
}

fn member(m: &MemberFact, now_ms: u64) -> Check {
    let name = format!("member:{}", m.name);
    let groups = m
        .groups
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let who = &m.name;
    match &m.state {
        MemberState::Connected => Check::ok(name, format!("{who} ({groups}): connected")),
        MemberState::Offline { last_seen } => {
            let since = last_seen
                .map(|t| format!(", last seen {} ago", seconds(now_ms.saturating_sub(t))))
                .unwrap_or_default();
            // Someone being away is not a fault of this setup (and must not fail `natter
            // doctor`'s exit status whenever anyone is): passed, with what it means.
            Check::ok(
                name,
                format!(
                    "{who} ({groups}) is offline{since}; messages to {who} wait until \
                     {who} is back"
                ),
            )
        }
        MemberState::Unreachable { addr, error } => Check::bad(
            name,
            format!("{who} ({groups}) is online at {addr} but cannot be reached: {error}"),
            format!(
                "{who} should run /doctor: port {} must be open in their firewall (or forwarded \
                 on their router); messages to {who} wait meanwhile",
                addr.port()
            ),
        ),
        MemberState::Untried { addr } => Check::bad(
            name,
            format!("{who} ({groups}) is online at {addr} but did not answer in time"),
            format!("run /doctor again; if it persists, {who} should run /doctor"),
        ),
    }
}

fn disk(health: &Result<Health, String>) -> Vec<Check> {
    let health = match health {
        Ok(h) => h,
        Err(why) => {
            return vec![Check::bad(
                "database",
                format!("the store did not answer: {why}"),
                "restart natter; if it persists, look at its log",
            )];
        }
    };
    let mut out = Vec::new();
    match (&health.dir, &health.writable) {
        (None, _) => out.push(Check::ok(
            "data_dir",
            "none: this natter keeps its messages in memory only",
        )),
        (Some(dir), Ok(())) => out.push(Check::ok("data_dir", format!("{dir} is writable"))),
        (Some(dir), Err(why)) => out.push(Check::bad(
            "data_dir",
            format!("cannot write in {dir}: {why}"),
            format!(
                "make {dir} writable for this user (its owner and permissions), and free some \
                 disk space if it is full"
            ),
        )),
    }
    out.push(match &health.database {
        Ok(()) => Check::ok("database", format!("{} is healthy", health.file)),
        Err(why) => Check::bad(
            "database",
            format!("{} is not healthy: {why}", health.file),
            format!(
                "stop natter and move {} aside (natter starts a fresh one; what it held is \
                 lost unless sqlite3's .recover saves it)",
                health.file
            ),
        ),
    });
    out
}

#[cfg(test)]
#[path = "diagnosis_tests.rs"]
mod tests;
