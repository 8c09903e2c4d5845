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
    /// or `session_id` of its URI, percent-decoded). Called at most once per response.
    fn session_opened(&self, id: &str);

    /// The stream that announced a session has ended: its body was dropped. Called once,
    /// and only after [`session_opened`](Self::session_opened).
    fn stream_ended(&self);
}

/// The session ids a legacy message URI's query names: every value of `sessionId` and of
/// `session_id`, percent-decoded, in order.
///
/// All of them, not only the first: servers differ in which parameter and which occurrence
/// they read, so a caller checking ownership must check every one.
pub fn legacy_session_ids(query: &str) -> Vec<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .filter(|(key, _)| key == "sessionId" || key == "session_id")
        .map(|(_, value)| value.into_owned())
        .collect()
}

/// The session id of an endpoint URI (`/message?sessionId=abc`, or absolute), if it names
/// one: the first `sessionId`/`session_id` value of its query.
fn endpoint_session(uri: &[u8]) -> Option<String> {
    let uri = std::str::from_utf8(uri).ok()?;
    let uri = uri.split('#').next().unwrap_or(uri);
    let (_, query) = uri.split_once('?')?;
    legacy_session_ids(query)
        .into_iter()
        .find(|id| !id.is_empty())
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

    use super::{EndpointObserver, ObserverSlot, endpoint_session, legacy_session_ids};

    #[test]
    fn session_ids_of_a_query() {
        assert_eq!(legacy_session_ids("sessionId=abc"), ["abc"]);
        assert_eq!(legacy_session_ids("x=1&session_id=a%2Fb"), ["a/b"]);
        assert_eq!(
            legacy_session_ids("session_id=mine&sessionId=theirs&sessionId=x"),
            ["mine", "theirs", "x"]
        );
        assert!(legacy_session_ids("sessionid=abc&id=1").is_empty());
        assert!(legacy_session_ids("").is_empty());
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
