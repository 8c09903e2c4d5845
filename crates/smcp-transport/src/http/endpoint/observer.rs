//! The hook through which the proxy learns the session of a legacy HTTP+SSE stream.
//!
//! A legacy (2024-11-05) server names its session only inside the stream: the `endpoint`
//! event's URI carries it as a query parameter (`sessionId`, or `session_id` in the Python
//! SDK). The endpoint scanner already finds that event, so rather than have the proxy parse
//! the stream a second time, the forwarder reports the session id through an
//! [`EndpointObserver`] given in the `ForwardContext`, and reports the end of the stream
//! through the same observer when the response body is dropped (finished, failed, or the
//! client went away).

use std::fmt;
use std::sync::Arc;

/// Told about the legacy SSE session of one forwarded response (see the module docs).
///
/// Called from inside the response body's polling and dropping: implementations must be
/// quick and must not block.
pub trait EndpointObserver: Send + Sync + fmt::Debug {
    /// The stream's first `endpoint` event named session `id` (query parameter `sessionId`
    /// or `session_id` of its URI, exactly as written: see [`legacy_session`]). Called at
    /// most once per response.
    fn session_opened(&self, id: &str);

    /// The stream that announced a session has ended: its body was dropped. Called once,
    /// and only after [`session_opened`](Self::session_opened).
    fn stream_ended(&self);
}

/// What a request's query says about the legacy session it addresses (see
/// [`legacy_session`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacySession<'a> {
    /// No session parameter at all.
    None,
    /// Exactly one `sessionId=` or `session_id=`: its value as written, not percent-decoded.
    One(&'a str),
    /// The session named more than once, or in a way servers may read differently: the
    /// parameter twice or under both names, a name written in another case, percent-encoded or
    /// with brackets (`sessionId[]`, which Express reads as the same parameter), or a query with
    /// `;` separators (which some parsers split on and others do not).
    Ambiguous,
}

/// The legacy session a message URI's query names (`sessionId`, or `session_id` in the
/// Python SDK), as written.
///
/// The value is returned raw because servers canonicalise it in their own ways (the Python SDK
/// parses it as a UUID, so case, hyphens, braces, `urn:uuid:` and percent-encoding all name the
/// same session): a caller deciding who may use a session must compare it byte for byte with
/// the value the server announced, never with a decoded or normalised form. Everything that
/// any server might read as a second or differently spelt session parameter makes the answer
/// [`LegacySession::Ambiguous`].
pub fn legacy_session(query: &str) -> LegacySession<'_> {
    let mut found = None;
    let mut count = 0usize;
    let mut exact = true;
    for piece in query.split(['&', ';']) {
        let (raw_key, value) = piece.split_once('=').unwrap_or((piece, ""));
        if raw_key == "sessionId" || raw_key == "session_id" {
            count += 1;
            found = Some(value);
        } else if is_session_key(raw_key) {
            count += 1;
            exact = false;
        }
    }
    match (count, found) {
        (0, _) => LegacySession::None,
        (1, Some(value)) if exact && !query.contains(';') => LegacySession::One(value),
        _ => LegacySession::Ambiguous,
    }
}

/// Whether some server could read query key `raw_key` as a session parameter: decoded (`%5F`,
/// `+`), in any case, with surrounding blanks, or with a bracketed suffix.
fn is_session_key(raw_key: &str) -> bool {
    let decoded: String = url::form_urlencoded::parse(raw_key.as_bytes())
        .map(|(key, _)| key.into_owned())
        .next()
        .unwrap_or_default();
    let name = decoded.split('[').next().unwrap_or_default().trim();
    ["sessionid", "session_id", "session-id"]
        .iter()
        .any(|known| name.eq_ignore_ascii_case(known))
}

/// The session id of an endpoint URI (`/message?sessionId=abc`, or absolute), if it names
/// exactly one, as written.
fn endpoint_session(uri: &[u8]) -> Option<String> {
    let uri = std::str::from_utf8(uri).ok()?;
    let uri = uri.split('#').next().unwrap_or(uri);
    let (_, query) = uri.split_once('?')?;
    match legacy_session(query) {
        LegacySession::One(id) if !id.is_empty() => Some(id.to_owned()),
        _ => None,
    }
}

/// The scanner's side of an observer: reports the first endpoint session, and the end of
/// the stream once the scanner (and so the body holding it) is dropped.
#[derive(Debug)]
pub(in crate::http) struct ObserverSlot {
    observer: Arc<dyn EndpointObserver>,
    opened: bool,
}

impl ObserverSlot {
    pub(in crate::http) fn new(observer: Arc<dyn EndpointObserver>) -> Self {
        Self {
            observer,
            opened: false,
        }
    }

    /// The data of an endpoint event, as the backend sent it.
    pub(in crate::http) fn endpoint(&mut self, uri: &[u8]) {
        if self.opened {
            return;
        }
        if let Some(id) = endpoint_session(uri) {
            self.opened = true;
            self.observer.session_opened(&id);
        }
    }
}

impl Drop for ObserverSlot {
    fn drop(&mut self) {
        if self.opened {
            self.observer.stream_ended();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::{EndpointObserver, LegacySession, ObserverSlot, endpoint_session, legacy_session};

    #[test]
    fn session_of_a_query() {
        use LegacySession::{Ambiguous, None, One};
        assert_eq!(legacy_session("sessionId=abc"), One("abc"));
        assert_eq!(legacy_session("x=1&session_id=a%2Fb"), One("a%2Fb"));
        assert_eq!(legacy_session("session_id="), One(""));
        assert_eq!(
            legacy_session("sessionId"),
            One(""),
            "a bare key has an empty value"
        );
        for query in [
            "session_id=mine&sessionId=theirs",
            "sessionId=a&sessionId=a",
            "session%5Fid=a",
            "SessionId=a",
            "SESSION_ID=a",
            "sessionId[]=a",
            "session_id[0]=a",
            "session-id=a",
            " sessionId=a",
            "session_id=a;x=1",
            "x=1;session_id=a",
        ] {
            assert_eq!(legacy_session(query), Ambiguous, "{query}");
        }
        // `+` decodes to a space: "session id" is no session parameter.
        assert_eq!(legacy_session("session+id=a&session_id=b"), One("b"));
        assert_eq!(legacy_session("sessionid2=abc&id=1&session=x"), None);
        assert_eq!(legacy_session(""), None);
        assert_eq!(legacy_session("x=1;y=2"), None);
    }

    #[test]
    fn session_of_an_endpoint_uri() {
        assert_eq!(
            endpoint_session(b"/message?sessionId=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            endpoint_session(b"http://h:1/messages/?session_id=f00#frag").as_deref(),
            Some("f00")
        );
        assert_eq!(
            endpoint_session(b"/m?sessionId=a%20b").as_deref(),
            Some("a%20b"),
            "as written"
        );
        assert_eq!(endpoint_session(b"/m?sessionId=a&session_id=b"), None);
        assert_eq!(endpoint_session(b"/message?sessionId=").as_deref(), None);
        assert_eq!(endpoint_session(b"/message").as_deref(), None);
        assert_eq!(endpoint_session(b"/m#?sessionId=abc").as_deref(), None);
        assert_eq!(endpoint_session(b"\xff?sessionId=abc").as_deref(), None);
    }

    #[derive(Debug, Default)]
    struct Record(Mutex<Vec<String>>);

    impl EndpointObserver for Record {
        fn session_opened(&self, id: &str) {
            self.0.lock().unwrap().push(format!("open {id}"));
        }
        fn stream_ended(&self) {
            self.0.lock().unwrap().push("end".to_owned());
        }
    }

    #[test]
    fn slot_reports_the_first_session_then_the_end() {
        let record = Arc::new(Record::default());
        let mut slot = ObserverSlot::new(record.clone());
        slot.endpoint(b"/message");
        slot.endpoint(b"/message?sessionId=one");
        slot.endpoint(b"/message?sessionId=two");
        drop(slot);
        assert_eq!(*record.0.lock().unwrap(), ["open one", "end"]);

        let quiet = Arc::new(Record::default());
        drop(ObserverSlot::new(quiet.clone()));
        assert!(quiet.0.lock().unwrap().is_empty(), "no session, no end");
    }
}
