//! Connects the session layer to real children: [`StdioConnection`] as an
//! [`McpConnection`], and a [`Connector`] that spawns one per session.

use std::sync::Arc;

use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;

use crate::jsonrpc::{Message, RequestId};
use crate::stdio::{ChildSpec, RequestError, SendError, StdioConnection, StopPolicy, Unsolicited};
use crate::stdio_backend::session::conn::{
    ConnError, ConnectError, Connector, McpConnection, MessageStream,
};

/// Spawns the backend's command, one child per session.
pub(super) struct StdioConnector {
    spec: Arc<ChildSpec>,
    stop: StopPolicy,
}

impl StdioConnector {
    pub(super) fn new(spec: Arc<ChildSpec>) -> Self {
        StdioConnector {
            spec,
            stop: StopPolicy::default(),
        }
    }
}

impl Connector for StdioConnector {
    fn connect(
        &self,
        session: &str,
    ) -> BoxFuture<'static, Result<Arc<dyn McpConnection>, ConnectError>> {
        let spec = self.spec.clone();
        let stop = self.stop;
        let label = session.to_owned();
        Box::pin(async move {
            match StdioConnection::spawn(spec.clone(), &label, stop).await {
                Ok(conn) => Ok(Arc::new(conn) as Arc<dyn McpConnection>),
                Err(e) => Err(ConnectError {
                    // The client learns which command failed and how, not its stderr.
                    public: format!(
                        "could not start the backend command {:?} ({})",
                        spec.command,
                        e.outcome()
                    ),
                    detail: e.to_string(),
                }),
            }
        })
    }
}

impl McpConnection for StdioConnection {
    fn request(&self, msg: Message) -> Result<MessageStream, ConnError> {
        match StdioConnection::request(self, msg) {
            Ok(stream) => Ok(stream.boxed()),
            Err(RequestError::Closed) => Err(ConnError::Closed),
            Err(RequestError::Full) => Err(ConnError::Full),
            Err(e @ (RequestError::DuplicateId(_) | RequestError::NotARequest(_))) => {
                Err(ConnError::Rejected(e.to_string()))
            }
        }
    }

    fn is_closed(&self) -> bool {
        StdioConnection::is_closed(self)
    }

    fn send(&self, msg: Message) -> Result<(), ConnError> {
        match StdioConnection::send(self, msg) {
            Ok(()) => Ok(()),
            Err(SendError::Closed) => Err(ConnError::Closed),
            Err(SendError::Full) => Err(ConnError::Full),
            Err(e @ SendError::IsRequest) => Err(ConnError::Rejected(e.to_string())),
        }
    }

    fn cancel(&self, id: &RequestId, reason: &str) {
        StdioConnection::cancel(self, id, reason);
    }

    fn take_unsolicited(&self) -> Option<Unsolicited> {
        StdioConnection::take_unsolicited(self)
    }

    fn closed(&self) -> BoxFuture<'static, String> {
        let conn = self.clone();
        Box::pin(async move { StdioConnection::closed(&conn).await.to_string() })
    }

    fn stop(&self) -> BoxFuture<'static, ()> {
        let conn = self.clone();
        Box::pin(async move { StdioConnection::stop(&conn).await })
    }
}
