//! What [`super::SecureCodec`] writes: any `Serialize` frame, serialised as it is written,
//! or a frame's JSON made ahead of time.
//!
//! A frame that goes to many links (the tracker's member-list changes, each to every
//! member of the group) is serialised once ([`FrameJson::of`]) and then only sealed for
//! each link: encoding a [`FrameJson`] writes exactly what encoding the frame would.

use bytes::Bytes;
use serde::Serialize;

use crate::codec::CodecError;

/// A frame the codec can write.
pub trait EncodeFrame {
    /// The frame's JSON: written into `scratch` (empty on entry) and returned, or returned
    /// as made ahead.
    fn json<'a>(&'a self, scratch: &'a mut Vec<u8>) -> Result<&'a [u8], serde_json::Error>;
}

impl<T: Serialize> EncodeFrame for T {
    fn json<'a>(&'a self, scratch: &'a mut Vec<u8>) -> Result<&'a [u8], serde_json::Error> {
        serde_json::to_writer(&mut *scratch, self)?;
        Ok(scratch)
    }
}

/// A frame's JSON, made once. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameJson(Bytes);

impl FrameJson {
    /// `frame`'s JSON, as the codec would write it.
    pub fn of<T: Serialize + ?Sized>(frame: &T) -> Result<Self, CodecError> {
        Ok(Self(serde_json::to_vec(frame)?.into()))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The JSON's length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl EncodeFrame for FrameJson {
    fn json<'a>(&'a self, _: &'a mut Vec<u8>) -> Result<&'a [u8], serde_json::Error> {
        Ok(&self.0)
    }
}

/// A frame to write on a link whose frames are sometimes made ahead: `T` serialised now,
/// or JSON made once for many links.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing<T> {
    Frame(T),
    Json(FrameJson),
}

impl<T: Serialize> EncodeFrame for Outgoing<T> {
    fn json<'a>(&'a self, scratch: &'a mut Vec<u8>) -> Result<&'a [u8], serde_json::Error> {
        match self {
            Self::Frame(frame) => frame.json(scratch),
            Self::Json(json) => json.json(scratch),
        }
    }
}

impl<T> From<T> for Outgoing<T> {
    fn from(frame: T) -> Self {
        Self::Frame(frame)
    }
}
