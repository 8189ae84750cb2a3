//! History sync between members (issue 8), through the real binaries, against a member
//! who lies. Mallory is a raw peer in the group (the test kit's clients, driven by hand):
//! when carol asks her what of the group she lacks, she answers with forgeries of alice's
//! messages beside one message of her own. A relay can pass on what its authors signed,
//! and nothing else: carol must keep mallory's own message and none of the forgeries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use futures::{SinkExt as _, StreamExt as _};
use natter_protocol::Identity;
use natter_protocol::peer::{Body, PeerFrame, SignedChat};
use natter_protocol::secure;
use natter_protocol::testkit::{HANDSHAKE, TrackerClient, build};
use natter_protocol::tracker::TrackerToPeer;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

use util::durable::Member;
use util::{Tracker, WAIT, has_member, stay_online, temp};

/// What a raw member's listener hears, in order: a peer said hello (and how to answer it),
/// or a peer sent a frame.
enum Heard {
    Link(String, mpsc::UnboundedSender<PeerFrame>),
    Frame(String, Box<PeerFrame>),
}

/// A group member played by hand: registered with the real tracker (answering its pings),
/// accepting the peers that dial it (hello back, every chat acknowledged, as a member
/// would), and telling the test every frame it hears, so the test decides what to answer.
struct RawMember {
    me: Arc<Identity>,
    heard: mpsc::UnboundedReceiver<Heard>,
    /// Every frame heard so far, by who sent it.
    log: Vec<(String, PeerFrame)>,
    /// The way to answer each peer that dialled in, by the name it said hello with.
    links: HashMap<String, mpsc::UnboundedSender<PeerFrame>>,
}

impl RawMember {
    /// Listens on 127.0.0.1 (any port), then registers `name` with the tracker at
    /// `tracker`, in `group`, announcing that port.
    async fn join(tracker: SocketAddr, name: &str, group: &str) -> RawMember {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        let me = Arc::new(build::identity());
        let (tx, heard) = mpsc::unbounded_channel();
        tokio::spawn(listen(listener, me.clone(), name.to_owned(), tx));
        let (client, welcome) =
            TrackerClient::register(tracker, &me, None, name, port, &[group]).await;
        assert!(
            matches!(welcome, TrackerToPeer::Welcome { .. }),
            "{name} not welcomed: {welcome:?}"
        );
        tokio::spawn(stay_online(client));
        RawMember {
            me,
            heard,
            log: Vec::new(),
            links: HashMap::new(),
        }
    }

    /// The first frame from `from` (heard before or within [`WAIT`]) that `pick` takes;
    /// `None` if none came in time.
    async fn wait_for<T>(
        &mut self,
        from: &str,
        mut pick: impl FnMut(&PeerFrame) -> Option<T>,
    ) -> Option<T> {
        let earlier = self.log.iter().filter(|(who, _)| who == from);
        if let Some(found) = earlier.filter_map(|(_, frame)| pick(frame)).next() {
            return Some(found);
        }
        let deadline = Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.heard.recv()).await {
                Ok(Some(Heard::Link(who, out))) => {
                    self.links.insert(who, out);
                }
                Ok(Some(Heard::Frame(who, frame))) => {
                    let found = if who == from { pick(&frame) } else { None };
                    self.log.push((who, *frame));
                    if found.is_some() {
                        return found;
                    }
                }
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Sends `frame` on the link `to` dialled in on.
    fn send(&self, to: &str, frame: PeerFrame) {
        self.links
            .get(to)
            .unwrap_or_else(|| panic!("{to} never dialled in"))
            .send(frame)
            .unwrap_or_else(|_| panic!("the link from {to} is closed"));
    }

    /// What was heard, one line a frame (shortened), for failure messages.
    fn heard(&self) -> String {
        let lines: Vec<String> = self
            .log
            .iter()
            .map(|(who, frame)| {
                let frame = format!("{frame:?}");
                format!("{who}: {}", frame.chars().take(160).collect::<String>())
            })
            .collect();
        format!("[\n{}\n]", lines.join("\n"))
    }
}

/// Accepts every peer that dials in, each served on a task of its own.
async fn listen(
    listener: TcpListener,
    me: Arc<Identity>,
    name: String,
    heard: mpsc::UnboundedSender<Heard>,
) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(serve(stream, me.clone(), name.clone(), heard.clone()));
    }
}

/// One peer's link: the handshake, its hello and ours, then every frame it sends goes to
/// the test (a chat acknowledged first), and every frame the test gives goes out.
async fn serve(
    stream: TcpStream,
    me: Arc<Identity>,
    name: String,
    heard: mpsc::UnboundedSender<Heard>,
) {
    let accepted = secure::accept::<_, PeerFrame, PeerFrame>(stream, &me, HANDSHAKE).await;
    let Ok((mut link, _)) = accepted else {
        return;
    };
    let who = match link.next().await {
        Some(Ok(PeerFrame::Hello { name, .. })) => name.to_string(),
        _ => return,
    };
    if link.send(build::peer_hello(&name)).await.is_err() {
        return;
    }
    let (out, mut outgoing) = mpsc::unbounded_channel();
    if heard.send(Heard::Link(who.clone(), out)).is_err() {
        return;
    }
    loop {
        tokio::select! {
            frame = link.next() => {
                let Some(Ok(frame)) = frame else { return };
                if let PeerFrame::Chat(chat) = &frame {
                    let ack = PeerFrame::Ack { id: chat.message.id.clone() };
                    if link.send(ack).await.is_err() {
                        return;
                    }
                }
                if heard.send(Heard::Frame(who.clone(), Box::new(frame))).is_err() {
                    return;
                }
            }
            Some(frame) = outgoing.recv() => {
                if link.send(frame).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Waits until `m` sees each of `names` online in `group`.
async fn wait_online(m: &mut Member, group: &str, names: &[&str]) {
    m.peer()
        .wait_list(group, &format!("{names:?} online"), |list| {
            names.iter().all(|n| has_member(list, n, true))
        })
        .await;
}

/// The id and text of every `message` event `m` printed.
fn shown(m: &Member) -> Vec<(String, String)> {
    m.events()
        .filter(|v| v["event"] == "message")
        .map(id_text)
        .collect()
}

/// A `message` event's (or a history entry's) id and text.
fn id_text(v: &Value) -> (String, String) {
    let field = |f: &str| v[f].as_str().unwrap_or_default().to_owned();
    (field("id"), field("text"))
}

#[tokio::test]
async fn a_relay_cannot_forge_alter_or_misattribute_history() {
    let dir = temp();
    let tracker = Tracker::start(dir.path()).await;
    let addr = tracker.addr.to_string();
    let mut alice = Member::start(dir.path(), "alice", &addr, &[]).await;
    alice.peer().join("g").await;
    let mut mallory = RawMember::join(tracker.addr, "mallory", "g").await;
    wait_online(&mut alice, "g", &["alice", "mallory"]).await;
    // carol joins last: from her first list she asks the members (mallory among them)
    // what of #g she lacks. (Nobody asks a member who just joined: it has nothing yet.)
    let mut carol = Member::start(dir.path(), "carol", &addr, &[]).await;
    carol.peer().join("g").await;
    for m in [&mut alice, &mut carol] {
        wait_online(m, "g", &["alice", "carol", "mallory"]).await;
    }

    // alice speaks in #g: mallory, a member, gets it with alice's signature.
    let hello = alice.send("#g", "hello").await;
    let hello_id = hello["id"].as_str().unwrap().to_owned();
    let genuine: Option<SignedChat> = mallory
        .wait_for("alice", |frame| match frame {
            PeerFrame::Chat(chat) if chat.message.id.to_string() == hello_id => Some(chat.clone()),
            _ => None,
        })
        .await;
    let genuine = genuine.unwrap_or_else(|| {
        alice.fail(&format!(
            "mallory never got {hello_id}; she heard: {}",
            mallory.heard()
        ))
    });
    carol.wait_received(std::slice::from_ref(&hello_id)).await;

    // carol asked mallory what of #g she lacks when she joined.
    let g = build::group("g");
    let asked = mallory
        .wait_for("carol", |frame| {
            matches!(frame, PeerFrame::SyncAsk { group, .. } if *group == g).then_some(())
        })
        .await;
    if asked.is_none() {
        carol.fail(&format!(
            "carol never asked mallory for #g's history within {WAIT:?}; mallory heard: {}",
            mallory.heard()
        ));
    }

    // The answer: alice's next three numbers, forged three ways, and one of mallory's own.
    let n = genuine.message.id.seq;
    let alice_key = genuine.message.key;
    // (a) alice's signed message, altered after she signed it: another number and text.
    let mut altered = genuine.clone();
    altered.message.id.seq = n + 1;
    altered.message.body = Body::text_only("altered");
    // (a') alice's name and key, signed with mallory's key.
    let mut claimed = build::chat_message("alice", n + 2, Some("g"), "forged");
    claimed.key = alice_key;
    let forged = build::signed_chat(&mallory.me, claimed);
    // (b) alice's name on mallory's key (signed with it: the signature itself is good).
    let misattributed = build::chat(&mallory.me, "alice", n + 3, Some("g"), "misattributed");
    // (c) mallory's own, as any member would relay it.
    let own = build::chat(&mallory.me, "mallory", 1, Some("g"), "mallory's own");
    let page = PeerFrame::SyncPage {
        group: g.clone(),
        messages: vec![altered, forged, misattributed, own],
        more: false,
    };
    mallory.send("carol", page);

    let got = carol.peer().wait_message("mallory's own").await;
    assert_eq!(got["from"], "mallory", "{got}");
    assert_eq!(got["id"], "mallory/1", "{got}");
    assert_eq!(got["group"], "g", "{got}");
    assert_eq!(
        got["verified"], true,
        "checked against mallory's key: {got}"
    );

    // alice's real next three: the forgeries took none of their numbers.
    let mut real = Vec::new();
    for text in ["second", "third", "fourth"] {
        let sending = alice.send("#g", text).await;
        real.push(sending["id"].as_str().unwrap().to_owned());
    }
    let expected_ids: Vec<String> = (1..=3).map(|i| format!("alice/{}", n + i)).collect();
    assert_eq!(real, expected_ids, "alice numbers her messages 1, 2, 3...");
    carol.wait_received(&real).await;

    let forgeries = ["altered", "forged", "misattributed"];
    let shown = shown(&carol);
    let bad: Vec<&(String, String)> = shown
        .iter()
        .filter(|(_, text)| forgeries.contains(&text.as_str()))
        .collect();
    if !bad.is_empty() {
        carol.fail(&format!("carol showed forgeries: {bad:?}"));
    }
    let expected: BTreeMap<String, String> = [
        (hello_id.clone(), "hello"),
        ("mallory/1".to_owned(), "mallory's own"),
        (real[0].clone(), "second"),
        (real[1].clone(), "third"),
        (real[2].clone(), "fourth"),
    ]
    .into_iter()
    .map(|(id, text)| (id, text.to_owned()))
    .collect();
    let shown: BTreeMap<String, String> = shown.into_iter().collect();
    assert_eq!(shown, expected, "carol's `message` events, by id");

    // carol is still running, and her store holds what she showed and nothing forged.
    if let Ok(Some(status)) = carol.peer().child.try_wait() {
        carol.fail(&format!("carol exited: {status}"));
    }
    let history = carol.history("#g", 50).await;
    let stored: BTreeMap<String, String> = history.iter().map(id_text).collect();
    assert_eq!(stored, expected, "carol's /history #g, by id: {history:?}");
}
