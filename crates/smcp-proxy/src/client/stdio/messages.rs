//! Reading the JSON-RPC messages out of a server response: one JSON body (a message, or a
//! batch from a 2025-03-26 server) or an SSE stream of them, as they arrive.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use http::Response;
use http::header::CONTENT_TYPE;
use http_body_util::BodyExt;
use smcp_transport::body::Body;
use smcp_transport::jsonrpc::{self, Message, ParseError};
use smcp_transport::sse::Decoder;

/// Longest JSON body read whole.
const MAX_JSON_BODY: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Json,
    Sse,
    /// No body worth reading (202, or some other type): drained and ignored.
    Other,
}

/// Why reading stopped early.
#[derive(Debug, thiserror::Error)]
pub(super) enum ReadError {
    /// The connection broke mid-body.
    #[error("the response broke off: {0}")]
    Broken(String),
    /// The JSON body is over the limit, or an SSE event is.
    #[error("the response is too large")]
    TooLarge,
}

/// The messages of one response, in order.
pub(super) struct MessageReader {
    body: Body,
    kind: Kind,
    decoder: Decoder,
    queue: VecDeque<Message>,
    json: BytesMut,
    done: bool,
    /// The last SSE event id seen (for `Last-Event-ID`).
    pub(super) last_event_id: Option<String>,
    /// The last SSE `retry` value seen, in milliseconds.
    pub(super) retry_ms: Option<u64>,
    /// `event:` of the first SSE event (legacy streams start with `endpoint`).
    pending_endpoint: VecDeque<String>,
}

impl MessageReader {
    /// Reads `response`'s body by its content type.
    pub(super) fn new(response: Response<Body>) -> Self {
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let kind = match content_type.as_str() {
            "application/json" => Kind::Json,
            "text/event-stream" => Kind::Sse,
            _ => Kind::Other,
        };
        MessageReader {
            body: response.into_body(),
            kind,
            decoder: Decoder::new(),
            queue: VecDeque::new(),
            json: BytesMut::new(),
            done: false,
            last_event_id: None,
            retry_ms: None,
            pending_endpoint: VecDeque::new(),
        }
    }

    /// Whether the body is an SSE stream.
    pub(super) fn is_sse(&self) -> bool {
        self.kind == Kind::Sse
    }

    /// The data of the next `event: endpoint` event of a legacy stream (messages before it
    /// are queued for [`MessageReader::next`]).
    pub(super) async fn next_endpoint(&mut self) -> Result<Option<String>, ReadError> {
        loop {
            if let Some(endpoint) = self.pending_endpoint.pop_front() {
                return Ok(Some(endpoint));
            }
            if self.done || !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// The next message; `Ok(None)` when the body ended.
    pub(super) async fn next(&mut self) -> Result<Option<Message>, ReadError> {
        loop {
            if let Some(message) = self.queue.pop_front() {
                return Ok(Some(message));
            }
            if self.done || !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// Reads one more frame; false at the end of the body.
    async fn fill(&mut self) -> Result<bool, ReadError> {
        let frame = match self.body.frame().await {
            None => {
                self.done = true;
                if self.kind == Kind::Json {
                    let body = std::mem::take(&mut self.json).freeze();
                    self.push_json(body);
                }
                return Ok(!self.queue.is_empty() || !self.pending_endpoint.is_empty());
            }
            Some(Err(error)) => {
                self.done = true;
                return Err(ReadError::Broken(error.to_string()));
            }
            Some(Ok(frame)) => frame,
        };
        let Ok(data) = frame.into_data() else {
            return Ok(true);
        };
        match self.kind {
            Kind::Other => {}
            Kind::Json => {
                if self.json.len() + data.len() > MAX_JSON_BODY {
                    self.done = true;
                    return Err(ReadError::TooLarge);
                }
                self.json.extend_from_slice(&data);
            }
            Kind::Sse => {
                let events = self.decoder.feed(&data).map_err(|_| {
                    self.done = true;
                    ReadError::TooLarge
                })?;
                for event in events {
                    if let Some(id) = event.id {
                        self.last_event_id = Some(id);
                    }
                    if let Some(retry) = event.retry {
                        self.retry_ms = Some(retry);
                    }
                    match event.event.as_deref() {
                        Some("endpoint") => self
                            .pending_endpoint
                            .push_back(String::from_utf8_lossy(&event.data).trim().to_owned()),
                        None | Some("message") => self.push_json(event.data),
                        Some(other) => {
                            tracing::debug!(event = other, "ignoring an SSE event of unknown type");
                        }
                    }
                }
            }
        }
        Ok(true)
    }

    fn push_json(&mut self, data: Bytes) {
        if data.iter().all(u8::is_ascii_whitespace) {
            // Priming events (2025-11-25) carry an id and no message.
            return;
        }
        match jsonrpc::parse(data.clone()) {
            Ok(message) => self.queue.push_back(message),
            Err(ParseError::Batch) => match jsonrpc::parse_batch(data) {
                Ok(items) => self.queue.extend(items.into_iter().filter_map(Result::ok)),
                Err(error) => tracing::warn!(%error, "the server sent an invalid batch"),
            },
            Err(error) => {
                tracing::warn!(%error, "the server sent something that is not a JSON-RPC message")
            }
        }
    }
}

/// Reads a whole small body as text (error bodies), at most `limit` bytes.
pub(super) async fn read_text(response: Response<Body>, limit: usize) -> String {
    let mut body = response.into_body();
    let mut out = Vec::new();
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            let room = limit.saturating_sub(out.len());
            out.extend_from_slice(&data[..data.len().min(room)]);
            if out.len() >= limit {
                break;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use http::Response;
    use smcp_transport::body;

    use super::MessageReader;

    fn response(content_type: &str, body: &'static str) -> Response<smcp_transport::body::Body> {
        let mut response = Response::new(body::full(body));
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, content_type.parse().unwrap());
        response
    }

    #[tokio::test]
    async fn json_sse_and_batches() {
        let mut json = MessageReader::new(response(
            "application/json; charset=utf-8",
            "{\"jsonrpc\":\"2.0\",\"id\":1,\n\"result\":{}}",
        ));
        let message = json.next().await.unwrap().unwrap();
        assert!(message.is_response());
        assert!(json.next().await.unwrap().is_none());

        let mut sse = MessageReader::new(response(
            "text/event-stream",
            "id: p1\ndata:\n\n: keepalive\n\nid: e1\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"n\"}\n\nretry: 500\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":{}}\n\n",
        ));
        assert!(sse.is_sse());
        assert_eq!(sse.next().await.unwrap().unwrap().method(), Some("n"));
        assert!(sse.next().await.unwrap().unwrap().is_response());
        assert!(sse.next().await.unwrap().is_none());
        assert_eq!(sse.last_event_id.as_deref(), Some("e1"));
        assert_eq!(sse.retry_ms, Some(500));

        let mut batch = MessageReader::new(response(
            "application/json",
            r#"[{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":2,"result":{}}]"#,
        ));
        assert!(batch.next().await.unwrap().is_some());
        assert!(batch.next().await.unwrap().is_some());
        assert!(batch.next().await.unwrap().is_none());

        let mut legacy = MessageReader::new(response(
            "text/event-stream",
            "event: endpoint\ndata: /message?sessionId=x\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"n\"}\n\n",
        ));
        assert_eq!(
            legacy.next_endpoint().await.unwrap().as_deref(),
            Some("/message?sessionId=x")
        );
        assert_eq!(legacy.next().await.unwrap().unwrap().method(), Some("n"));

        let mut accepted = MessageReader::new(response("text/plain", "Accepted"));
        assert!(accepted.next().await.unwrap().is_none());
    }
}
