//! stdio mode: smcp-client as a stdio MCP server for desktop hosts.
//!
//! The host (Claude Desktop, an IDE) launches `smcp-client stdio` and speaks newline-delimited
//! JSON-RPC on its stdin and stdout; logs go to stderr only. Each message goes to the server
//! over Streamable HTTP ([`streamable`]): `initialize` opens a session (its `Mcp-Session-Id`
//! and negotiated protocol version go on every later request), replies come back as JSON or
//! SSE (server requests and notifications on the way are passed to the host), the GET stream
//! carries server-initiated messages, the host's answers to server requests are POSTed back,
//! and stdin's end sends `DELETE`. When the server answers `initialize` with 400, 404 or 405
//! (or `--transport sse`), the legacy HTTP+SSE transport is used instead ([`legacy`]).
//!
//! When the server forgets the session (`404`, e.g. after a restart), the bridge replays the
//! host's `initialize` and `notifications/initialized` itself, takes the new session, and sends
//! the failed request again: the host does not notice.
//!
//! Every request the host sends gets an answer: the server's, or a JSON-RPC error saying why
//! there is none (no token, server unreachable, stream broken).

mod headers;
mod io;
mod legacy;
mod messages;
mod streamable;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::Value;
use smcp_transport::body::Body;
use smcp_transport::jsonrpc::{self, Message, ParseError, RequestId};
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::task::JoinSet;

use self::io::{Line, LineReader, MAX_LINE, Output};
use self::legacy::Legacy;
use self::streamable::{InitOutcome, Streamable};
use super::config::{ClientConfig, StdioTransport};
use super::credentials::BuildError;
use super::upstream::{PathBase, Upstream};

/// The stdio bridge, ready to run.
pub struct StdioBridge {
    upstream: Upstream,
    transport: StdioTransport,
}

impl StdioBridge {
    /// Builds the server connection and token source from `config`. Fetches nothing yet.
    pub fn new(config: &ClientConfig) -> Result<Self, BuildError> {
        Ok(StdioBridge {
            upstream: Upstream::new(config, PathBase::Origin)?,
            transport: config.transport,
        })
    }

    /// Bridges `stdin`/`stdout` to the server until stdin ends; then ends the session
    /// (`DELETE`) and returns once everything queued for stdout is written.
    pub async fn run<R, W>(self, stdin: R, stdout: W)
    where
        R: AsyncRead + Unpin + Send,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (out, writer) = Output::spawn(stdout);
        let shared = Arc::new(Shared {
            endpoint: self.upstream.endpoint_path(),
            upstream: self.upstream,
            out,
            internal_ids: AtomicU64::new(0),
        });
        let mut conn = match self.transport {
            StdioTransport::Sse => Conn::Legacy(Legacy::new(Arc::clone(&shared), false)),
            StdioTransport::Auto | StdioTransport::Streamable => {
                Conn::Streamable(Streamable::new(Arc::clone(&shared)))
            }
        };
        let mut tasks = JoinSet::new();
        let mut lines = LineReader::new(BufReader::new(stdin), MAX_LINE);
        loop {
            let line = tokio::select! {
                line = lines.next() => line,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            };
            let bytes = match line {
                Ok(Some(Line::Complete(bytes))) => bytes,
                Ok(Some(Line::TooLong)) => {
                    shared
                        .out
                        .error(None, jsonrpc::INVALID_REQUEST, "message too long")
                        .await;
                    continue;
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(%error, "cannot read stdin");
                    break;
                }
            };
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let message = match jsonrpc::parse(bytes) {
                Ok(message) => message,
                Err(error) => {
                    let code = error.code();
                    let text = match error {
                        ParseError::Batch => "batches are not supported over stdio".to_owned(),
                        other => other.to_string(),
                    };
                    shared.out.error(None, code, &text).await;
                    continue;
                }
            };
            conn = dispatch(conn, message, self.transport, &shared, &mut tasks).await;
        }
        tracing::info!("stdin closed: ending the session");
        tasks.abort_all();
        match &conn {
            Conn::Streamable(session) => session.close().await,
            Conn::Legacy(session) => session.close().await,
        }
        drop(conn);
        drop(shared);
        let _ = writer.await;
    }
}

/// The transport in use.
enum Conn {
    Streamable(Arc<Streamable>),
    Legacy(Arc<Legacy>),
}

/// Handles one message from the host; may switch to legacy SSE on `initialize`.
async fn dispatch(
    conn: Conn,
    message: Message,
    transport: StdioTransport,
    shared: &Arc<Shared>,
    tasks: &mut JoinSet<()>,
) -> Conn {
    match conn {
        Conn::Streamable(session) => {
            if message.method() == Some("initialize") && message.is_request() {
                match session.initialize(message).await {
                    InitOutcome::Done => Conn::Streamable(session),
                    InitOutcome::Fallback(message) if transport == StdioTransport::Auto => {
                        tracing::info!(
                            "the server refused a Streamable HTTP initialize: trying legacy HTTP+SSE"
                        );
                        let legacy = Legacy::new(Arc::clone(shared), true);
                        legacy.handle(message).await;
                        Conn::Legacy(legacy)
                    }
                    InitOutcome::Fallback(message) => {
                        shared
                            .out
                            .error(
                                message.id(),
                                jsonrpc::SERVER_ERROR,
                                "the server does not accept Streamable HTTP at this URL",
                            )
                            .await;
                        Conn::Streamable(session)
                    }
                }
            } else if message.is_request() && session.is_established() {
                let task = Arc::clone(&session);
                tasks.spawn(async move { task.handle(message).await });
                Conn::Streamable(session)
            } else {
                Arc::clone(&session).handle(message).await;
                Conn::Streamable(session)
            }
        }
        Conn::Legacy(session) => {
            if message.is_request() && session.is_established() {
                let task = Arc::clone(&session);
                tasks.spawn(async move { task.handle(message).await });
            } else {
                session.handle(message).await;
            }
            Conn::Legacy(session)
        }
    }
}

/// What both transports share.
struct Shared {
    upstream: Upstream,
    out: Output,
    /// The server URL's path and query (the MCP endpoint), on the server's origin.
    endpoint: String,
    internal_ids: AtomicU64,
}

impl Shared {
    /// `message` (the host's `initialize`) with a fresh id of our own, for a replay whose
    /// answer must not reach the host.
    fn internal_copy(&self, message: &Bytes) -> Option<(Bytes, RequestId)> {
        let n = self.internal_ids.fetch_add(1, Ordering::Relaxed);
        let mut value: Value = serde_json::from_slice(message).ok()?;
        value["id"] = Value::String(format!("smcp-client-reinit-{n}"));
        let bytes = Bytes::from(serde_json::to_vec(&value).ok()?);
        let id = jsonrpc::parse(bytes.clone()).ok()?.id()?.clone();
        Some((bytes, id))
    }

    /// Answers host request `id` after the server refused it with `response`: the server's
    /// own JSON-RPC error when it sent one (re-addressed to `id`), else an error naming the
    /// status.
    async fn answer_failure(&self, id: Option<&RequestId>, response: Response<Body>) {
        let status = response.status();
        let challenge = response
            .headers()
            .get(http::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = messages::read_text(response, 64 * 1024).await;
        if let Some(id) = id {
            if let Some(error) = readdressed_error(&text, id) {
                // A JSON-RPC error: the server's answer, and often expected (the Python SDK's
                // `server/discover` probe of an older server).
                tracing::debug!(%status, "the server answered a request with an error");
                self.out.send(&error).await;
                return;
            }
            tracing::warn!(%status, "the server refused a request");
            let detail = match (status, challenge) {
                (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, Some(challenge)) => {
                    format!(" ({challenge})")
                }
                _ => String::new(),
            };
            self.out
                .error(
                    Some(id),
                    jsonrpc::SERVER_ERROR,
                    &format!("the server answered HTTP {status}{detail}"),
                )
                .await;
        }
    }
}

/// The server's JSON-RPC error response `text`, with its id replaced by `id`.
fn readdressed_error(text: &str, id: &RequestId) -> Option<Message> {
    let mut value: Value = serde_json::from_str(text).ok()?;
    value.get("error")?.as_object()?;
    value["id"] = serde_json::from_str(&id.to_json()).ok()?;
    value["jsonrpc"] = Value::String("2.0".into());
    if let Some(object) = value.as_object_mut() {
        object.remove("result");
    }
    jsonrpc::parse(Bytes::from(serde_json::to_vec(&value).ok()?)).ok()
}

/// The `result` of the first response in an `initialize` reply (JSON or SSE), for `check`.
pub(super) async fn read_initialize_reply(response: Response<Body>) -> Option<Value> {
    let mut reader = messages::MessageReader::new(response);
    while let Ok(Some(message)) = reader.next().await {
        if message.is_response() {
            let value: Value = serde_json::from_slice(message.bytes()).ok()?;
            return Some(value["result"].clone());
        }
    }
    None
}

/// The `result.protocolVersion` of an `initialize` response.
fn protocol_version(response: &Message) -> Option<String> {
    let value: Value = serde_json::from_slice(response.bytes()).ok()?;
    value["result"]["protocolVersion"]
        .as_str()
        .map(str::to_owned)
}

#[cfg(test)]
mod bridge_tests;
#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use smcp_transport::jsonrpc::{self, RequestId};

    use super::{protocol_version, readdressed_error};

    #[test]
    fn errors_are_readdressed_to_the_host_request() {
        let error = readdressed_error(
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Bad Request: Server not initialized"}}"#,
            &RequestId::from(7),
        )
        .unwrap();
        assert_eq!(error.id(), Some(&RequestId::from(7)));
        assert!(error.is_error_response());
        assert!(readdressed_error("not json", &RequestId::from(1)).is_none());
        assert!(readdressed_error(r#"{"result":{}}"#, &RequestId::from(1)).is_none());
    }

    #[test]
    fn reads_the_negotiated_version() {
        let response = jsonrpc::parse(Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-11-25","capabilities":{}}}"#,
        ))
        .unwrap();
        assert_eq!(protocol_version(&response).as_deref(), Some("2025-11-25"));
    }
}
