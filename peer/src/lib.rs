//! natter's peer: the node (networking and state) and its front ends.

pub mod command;
pub mod doctor;
pub mod headless;
pub mod node;
pub mod paths;
pub mod reach;
pub mod tui;
