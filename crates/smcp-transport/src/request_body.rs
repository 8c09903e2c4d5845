//! A request body read once, with its JSON-RPC reading: what every backend call carries.
//!
//! The proxy reads a routed request's body whole, up to its size limit, at one point of the
//! request path (after authentication, before the call), so that MCP-aware stages there
//! (policy, audit, rate limits) see the same parsed JSON-RPC envelope whichever kind of backend
//! the route leads to. The same [`RequestBody`] is then handed to the backend: an HTTP backend
//! forwards its bytes unchanged, a stdio backend takes its parsed message, so nothing is read or
//! parsed twice.
//!
//! The reading is lazy: [`RequestBody::envelope`] parses on first use, so a route whose stages
//! do not look (an HTTP backend with no policy) pays nothing for it. Nothing here judges the
//! message: a batch, or bytes that are not JSON-RPC, is reported as such, and each backend
//! decides what to answer (an HTTP backend forwards them as they are; a stdio backend refuses
//! them).
//!
//! ```
//! use bytes::Bytes;
//! use smcp_transport::request_body::{Envelope, RequestBody};
//!
//! let body = RequestBody::from_bytes(Bytes::from_static(
//!     br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#,
//! ));
//! let Envelope::One(message) = body.envelope() else { panic!("one message") };
//! assert_eq!(message.method(), Some("tools/call"));
//! // The bytes are what arrived, unchanged.
//! assert!(body.bytes().starts_with(br#"{"jsonrpc""#));
//! ```

use std::cell::OnceCell;

use bytes::Bytes;

use crate::body::{Body, ReadError, read_bounded};
use crate::jsonrpc::{self, Message, ParseError};

/// What JSON-RPC sees in a request body.
#[derive(Debug)]
pub enum Envelope {
    /// One JSON-RPC message (request, notification or response).
    One(Message),
    /// A JSON-RPC batch (a non-empty array): each element parsed on its own, keeping its own
    /// bytes; an element that is not a message has its own error.
    Batch(Vec<Result<Message, ParseError>>),
    /// Not a JSON-RPC message: not JSON (an empty body included), not UTF-8, an empty array, or
    /// a JSON value that is not a valid message.
    Invalid(ParseError),
}

impl Envelope {
    /// Reads `bytes` (a clone of the buffer, no copy).
    fn read(bytes: &Bytes) -> Self {
        match jsonrpc::parse(bytes.clone()) {
            Ok(message) => Envelope::One(message),
            Err(ParseError::Batch) => match jsonrpc::parse_batch(bytes.clone()) {
                Ok(elements) => Envelope::Batch(elements),
                Err(error) => Envelope::Invalid(error),
            },
            Err(error) => Envelope::Invalid(error),
        }
    }
}

/// A request body read whole, and its JSON-RPC [`Envelope`] once something asks for it.
///
/// Invariant: the envelope, once read, is the reading of exactly [`RequestBody::bytes`]; the
/// bytes never change.
#[derive(Debug)]
pub struct RequestBody {
    bytes: Bytes,
    /// Boxed: a request is moved through several futures on its way to the backend, and an
    /// inline envelope (a parsed message is some 200 bytes) would be copied with it each time.
    envelope: OnceCell<Box<Envelope>>,
}

impl RequestBody {
    /// Reads `body` whole, at most `limit` bytes of it (see [`read_bounded`]).
    ///
    /// # Errors
    ///
    /// [`ReadError::TooLarge`] for a body over `limit` (answer 413, naming the limit);
    /// [`ReadError::Failed`] for a body that broke off (answer 400).
    pub async fn read(body: Body, limit: u64) -> Result<Self, ReadError> {
        Ok(Self::from_bytes(read_bounded(body, limit).await?))
    }

    /// A body that has already been read.
    pub fn from_bytes(bytes: Bytes) -> Self {
        Self {
            bytes,
            envelope: OnceCell::new(),
        }
    }

    /// The bytes as they arrived: what is forwarded.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The JSON-RPC reading of the bytes, parsed on the first call.
    pub fn envelope(&self) -> &Envelope {
        self.envelope
            .get_or_init(|| Box::new(Envelope::read(&self.bytes)))
    }

    /// The bytes, dropping the reading.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// The reading (parsed now if nothing asked for it before), dropping the bytes: each
    /// message keeps its own.
    pub fn into_envelope(self) -> Envelope {
        match self.envelope.into_inner() {
            Some(envelope) => *envelope,
            None => Envelope::read(&self.bytes),
        }
    }

    /// Whether the body is empty (a `GET` or `DELETE`, usually).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::{Envelope, RequestBody};
    use crate::jsonrpc::ParseError;

    fn body(text: &'static str) -> RequestBody {
        RequestBody::from_bytes(Bytes::from_static(text.as_bytes()))
    }

    #[test]
    fn a_message_a_batch_and_garbage_are_told_apart() {
        let one = body(r#"{"jsonrpc":"2.0","id":"a","method":"ping"}"#);
        assert!(matches!(one.envelope(), Envelope::One(m) if m.method() == Some("ping")));

        let batch = body(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}, 7]"#);
        let Envelope::Batch(elements) = batch.envelope() else {
            panic!("a batch: {:?}", batch.envelope());
        };
        assert_eq!(elements.len(), 2);
        let first = elements[0].as_ref().unwrap();
        assert_eq!(
            &first.bytes()[..],
            br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#
        );
        assert!(elements[1].is_err());

        assert!(matches!(
            body("[]").envelope(),
            Envelope::Invalid(ParseError::EmptyBatch)
        ));
        assert!(matches!(
            body("").envelope(),
            Envelope::Invalid(ParseError::Json(_))
        ));
        assert!(matches!(
            body("{\"jsonrpc\":\"2.0\"").envelope(),
            Envelope::Invalid(ParseError::Json(_))
        ));
    }

    #[test]
    fn the_bytes_stay_as_they_arrived_and_are_read_once() {
        let text = " {\"jsonrpc\":\"2.0\", \"method\":\"notifications/initialized\"}\n";
        let read = body(text);
        let first: *const Envelope = read.envelope();
        let second: *const Envelope = read.envelope();
        assert_eq!(first, second, "parsed once, then kept");
        assert_eq!(&read.bytes()[..], text.as_bytes());
        let Envelope::One(message) = read.into_envelope() else {
            panic!("one message");
        };
        assert_eq!(&message.bytes()[..], text.as_bytes());
    }

    #[test]
    fn into_envelope_reads_a_body_nobody_looked_at() {
        let unread = body(r#"{"jsonrpc":"2.0","id":2,"result":{}}"#);
        assert!(matches!(unread.into_envelope(), Envelope::One(m) if m.is_response()));
    }
}
