//! One keep-alive HTTP/1.1 client connection (hyper's low-level client, no pool) and the reply
//! it reads: status, session id and the whole body, with the JSON-RPC response picked out of a
//! JSON or SSE body.

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use smcp_transport::sse::Decoder;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::load::stats::CallError;

/// A connection; its driver task stops when it is dropped.
pub(super) struct Conn {
    sender: SendRequest<Full<Bytes>>,
    driver: JoinHandle<()>,
    broken: bool,
}

/// A complete reply.
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) session_id: Option<HeaderValue>,
    pub(super) event_stream: bool,
    pub(super) body: Bytes,
}

impl Conn {
    /// Connects to `addr` (`host:port`) with `TCP_NODELAY`.
    pub(super) async fn connect(addr: &str) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Conn {
            sender,
            driver,
            broken: false,
        })
    }

    /// Whether the connection must be replaced before the next request.
    pub(super) fn is_broken(&self) -> bool {
        self.broken || self.sender.is_closed()
    }

    /// Marks the connection unusable (after a timeout, an answer may still be on its way).
    pub(super) fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// Sends `req` and reads the whole reply.
    pub(super) async fn send(
        &mut self,
        req: http::Request<Full<Bytes>>,
    ) -> Result<Reply, CallError> {
        let result = self.exchange(req).await;
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    async fn exchange(&mut self, req: http::Request<Full<Bytes>>) -> Result<Reply, CallError> {
        self.sender
            .ready()
            .await
            .map_err(|e| CallError::new("transport", e.to_string()))?;
        let response = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| CallError::new("transport", e.to_string()))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| CallError::new("transport", e.to_string()))?
            .to_bytes();
        let event_stream = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        Ok(Reply {
            status: parts.status,
            session_id: parts.headers.get("mcp-session-id").cloned(),
            event_stream,
            body,
        })
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Reply {
    /// The JSON-RPC response with numeric id `id`, from a JSON body or from the SSE events of
    /// an event-stream body (notifications and requests before it are skipped).
    pub(super) fn find_response(&self, id: u64) -> Result<Value, CallError> {
        if !self.event_stream {
            let value: Value = serde_json::from_slice(&self.body)
                .map_err(|e| CallError::new("bad_json", e.to_string()))?;
            return if value.get("id").and_then(Value::as_u64) == Some(id) {
                Ok(value)
            } else {
                Err(CallError::new("wrong_id", value.to_string()))
            };
        }
        let events = Decoder::new()
            .feed(&self.body)
            .map_err(|e| CallError::new("bad_sse", e.to_string()))?;
        for event in events {
            let Ok(value) = serde_json::from_slice::<Value>(&event.data) else {
                continue;
            };
            if value.get("method").is_none() && value.get("id").and_then(Value::as_u64) == Some(id)
            {
                return Ok(value);
            }
        }
        Err(CallError::new(
            "no_reply_event",
            String::from_utf8_lossy(&self.body[..self.body.len().min(200)]).into_owned(),
        ))
    }
}
