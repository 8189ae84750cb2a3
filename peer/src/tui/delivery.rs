//! What became of one of our own messages, recipient by recipient.
//!
//! The node reports a message's fate in steps: `sending` (stored, on its way), `sent`
//! (the first attempt: who has it, who refused it, who is still pending), then one
//! `delivered` or `failed` per pending recipient, possibly days later and across restarts.
//! A [`Delivery`] follows those steps and settles once nobody is pending.

use crate::node::api::DeliveryState;

/// What became of one of our own messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Sent, and the first attempt is not over yet.
    Pending,
    /// Some recipients are not reached yet and are retried; where each one stands.
    Waiting(DeliveryState),
    /// Every recipient acknowledged it.
    Delivered,
    /// Some recipients will never get it (their names); nobody is pending any more.
    Failed(Vec<String>),
    /// There was nobody to send it to (alone in the group).
    Nobody,
}

impl Delivery {
    /// The mark for recipients standing as `state`: waiting while anyone is pending, then
    /// settled.
    pub fn from_state(state: DeliveryState) -> Self {
        if !state.pending.is_empty() {
            Self::Waiting(state)
        } else if !state.failed.is_empty() {
            Self::Failed(state.failed)
        } else if !state.delivered.is_empty() {
            Self::Delivered
        } else {
            Self::Nobody
        }
    }

    /// Whether more news may come (the first attempt is running or someone is pending).
    pub fn is_open(&self) -> bool {
        matches!(self, Self::Pending | Self::Waiting(_))
    }

    /// `to` acknowledged the message later. False when that changes nothing (the mark has
    /// settled, or `to` was not pending).
    pub fn reached(&mut self, to: &str) -> bool {
        self.settle(to, |state, to| state.delivered.push(to))
    }

    /// `to` will never get the message. False when that changes nothing.
    pub fn gave_up(&mut self, to: &str) -> bool {
        self.settle(to, |state, to| state.failed.push(to))
    }

    /// Moves `to` out of the pending recipients with `put`.
    fn settle(&mut self, to: &str, put: impl FnOnce(&mut DeliveryState, String)) -> bool {
        let mut state = match self {
            Self::Waiting(state) => match state.pending.iter().position(|p| p == to) {
                Some(at) => {
                    let mut state = std::mem::take(state);
                    state.pending.remove(at);
                    state
                }
                None => return false,
            },
            // News before the first attempt's report (not in the contract's order): the
            // report is lost, so this is all that is known.
            Self::Pending => DeliveryState::default(),
            Self::Delivered | Self::Failed(_) | Self::Nobody => return false,
        };
        put(&mut state, to.to_owned());
        *self = Self::from_state(state);
        true
    }
}
