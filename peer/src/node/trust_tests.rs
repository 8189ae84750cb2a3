//! Unit tests of the receive-side checks: signatures, membership, pins, blocks, links let
//! on unverified.

use natter_protocol::identity::sign_chat;
use natter_protocol::tracker::Member;
use natter_protocol::{GroupName, Identity};

use super::*;

fn id(n: u8) -> Identity {
    Identity::from_secrets(&[n; 32], &[n.wrapping_add(50); 32])
}

fn name(s: &str) -> Name {
    s.parse().expect("name")
}

fn group(s: &str) -> GroupName {
    s.parse().expect("group")
}

fn chat(from: &str, seq: u64, group: Option<&str>) -> ChatMessage {
    ChatMessage {
        id: format!("{from}/{seq}").parse().expect("id"),
        from: name(from),
        key: natter_protocol::testkit::build::identity_for(from).public_key(),
        group: group.map(|g| g.parse().expect("group")),
        to: None,
        body: natter_protocol::peer::Body::text_only("hi"),
        sent_at: 1,
    }
}

fn member(n: &str, key: PublicKey) -> Member {
    Member {
        name: name(n),
        addr: "127.0.0.1:9".parse().expect("addr"),
        online: true,
        key,
        last_seen: None,
        status: None,
        role: Default::default(),
    }
}

fn cache_with(g: &str, members: Vec<Member>) -> MemberCache {
    let mut cache = MemberCache::default();
    cache.set_full(group(g), crate::node::members::GroupList::new(1, members));
    cache
}

#[test]
fn signatures_must_be_the_links_key_over_exactly_this_message() {
    let bob = id(1);
    let msg = chat("bob", 1, None);
    let signed = SignedChat {
        sig: sign_chat(&bob, &msg),
        message: msg.clone(),
    };
    assert_eq!(
        check_signed(&name("bob"), &bob.public_key(), &signed),
        Ok(())
    );
    // Another key on the link: the signature does not verify.
    let err = check_signed(&name("bob"), &id(2).public_key(), &signed).expect_err("forged");
    assert!(err.contains("bad signature"), "{err}");
    // Altered text.
    let mut altered = signed.clone();
    altered.message.body = natter_protocol::peer::Body::text_only("hI");
    assert!(check_signed(&name("bob"), &bob.public_key(), &altered).is_err());
    // A link that said hello as mallory cannot carry bob's messages.
    let err = check_signed(&name("mallory"), &bob.public_key(), &signed).expect_err("spoof");
    assert!(err.contains("speaks for mallory"), "{err}");
    // The id's sender must be `from` too.
    let mut other_id = msg;
    other_id.id = "carol/1".parse().expect("id");
    let signed = SignedChat {
        sig: sign_chat(&bob, &other_id),
        message: other_id,
    };
    assert!(check_signed(&name("bob"), &bob.public_key(), &signed).is_err());
}

#[test]
fn group_messages_only_from_listed_members_with_their_listed_key() {
    let (bob, eve) = (id(1).public_key(), id(2).public_key());
    let cache = cache_with("g", vec![member("bob", bob)]);
    let mut trust = Trust::default();
    assert_eq!(
        trust.authorize(&bob, &chat("bob", 1, Some("g")), &cache, false),
        Verdict::Accept
    );
    // Not in our list of the group: maybe not yet (lists reach members one after
    // another), so not a final refusal: the sender retries.
    let v = trust.authorize(&eve, &chat("eve", 1, Some("g")), &cache, false);
    assert!(
        matches!(v, Verdict::NotMember(ref r) if r.contains("not a member")),
        "{v:?}"
    );
    assert!(!v.acks());
    // A group we are not in (yet): the same.
    let v = trust.authorize(&bob, &chat("bob", 2, Some("other")), &cache, false);
    assert!(matches!(v, Verdict::NotMember(_)), "{v:?}");
    // Claiming bob's name with another key (the link would have to say hello as bob).
    let v = trust.authorize(&eve, &chat("bob", 3, Some("g")), &cache, false);
    assert!(
        matches!(v, Verdict::Refused(ref r) if r.contains("member list")),
        "{v:?}"
    );
    assert!(!v.acks());
}

#[test]
fn private_messages_need_a_pin_and_a_changed_key_is_refused_until_trusted() {
    let (bob, bob2) = (id(1).public_key(), id(2).public_key());
    let cache = MemberCache::default();
    let mut trust = Trust::default();
    // Never verified (no pin): refused, and not pinned on its word.
    let v = trust.authorize(&bob, &chat("bob", 1, None), &cache, false);
    assert!(
        matches!(v, Verdict::Refused(ref r) if r.contains("never verified")),
        "{v:?}"
    );
    assert!(trust.take_dirty_pins().is_none());
    // The link's hello was vetted: its key is pinned.
    assert_eq!(trust.presented(&name("bob"), bob), Ok(()));
    assert_eq!(
        trust.authorize(&bob, &chat("bob", 1, None), &cache, false),
        Verdict::Accept
    );
    assert!(trust.take_dirty_pins().is_some());
    assert!(trust.take_dirty_pins().is_none());
    let Verdict::KeyChanged(change) = trust.authorize(&bob2, &chat("bob", 2, None), &cache, false)
    else {
        panic!("expected a key change")
    };
    assert!(change.first);
    assert_eq!((change.pinned, change.presented), (bob, bob2));
    let text = change.message();
    assert!(
        text.contains("key changed") && text.contains("/trust bob"),
        "{text}"
    );
    // Reported once per presented key.
    let Verdict::KeyChanged(again) = trust.authorize(&bob2, &chat("bob", 3, None), &cache, false)
    else {
        panic!("still refused")
    };
    assert!(!again.first);
    assert!(trust.expected(&name("bob"), Some(bob)).is_err());
    // Only the waiting key can be trusted.
    assert!(!trust.trust(&name("bob"), bob));
    assert!(!trust.trust(&name("bob"), id(9).public_key()));
    assert!(trust.trust(&name("bob"), bob2));
    assert!(!trust.trust(&name("bob"), bob2));
    assert_eq!(
        trust.authorize(&bob2, &chat("bob", 4, None), &cache, false),
        Verdict::Accept
    );
    assert_eq!(trust.expected(&name("bob"), None), Ok(bob2));
}

#[test]
fn expected_keys_come_from_pins_then_member_lists() {
    let (bob, other) = (id(1).public_key(), id(2).public_key());
    let mut trust = Trust::default();
    assert!(trust.expected(&name("bob"), None).is_err());
    assert_eq!(trust.expected(&name("bob"), Some(bob)), Ok(bob));
    assert_eq!(trust.presented(&name("bob"), bob), Ok(()));
    assert_eq!(trust.expected(&name("bob"), None), Ok(bob));
    let err = trust
        .expected(&name("bob"), Some(other))
        .expect_err("mismatch");
    assert!(err.to_string().contains("key changed"), "{err}");
}

#[test]
fn blocked_keys_are_acked_but_not_shown() {
    let (bob, carol) = (id(1).public_key(), id(3).public_key());
    let cache = MemberCache::default();
    let mut trust = Trust::default();
    assert_eq!(trust.presented(&name("bob"), bob), Ok(()));
    // Duplicates are the core's business now (by author key and seq, before any check):
    // the same message twice is simply accepted twice here.
    let msg = chat("bob", 7, None);
    assert_eq!(trust.authorize(&bob, &msg, &cache, false), Verdict::Accept);
    assert_eq!(trust.authorize(&bob, &msg, &cache, false), Verdict::Accept);

    assert!(!trust.block(&name("zed"), &[]), "unknown name");
    assert!(trust.block(&name("bob"), &[]));
    assert!(trust.take_dirty_blocked().is_some());
    let v = trust.authorize(&bob, &chat("bob", 8, None), &cache, false);
    assert_eq!(v, Verdict::Blocked);
    assert!(v.acks());
    assert!(trust.is_blocked(&bob));
    // Blocking by a member-list key works for a name never pinned.
    assert!(trust.block(&name("carol"), &[carol]));
    assert!(trust.is_blocked(&carol));
    assert!(trust.unblock(&name("bob")));
    assert!(!trust.unblock(&name("bob")));
    assert_eq!(
        trust.authorize(&bob, &chat("bob", 9, None), &cache, false),
        Verdict::Accept
    );
}

#[test]
fn a_member_list_key_other_than_the_pin_is_a_key_change_waiting_for_trust() {
    let (bob, bob2) = (id(1).public_key(), id(2).public_key());
    let mut trust = Trust::default();
    // Nothing pinned: a listed key is no change, and is not pinned by being listed.
    assert_eq!(trust.listed(&name("bob"), bob), Ok(()));
    assert_eq!(trust.pinned(&name("bob")), None);
    assert_eq!(trust.presented(&name("bob"), bob), Ok(()));
    assert_eq!(trust.listed(&name("bob"), bob), Ok(()));
    let change = trust.listed(&name("bob"), bob2).expect_err("changed");
    assert!(change.first);
    assert_eq!((change.pinned, change.presented), (bob, bob2));
    assert_eq!(trust.pending(&name("bob")), Some(bob2));
    assert!(!trust.listed(&name("bob"), bob2).expect_err("still").first);
    let err = trust
        .expected(&name("bob"), Some(bob2))
        .expect_err("refused");
    assert!(err.to_string().contains("key changed"), "{err}");
    assert!(trust.trust(&name("bob"), bob2));
    assert_eq!(trust.expected(&name("bob"), Some(bob2)), Ok(bob2));
}

#[test]
fn an_unverified_link_may_speak_privately_but_a_pin_still_holds() {
    let (bob, eve) = (id(1).public_key(), id(2).public_key());
    let cache = cache_with("g", vec![member("bob", bob)]);
    let mut trust = Trust::default();
    // No pin, no binding (the tracker is down): accepted, and nothing pinned on its word.
    assert_eq!(
        trust.authorize(&bob, &chat("bob", 1, None), &cache, true),
        Verdict::Accept
    );
    assert_eq!(trust.pinned(&name("bob")), None);
    assert!(trust.take_dirty_pins().is_none());
    // A group message on such a link still needs the member list's key.
    let v = trust.authorize(&eve, &chat("bob", 2, Some("g")), &cache, true);
    assert!(matches!(v, Verdict::Refused(_)), "{v:?}");
    // A key pinned earlier is enforced with the tracker down: another key is refused,
    // and no key change is recorded (nobody vouched for the new one).
    assert_eq!(trust.presented(&name("bob"), bob), Ok(()));
    let v = trust.authorize(&eve, &chat("bob", 3, None), &cache, true);
    assert!(
        matches!(v, Verdict::Refused(ref r) if r.contains("pinned key")),
        "{v:?}"
    );
    assert_eq!(trust.pending(&name("bob")), None);
    assert_eq!(
        trust.authorize(&bob, &chat("bob", 4, None), &cache, true),
        Verdict::Accept
    );
    // A blocked key is blocked, verified or not.
    assert!(trust.block(&name("bob"), &[]));
    assert_eq!(
        trust.authorize(&bob, &chat("bob", 5, None), &cache, true),
        Verdict::Blocked
    );
}
