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

use bytes::BytesMut;
use tokio_util::codec::Framed;

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
