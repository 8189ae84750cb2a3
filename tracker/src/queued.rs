//! A frame in the connections' outgoing queues, its JSON made once for all of them.
//!
//! A member-list change goes to every member of the group: one frame, shared by as many
//! queues. The first connection to write it serialises it; the others reuse those bytes
//! and only seal them for their own Noise session. A recipient for whom the frame reads
//! differently (a member on the tracker's machine, seen from elsewhere: see
//! [`crate::localize`]) gets its own rewritten copy, serialised on its own.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use natter_protocol::secure::{FrameJson, Outgoing};
use natter_protocol::tracker::TrackerToPeer;

use crate::localize::localize_shared;

/// What a connection writes: the frame, or JSON made for it ahead.
pub type Wire = Outgoing<Arc<TrackerToPeer>>;

/// One frame, queued for one or more connections.
#[derive(Debug)]
pub struct Queued {
    frame: Arc<TrackerToPeer>,
    /// The frame's JSON once a connection has written it; `None` inside if it could not
    /// be serialised (each connection then encodes the frame itself and meets the error).
    json: OnceLock<Option<FrameJson>>,
}

impl Queued {
    /// A frame for one connection.
    pub fn new(frame: TrackerToPeer) -> Arc<Self> {
        Self::shared(Arc::new(frame))
    }

    /// A frame that may be queued for several connections.
    pub fn shared(frame: Arc<TrackerToPeer>) -> Arc<Self> {
        Arc::new(Self {
            frame,
            json: OnceLock::new(),
        })
    }

    pub fn frame(&self) -> &TrackerToPeer {
        &self.frame
    }

    /// The frame as a recipient for whom this machine is `host` should see it: the JSON
    /// every such recipient shares, or its own copy when the frame reads differently for
    /// it.
    pub fn for_recipient(&self, host: Option<IpAddr>) -> Wire {
        let local = localize_shared(self.frame.clone(), host);
        if !Arc::ptr_eq(&local, &self.frame) {
            return Outgoing::Frame(local);
        }
        match self.json.get_or_init(|| FrameJson::of(&*self.frame).ok()) {
            Some(json) => Outgoing::Json(json.clone()),
            None => Outgoing::Frame(local),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use natter_protocol::tracker::{Member, MemberChange};

    fn update(addr: &str) -> TrackerToPeer {
        TrackerToPeer::MemberUpdate {
            group: "g".parse().expect("group"),
            version: 1,
            change: MemberChange::Joined {
                member: Member {
                    name: "m".parse().expect("name"),
                    addr: addr.parse().expect("addr"),
                    online: true,
                    key: natter_protocol::Identity::from_secrets(&[1; 32], &[1; 32]).public_key(),
                    last_seen: None,
                    status: None,
                    role: Default::default(),
                },
            },
        }
    }

    fn json(wire: &Wire) -> FrameJson {
        match wire {
            Outgoing::Json(json) => json.clone(),
            Outgoing::Frame(frame) => panic!("not made ahead: {frame:?}"),
        }
    }

    #[test]
    fn recipients_share_one_serialisation() {
        let queued = Queued::shared(Arc::new(update("192.168.1.9:5000")));
        let remote = Some("10.1.2.3".parse().expect("ip"));
        let first = json(&queued.for_recipient(None));
        let second = json(&queued.for_recipient(remote));
        assert_eq!(first, FrameJson::of(queued.frame()).expect("json"));
        // The very same bytes, not a second serialisation.
        assert_eq!(first.as_bytes().as_ptr(), second.as_bytes().as_ptr());
    }

    #[test]
    fn a_recipient_it_reads_differently_for_gets_its_own_copy() {
        let frame = update("127.0.0.1:4000");
        let queued = Queued::new(frame.clone());
        let remote = Some("10.1.2.3".parse().expect("ip"));
        match queued.for_recipient(remote) {
            Outgoing::Frame(copy) => {
                assert_eq!(*copy, crate::localize::localize(frame.clone(), remote));
            }
            Outgoing::Json(_) => panic!("a loopback member seen from elsewhere is rewritten"),
        }
        // Seen from this machine: the shared JSON, of the frame unchanged.
        assert_eq!(
            json(&queued.for_recipient(None)),
            FrameJson::of(&frame).expect("json")
        );
    }
}
