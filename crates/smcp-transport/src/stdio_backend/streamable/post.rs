//! `POST`: one JSON-RPC message from the client.
//!
//! MCP asks clients to accept both `application/json` and `text/event-stream`. A client
//! that accepts only one of them is still served, in that type only: JSON-only clients get
//! their response as `application/json` when it is the whole answer, and 406 (with the
//! request cancelled at the backend) when the backend sends anything first that would need a
//! stream; stream-only clients always get `text/event-stream`. A message the backend's input
//! queue has no room for gets 503 with `Retry-After`.

use std::net::IpAddr;
use std::sync::Arc;

use ::http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use tokio::sync::oneshot;

use super::headers::{Media, accepts};
use super::{SESSION_ID, reply, session_for};
use crate::body::Body;
use crate::jsonrpc::{self, Kind, Message, ParseError};
use crate::stdio_backend::session::conn::ConnError;
use crate::stdio_backend::session::stream::{Decision, Shape};
use crate::stdio_backend::session::{
    CreateError, EndReason, Output, Session, SessionOwner, Sessions, drive,
};

/// Handles a `POST` to the Streamable HTTP endpoint.
pub(crate) async fn post(
    sessions: &Arc<Sessions>,
    req: Request<Body>,
    owner: &SessionOwner,
    client: IpAddr,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let shape = match (
        accepts(&parts.headers, Media::Json),
        accepts(&parts.headers, Media::EventStream),
    ) {
        (true, true) => Shape::Either,
        (true, false) => Shape::JsonOnly,
        (false, true) => Shape::SseOnly,
        (false, false) => return reply::not_acceptable("application/json and text/event-stream"),
    };
    let msg = match read_message(body, sessions.settings.max_message_bytes).await {
        Ok(msg) => msg,
        Err(response) => return response,
    };

    if msg.is_request() && msg.method() == Some("initialize") {
        if parts.headers.contains_key(SESSION_ID) {
            return reply::rpc_error(
                StatusCode::BAD_REQUEST,
                msg.id(),
                jsonrpc::INVALID_REQUEST,
                "Bad Request: initialize must be sent without Mcp-Session-Id (it starts a new session)",
            );
        }
        return initialize(sessions, msg, owner, client, shape).await;
    }

    let session = match session_for(sessions, &parts.headers, owner) {
        Ok(session) => session,
        Err(refusal) => return refusal.response(msg.id()),
    };
    match msg.kind() {
        Kind::Request => {
            let decision = match start(sessions, &session, msg.clone(), shape).await {
                Ok(decision) => decision,
                Err(busy) => return busy,
            };
            answer(sessions, &session, decision, &msg)
        }
        Kind::Notification | Kind::Response => match session.conn.send(msg) {
            Ok(()) => reply::accepted(),
            Err(ConnError::Full) => reply::backend_busy(sessions, None),
            Err(ConnError::Closed) => {
                sessions.end(&session, EndReason::ChildExit);
                reply::unknown_session(None)
            }
            Err(ConnError::Rejected(why)) => reply::rpc_error(
                StatusCode::BAD_REQUEST,
                None,
                jsonrpc::INVALID_REQUEST,
                &why,
            ),
        },
    }
}

/// Collects the body, at most `limit` bytes of it, and parses it as one JSON-RPC message, or
/// the 413 or 400 to answer with. The whole message is read before anything reaches the
/// child, so an oversize body never becomes half a line on its stdin.
pub(crate) async fn read_message(body: Body, limit: u64) -> Result<Message, Response<Body>> {
    let bytes = match read_bounded(body, limit).await {
        Ok(bytes) => bytes,
        Err(BodyRead::TooLarge) => return Err(reply::payload_too_large(limit)),
        Err(BodyRead::Failed) => {
            return Err(reply::rpc_error(
                StatusCode::BAD_REQUEST,
                None,
                jsonrpc::PARSE_ERROR,
                "Parse error: the request body could not be read",
            ));
        }
    };
    // The envelope parser does not decode the strings it skips, and the backend must get
    // text: check the whole body once.
    if std::str::from_utf8(&bytes).is_err() {
        return Err(reply::rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            jsonrpc::PARSE_ERROR,
            "Parse error: the request body is not valid UTF-8",
        ));
    }
    jsonrpc::parse(bytes).map_err(|e| {
        let message = match e {
            ParseError::Batch | ParseError::EmptyBatch => {
                "Invalid Request: JSON-RPC batches are not supported; send one message per POST"
                    .to_owned()
            }
            ParseError::Json(_) => format!("Parse error: {e}"),
            _ => format!("Invalid Request: {e}"),
        };
        reply::rpc_error(StatusCode::BAD_REQUEST, None, e.code(), &message)
    })
}

/// Why a request body could not be read.
enum BodyRead {
    /// More than the limit arrived (what came is dropped).
    TooLarge,
    /// The client's body failed (it went away, or sent a broken chunk).
    Failed,
}

/// The whole body, at most `limit` bytes of it: frame by frame, so an oversize body is refused
/// as soon as it crosses the limit (a caller's own size-limit error counts as too large too).
async fn read_bounded(mut body: Body, limit: u64) -> Result<bytes::Bytes, BodyRead> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut collected = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) if is_over_limit(&*error) => return Err(BodyRead::TooLarge),
            Err(_) => return Err(BodyRead::Failed),
        };
        if let Ok(data) = frame.into_data() {
            if data.len() > limit - collected.len() {
                return Err(BodyRead::TooLarge);
            }
            collected.extend_from_slice(&data);
        }
    }
    Ok(collected.freeze())
}

/// Whether a body error is (or wraps) a body over a size limit.
fn is_over_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = error.source();
    }
    false
}

/// `initialize` without a session: start a child, create the session, forward the request.
async fn initialize(
    sessions: &Arc<Sessions>,
    msg: Message,
    owner: &SessionOwner,
    client: IpAddr,
    shape: Shape,
) -> Response<Body> {
    let session = match sessions.create(owner.clone(), client, None).await {
        Ok(session) => session,
        Err(e) => return create_failed(sessions, &e, msg.id()),
    };
    session.mark_initialized();
    let decision = match start(sessions, &session, msg.clone(), shape).await {
        Ok(decision) => decision,
        // A new child's queue is empty, so this is not expected; the session is of no use.
        Err(busy) => {
            sessions.end(&session, EndReason::InitFailed);
            return busy;
        }
    };
    // A child that exits before answering initialize failed to start (bad arguments, missing
    // module, ...): that is a gateway failure, not an MCP error of a working server. The
    // spawn does not wait to see whether the child survives its first moments, so the check
    // happens here, overlapped with the initialize itself.
    if matches!(&decision, Some(Decision::Json(m)) if m.is_error_response())
        && session.conn.is_closed()
    {
        tracing::error!(
            backend = %sessions.settings.backend,
            session = %session.id.short(),
            "the backend process exited before answering initialize (its stderr is logged above)"
        );
        return reply::rpc_error(
            StatusCode::BAD_GATEWAY,
            msg.id(),
            jsonrpc::INTERNAL_ERROR,
            "Bad Gateway: the backend process exited before answering initialize",
        );
    }
    // The session id goes on the answer carrying the InitializeResult. A JSON error answer
    // carries none (the driver has ended the session); an SSE answer has sent its headers
    // before the outcome is known, so it always carries the id.
    let carries_result = !matches!(&decision, Some(Decision::Json(m)) if m.is_error_response());
    let mut response = answer(sessions, &session, decision, &msg);
    if carries_result
        && response.status().is_success()
        && let Ok(value) = HeaderValue::from_str(session.id.as_str())
    {
        response.headers_mut().insert(SESSION_ID, value);
    }
    response
}

/// The answer to a failed session creation (shared with the legacy transport).
pub(crate) fn create_failed(
    sessions: &Sessions,
    e: &CreateError,
    id: Option<&jsonrpc::RequestId>,
) -> Response<Body> {
    match e {
        CreateError::Closing => reply::unavailable(id, false),
        CreateError::Full => {
            tracing::warn!(
                backend = %sessions.settings.backend,
                max_sessions = sessions.settings.max_sessions,
                "session limit reached; refusing a new session"
            );
            reply::unavailable(id, true)
        }
        CreateError::PrincipalLimit => {
            tracing::warn!(
                backend = %sessions.settings.backend,
                max_sessions_per_principal = sessions.settings.max_sessions_per_principal,
                "per-principal session limit reached and every session of the caller is busy; refusing a new session"
            );
            reply::too_many_sessions(id)
        }
        CreateError::Spawn(why) => {
            tracing::error!(
                backend = %sessions.settings.backend,
                error = %why.detail,
                "could not start the backend process"
            );
            reply::rpc_error(
                StatusCode::BAD_GATEWAY,
                id,
                jsonrpc::SERVER_ERROR,
                &format!("Bad Gateway: {}", why.public),
            )
        }
    }
}

/// Hands request `msg` to the backend, drives it in its own task and waits for the shape of
/// the answer; the 503 to answer at once when the backend's input queue is full.
async fn start(
    sessions: &Arc<Sessions>,
    session: &Arc<Session>,
    msg: Message,
    shape: Shape,
) -> Result<Option<Decision>, Response<Body>> {
    let sent = session.conn.request(msg.clone());
    if let Err(ConnError::Full) = sent {
        return Err(reply::backend_busy(sessions, msg.id()));
    }
    let (decide, decision) = oneshot::channel();
    let (no, writer) = session.open_post(decide, shape);
    sessions.spawn(drive(
        sessions.clone(),
        session.clone(),
        msg,
        sent,
        Output::Post { writer, no },
    ));
    Ok(decision.await.ok())
}

/// Turns the decided shape into the HTTP answer.
fn answer(
    sessions: &Sessions,
    session: &Session,
    decision: Option<Decision>,
    request: &Message,
) -> Response<Body> {
    match decision {
        Some(Decision::Json(msg)) => reply::json(StatusCode::OK, msg.into_bytes()),
        Some(Decision::NeedsStream) => reply::rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            request.id(),
            jsonrpc::SERVER_ERROR,
            "Not Acceptable: the backend answers this request with a stream of messages; \
             the client must accept text/event-stream",
        ),
        // A POST stream ends with its response, not at shutdown: no stop token.
        Some(Decision::Sse(rx)) => reply::event_stream(
            rx,
            sessions.settings.keepalive,
            None,
            Some(session.activity.stream()),
        ),
        // The driver always answers; this is reached only if its task was torn down.
        None => reply::rpc_error(
            StatusCode::BAD_GATEWAY,
            request.id(),
            jsonrpc::INTERNAL_ERROR,
            "Bad Gateway: the request ended without a response",
        ),
    }
}
