//! Placeholder: its owner fills it in.

use crate::report::Report;

pub async fn run(_report: &mut Report) {
    eprintln!("  (not written yet)");
}
