//! Server-Sent Events framing: an encoder and an incremental decoder.
//!
//! The encoder turns an [`Event`] into the bytes of one SSE event (multi-line data becomes
//! several `data:` lines); [`KEEPALIVE`] is the comment smcp writes on idle streams. The
//! [`Decoder`] follows the WHATWG event-stream parsing rules and accepts input cut anywhere:
//! LF, CRLF and CR line ends, a leading BOM, comments, `id`, `event`, `retry` and multi-line
//! `data`. Neither side buffers more than one event.

mod decode;
mod encode;

use bytes::Bytes;

pub use decode::{DEFAULT_MAX_EVENT_BYTES, DecodeError, Decoder};
pub use encode::{encode, encode_into};

/// The comment written on an idle stream so that intermediaries keep it open.
pub const KEEPALIVE: Bytes = Bytes::from_static(b": keepalive\n\n");

/// One server-sent event.
///
/// `id` and `event` are the fields present in this event only: the decoder does not copy the
/// previous event's id forward (ask [`Decoder::last_event_id`] for the stream's current one).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// The `id` field, if the event has one. CR, LF and NUL are removed when encoding (they
    /// cannot be carried).
    pub id: Option<String>,
    /// The `event` field (the event type), if any; absent means `message`. CR and LF are
    /// removed when encoding.
    pub event: Option<String>,
    /// The data. Lines are joined with LF; when encoding, CRLF, CR and LF all split lines.
    pub data: Bytes,
    /// The `retry` field (reconnection time in milliseconds), if any.
    pub retry: Option<u64>,
}

impl Event {
    /// An event carrying `data` and nothing else.
    pub fn data(data: impl Into<Bytes>) -> Self {
        Event {
            data: data.into(),
            ..Event::default()
        }
    }
}

#[cfg(test)]
mod tests;
