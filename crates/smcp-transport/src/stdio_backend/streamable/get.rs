//! `GET`: a stream for the backend's messages not tied to a request, or the resumption of a
//! stream after `Last-Event-ID`.

use ::http::{HeaderMap, Response};

use super::headers::{Media, accepts};
use super::{reply, session_for};
use crate::body::Body;
use crate::reply::ProxyError;
use crate::stdio_backend::session::replay::StreamKind;
use crate::stdio_backend::session::{SessionOwner, Sessions};

/// The header a reconnecting SSE client sends.
const LAST_EVENT_ID: &str = "last-event-id";

/// Handles a `GET` to the Streamable HTTP endpoint.
pub(crate) async fn get(
    sessions: &Sessions,
    headers: &HeaderMap,
    owner: &SessionOwner,
) -> Response<Body> {
    if !accepts(headers, Media::EventStream) {
        return reply::error(
            None,
            &ProxyError::NotAcceptable {
                needed: "text/event-stream",
            },
        );
    }
    let session = match session_for(sessions, headers, owner) {
        Ok(session) => session,
        Err(refusal) => return refusal.response(None),
    };
    // A new long-lived stream would only hold graceful shutdown up.
    if sessions.is_closing() {
        return reply::error(None, &ProxyError::Draining);
    }
    let (rx, kind) = match headers.get(LAST_EVENT_ID) {
        Some(last) => session.resume(last.to_str().unwrap_or_default()).await,
        None => (session.open_get(), StreamKind::Get),
    };
    // GET streams end at shutdown; a resumed POST stream ends with its response, like the
    // original did.
    let stop = (kind == StreamKind::Get).then(|| session.streams_stop.clone());
    reply::event_stream(
        rx,
        sessions.settings.keepalive,
        stop,
        Some(session.activity.stream()),
    )
}
