//! Runs one client request against a session's backend: forwards it, passes every message
//! that answers it to its output, enforces the per-request timeout, and counts it.
//!
//! The driver runs in its own task, not in the HTTP handler, because a client disconnect is
//! not a cancellation: the request keeps running and its answer still reaches the replay
//! buffer (Streamable HTTP) or the session's SSE stream (legacy).
//!
//! The timeout (`stdio_timeout`) restarts whenever the backend shows progress on the request:
//! a `notifications/progress` for it, or a request of its own tied to it (sampling,
//! elicitation: the wait for the client's answer is not the backend's slowness). On expiry
//! the client gets error -32001 "request timed out" and the backend `notifications/cancelled`.

use std::sync::Arc;

use futures_util::StreamExt as _;
use tokio::time::Instant;

use super::conn::{ConnError, MessageStream};
use super::metrics::{self as session_metrics, method_label};
use super::stream::{SharedWriter, Sink};
use super::{EndReason, Session, Sessions};
use crate::jsonrpc::{self, Message};

/// The JSON-RPC error code for a request the backend did not answer in time.
pub(crate) const REQUEST_TIMED_OUT: i64 = -32001;

/// Where the messages answering a request go.
pub(crate) enum Output {
    /// The request's POST stream (Streamable HTTP).
    Post {
        /// The stream.
        writer: SharedWriter,
        /// Its number, to unregister it when done.
        no: u64,
    },
    /// The session's only SSE stream (legacy HTTP+SSE).
    Legacy(Sink),
}

impl Output {
    /// Writes one message; false when the client refused the answer (a JSON-only client
    /// whose answer needs a stream), so the request should be given up.
    async fn emit(&self, msg: Message, last: bool, session: &Session) -> bool {
        match self {
            Output::Post { writer, .. } => {
                let mut writer = writer.lock().await;
                writer.write_own(msg, last).await;
                !writer.is_refused()
            }
            Output::Legacy(tx) => {
                // A closed (or stalled, hence broken) legacy stream ends the session; nothing
                // else to do here.
                let event = super::stream::message_event(msg.into_bytes(), None);
                super::stream::send_to(tx, event, session.limits.stall, &session.limits.backend)
                    .await;
                true
            }
        }
    }
}

/// Sends everything that answers request `msg` to `out`, ending with exactly one response for
/// its id. `sent` is what handing `msg` to the session's backend gave: the handler does that
/// itself, so that a backend whose input queue is full can be answered with 503 at once.
pub(crate) async fn drive(
    sessions: Arc<Sessions>,
    session: Arc<Session>,
    msg: Message,
    sent: Result<MessageStream, ConnError>,
    out: Output,
) {
    let _active = session.activity.request();
    let started = Instant::now();
    let method = method_label(msg.method());
    let tool = sessions.tools.label(&msg);
    let is_initialize = msg.method() == Some("initialize");
    let is_tools_list = msg.method() == Some("tools/list");
    let Some(id) = msg.id().cloned() else {
        return;
    };
    let timeout = sessions.settings.stdio_timeout;
    if let Output::Post { writer, .. } = &out {
        session.flush_into(writer).await;
    }

    let response = match sent {
        Err(e) => {
            let code = match e {
                ConnError::Closed => jsonrpc::INTERNAL_ERROR,
                ConnError::Full => jsonrpc::SERVER_ERROR,
                ConnError::Rejected(_) => jsonrpc::INVALID_REQUEST,
            };
            Message::error(Some(&id), code, &e.to_string())
        }
        Ok(mut answers) => {
            let mut deadline = super::deadline(Instant::now(), timeout);
            loop {
                tokio::select! {
                    next = answers.next() => match next {
                        Some(m) if m.is_response() && m.id() == Some(&id) => break m,
                        Some(m) => {
                            if m.method() == Some("notifications/progress") || m.is_request() {
                                deadline = super::deadline(Instant::now(), timeout);
                            }
                            if !out.emit(m, false, &session).await {
                                drop(answers);
                                session.conn.cancel(&id, "the client accepts no event stream");
                                break Message::error(
                                    Some(&id),
                                    jsonrpc::REQUEST_CANCELLED,
                                    "request cancelled",
                                );
                            }
                        }
                        // The connection promises a response; if the stream ends without one,
                        // the backend is gone all the same.
                        None => break Message::error(
                            Some(&id),
                            jsonrpc::INTERNAL_ERROR,
                            "backend process exited",
                        ),
                    },
                    () = tokio::time::sleep_until(deadline) => {
                        tracing::warn!(
                            backend = %sessions.settings.backend,
                            session = %session.id.short(),
                            id = %id,
                            method,
                            "request timed out"
                        );
                        drop(answers);
                        session.conn.cancel(&id, "request timed out");
                        break Message::error(Some(&id), REQUEST_TIMED_OUT, "request timed out");
                    }
                }
            }
        }
    };

    if is_tools_list && !response.is_error_response() {
        sessions.tools.learn(&response);
    }
    let init_failed = is_initialize && response.is_error_response();
    out.emit(response, true, &session).await;
    if init_failed {
        sessions.end(&session, EndReason::InitFailed);
    }
    if let Output::Post { no, .. } = out {
        session.close_post(no);
    }
    session_metrics::request_done(&sessions.settings.backend, method, tool, started.elapsed());
}
