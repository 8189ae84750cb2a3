//! What a connection keeps between frames: almost nothing.
//!
//! Most links are idle most of the time (a ping every heartbeat), and a tracker holds
//! thousands of them (a peer, hundreds), so per-connection buffers are most of what an
//! idle link costs.
//! `Framed` starts both of its buffers at 8 KiB and keeps each at the largest size it ever
//! grew to (a big group's member list is a frame of over 100 KiB). So after each frame read
//! the read buffer, if it holds nothing more, goes back to [`IDLE_READ`] bytes, and after
//! each flush the write buffer is let go (the next frame is encoded into a buffer of
//! exactly its size). The cost is an allocation per frame, against the memory of every
//! idle connection.
//!
//! A link read through [`next`] keeps no read buffer at all while it waits: `Framed` would
//! hold one (and, once a frame has been split off it, a shared header for it) through
//! every wait for the socket, so [`next`] waits for the socket to be readable first and
//! gives the buffer back until then. A tracker holds thousands of idle links.

use std::future::{Future, poll_fn};
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use futures::StreamExt;
use tokio::net::TcpStream;
use tokio_util::codec::{Decoder, Framed};

/// The read buffer an idle connection keeps: room for a ping or a join in one read.
pub const IDLE_READ: usize = 256;

/// After a frame is read: a read buffer with nothing more in it shrinks to [`IDLE_READ`].
/// (A partly read frame stays where it is.)
pub fn read<T, C>(framed: &mut Framed<T, C>) {
    let buffer = framed.read_buffer_mut();
    if buffer.is_empty() && buffer.capacity() > IDLE_READ {
        *buffer = BytesMut::with_capacity(IDLE_READ);
    }
}

/// The next frame from `framed`, as `framed.next()` gives it, holding no read buffer while
/// nothing is buffered: that wait is for the socket itself, and only once it is readable
/// does `framed` get [`IDLE_READ`] bytes to read into (more as the frame needs). Bytes
/// already buffered (a frame read in part, or frames that came together) stay.
pub fn next<C: Decoder>(
    framed: &mut Framed<TcpStream, C>,
) -> impl Future<Output = Option<Result<C::Item, C::Error>>> + '_ {
    poll_fn(|cx| poll_next(framed, cx))
}

fn poll_next<C: Decoder>(
    framed: &mut Framed<TcpStream, C>,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<C::Item, C::Error>>> {
    if framed.read_buffer().is_empty() {
        if framed.read_buffer().capacity() > 0 {
            *framed.read_buffer_mut() = BytesMut::new();
        }
        // Readiness also reports the end of the stream and socket errors: the read below
        // then finds them.
        if let Err(e) = ready!(framed.get_ref().poll_read_ready(cx)) {
            return Poll::Ready(Some(Err(e.into())));
        }
        framed.read_buffer_mut().reserve(IDLE_READ);
    }
    framed.poll_next_unpin(cx)
}

/// After a flush: the emptied write buffer is let go.
pub fn written<T, C>(framed: &mut Framed<T, C>) {
    let buffer = framed.write_buffer_mut();
    if buffer.is_empty() {
        *buffer = BytesMut::new();
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use futures::{SinkExt, StreamExt};
    use tokio_util::codec::LengthDelimitedCodec;

    use super::*;

    #[tokio::test]
    async fn buffers_shrink_between_frames_and_every_frame_still_arrives_whole() {
        let (near, far) = tokio::io::duplex(1 << 20);
        let mut near = Framed::new(near, LengthDelimitedCodec::new());
        let mut far = Framed::new(far, LengthDelimitedCodec::new());
        for len in [100, 200_000, 10, 70_000] {
            near.send(Bytes::from(vec![7u8; len])).await.expect("send");
            written(&mut near);
            assert_eq!(near.write_buffer().capacity(), 0, "let go after {len}");
            let frame = far.next().await.expect("a frame").expect("read");
            assert_eq!(frame.len(), len);
            read(&mut far);
            assert!(
                far.read_buffer().capacity() <= IDLE_READ,
                "shrunk after {len}"
            );
        }
    }

    /// Two framed ends of a loopback TCP connection.
    async fn tcp_pair() -> (
        Framed<TcpStream, LengthDelimitedCodec>,
        Framed<TcpStream, LengthDelimitedCodec>,
    ) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (near, far) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let codec = LengthDelimitedCodec::new;
        (
            Framed::new(near.expect("connect"), codec()),
            Framed::new(far.expect("accept").0, codec()),
        )
    }

    #[tokio::test]
    async fn next_waits_with_no_read_buffer_and_reads_every_frame_whole() {
        let (mut near, mut far) = tcp_pair().await;
        let mut waiting = Box::pin(async {
            let mut got = Vec::new();
            while let Some(frame) = next(&mut far).await {
                got.push(frame.expect("read").len());
                if got.len() == 4 {
                    break;
                }
            }
            (got, far)
        });
        // Nothing sent yet: the reader waits, holding no buffer.
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        // Small and large frames, one alone and two in one write.
        near.send(Bytes::from(vec![1u8; 10])).await.expect("send");
        near.send(Bytes::from(vec![2u8; 100_000]))
            .await
            .expect("send");
        near.feed(Bytes::from(vec![3u8; 5])).await.expect("feed");
        near.feed(Bytes::from(vec![4u8; 300])).await.expect("feed");
        SinkExt::<Bytes>::flush(&mut near).await.expect("flush");
        let (got, mut far) = waiting.await;
        assert_eq!(got, vec![10, 100_000, 5, 300]);
        let mut again = Box::pin(next(&mut far));
        assert!(futures::poll!(again.as_mut()).is_pending());
        drop(again);
        assert_eq!(far.read_buffer().capacity(), 0, "no buffer while waiting");
        // The end of the stream is the end of the frames.
        drop(near);
        assert!(next(&mut far).await.is_none());
    }

    #[tokio::test]
    async fn a_partly_read_frame_is_kept() {
        let (near, far) = tokio::io::duplex(1 << 20);
        let mut near = Framed::new(near, LengthDelimitedCodec::new());
        let mut far = Framed::new(far, LengthDelimitedCodec::new());
        // Two frames in one write: after the first is read, the second waits in the buffer.
        near.feed(Bytes::from(vec![1u8; 5_000]))
            .await
            .expect("feed");
        near.feed(Bytes::from(vec![2u8; 5_000]))
            .await
            .expect("feed");
        SinkExt::<Bytes>::flush(&mut near).await.expect("flush");
        let first = far.next().await.expect("a frame").expect("read");
        read(&mut far);
        assert!(
            !far.read_buffer().is_empty(),
            "the second frame is still there"
        );
        let second = far.next().await.expect("a frame").expect("read");
        assert_eq!((first[0], second[0], second.len()), (1, 2, 5_000));
    }
}
