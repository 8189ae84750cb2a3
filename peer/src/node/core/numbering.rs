//! Our message numbers, and when a numbered message may leave before its store write.
//!
//! A message goes out as soon as it is signed, in parallel with its store write (one
//! commit fewer on the way to its recipients), if its number is *reserved*: the store
//! holds a number at least as high, on the disk. After a crash (a power cut too),
//! numbering resumes past the reservation, so a
//! number that reached a recipient but not our store is never given to another message
//! (the recipient would drop that one as a duplicate: lost). A number not reserved yet
//! waits for its own write. Reservations run [`RESERVE_AHEAD`] past the last number, asked
//! for again when half of that is used: one small write per few hundred messages, in the
//! same transaction as the messages' own.
//!
//! Pure state; the core writes the reservations and reports their syncs.

/// How far past the last number a reservation reaches.
pub const RESERVE_AHEAD: u64 = 1024;

#[derive(Debug)]
pub struct Numbering {
    /// The last number given out (or seen on a message of ours relayed back).
    last: u64,
    /// The highest reservation on the disk (synced).
    reserved: u64,
    /// The highest reservation asked for.
    asked: u64,
    /// The highest number whose own write is on the disk (writes are synced in order).
    stored: u64,
}

impl Numbering {
    /// Numbering from the store: `last` is the highest number it holds or reserved.
    pub fn new(last: u64) -> Self {
        Self {
            last,
            reserved: last,
            asked: last,
            stored: last,
        }
    }

    /// The next number, and a reservation to write first when one is due.
    pub fn next(&mut self) -> (u64, Option<u64>) {
        self.last = self.last.saturating_add(1);
        let due = self.asked <= self.last.saturating_add(RESERVE_AHEAD / 2);
        let reserve = due.then(|| {
            self.asked = self.last.saturating_add(RESERVE_AHEAD);
            self.asked
        });
        (self.last, reserve)
    }

    /// A number of ours seen elsewhere (relayed back by sync): never given out again.
    pub fn seen(&mut self, seq: u64) {
        self.last = self.last.max(seq);
    }

    /// A reservation up to `up_to` committed.
    pub fn reserved(&mut self, up_to: u64) {
        self.reserved = self.reserved.max(up_to);
    }

    /// A reservation's write failed: the next number asks again.
    pub fn reservation_failed(&mut self) {
        self.asked = self.reserved;
    }

    /// Our message `seq` is stored.
    pub fn stored(&mut self, seq: u64) {
        self.stored = self.stored.max(seq);
    }

    /// The highest number that may go out now: reserved, or stored.
    pub fn sendable(&self) -> u64 {
        self.reserved.max(self.stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_goes_out_early_only_once_reserved() {
        let mut n = Numbering::new(10);
        // The first number after a start is not reserved: it waits for its write, and a
        // reservation is asked for with it.
        assert_eq!(n.next(), (11, Some(11 + RESERVE_AHEAD)));
        assert_eq!(n.sendable(), 10);
        n.stored(11);
        assert_eq!(n.sendable(), 11);
        // Until that reservation commits, the next waits too; then everything up to it
        // may go.
        assert_eq!(n.next(), (12, None));
        assert_eq!(n.sendable(), 11);
        n.reserved(11 + RESERVE_AHEAD);
        assert_eq!(n.sendable(), 11 + RESERVE_AHEAD);
    }

    #[test]
    fn reservations_are_asked_for_again_at_half_way() {
        let mut n = Numbering::new(0);
        let mut asked = Vec::new();
        for _ in 0..2 * RESERVE_AHEAD {
            if let (_, Some(up_to)) = n.next() {
                asked.push(up_to);
            }
        }
        let half = RESERVE_AHEAD / 2;
        assert_eq!(
            asked,
            [1, half + 1, 2 * half + 1, 3 * half + 1]
                .map(|seq| seq + RESERVE_AHEAD)
                .to_vec()
        );
    }

    #[test]
    fn a_failed_reservation_is_asked_for_again() {
        let mut n = Numbering::new(0);
        assert_eq!(n.next(), (1, Some(1 + RESERVE_AHEAD)));
        n.reservation_failed();
        assert_eq!(n.next(), (2, Some(2 + RESERVE_AHEAD)));
    }

    #[test]
    fn a_relayed_number_of_ours_is_never_given_again() {
        let mut n = Numbering::new(3);
        n.seen(40);
        assert_eq!(n.next().0, 41);
        n.seen(5);
        assert_eq!(n.next().0, 42);
    }
}
