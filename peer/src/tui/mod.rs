//! The terminal UI (placeholder: being written).

use natter_protocol::Name;
use tokio::sync::mpsc;

use crate::node::{Event, NodeHandle};

/// What the UI knows at start that the node does not tell it through events.
#[derive(Debug, Clone)]
pub struct UiInfo {
    pub name: Name,
    /// The tracker address as given on the command line.
    pub tracker: String,
    /// With `--host-tracker`: the command line another person runs to join this tracker.
    pub join_hint: Option<String>,
    /// Where the TUI writes its log file (shown on the screen only on errors).
    pub log_file: std::path::PathBuf,
}

/// Runs the TUI until the user quits. Owns the terminal while it runs and always
/// restores it.
pub async fn run(
    _node: NodeHandle,
    _events: mpsc::Receiver<Event>,
    _info: UiInfo,
) -> anyhow::Result<()> {
    anyhow::bail!("the terminal UI is not built yet; use --headless")
}
