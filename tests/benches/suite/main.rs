//! natter's benchmark suite: baselines and natter's figures measured in one run, printed as
//! a table of ratios to the baselines (and the issue's targets, met or not), and written as
//! JSON (`target/bench-suite.json`) to compare commits.
//!
//! ```text
//! cargo bench -p natter-tests --bench suite                 # every section
//! cargo bench -p natter-tests --bench suite -- node tui     # some sections
//! cargo bench -p natter-tests --bench suite -- node/hop headless/pair  # parts of them
//! ```
//!
//! Sections (run in this order; `baselines` always runs, every ratio needs it):
//! `baselines` (raw framed TCP and Noise round trips between two processes, raw fan-out,
//! Ed25519), `node` (the node API: one hop, 1:1 throughput, group fan-out), `irc` (ngIRCd
//! on loopback, driven like the headless peers; skipped with a note when `ngircd` is not
//! installed), `headless` (real `natter --headless` processes through their pipes),
//! `storm` (join storms), `memory` (per idle connection, per online peer at the tracker),
//! `tui` (one frame with 10,000 lines of scrollback).
//!
//! Everything runs on 127.0.0.1, in temporary directories; every loop is bounded both in
//! count and in time. Nothing here passes or fails on timing; a lost, duplicated or
//! reordered message stops it loudly. Real processes are the release binaries, built on
//! first use. The bench re-runs itself as `suite --child MODE ...` for the far side of a
//! two-process measurement.
// A benchmark, not product code: a failed setup step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod baselines;
mod child;
mod headless;
mod irc;
mod memory;
mod node_api;
mod node_fanout;
mod node_stream;
mod nodes;
mod report;
mod script;
mod stats;
mod storm;
mod tui;
#[path = "../../tests/util/mod.rs"]
mod util;

use std::sync::OnceLock;
use std::time::Duration;

use report::Report;

/// Sections in the order they run.
const SECTIONS: [&str; 7] = [
    "baselines",
    "node",
    "irc",
    "headless",
    "storm",
    "memory",
    "tui",
];
/// The `SECTION/PART` words of the command line; a section named alone runs every part.
static PARTS: OnceLock<Vec<(String, String)>> = OnceLock::new();

/// Whether part `part` of section `section` is to run (the parts: `node/hop`,
/// `node/stream`, `node/fanout`, `headless/pair`, `headless/groups`, `storm/clients`,
/// `storm/processes`, `memory/idle`, `memory/tracker`).
pub fn runs(section: &str, part: &str) -> bool {
    let parts = PARTS.get().map(Vec::as_slice).unwrap_or_default();
    let mine: Vec<&str> = parts
        .iter()
        .filter(|(s, _)| s == section)
        .map(|(_, p)| p.as_str())
        .collect();
    mine.is_empty() || mine.contains(&part)
}

/// The whole run's bound.
const BUDGET: Duration = Duration::from_secs(30 * 60);

async fn run(section: &str, report: &mut Report) {
    match section {
        "baselines" => baselines::run(report).await,
        "node" => node_api::run(report).await,
        "irc" => irc::run(report).await,
        "headless" => headless::run(report).await,
        "storm" => storm::run(report).await,
        "memory" => memory::run(report).await,
        "tui" => tui::run(report).await,
        other => panic!("no section {other:?}; sections: {}", SECTIONS.join(", ")),
    }
}

/// `suite --child MODE ARGS...`: the far side of a two-process measurement, run by the
/// module that owns MODE.
async fn child(mode: &str, args: &[String]) {
    match mode {
        m if m.starts_with("baselines-") => baselines::child(m, args).await,
        m if m.starts_with("node-") => node_api::child(m, args).await,
        m if m.starts_with("memory-") => memory::child(m, args).await,
        other => panic!("no child mode {other:?}"),
    }
}

/// The runtime for `section` (or a child's mode): one thread, as `natter` runs its node,
/// where a node is measured (the `node` section and its far nodes, but for the fan-out's
/// many members in one child, which stand for many processes); else a multi-thread one.
fn runtime(section: &str) -> tokio::runtime::Runtime {
    let node = section == "node" || (section.starts_with("node-") && section != "node-members");
    let mut builder = if node {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all().build().unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let mode = args.get(1).expect("--child MODE");
        runtime(mode).block_on(child(mode, &args[2..]));
        return;
    }
    // `cargo bench` passes `--bench`; every other word names a section (or a part of one).
    let words = args.iter().filter(|a| !a.starts_with('-'));
    let parts = words
        .clone()
        .filter_map(|a| a.split_once('/'))
        .map(|(s, p)| (s.to_owned(), p.to_owned()));
    PARTS.set(parts.collect()).unwrap();
    let asked: Vec<&str> = words
        .map(|a| a.split_once('/').map_or(a.as_str(), |(s, _)| s))
        .collect();
    for a in &asked {
        assert!(
            SECTIONS.contains(a),
            "no section {a:?}; sections: {}",
            SECTIONS.join(", ")
        );
    }
    let chosen: Vec<&str> = SECTIONS
        .into_iter()
        .filter(|s| *s == "baselines" || asked.is_empty() || asked.contains(s))
        .collect();
    let mut report = Report::new();
    let end = std::time::Instant::now() + BUDGET;
    for section in &chosen {
        eprintln!("# {section}");
        let left = end.saturating_duration_since(std::time::Instant::now());
        let ran = runtime(section)
            .block_on(async { tokio::time::timeout(left, run(section, &mut report)).await });
        if ran.is_err() {
            eprintln!("(the run reached its {} min bound)", BUDGET.as_secs() / 60);
            break;
        }
    }
    report.print();
    println!("wrote {}", report.write_json().display());
}
