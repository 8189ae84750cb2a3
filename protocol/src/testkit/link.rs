//! Waits and raw writes on any encrypted link (`SecureFramed<T, In, Out>`), each bounded
//! by a timeout and failing with a message that says what was awaited.

use std::fmt::Debug;
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use serde::{Serialize, de::DeserializeOwned};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio_util::codec::Encoder as _;

use crate::secure::SecureFramed;

use super::WAIT;

/// The next frame within `wait`, or `None` when the link closed or failed (a decode error
/// ends a `Framed` stream). Panics when nothing came in time.
pub async fn recv_within<T, In, Out>(
    link: &mut SecureFramed<T, In, Out>,
    wait: Duration,
) -> Option<In>
where
    T: AsyncRead + AsyncWrite + Unpin,
    In: DeserializeOwned,
    Out: Serialize,
{
    match tokio::time::timeout(wait, link.next()).await {
        Ok(Some(Ok(frame))) => Some(frame),
        Ok(_) => None,
        Err(_) => panic!("no frame within {wait:?}"),
    }
}

/// [`recv_within`] [`WAIT`].
pub async fn recv<T, In, Out>(link: &mut SecureFramed<T, In, Out>) -> Option<In>
where
    T: AsyncRead + AsyncWrite + Unpin,
    In: DeserializeOwned,
    Out: Serialize,
{
    recv_within(link, WAIT).await
}

/// The next frame; panics (saying whether the link closed, failed or stayed silent) when
/// there is none within [`WAIT`].
pub async fn expect_frame<T, In, Out>(link: &mut SecureFramed<T, In, Out>) -> In
where
    T: AsyncRead + AsyncWrite + Unpin,
    In: DeserializeOwned,
    Out: Serialize,
{
    match tokio::time::timeout(WAIT, link.next()).await {
        Ok(Some(Ok(frame))) => frame,
        Ok(Some(Err(e))) => panic!("expected a frame, the link failed: {e}"),
        Ok(None) => panic!("expected a frame, the link closed"),
        Err(_) => panic!("expected a frame, none came within {WAIT:?}"),
    }
}

/// Every frame until the remote closes the link (or it fails); panics if it stays open
/// for [`WAIT`].
pub async fn until_closed<T, In, Out>(link: &mut SecureFramed<T, In, Out>) -> Vec<In>
where
    T: AsyncRead + AsyncWrite + Unpin,
    In: DeserializeOwned + Debug,
    Out: Serialize,
{
    let mut got = Vec::new();
    loop {
        match tokio::time::timeout(WAIT, link.next()).await {
            Ok(Some(Ok(frame))) => got.push(frame),
            Ok(None | Some(Err(_))) => return got,
            Err(_) => panic!("the link stayed open for {WAIT:?}; frames so far: {got:?}"),
        }
    }
}

/// Sends `frame` (flushed); panics if the link is broken.
pub async fn send<T, In, Out>(link: &mut SecureFramed<T, In, Out>, frame: Out)
where
    T: AsyncRead + AsyncWrite + Unpin,
    In: DeserializeOwned,
    Out: Serialize,
{
    link.send(frame)
        .await
        .unwrap_or_else(|e| panic!("sending a frame: {e}"));
}

/// The bytes `frame` makes on `link`'s session, without sending them, so a test can write
/// them under the codec itself: slowly, or only in part. Nothing else may then be sent
/// through the link (the session's nonce has moved on).
pub fn seal<T, In, Out: Serialize>(link: &mut SecureFramed<T, In, Out>, frame: Out) -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    link.codec_mut()
        .encode(frame, &mut buf)
        .unwrap_or_else(|e| panic!("sealing a frame: {e}"));
    buf.to_vec()
}

/// A slow sender: writes `bytes` under `link`'s codec one byte every `pace` (all at once
/// when `pace` is zero), then sends nothing more, reading and ignoring whatever the remote
/// sends meanwhile. Returns how long after the start the remote closed the link; runs
/// until then (callers bound it with a timeout or abort it).
pub async fn stall<T, In, Out>(
    mut link: SecureFramed<T, In, Out>,
    bytes: Vec<u8>,
    pace: Duration,
) -> Duration
where
    T: AsyncRead + AsyncWrite + Unpin,
    In: DeserializeOwned,
    Out: Serialize,
{
    let started = tokio::time::Instant::now();
    if pace.is_zero() && link.get_mut().write_all(&bytes).await.is_err() {
        return started.elapsed();
    }
    let mut unsent: &[u8] = if pace.is_zero() { &[] } else { &bytes };
    let mut next_write = started + pace;
    loop {
        if unsent.is_empty() {
            // Everything (or all we meant to) is sent: wait for the remote to give up.
            next_write = started + Duration::from_secs(3600);
        }
        tokio::select! {
            frame = link.next() => match frame {
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return started.elapsed(),
            },
            () = tokio::time::sleep_until(next_write) => {}
        }
        if let Some((first, rest)) = unsent.split_first() {
            if link.get_mut().write_all(&[*first]).await.is_err() {
                return started.elapsed();
            }
            unsent = rest;
            next_write += pace;
        }
    }
}
