//! The per-request stream of messages from a child.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use tokio::sync::mpsc;

use crate::jsonrpc::{Message, RequestId};

/// What the child sends about one request: zero or more related messages (progress, log
/// notifications, requests of its own such as `sampling/createMessage`), then the response,
/// then the end (`None`).
///
/// If the child exits first, the last item is a synthesized error response with code
/// [`crate::jsonrpc::INTERNAL_ERROR`] and message `backend process exited`; if the request is
/// cancelled, one with [`crate::jsonrpc::REQUEST_CANCELLED`]. Dropping the stream does not
/// cancel the request: the child's answer is then read and discarded.
#[derive(Debug)]
pub struct RequestStream {
    id: RequestId,
    rx: mpsc::UnboundedReceiver<Message>,
}

impl RequestStream {
    pub(crate) fn new(id: RequestId, rx: mpsc::UnboundedReceiver<Message>) -> Self {
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
