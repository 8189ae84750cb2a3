//! natter's peer: the node (networking and state) and its front ends.

pub mod auto_join;
pub mod command;
pub mod config;
pub mod doctor;
pub mod headless;
pub mod invite;
pub mod inviting;
pub mod node;
pub mod on_message;
pub mod paths;
pub mod printable;
pub mod reach;
pub mod tui;
