//! Placeholder: its owner fills it in.

use crate::report::Report;

pub async fn run(_report: &mut Report) {
    eprintln!("  (not written yet)");
}

/// The far side of a two-process measurement.
pub async fn child(mode: &str, _args: &[String]) {
    panic!("no child mode {mode:?}");
}
