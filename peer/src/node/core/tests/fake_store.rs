//! The store, as the core's unit tests see it: every job answered as the store thread
//! would answer it, from a small in-memory model (writes of one batch commit together, a
//! read sees the writes queued before it). A test may hold the jobs and answer them itself
//! (`hold`), to look at the core while a write is on its way, or to fail a batch; and it
//! may hold back the sync that follows the commits (`hold_sync`), or fail it.

use std::collections::HashMap;

use natter_protocol::peer::SignedChat;
use natter_protocol::{GroupName, PublicKey};

use crate::node::actions::{self, Act, Applied, MessageState};
use crate::node::store::{
    Answer, Conversation, Delivery, Found, HistoryEntry, Job, RangeSet, Read, Recipient, Reply,
    TargetInfo, Write,
};

#[derive(Debug, Default)]
pub struct FakeStore {
    /// Jobs wait in `queued` until the test answers them.
    pub hold: bool,
    pub queued: Vec<Job>,
    /// Commits are not synced until the test says so ([`Self::sync`]).
    pub hold_sync: bool,
    /// The highest token committed and not synced (while `hold_sync`).
    unsynced: Option<u64>,
    /// Every job the core handed over, in order.
    pub jobs: Vec<Job>,
    /// Every message stored, in the order it was stored.
    messages: Vec<(Conversation, HistoryEntry)>,
    /// When each member was first seen in each group (Unix ms).
    since: HashMap<(GroupName, PublicKey), u64>,
    /// The state actions gave each text message, by (author key, seq).
    states: HashMap<(PublicKey, u64), MessageState>,
    /// What the actions of the batch being written changed.
    applied: Vec<Applied>,
    /// How many of the messages stored (in order) each conversation had when last read.
    read_marks: HashMap<Conversation, usize>,
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
                    self.commit(std::mem::take(&mut tokens), &mut replies);
                    let result = Ok(self.read(read));
                    replies.push(Reply::Answered { token, result });
                }
            }
        }
        self.commit(tokens, &mut replies);
        replies
    }

    /// The reply to a batch of writes that committed, and to their sync unless it is held.
    fn commit(&mut self, tokens: Vec<u64>, replies: &mut Vec<Reply>) {
        let Some(&up_to) = tokens.iter().max() else {
            return;
        };
        replies.push(Reply::Written {
            tokens,
            result: Ok(()),
            applied: std::mem::take(&mut self.applied),
        });
        self.unsynced = Some(up_to);
        if !self.hold_sync {
            replies.extend(self.sync(Ok(())));
        }
    }

    /// Syncs what committed so far (or fails to, with `result`'s error).
    pub fn sync(&mut self, result: Result<(), String>) -> Option<Reply> {
        let up_to = self.unsynced.take()?;
        Some(Reply::Synced { up_to, result })
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
            applied: Vec::new(),
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
                        read: false,
                    })
                    .collect();
                let entry = HistoryEntry {
                    text: chat.message.body.text().to_owned(),
                    chat,
                    edited_at: None,
                    deleted: false,
                    reactions: Vec::new(),
                    own: true,
                    verified: true,
                    stored_at,
                    recipients,
                };
                self.insert(conversation, entry);
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
                    text: chat.message.body.text().to_owned(),
                    chat,
                    edited_at: None,
                    deleted: false,
                    reactions: Vec::new(),
                    own: false,
                    verified,
                    stored_at,
                    recipients: Vec::new(),
                };
                self.insert(conversation, entry);
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
            Write::ReadMark(conversation) => {
                self.read_marks.insert(conversation, self.messages.len());
            }
        }
    }

    /// Stores a message, then applies what it does (an action) or what waited for it (a
    /// text), by the same rules as the store.
    fn insert(&mut self, conversation: Conversation, entry: HistoryEntry) {
        let m = entry.chat.message.clone();
        self.messages.push((conversation.clone(), entry));
        match m.body.target() {
            Some(target) => self.act_on(&conversation, target, &m),
            None if m.body.is_text() => {
                let waiting: Vec<_> = self
                    .messages
                    .iter()
                    .map(|(c, e)| (c, &e.chat.message))
                    .filter(|(c, w)| **c == conversation && w.body.target() == Some(&m.id))
                    .map(|(_, w)| w.clone())
                    .collect();
                for w in waiting {
                    self.act_on(&conversation, &m.id, &w);
                }
            }
            None => {}
        }
    }

    fn act_on(
        &mut self,
        conversation: &Conversation,
        target: &natter_protocol::peer::MessageId,
        action: &natter_protocol::peer::ChatMessage,
    ) {
        let Some((_, entry)) = self.messages.iter_mut().find(|(c, e)| {
            c == conversation && e.chat.message.id == *target && e.chat.message.body.is_text()
        }) else {
            return;
        };
        let author = entry.chat.message.key;
        let state = self
            .states
            .entry((author, target.seq))
            .or_insert_with(|| MessageState {
                text: entry.text.clone(),
                ..MessageState::default()
            });
        let act = Act {
            author: &action.key,
            name: &action.from,
            seq: action.id.seq,
            sent_at: action.sent_at,
            body: &action.body,
        };
        if let Some(effect) = actions::apply(state, target, &author, act) {
            entry.text.clone_from(&state.text);
            entry.edited_at = state.edited_at;
            entry.deleted = state.deleted;
            let mut reactions: Vec<(String, Vec<natter_protocol::Name>)> = Vec::new();
            for ((emoji, _), r) in state.reactions.iter().filter(|(_, r)| r.on) {
                match reactions.iter_mut().find(|(e, _)| e == emoji) {
                    Some((_, names)) => names.push(r.name.clone()),
                    None => reactions.push((emoji.clone(), vec![r.name.clone()])),
                }
            }
            entry.reactions = reactions;
            self.applied.push(Applied {
                author: action.key,
                seq: action.id.seq,
                effect,
            });
        }
    }

    /// The newest `limit` text messages not deleted that `keep` keeps, newest first.
    fn found(
        &self,
        limit: usize,
        keep: impl Fn(usize, &Conversation, &HistoryEntry) -> bool,
    ) -> Vec<Found> {
        self.messages
            .iter()
            .enumerate()
            .rev()
            .filter(|(at, (c, e))| e.chat.message.body.is_text() && !e.deleted && keep(*at, c, e))
            .take(limit)
            .map(|(_, (c, e))| Found {
                id: e.chat.message.id.clone(),
                from: e.chat.message.from.clone(),
                conversation: c.clone(),
                peer_name: None,
                sent_at: e.chat.message.sent_at,
                own: e.own,
                text: e.text.clone(),
                snippet: None,
            })
            .collect()
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
                    .filter(|(c, e)| *c == conversation && e.chat.message.body.is_text())
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
            Read::Search {
                text,
                conversation,
                limit,
            } => {
                // A plain substring match is enough here (the store has FTS5).
                let text = text.trim().trim_matches('"').to_lowercase();
                let found = self.found(limit, |_, c, e| {
                    conversation.as_ref().is_none_or(|want| want == c)
                        && e.text.to_lowercase().contains(&text)
                });
                Answer::Found(found)
            }
            Read::Mentions { name, limit } => {
                let found = self.found(limit, |at, c, e| {
                    let read = self.read_marks.get(c).copied().unwrap_or(0);
                    !e.own
                        && at >= read
                        && (matches!(c, Conversation::Peer(_))
                            || crate::node::store::mentions(&e.text, name.as_str()))
                });
                Answer::Found(found)
            }
            Read::Health => Answer::Health(crate::node::diagnosis::Health {
                dir: None,
                writable: Ok(()),
                file: "natter.db".into(),
                database: Ok(()),
            }),
            Read::Target { id, emoji } => {
                let found = self
                    .messages
                    .iter()
                    .rev()
                    .find(|(_, e)| e.chat.message.id == id && e.chat.message.body.is_text());
                Answer::Target(found.map(|(c, e)| {
                    let own = self
                        .messages
                        .iter()
                        .find(|(_, e)| e.own)
                        .map(|(_, e)| e.chat.message.key);
                    let reacted = self
                        .states
                        .get(&(e.chat.message.key, id.seq))
                        .zip(emoji.zip(own))
                        .and_then(|(s, key)| s.reactions.get(&key))
                        .is_some_and(|r| r.on);
                    TargetInfo {
                        author: e.chat.message.key,
                        conversation: c.clone(),
                        deleted: e.deleted,
                        reacted,
                    }
                }))
            }
        }
    }
}
