//! The store, as the core's unit tests see it: every job answered as the store thread
//! would answer it, from a small in-memory model (writes of one batch commit together, a
//! read sees the writes queued before it). A test may hold the jobs and answer them itself
//! (`hold`), to look at the core while a write is on its way, or to fail a batch.

use std::collections::HashMap;

use natter_protocol::peer::SignedChat;
use natter_protocol::{GroupName, PublicKey};

use crate::node::store::{
    Answer, Conversation, Delivery, HistoryEntry, Job, RangeSet, Read, Recipient, Reply, Write,
};

#[derive(Debug, Default)]
pub struct FakeStore {
    /// Jobs wait in `queued` until the test answers them.
    pub hold: bool,
    pub queued: Vec<Job>,
    /// Every job the core handed over, in order.
    pub jobs: Vec<Job>,
    /// Every message stored, in the order it was stored.
    messages: Vec<(Conversation, HistoryEntry)>,
    /// When each member was first seen in each group (Unix ms).
    since: HashMap<(GroupName, PublicKey), u64>,
}

impl FakeStore {
    /// Carries out `jobs` in order: the writes up to each read commit as one batch (the
    /// store thread's group commit), then the read is answered.
    pub fn answer(&mut self, jobs: Vec<Job>) -> Vec<Reply> {
        let mut replies = Vec::new();
        let mut tokens = Vec::new();
        for job in jobs {
            match job {
                Job::Write(token, write) => {
                    self.apply(write);
                    tokens.push(token);
                }
                Job::Read(token, read) => {
                    if !tokens.is_empty() {
                        let tokens = std::mem::take(&mut tokens);
                        replies.push(Reply::Written {
                            tokens,
                            result: Ok(()),
                        });
                    }
                    let result = Ok(self.read(read));
                    replies.push(Reply::Answered { token, result });
                }
            }
        }
        if !tokens.is_empty() {
            replies.push(Reply::Written {
                tokens,
                result: Ok(()),
            });
        }
        replies
    }

    /// The held writes, failed together with `error` (nothing of them is kept); the held
    /// reads stay held.
    pub fn fail_writes(&mut self, error: &str) -> Vec<Reply> {
        let (writes, reads): (Vec<Job>, Vec<Job>) = std::mem::take(&mut self.queued)
            .into_iter()
            .partition(|j| matches!(j, Job::Write(..)));
        self.queued = reads;
        let tokens: Vec<u64> = writes
            .iter()
            .filter_map(|j| match j {
                Job::Write(token, _) => Some(*token),
                Job::Read(..) => None,
            })
            .collect();
        if tokens.is_empty() {
            return Vec::new();
        }
        vec![Reply::Written {
            tokens,
            result: Err(format!("cannot write natter.db: {error}")),
        }]
    }

    /// The messages stored, oldest first.
    pub fn stored(&self) -> Vec<&SignedChat> {
        self.messages.iter().map(|(_, e)| &e.chat).collect()
    }

    fn holds(&self, key: &PublicKey, seq: u64) -> bool {
        self.messages
            .iter()
            .any(|(_, e)| e.chat.message.key == *key && e.chat.message.id.seq == seq)
    }

    fn apply(&mut self, write: Write) {
        match write {
            Write::Own {
                chat,
                conversation,
                recipients,
                stored_at,
                ..
            } => {
                let recipients = recipients
                    .into_iter()
                    .map(|(key, name)| Recipient {
                        key,
                        name,
                        delivery: Delivery::Pending,
                    })
                    .collect();
                let entry = HistoryEntry {
                    chat,
                    own: true,
                    verified: true,
                    stored_at,
                    recipients,
                };
                self.messages.push((conversation, entry));
            }
            Write::Received {
                chat,
                conversation,
                stored_at,
                verified,
            } => {
                if self.holds(&chat.message.key, chat.message.id.seq) {
                    return;
                }
                let entry = HistoryEntry {
                    chat,
                    own: false,
                    verified,
                    stored_at,
                    recipients: Vec::new(),
                };
                self.messages.push((conversation, entry));
            }
            Write::Delivered { seq, to } => self.set_delivery(seq, to, Delivery::Delivered),
            Write::Failed { seq, to, reason } => {
                self.set_delivery(seq, to, Delivery::Failed(reason));
            }
            Write::MemberSince { group, member, at } => {
                self.since.entry((group, member)).or_insert(at);
            }
            Write::MemberList { group, members, at } => {
                self.since
                    .retain(|(g, m), _| *g != group || members.contains(m));
                for member in members {
                    self.since.entry((group.clone(), member)).or_insert(at);
                }
            }
            Write::MemberGone { group, member } => {
                self.since.remove(&(group, member));
            }
            Write::ListenPort(_) | Write::ReserveSeqs(_) => {}
        }
    }

    fn set_delivery(&mut self, seq: u64, to: PublicKey, delivery: Delivery) {
        let own = self
            .messages
            .iter_mut()
            .filter(|(_, e)| e.own && e.chat.message.id.seq == seq)
            .flat_map(|(_, e)| e.recipients.iter_mut())
            .filter(|r| r.key == to);
        for r in own {
            r.delivery = delivery.clone();
        }
    }

    fn read(&self, read: Read) -> Answer {
        match read {
            Read::History {
                conversation,
                limit,
            } => {
                let all: Vec<HistoryEntry> = self
                    .messages
                    .iter()
                    .filter(|(c, _)| *c == conversation)
                    .map(|(_, e)| e.clone())
                    .collect();
                let skip = all.len().saturating_sub(limit);
                Answer::History(all.into_iter().skip(skip).collect())
            }
            Read::SyncPage {
                group,
                requester,
                have,
                limit,
            } => {
                let Some(since) = self.since.get(&(group.clone(), requester)) else {
                    return Answer::SyncPage {
                        messages: Vec::new(),
                        more: false,
                    };
                };
                let has: HashMap<PublicKey, RangeSet> = have
                    .into_iter()
                    .map(|a| (a.key, RangeSet::from_ranges(a.ranges)))
                    .collect();
                let lacking: Vec<SignedChat> = self
                    .messages
                    .iter()
                    .filter(|(c, e)| {
                        let m = &e.chat.message;
                        *c == Conversation::Group(group.clone())
                            && e.stored_at >= *since
                            && e.chat.message.sent_at >= *since
                            && !has.get(&m.key).is_some_and(|r| r.contains(m.id.seq))
                    })
                    .map(|(_, e)| e.chat.clone())
                    .collect();
                let more = lacking.len() > limit;
                let messages = lacking.into_iter().take(limit).collect();
                Answer::SyncPage { messages, more }
            }
        }
    }
}
