//! The per-request stream of messages from a child.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;

use crate::budget;
use crate::jsonrpc::{Message, RequestId};

/// What the child sends about one request: zero or more related messages (progress, log
/// notifications, requests of its own such as `sampling/createMessage`), then the response,
/// then the end (`None`).
///
/// If the child exits first, the last item is a synthesized error response with code
/// [`crate::jsonrpc::INTERNAL_ERROR`] and message `backend process exited`; if the request is
/// cancelled, one with [`crate::jsonrpc::REQUEST_CANCELLED`]. Dropping the stream does not
/// cancel the request: the child's answer is then read and discarded.
///
/// What waits here is bounded in bytes, together with every other request stream of the same
/// child: while a reader lags that far behind, smcp stops reading the child's stdout.
pub struct RequestStream {
    id: RequestId,
    rx: budget::Receiver<Message>,
}

impl std::fmt::Debug for RequestStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestStream")
            .field("id", &self.id)
            .finish()
    }
}

impl RequestStream {
    pub(crate) fn new(id: RequestId, rx: budget::Receiver<Message>) -> Self {
        RequestStream { id, rx }
    }

    /// The id of the request this stream answers.
    pub fn id(&self) -> &RequestId {
        &self.id
    }

    /// The next message, or `None` after the response.
    pub async fn next(&mut self) -> Option<Message> {
        self.rx.recv().await
    }
}

impl Stream for RequestStream {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.rx.poll_recv(cx)
    }
}

/// The messages of a child that belong to no request (see the routing rules of
/// [`super::StdioConnection`]), bounded in bytes: what does not fit is dropped and counted.
pub struct Unsolicited {
    rx: budget::Receiver<Message>,
}

impl std::fmt::Debug for Unsolicited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unsolicited").finish_non_exhaustive()
    }
}

impl Unsolicited {
    /// A channel of `max_bytes` and its receiving end.
    pub(crate) fn channel(max_bytes: usize) -> (budget::Sender<Message>, Self) {
        let (tx, rx) = budget::channel(max_bytes);
        (tx, Unsolicited { rx })
    }

    /// The next message; `None` once the connection is closed.
    pub async fn recv(&mut self) -> Option<Message> {
        self.rx.recv().await
    }
}
