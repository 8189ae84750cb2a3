//! The node: one peer's networking and state, driven through [`api`].

pub mod api;

pub use api::{Command, Event, NodeHandle, NodeStopped, Target, TrackerStatus};
