//! Memory: what one idle peer-to-peer connection costs a real `natter --headless` process
//! ([`idle`]), and what one online peer costs a real `natter-tracker` process
//! ([`tracker`]), each compared with an idle Noise link alone ([`noise`]). Both read VmRSS from `/proc/PID/status` before and after, in two steps
//! (half, then all), so a one-time cost shows as a difference between the steps.

mod idle;
mod noise;
mod tracker;

use std::time::Duration;

use crate::report::Report;

pub const SECTION: &str = "memory";

/// How long a process is left alone before its memory is read.
pub const SETTLE: Duration = Duration::from_millis(1500);

/// The parts: `memory/idle`, `memory/tracker`; the Noise link they compare with always runs.
pub async fn run(report: &mut Report) {
    let base = noise::run(report).await;
    if crate::runs(SECTION, "idle") {
        idle::run(report, base).await;
    }
    if crate::runs(SECTION, "tracker") {
        tracker::run(report, base).await;
    }
}

/// The far side of a two-process measurement.
pub async fn child(mode: &str, args: &[String]) {
    match mode {
        "memory-peers" => idle::child(args).await,
        "memory-noise" => noise::child().await,
        other => panic!("no child mode {other:?}"),
    }
}

/// Resident memory of process `pid`, in bytes (`VmRSS`).
pub fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status");
    kib * 1024
}

/// Sockets process `pid` holds open.
pub fn sockets(pid: u32) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    fds.filter_map(Result::ok)
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

pub fn kib(bytes: f64) -> String {
    format!("{:.1} KiB", bytes / 1024.0)
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
