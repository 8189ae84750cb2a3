//! History sync between members. A group's history is a grow-only set of signed messages
//! keyed by (author key, seq). When we get a group's full member list (we came online or
//! joined) we ask a few online members, and when a member joins or comes online a few
//! members (all, in a small group) ask it: "of this group I hold these ranges of each
//! author; send what I lack". The answer is one bounded page, and we ask again while there
//! is more.
//!
//! A member answers only members of the group, and only with what it stored from the
//! moment it first saw the asker in the group's list (the cut: nobody reads what was said
//! before they joined). A relayed message keeps its author's id and signature and is
//! checked against the author's key (bound to the author's name by a pin or the member
//! list), never the relay's, so a relay can neither forge, alter nor replay anything.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use natter_protocol::peer::{AuthorRanges, PeerFrame, SYNC_PAGE, SignedChat};
use natter_protocol::tracker::Member;
use natter_protocol::{GroupName, PublicKey};

use super::storing::AfterRead;
use super::{ConnId, Core, MAX_TEXT_BYTES, Now, Output};
use crate::node::store::{Answer, MAX_SEQ, Read};
use crate::node::trust::verify_author;

/// How many online members are asked when we get a group's full list.
pub const SYNC_FANOUT: usize = 3;
/// An unanswered ask is forgotten after this (the member may be asked again).
pub const SYNC_WAIT: Duration = Duration::from_secs(30);
/// Pages being read for one connection at once; more asks are dropped.
const MAX_READS_PER_CONN: usize = 2;
/// Asks answered per member in one [`ASK_WINDOW`]; more are dropped (64 pages of 64
/// messages: a member catching up on 4,096 messages every 10 s, and no faster).
const MAX_ASKS_PER_WINDOW: u32 = 64;
const ASK_WINDOW: Duration = Duration::from_secs(10);

/// The asks we are waiting on, and how often each connection asked us.
#[derive(Debug, Default)]
pub struct Syncs {
    /// (member key, group) → the connection the ask went on, and until when.
    asked: HashMap<(PublicKey, GroupName), (ConnId, Instant)>,
    /// Per member key (so reconnecting does not reset it): when its current window
    /// started, and the asks in it.
    answered: HashMap<PublicKey, (Instant, u32)>,
}

impl Syncs {
    pub fn next_deadline(&self) -> Option<Instant> {
        self.asked.values().map(|(_, until)| *until).min()
    }

    pub fn expire(&mut self, now: Instant) {
        self.asked.retain(|_, (_, until)| *until > now);
        self.answered
            .retain(|_, (start, _)| *start + ASK_WINDOW > now);
    }

    /// Counts an ask by `key`; false when it asked too often lately.
    fn may_answer(&mut self, key: PublicKey, now: Instant) -> bool {
        let (start, count) = self.answered.entry(key).or_insert((now, 0));
        if *start + ASK_WINDOW <= now {
            *start = now;
            *count = 0;
        }
        *count += 1;
        *count <= MAX_ASKS_PER_WINDOW
    }

    /// A connection is gone: the asks that went on it will get no page; returned, to be
    /// asked again.
    pub fn forget_conn(&mut self, conn: ConnId) -> Vec<(PublicKey, GroupName)> {
        let lost: Vec<(PublicKey, GroupName)> = self
            .asked
            .iter()
            .filter(|(_, (c, _))| *c == conn)
            .map(|(slot, _)| slot.clone())
            .collect();
        for slot in &lost {
            self.asked.remove(slot);
        }
        lost
    }
}

impl Core {
    /// We got `group`'s full list: ask a few of its online members.
    pub(super) fn sync_group(&mut self, now: Now, group: &GroupName) {
        let own = self.identity.public_key();
        let Some(list) = self.cache.get(group) else {
            return;
        };
        let online: Vec<Member> = list
            .members
            .iter()
            .filter(|m| m.online && m.key != own)
            .cloned()
            .collect();
        let start = if online.is_empty() {
            0
        } else {
            usize::try_from(self.random() % online.len() as u64).unwrap_or(0)
        };
        let chosen: Vec<Member> = online
            .iter()
            .cycle()
            .skip(start)
            .take(online.len().min(SYNC_FANOUT))
            .cloned()
            .collect();
        for m in chosen {
            self.sync_with(now, group, &m);
        }
    }

    /// `m` just joined `group` or came online: asked what we lack, by [`SYNC_FANOUT`] of
    /// its members on average. Every member asking every arrival would cost each arrival a
    /// connection from every member (a group of M coming together builds M²/2 links
    /// and handshakes before anyone speaks); so each member asks with probability
    /// `SYNC_FANOUT / (members but the arrival)`: always, in a group that small.
    pub(super) fn sync_with_arrival(&mut self, now: Now, group: &GroupName, m: &Member) {
        let askers = self
            .cache
            .get(group)
            .map_or(0, |list| list.members.len().saturating_sub(1));
        let chosen = askers <= SYNC_FANOUT
            || usize::try_from(self.random() % askers as u64).is_ok_and(|r| r < SYNC_FANOUT);
        if chosen {
            self.sync_with(now, group, m);
        }
    }

    /// Asks `m` what of `group` we lack (unless an ask to it is already out).
    pub(super) fn sync_with(&mut self, now: Now, group: &GroupName, m: &Member) {
        if !m.online || m.key == self.identity.public_key() || self.trust.is_blocked(&m.key) {
            return;
        }
        let slot = (m.key, group.clone());
        if self
            .syncs
            .asked
            .get(&slot)
            .is_some_and(|(_, until)| *until > now.at)
        {
            return;
        }
        let (conn, new) = self
            .conns
            .route(m.addr, Some((m.name.clone(), m.key)), now.at);
        if new {
            let (addr, expect) = (m.addr, Some(m.key));
            self.out.push_back(Output::Dial { conn, addr, expect });
        }
        self.syncs.asked.insert(slot, (conn, now.at + SYNC_WAIT));
        let have = self.held.summary(group);
        let frame = Arc::new(PeerFrame::SyncAsk {
            group: group.clone(),
            have,
        });
        self.out.push_back(Output::Send { conn, frame });
    }

    /// `conn` is gone: the asks that went on it go again on another open connection to the
    /// same member, if there is one (two connections crossed, and ours was dropped).
    pub(super) fn sync_conn_gone(&mut self, conn: ConnId) {
        for (key, group) in self.syncs.forget_conn(conn) {
            if self.conns.open_for(&key).is_none() {
                continue;
            }
            let member = self.cache.member_with_key(&group, &key).cloned();
            if let Some(m) = member {
                let now = self.now;
                self.sync_with(now, &group, &m);
            }
        }
    }

    /// A member asks what it lacks of `group`.
    pub(super) fn sync_asked(
        &mut self,
        now: Now,
        conn: ConnId,
        key: &PublicKey,
        group: GroupName,
        have: Vec<AuthorRanges>,
    ) {
        let member = self.cache.member_with_key(&group, key).is_some();
        if !member || self.trust.is_blocked(key) {
            tracing::debug!(%conn, %group, "sync ask from a non-member ignored");
            return;
        }
        if self.storing.reads_for(conn) >= MAX_READS_PER_CONN
            || !self.syncs.may_answer(*key, now.at)
        {
            tracing::debug!(%conn, %group, "sync ask dropped: too many");
            return;
        }
        let read = Read::SyncPage {
            group: group.clone(),
            requester: *key,
            have,
            limit: SYNC_PAGE,
        };
        self.read(read, AfterRead::SyncPage { conn, group });
    }

    /// The store found a page for a member's ask.
    pub(super) fn sync_page_read(
        &mut self,
        conn: ConnId,
        group: GroupName,
        result: Result<Answer, String>,
    ) {
        match result {
            Ok(Answer::SyncPage { messages, more }) => {
                if self.conns.get(conn).is_some() {
                    let frame = Arc::new(PeerFrame::SyncPage {
                        group,
                        messages,
                        more,
                    });
                    self.out.push_back(Output::Send { conn, frame });
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, %group, "cannot read a sync page"),
        }
    }

    /// A page of `group`'s history from the member on `conn` (authenticated as `key`).
    pub(super) fn sync_page(
        &mut self,
        now: Now,
        conn: ConnId,
        key: &PublicKey,
        group: GroupName,
        messages: Vec<SignedChat>,
        more: bool,
    ) {
        if self.syncs.asked.remove(&(*key, group.clone())).is_none() {
            tracing::debug!(%conn, %group, "unasked sync page ignored");
            return;
        }
        if messages.len() > SYNC_PAGE {
            tracing::warn!(%conn, %group, "sync page too long; ignored");
            return;
        }
        let mut new = 0;
        for chat in messages {
            new += usize::from(self.relayed(now, &group, chat));
        }
        // Asked again only while pages bring something new: a member that keeps sending
        // what we hold cannot keep us asking.
        if more && new > 0 {
            let member = self.cache.member_with_key(&group, key).cloned();
            if let Some(m) = member {
                self.sync_with(now, &group, &m);
            }
        }
    }

    /// One message of `group` relayed by a member: kept only if its author's key is the
    /// one bound to its name and the signature is the author's. Returns whether it was new
    /// to us and kept.
    fn relayed(&mut self, now: Now, group: &GroupName, chat: SignedChat) -> bool {
        let m = &chat.message;
        if self.held.contains(&m.key, m.id.seq) || self.trust.is_blocked(&m.key) {
            return false;
        }
        if !(1..=MAX_SEQ).contains(&m.id.seq) || m.body.text().len() > MAX_TEXT_BYTES {
            tracing::warn!(id = %m.id, "refused a relayed message: out of bounds");
            return false;
        }
        if m.group.as_ref() != Some(group) || m.id.sender != m.from {
            tracing::warn!(id = %m.id, %group, "refused a relayed message: not of this group");
            return false;
        }
        if let Err(reason) = crate::node::actions::check_body(m) {
            tracing::warn!(id = %m.id, %reason, "refused a relayed message");
            return false;
        }
        if m.key == self.identity.public_key() {
            // Ours (signed by us), but not in our store (it was lost): never reuse its
            // number.
            if verify_author(&m.key, &chat).is_ok() {
                self.numbering.seen(m.id.seq);
            }
            return false;
        }
        let listed = self.cache.member_named(group, &m.from).map(|x| x.key);
        let bound = self.trust.pinned(&m.from).or(listed);
        if bound != Some(m.key) {
            tracing::warn!(id = %m.id, "refused a relayed message: its key is not its author's");
            return false;
        }
        if let Err(reason) = verify_author(&m.key, &chat) {
            tracing::warn!(id = %m.id, %reason, "refused a relayed message");
            return false;
        }
        self.take_in(now, chat, true, None);
        true
    }
}
