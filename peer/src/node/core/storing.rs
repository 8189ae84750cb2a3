//! The core's side of the store: every job gets a token, and what must wait for the job
//! (the `message` event of a received message, the answer to `/history`, a sync page)
//! waits for the reply with that token. What must wait until the write is on the disk
//! (the ack of a received message, the `sending` event of ours, the numbers our messages
//! may leave with before their own writes) waits further, for the store's sync.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use natter_protocol::{GroupName, PublicKey, RequestId};

use super::{ConnId, Core, Output};
use crate::node::api::{About, Action, NodeError};
use crate::node::store::{Job, Read, Reply, Write};

/// What follows the commit of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AfterWrite {
    /// Our message `seq` is stored: announce it and send it.
    Own(u64),
    /// A received message is stored: show it and acknowledge it.
    Received(PublicKey, u64),
    /// Our numbers up to this one are reserved: they may go out before their writes.
    Reserved(u64),
    Nothing,
}

/// What follows the fsync of a committed write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AfterSync {
    /// Our message `seq` is on the disk: announce it (`sending`: from then on it is never
    /// lost, even to a power cut), and its number may leave before its write.
    Own(u64),
    /// A received message is on the disk: acknowledge it.
    Received(PublicKey, u64),
    /// Our numbers up to this one are reserved on the disk.
    Reserved(u64),
}

/// What an answer is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AfterRead {
    History {
        req: Option<RequestId>,
        target: About,
    },
    SyncPage {
        conn: ConnId,
        group: GroupName,
    },
    /// `/reply`, `/edit`, `/delete` or `/react` on the message `id`.
    Act {
        req: Option<RequestId>,
        id: natter_protocol::peer::MessageId,
        action: Action,
    },
    /// `/search text [in target]`.
    Search {
        req: Option<RequestId>,
        text: String,
        target: Option<About>,
    },
    /// `/mentions`.
    Mentions {
        req: Option<RequestId>,
    },
    /// `/doctor`'s look at the store.
    Doctor,
}

/// How long a delivery record may wait to share a transaction with other writes.
pub const RECORD_DELAY: Duration = Duration::from_millis(100);

#[derive(Debug, Default)]
pub struct Storing {
    next: u64,
    writes: HashMap<u64, AfterWrite>,
    reads: HashMap<u64, AfterRead>,
    /// Committed writes waiting for their fsync, by token (ascending).
    unsynced: VecDeque<(u64, AfterSync)>,
    /// Delivery records nothing waits on, held back (until [`Self::records_due`]) to ride
    /// with the next write: one transaction fewer per message on a quiet link. Losing them to a
    /// crash only means a retry, which the recipient drops as a duplicate.
    records: Vec<Write>,
    records_due: Option<Instant>,
    /// The last write failed; reported once until a write succeeds again.
    failing: bool,
    /// A sync failed: nothing stored since is trusted to be on the disk, for the rest of
    /// the run (the store fails every later sync too), so nothing is acknowledged.
    pub(super) sync_failed: bool,
}

impl Storing {
    /// Nothing is waiting for the store.
    pub fn is_idle(&self) -> bool {
        self.writes.is_empty()
            && self.reads.is_empty()
            && self.records.is_empty()
            && self.unsynced.is_empty()
    }

    /// When the held-back records must go.
    pub fn records_due(&self) -> Option<Instant> {
        self.records_due
    }

    /// Sync pages being read for `conn`.
    pub(super) fn reads_for(&self, conn: ConnId) -> usize {
        self.reads
            .values()
            .filter(|r| matches!(r, AfterRead::SyncPage { conn: c, .. } if *c == conn))
            .count()
    }

    fn token(&mut self) -> u64 {
        self.next += 1;
        self.next
    }
}

impl Core {
    pub(super) fn write(&mut self, write: Write, after: AfterWrite) {
        self.flush_records();
        let token = self.storing.token();
        self.storing.writes.insert(token, after);
        self.out.push_back(Output::Store(Job::Write(token, write)));
    }

    /// A write nothing waits on: held back a little to share a transaction.
    pub(super) fn record(&mut self, write: Write, now: Instant) {
        self.storing.records.push(write);
        if self.storing.records_due.is_none() {
            self.storing.records_due = Some(now + RECORD_DELAY);
        }
    }

    /// Hands the held-back records to the store.
    pub(super) fn flush_records(&mut self) {
        self.storing.records_due = None;
        for write in std::mem::take(&mut self.storing.records) {
            let token = self.storing.token();
            self.storing.writes.insert(token, AfterWrite::Nothing);
            self.out.push_back(Output::Store(Job::Write(token, write)));
        }
    }

    pub(super) fn read(&mut self, read: Read, after: AfterRead) {
        // A read sees every change made before it.
        self.flush_records();
        let token = self.storing.token();
        self.storing.reads.insert(token, after);
        self.out.push_back(Output::Store(Job::Read(token, read)));
    }

    /// The store's reply.
    pub(super) fn stored(&mut self, reply: Reply) {
        match reply {
            Reply::Written {
                tokens,
                result,
                applied,
            } => {
                let failed = result.as_ref().err().cloned();
                match &failed {
                    Some(error) if !self.storing.failing => {
                        self.storing.failing = true;
                        tracing::warn!(%error, "the store failed");
                        self.fail(None, NodeError::Store(error.clone()));
                    }
                    Some(_) => {}
                    None => self.storing.failing = false,
                }
                for token in tokens {
                    let Some(after) = self.storing.writes.remove(&token) else {
                        continue;
                    };
                    let then = match (after, &failed) {
                        (AfterWrite::Own(seq), None) => {
                            self.own_committed(seq);
                            AfterSync::Own(seq)
                        }
                        (AfterWrite::Own(seq), Some(error)) => {
                            self.own_not_stored(seq, error);
                            continue;
                        }
                        (AfterWrite::Received(key, seq), None) => {
                            self.received_stored(key, seq);
                            AfterSync::Received(key, seq)
                        }
                        (AfterWrite::Received(key, seq), Some(_)) => {
                            self.received_not_stored(key, seq);
                            continue;
                        }
                        (AfterWrite::Reserved(up_to), None) => AfterSync::Reserved(up_to),
                        (AfterWrite::Reserved(_), Some(_)) => {
                            self.numbering.reservation_failed();
                            continue;
                        }
                        (AfterWrite::Nothing, _) => continue,
                    };
                    self.storing.unsynced.push_back((token, then));
                }
                self.actions_applied(applied);
            }
            Reply::Answered { token, result } => {
                let Some(after) = self.storing.reads.remove(&token) else {
                    return;
                };
                match after {
                    AfterRead::History { req, target } => self.history_read(req, target, result),
                    AfterRead::SyncPage { conn, group } => self.sync_page_read(conn, group, result),
                    AfterRead::Act { req, id, action } => self.act_on(req, id, action, result),
                    AfterRead::Search { req, text, target } => {
                        self.found_read(req, Some((text, target)), result);
                    }
                    AfterRead::Mentions { req } => self.found_read(req, None, result),
                    AfterRead::Doctor => self.doctor_health(result),
                }
            }
            Reply::Synced { up_to, result } => self.synced(up_to, result),
        }
    }

    /// The writes committed up to token `up_to` are on the disk, or the fsync failed: then
    /// they may not be, so received ones are not acknowledged (their senders retry until
    /// a later run, and a copy is not acknowledged either) and numbers are not taken as
    /// reserved. The failure is reported once.
    fn synced(&mut self, up_to: u64, result: Result<(), String>) {
        if let Err(error) = &result
            && !std::mem::replace(&mut self.storing.sync_failed, true)
        {
            tracing::warn!(%error, "the store could not sync its commits to the disk");
            self.fail(None, NodeError::Store(error.clone()));
        }
        while self
            .storing
            .unsynced
            .front()
            .is_some_and(|(t, _)| *t <= up_to)
        {
            let Some((_, then)) = self.storing.unsynced.pop_front() else {
                break;
            };
            match (then, &result) {
                (AfterSync::Own(seq), Ok(())) => self.own_stored(seq),
                // As if its write had failed: it may not be kept.
                (AfterSync::Own(seq), Err(error)) => self.own_not_stored(seq, error),
                (AfterSync::Received(key, seq), Ok(())) => self.received_synced(key, seq),
                (AfterSync::Received(key, seq), Err(_)) => self.received_not_synced(key, seq),
                (AfterSync::Reserved(up_to), Ok(())) => self.seqs_reserved(up_to),
                (AfterSync::Reserved(_), Err(_)) => self.numbering.reservation_failed(),
            }
        }
    }
}
