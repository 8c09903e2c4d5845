//! What the session layer needs from a backend connection, as a small object-safe trait.
//!
//! The session layer is written against [`McpConnection`] rather than the stdio connection
//! itself: the stdio backend adapts its child connection to it, and tests drive the session
//! layer with an in-memory fake. One connection is one MCP session on the backend side.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

use crate::jsonrpc::{Message, RequestId};
use crate::stdio::Unsolicited;

/// The messages a backend sends for one request: related requests and notifications first,
/// then the response. A connection whose backend dies ends every such stream with a
/// synthesized error response.
pub(crate) type MessageStream = BoxStream<'static, Message>;

/// Why a message could not be handed to the backend.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnError {
    /// The backend is gone (its process exited or the connection was stopped).
    #[error("backend process exited")]
    Closed,
    /// The backend is alive but not reading its input, and the queue toward it is full: the
    /// client should retry later.
    #[error("the backend is not reading its input; retry later")]
    Full,
    /// The backend is alive but refused the message (for example a duplicate request id).
    #[error("{0}")]
    Rejected(String),
}

/// Why a connection could not be made (the spawn failed).
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub(crate) struct ConnectError {
    /// What the client may be told: names the command, nothing more.
    pub(crate) public: String,
    /// The whole story, for the log.
    pub(crate) detail: String,
}

/// One live MCP connection to a backend.
pub(crate) trait McpConnection: Send + Sync + 'static {
    /// Sends a client request and returns the stream of messages that answer it. Dropping
    /// the stream does not cancel the request.
    fn request(&self, msg: Message) -> Result<MessageStream, ConnError>;

    /// Sends a client notification or response (nothing comes back).
    fn send(&self, msg: Message) -> Result<(), ConnError>;

    /// Gives up on request `id`: the backend gets `notifications/cancelled` with `reason`, and
    /// a late response is discarded.
    fn cancel(&self, id: &RequestId, reason: &str);

    /// The backend's messages not tied to any request (unsolicited notifications and
    /// requests). Returns the receiver once; later calls get `None`.
    fn take_unsolicited(&self) -> Option<Unsolicited>;

    /// Whether the backend is gone (or stopping): it accepts nothing more.
    fn is_closed(&self) -> bool;

    /// Resolves once the backend is gone, with a description of how it ended (for logs).
    fn closed(&self) -> BoxFuture<'static, String>;

    /// Stops the backend (for a child: EOF, then SIGTERM, then SIGKILL) and resolves once it
    /// is fully gone.
    fn stop(&self) -> BoxFuture<'static, ()>;
}

/// Makes new connections: one per session.
pub(crate) trait Connector: Send + Sync + 'static {
    /// Starts a backend for the session whose id starts with `session` and connects to it.
    fn connect(
        &self,
        session: &str,
    ) -> BoxFuture<'static, Result<Arc<dyn McpConnection>, ConnectError>>;
}
