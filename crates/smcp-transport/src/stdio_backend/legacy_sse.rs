//! The server side of the legacy MCP HTTP+SSE transport (2024-11-05) over the sessions of a
//! stdio backend.
//!
//! `GET <prefix>/sse` starts a child and a session and holds the session's only stream. Its
//! first event is `event: endpoint` whose data is `<public prefix>/message?sessionId=<id>`
//! (the prefix the client used, even when routing strips it). The client POSTs each message
//! there and gets 202; everything the child sends (responses included) comes back as
//! `event: message` on the stream. Closing the stream ends the session and stops the child.

use std::net::IpAddr;
use std::sync::Arc;

use ::http::{HeaderMap, Request, Response};

use crate::body::Body;
use crate::jsonrpc::Kind;
use crate::reply::ProxyError;
use crate::request_body::RequestBody;
use crate::stdio_backend::session::conn::ConnError;
use crate::stdio_backend::session::stream::sink;
use crate::stdio_backend::session::{
    EndReason, LegacyStream, Lookup, Output, SessionOwner, Sessions, Transport, drive,
};
use crate::stdio_backend::streamable::post::{create_failed, message_of};
use crate::stdio_backend::streamable::{Media, accepts, reply};

/// `GET /sse`: a new session and its stream.
pub(crate) async fn open(
    sessions: &Arc<Sessions>,
    headers: &HeaderMap,
    public_prefix: &str,
    owner: &SessionOwner,
    client: IpAddr,
) -> Response<Body> {
    if !accepts(headers, Media::EventStream) {
        return reply::error(
            None,
            &ProxyError::NotAcceptable {
                needed: "text/event-stream",
            },
        );
    }
    let (tx, rx) = sink();
    let endpoint = format!("{}/message?sessionId=", public_prefix.trim_end_matches('/'));
    match sessions
        .create(owner.clone(), client, Some(LegacyStream { tx, endpoint }))
        .await
    {
        // No stop token: the stream ends when the session releases it and the last running
        // request has written its answer (the child's exit answers them all).
        Ok(session) => reply::event_stream(
            rx,
            sessions.settings.keepalive,
            None,
            Some(session.activity.stream()),
        ),
        Err(e) => create_failed(sessions, &e, None),
    }
}

/// `POST /message?sessionId=..`: one message for the session's child; 202, the answer comes
/// on the stream.
pub(crate) async fn message(
    sessions: &Arc<Sessions>,
    req: Request<RequestBody>,
    query: Option<&str>,
    owner: &SessionOwner,
) -> Response<Body> {
    let session_id = query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "sessionId")
            .map(|(_, v)| v.into_owned())
    });
    let Some(session_id) = session_id else {
        return reply::error(
            None,
            &ProxyError::Malformed("Bad Request: the sessionId query parameter is required".into()),
        );
    };
    let session = match sessions.lookup(&session_id, owner) {
        Lookup::Found(session) if session.transport == Transport::Legacy => session,
        Lookup::Found(_) | Lookup::Unknown | Lookup::Foreign => {
            return reply::error(None, &ProxyError::UnknownSession);
        }
    };
    session.activity.touch();
    let msg = match message_of(req.into_body()) {
        Ok(msg) => msg,
        Err(error) => return reply::error(None, &error),
    };
    match msg.kind() {
        Kind::Request => {
            if msg.method() == Some("initialize") && !session.mark_initialized() {
                return reply::error(
                    msg.id(),
                    &ProxyError::Malformed(
                        "Bad Request: this session is already initialized".into(),
                    ),
                );
            }
            let Some(stream) = session.legacy_stream() else {
                return reply::error(msg.id(), &ProxyError::UnknownSession);
            };
            let sent = session.conn.request(msg.clone());
            if let Err(ConnError::Full) = sent {
                return reply::backend_busy(sessions, msg.id());
            }
            sessions.spawn(drive(
                sessions.clone(),
                session.clone(),
                msg,
                sent,
                Output::Legacy(stream),
            ));
            reply::accepted()
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
