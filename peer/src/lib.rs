//! natter's peer: the node (networking and state) and its front ends.

pub mod command;
pub mod headless;
pub mod node;
pub mod on_message;
pub mod paths;
pub mod reach;
pub mod tui;
