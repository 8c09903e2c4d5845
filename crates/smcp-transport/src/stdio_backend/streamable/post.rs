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
use tokio::sync::oneshot;

use super::headers::{Media, accepts};
use super::{SESSION_ID, reply, session_for};
use crate::body::Body;
use crate::jsonrpc::{self, Kind, Message, ParseError};
use crate::reply::ProxyError;
use crate::request_body::{Envelope, RequestBody};
use crate::stdio_backend::session::conn::ConnError;
use crate::stdio_backend::session::stream::{Decision, Shape};
use crate::stdio_backend::session::{
    CreateError, EndReason, Output, Session, SessionOwner, Sessions, drive,
};

/// Handles a `POST` to the Streamable HTTP endpoint.
pub(crate) async fn post(
    sessions: &Arc<Sessions>,
    req: Request<RequestBody>,
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
        (false, false) => {
            return reply::error(
                None,
                &ProxyError::NotAcceptable {
                    needed: "application/json and text/event-stream",
                },
            );
        }
    };
    let msg = match message_of(body) {
        Ok(msg) => msg,
        Err(error) => return reply::error(None, &error),
    };

    if msg.is_request() && msg.method() == Some("initialize") {
        if parts.headers.contains_key(SESSION_ID) {
            return reply::error(msg.id(), &ProxyError::Malformed("Bad Request: initialize must be sent without Mcp-Session-Id (it starts a new session)".into()));
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
                reply::error(None, &ProxyError::UnknownSession)
            }
            Err(ConnError::Rejected(why)) => {
                reply::error(None, &ProxyError::Malformed(why.clone().into()))
            }
        },
    }
}

/// The one JSON-RPC message of a body, or the error to answer with (400): a stdio child takes one
/// message per line, so a batch is refused, as is anything that is not a message. The proxy has
/// read the whole body (within `max_message_bytes`) before this, so an oversize body never
/// becomes half a line on the child's stdin.
pub(crate) fn message_of(body: RequestBody) -> Result<Message, ProxyError> {
    // The envelope parser refuses bytes that are not UTF-8 as a parse error; this says what
    // is wrong more plainly, and the child must get text.
    if std::str::from_utf8(body.bytes()).is_err() {
        return Err(ProxyError::BodyNotUtf8);
    }
    let error = match body.into_envelope() {
        Envelope::One(message) => return Ok(message),
        Envelope::Batch(_) => ParseError::Batch,
        Envelope::Invalid(error) => error,
    };
    let message = match error {
        ParseError::Batch | ParseError::EmptyBatch => {
            "Invalid Request: JSON-RPC batches are not supported; send one message per POST"
                .to_owned()
        }
        ParseError::Json(_) => format!("Parse error: {error}"),
        _ => format!("Invalid Request: {error}"),
    };
    Err(ProxyError::InvalidMessage {
        code: error.code(),
        message,
    })
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
        return reply::error(
            msg.id(),
            &ProxyError::BadGateway(
                "Bad Gateway: the backend process exited before answering initialize".into(),
            ),
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
        CreateError::Closing => reply::error(id, &ProxyError::Draining),
        CreateError::Full => {
            tracing::warn!(
                backend = %sessions.settings.backend,
                max_sessions = sessions.settings.max_sessions,
                "session limit reached; refusing a new session"
            );
            reply::error(id, &ProxyError::SessionsFull)
        }
        CreateError::PrincipalLimit => {
            tracing::warn!(
                backend = %sessions.settings.backend,
                max_sessions_per_principal = sessions.settings.max_sessions_per_principal,
                "per-principal session limit reached and every session of the caller is busy; refusing a new session"
            );
            reply::error(id, &ProxyError::TooManySessions)
        }
        CreateError::Spawn(why) => {
            tracing::error!(
                backend = %sessions.settings.backend,
                error = %why.detail,
                "could not start the backend process"
            );
            reply::error(
                id,
                &ProxyError::BadGateway(format!("Bad Gateway: {}", why.public).into()),
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
        Some(Decision::NeedsStream) => reply::error(request.id(), &ProxyError::StreamNotAccepted),
        // A POST stream ends with its response, not at shutdown: no stop token.
        Some(Decision::Sse(rx)) => reply::event_stream(
            rx,
            sessions.settings.keepalive,
            None,
            Some(session.activity.stream()),
        ),
        // The driver always answers; this is reached only if its task was torn down.
        None => reply::error(
            request.id(),
            &ProxyError::BadGateway("Bad Gateway: the request ended without a response".into()),
        ),
    }
}
