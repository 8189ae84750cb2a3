//! One connection's outgoing queue: the frames the hub hands it, bounded, one sender (the
//! hub) and one receiver (the connection's task).
//!
//! Every online peer holds one for as long as it is connected, and an idle peer's is
//! empty nearly all the time, so what an empty queue costs matters more than speed: a
//! bounded `tokio::sync::mpsc` channel is about 0.8 KiB before its first frame (its cache
//! padded halves and a first block of 32 slots, kept for good). This is a `VecDeque`
//! and the receiver's waker behind a mutex (under 100 bytes), whose storage is let go
//! whenever the receiver empties it. The mutex is held for a push or a pop only, never
//! across an `.await`; waiting takes no room in the connection's future beyond a pointer.
//!
//! The semantics are the channel's the tracker relied on: [`Sender::try_send`] never
//! waits and refuses when the queue is full (the hub then drops the slow peer) or the
//! receiver is gone; once the sender is dropped the receiver still gets what was queued,
//! then `None`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::queued::Queued;

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `capacity` frames are waiting already: the peer does not keep up.
    Full,
    /// The connection is gone.
    Closed,
}

/// The hub's end.
#[derive(Debug)]
pub struct Sender {
    shared: Arc<Mutex<State>>,
}

/// The connection's end.
#[derive(Debug)]
pub struct Receiver {
    shared: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    frames: VecDeque<Arc<Queued>>,
    capacity: usize,
    /// The receiver waiting for the queue to stop being empty (or for the sender to go).
    waiting: Option<Waker>,
    sender_alive: bool,
    receiver_alive: bool,
}

/// A queue for at most `capacity` frames at a time.
pub fn outbox(capacity: usize) -> (Sender, Receiver) {
    let shared = Arc::new(Mutex::new(State {
        frames: VecDeque::new(),
        capacity,
        waiting: None,
        sender_alive: true,
        receiver_alive: true,
    }));
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

/// Nothing panics while the lock is held, so a poisoned lock still holds a sound queue.
fn lock(shared: &Mutex<State>) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// Wakes the receiver if it waits (outside the lock: the guard goes first).
    fn wake(mut state: MutexGuard<'_, State>) {
        let waiting = state.waiting.take();
        drop(state);
        if let Some(waker) = waiting {
            waker.wake();
        }
    }
}

impl Sender {
    /// Queues `frame` at once, or refuses it.
    pub fn try_send(&self, frame: Arc<Queued>) -> Result<(), Refused> {
        let mut state = lock(&self.shared);
        if !state.receiver_alive {
            return Err(Refused::Closed);
        }
        if state.frames.len() >= state.capacity {
            return Err(Refused::Full);
        }
        state.frames.push_back(frame);
        // The receiver only waits after finding the queue empty, and waits no more once
        // woken: a frame behind others finds no waker.
        State::wake(state);
        Ok(())
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        state.sender_alive = false;
        State::wake(state);
    }
}

impl Receiver {
    /// The next frame; `None` once the sender is gone and everything queued was taken.
    /// Cancel safe: a frame is taken only when this returns it.
    pub async fn recv(&mut self) -> Option<Arc<Queued>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next frame if one is queued now.
    pub fn try_recv(&mut self) -> Option<Arc<Queued>> {
        let mut state = lock(&self.shared);
        state.pop()
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Arc<Queued>>> {
        let mut state = lock(&self.shared);
        if let Some(frame) = state.pop() {
            return Poll::Ready(Some(frame));
        }
        if !state.sender_alive {
            return Poll::Ready(None);
        }
        if !state
            .waiting
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            state.waiting = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl State {
    fn pop(&mut self) -> Option<Arc<Queued>> {
        let frame = self.frames.pop_front()?;
        if self.frames.is_empty() {
            // An idle peer keeps no room for the last burst.
            self.frames = VecDeque::new();
        }
        Some(frame)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        state.receiver_alive = false;
        state.waiting = None;
        let frames = std::mem::take(&mut state.frames);
        drop(state);
        // The frames go outside the lock.
        drop(frames);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use natter_protocol::tracker::TrackerToPeer;

    use super::*;

    fn ping(nonce: u64) -> Arc<Queued> {
        Queued::new(TrackerToPeer::Ping { nonce })
    }

    fn nonce(frame: &Queued) -> u64 {
        match frame.frame() {
            TrackerToPeer::Ping { nonce } => *nonce,
            other => panic!("not a ping: {other:?}"),
        }
    }

    #[test]
    fn frames_come_out_in_order_and_a_full_queue_refuses() {
        let (tx, mut rx) = outbox(3);
        for n in 0..3 {
            assert_eq!(tx.try_send(ping(n)), Ok(()));
        }
        assert_eq!(tx.try_send(ping(3)), Err(Refused::Full));
        assert_eq!(rx.try_recv().map(|f| nonce(&f)), Some(0));
        // Room again for one.
        assert_eq!(tx.try_send(ping(4)), Ok(()));
        let taken: Vec<u64> = std::iter::from_fn(|| rx.try_recv())
            .map(|f| nonce(&f))
            .collect();
        assert_eq!(taken, [1, 2, 4]);
    }

    #[test]
    fn an_emptied_queue_keeps_no_storage() {
        let (tx, mut rx) = outbox(1024);
        for n in 0..100 {
            tx.try_send(ping(n)).expect("room");
        }
        assert!(lock(&rx.shared).frames.capacity() >= 100);
        while rx.try_recv().is_some() {}
        assert_eq!(lock(&rx.shared).frames.capacity(), 0);
    }

    #[tokio::test]
    async fn the_receiver_gets_what_was_queued_then_none_once_the_sender_is_gone() {
        let (tx, mut rx) = outbox(8);
        tx.try_send(ping(1)).expect("room");
        tx.try_send(ping(2)).expect("room");
        drop(tx);
        assert_eq!(rx.recv().await.map(|f| nonce(&f)), Some(1));
        assert_eq!(rx.recv().await.map(|f| nonce(&f)), Some(2));
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_for_a_frame_and_for_the_end() {
        let (tx, mut rx) = outbox(8);
        let waiting = tokio::spawn(async move {
            let first = rx.recv().await.map(|f| nonce(&f));
            let end = rx.recv().await.map(|f| nonce(&f));
            (first, end)
        });
        // Let the receiver reach its wait (correct either way; this is the case to cover).
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.try_send(ping(7)).expect("room");
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(tx);
        let result = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("the receiver woke")
            .expect("task");
        assert_eq!(result, (Some(7), None));
    }

    #[tokio::test]
    async fn a_cancelled_wait_loses_no_frame() {
        let (tx, mut rx) = outbox(8);
        // A wait dropped before anything came (as a `select!` does when another branch wins).
        let idle = tokio::time::timeout(Duration::from_millis(10), rx.recv()).await;
        assert!(idle.is_err());
        tx.try_send(ping(5)).expect("room");
        let frame = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("not lost");
        assert_eq!(frame.map(|f| nonce(&f)), Some(5));
    }

    #[test]
    fn a_gone_receiver_refuses_and_lets_go_of_its_frames() {
        let (tx, rx) = outbox(8);
        let frame = ping(1);
        tx.try_send(frame.clone()).expect("room");
        drop(rx);
        assert_eq!(Arc::strong_count(&frame), 1, "the queued copy was dropped");
        assert_eq!(tx.try_send(ping(2)), Err(Refused::Closed));
    }
}
