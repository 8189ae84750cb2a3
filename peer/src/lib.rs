//! natter's peer: the node (networking and state) and its front ends.

pub mod command;
pub mod node;
pub mod tui;
