//! Acks as the receiver goes, nacks by id (issue "delivered messages reported failed"): a
//! raw client writes a batch of chat frames in one write, with a bad frame or a refused
//! message among them, and checks the answers frame by frame against what the node showed.

use natter_protocol::DEFAULT_MAX_FRAME;
use natter_protocol::peer::{Body, SignedChat};
use natter_protocol::testkit::link::until_closed;
use natter_protocol::testkit::peer::PeerLink;

use super::*;

/// Valid messages sent ahead of the bad frame in one write.
const BATCH: u64 = 25;

/// How the last frame of a batch is spoiled, and what the node must say before closing.
#[derive(Debug, Clone, Copy)]
enum Spoiled {
    /// One bit flipped in the sealed bytes: decryption fails, so no parting frame can follow.
    BitFlip,
    /// A valid length prefix over bytes that are not a Noise message: as above.
    Garbage,
    /// A frame one byte over the limit (every chunk decrypts): a `bad_frame` parting error.
    Oversize,
    /// A second hello (a valid frame that breaks the protocol): a `hello_expected` error.
    SecondHello,
}

impl Spoiled {
    /// The error frame expected after the acks, if any.
    fn parting(self) -> Option<ErrorCode> {
        match self {
            Self::BitFlip | Self::Garbage => None,
            Self::Oversize => Some(ErrorCode::BadFrame),
            Self::SecondHello => Some(ErrorCode::HelloExpected),
        }
    }

    /// The spoiled frame's bytes on `link`'s session (after the batch was sealed), for the
    /// peer whose key is `to`.
    fn bytes(self, link: &mut PeerLink, mallory: &Identity, to: PublicKey) -> Vec<u8> {
        let seq = BATCH + 1;
        match self {
            Self::BitFlip => {
                let frame = private(mallory, "mallory", seq, to, "flipped");
                let mut sealed = testkit::seal(link, frame);
                let mid = 4 + (sealed.len() - 4) / 2;
                sealed[mid] ^= 0x10;
                sealed
            }
            Self::Garbage => {
                let mut bytes = 100u32.to_be_bytes().to_vec();
                bytes.extend((0..100u8).map(|i| i.wrapping_mul(37)));
                bytes
            }
            Self::Oversize => {
                link.codec_mut().set_max_frame(2 * DEFAULT_MAX_FRAME);
                let frame = oversize(mallory, seq, to);
                testkit::seal(link, frame)
            }
            Self::SecondHello => testkit::seal(link, testkit::peer_hello("mallory")),
        }
    }
}

/// A chat frame whose JSON is exactly one byte over [`DEFAULT_MAX_FRAME`], so the chunk
/// that crosses the limit is its last one and the node reads every byte that was sent.
fn oversize(author: &Identity, seq: u64, to: PublicKey) -> PeerFrame {
    let json_len = |frame: &PeerFrame| serde_json::to_vec(frame).expect("json").len();
    let empty = private(author, "mallory", seq, to, "");
    let PeerFrame::Chat(SignedChat { mut message, .. }) = empty.clone() else {
        unreachable!()
    };
    message.body = Body::text_only("x".repeat(DEFAULT_MAX_FRAME + 1 - json_len(&empty)));
    let frame = signed(author, message);
    assert_eq!(json_len(&frame), DEFAULT_MAX_FRAME + 1);
    frame
}

/// The texts of the messages `node` showed, up to and including `last` (sent after
/// everything else, so every earlier message is shown before it).
async fn shown_until(node: &mut Node, last: &str) -> Vec<String> {
    let mut texts = Vec::new();
    while texts.last().map(String::as_str) != Some(last) {
        match next(node, |e| matches!(e, Event::Message { .. })).await {
            Event::Message { text, .. } => texts.push(text),
            _ => unreachable!(),
        }
    }
    texts
}

/// After the batch: a fresh link delivers one more message, which the node shows after
/// all it showed from the batch; returns the texts shown from the batch.
async fn shown_from_batch(node: &mut Node, mallory: &Identity) -> Vec<String> {
    let (mut link, _) = raw_link(node.listen, mallory, "mallory").await;
    let seq = BATCH + 10;
    link.send(private(mallory, "mallory", seq, node.key, "after"))
        .await
        .expect("send");
    assert_eq!(acks(&mut link, 1).await, [format!("mallory/{seq}")]);
    let mut texts = shown_until(node, "after").await;
    texts.pop();
    texts
}

/// N valid frames and one spoiled frame in one write: the link closes (after the parting
/// error, or none after a decryption failure), and the node kept and showed exactly those
/// N messages. It acknowledges each only once it is stored, so the link may close before
/// some of the acks go out (those that do are in order, before the parting error): the
/// sender retries those on a fresh link, where each is acked and none shown again.
#[tokio::test]
async fn every_message_before_a_bad_frame_is_kept_and_acked_on_the_next_link() {
    for spoiled in [
        Spoiled::BitFlip,
        Spoiled::Garbage,
        Spoiled::Oversize,
        Spoiled::SecondHello,
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = AutoTracker::start().await;
        let mut b = node("bob", &dir, &t).await;
        let mallory = testkit::identity();
        t.register("mallory", mallory.public_key(), dead_addr().await);
        let (mut link, _) = raw_link(b.listen, &mallory, "mallory").await;
        let batch: Vec<PeerFrame> = (1..=BATCH)
            .map(|seq| private(&mallory, "mallory", seq, b.key, &format!("m{seq}")))
            .collect();
        let mut wire = Vec::new();
        for frame in &batch {
            wire.extend(testkit::seal(&mut link, frame.clone()));
        }
        wire.extend(spoiled.bytes(&mut link, &mallory, b.key));
        link.get_mut().write_all(&wire).await.expect("write");

        let rest = until_closed(&mut link).await;
        let (acked, others): (Vec<PeerFrame>, Vec<PeerFrame>) = rest
            .into_iter()
            .filter(|f| !matches!(f, PeerFrame::Hello { .. }))
            .partition(|f| matches!(f, PeerFrame::Ack { .. }));
        let acked: Vec<String> = acked
            .into_iter()
            .filter_map(|f| match f {
                PeerFrame::Ack { id } => Some(id.to_string()),
                _ => None,
            })
            .collect();
        let want: Vec<String> = (1..=BATCH).map(|seq| format!("mallory/{seq}")).collect();
        assert_eq!(acked[..], want[..acked.len()], "{spoiled:?}: acks in order");
        match spoiled.parting() {
            None => assert!(others.is_empty(), "{spoiled:?}: {others:?}"),
            Some(code) => assert!(
                matches!(&others[..], [PeerFrame::Error { code: got, .. }] if *got == code),
                "{spoiled:?}: expected one {code:?} error, got {others:?}"
            ),
        }
        let texts: Vec<String> = (1..=BATCH).map(|seq| format!("m{seq}")).collect();
        assert_eq!(
            shown_from_batch(&mut b, &mallory).await,
            texts,
            "{spoiled:?}"
        );
        // The sender retries the whole batch: each acked, none shown again.
        let (mut link, _) = raw_link(b.listen, &mallory, "mallory").await;
        for frame in batch {
            link.feed(frame).await.expect("feed");
        }
        let last = private(&mallory, "mallory", BATCH + 20, b.key, "last");
        link.feed(last).await.expect("feed");
        link.flush().await.expect("flush");
        let mut want = want;
        want.push(format!("mallory/{}", BATCH + 20));
        assert_eq!(acks(&mut link, want.len()).await, want, "{spoiled:?}");
        assert_eq!(shown_until(&mut b, "last").await, ["last"], "{spoiled:?}");
    }
}

/// The guarantee before messages were stored: every message before a bad frame is acked
/// before the link closes (so its sender never retries what was delivered).
#[tokio::test]
async fn every_message_before_a_bad_frame_is_acked_before_the_link_closes() {
    for spoiled in [
        Spoiled::BitFlip,
        Spoiled::Garbage,
        Spoiled::Oversize,
        Spoiled::SecondHello,
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = AutoTracker::start().await;
        let mut b = node("bob", &dir, &t).await;
        let mallory = testkit::identity();
        t.register("mallory", mallory.public_key(), dead_addr().await);
        let (mut link, _) = raw_link(b.listen, &mallory, "mallory").await;
        let mut wire = Vec::new();
        for seq in 1..=BATCH {
            let frame = private(&mallory, "mallory", seq, b.key, &format!("m{seq}"));
            wire.extend(testkit::seal(&mut link, frame));
        }
        wire.extend(spoiled.bytes(&mut link, &mallory, b.key));
        link.get_mut().write_all(&wire).await.expect("write");

        let want: Vec<String> = (1..=BATCH).map(|seq| format!("mallory/{seq}")).collect();
        assert_eq!(acks(&mut link, want.len()).await, want, "{spoiled:?}");
        let rest = until_closed(&mut link).await;
        match spoiled.parting() {
            None => assert!(rest.is_empty(), "{spoiled:?}: {rest:?}"),
            Some(code) => assert!(
                matches!(&rest[..], [PeerFrame::Error { code: got, .. }] if *got == code),
                "{spoiled:?}: expected one {code:?} error after the acks, got {rest:?}"
            ),
        }
        let want: Vec<String> = (1..=BATCH).map(|seq| format!("m{seq}")).collect();
        assert_eq!(
            shown_from_batch(&mut b, &mallory).await,
            want,
            "{spoiled:?}"
        );
    }
}

/// Refused messages in the middle of one write (one in another's name, a private one
/// addressed to someone else, a group message for a group the node is not in) are nacked
/// by their own ids, the ones around them acked by theirs, and the link stays up.
#[tokio::test]
async fn a_refused_message_mid_stream_is_nacked_by_its_own_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = AutoTracker::start().await;
    let mut b = node("bob", &dir, &t).await;
    let mallory = testkit::identity();
    t.register("mallory", mallory.public_key(), dead_addr().await);
    let other = testkit::identity();
    let (mut link, _) = raw_link(b.listen, &mallory, "mallory").await;

    let genuine = |seq: u64| private(&mallory, "mallory", seq, b.key, &format!("m{seq}"));
    // In carol's name, on mallory's link.
    let spoofed = private(&mallory, "carol", 2, b.key, "m2");
    // mallory's, but addressed to another key than bob's.
    let misdirected = private(&mallory, "mallory", 4, other.public_key(), "m4");
    let elsewhere = testkit::build::chat(&mallory, "mallory", 6, Some("elsewhere"), "g");
    let elsewhere = PeerFrame::Chat(elsewhere);
    let frames = [
        genuine(1),
        spoofed,
        genuine(3),
        misdirected,
        genuine(5),
        elsewhere,
        genuine(7),
        genuine(1), // a replay: acked again, not shown again
    ];
    let mut wire = Vec::new();
    for frame in frames {
        wire.extend(testkit::seal(&mut link, frame));
    }
    link.get_mut().write_all(&wire).await.expect("write");

    // A refusal is answered at once, an ack once the message is stored: each kind comes in
    // order, the two interleaved as they happen.
    let (mut acked, mut nacked) = (Vec::new(), Vec::new());
    while acked.len() + nacked.len() < 8 {
        match next_frame(&mut link).await {
            Some(PeerFrame::Ack { id }) => acked.push(id.to_string()),
            Some(PeerFrame::Nack { id, code, .. }) => {
                // A group we are not in may only be not yet: the sender retries that one.
                let want = if id.seq == 6 {
                    ErrorCode::NotMember
                } else {
                    ErrorCode::Unauthorized
                };
                assert_eq!(code, want, "nack of {id}");
                nacked.push(id.to_string());
            }
            other => panic!("expected an answer, got {other:?} after {acked:?}, {nacked:?}"),
        }
    }
    assert_eq!(nacked, ["carol/2", "mallory/4", "mallory/6"]);
    // The replay of mallory/1 is acked too (with the first copy if that was still being
    // stored, else at once): each message's first ack comes in order.
    let mut firsts: Vec<&String> = Vec::new();
    for id in &acked {
        if !firsts.contains(&id) {
            firsts.push(id);
        }
    }
    assert_eq!(firsts, ["mallory/1", "mallory/3", "mallory/5", "mallory/7"]);
    let replays = acked.iter().filter(|id| *id == "mallory/1").count();
    assert_eq!((acked.len(), replays), (5, 2), "{acked:?}");
    // The link is still up: one more message is acked on it.
    link.send(genuine(8)).await.expect("send");
    assert_eq!(acks(&mut link, 1).await, ["mallory/8"]);
    assert_eq!(
        shown_until(&mut b, "m8").await,
        ["m1", "m3", "m5", "m7", "m8"]
    );
}
