//! Binding legacy HTTP+SSE sessions to the principal whose GET opened their stream.
//!
//! A legacy server names its session only inside the SSE stream, in the `endpoint` event's
//! URI (`/message?sessionId=...`). The HTTP forwarder scans that event anyway (to rewrite it)
//! and reports the session through an [`EndpointObserver`]; a [`LegacyStream`] is that
//! observer for one GET: it binds the session to the caller when the event passes, and
//! forgets the binding when the stream ends (the body is dropped: the backend closed it, it
//! broke, or the client went away), since the backend's session ends with its stream.

use std::sync::{Arc, Mutex};

use smcp_transport::http::EndpointObserver;
use smcp_transport::stdio::backend::SessionOwner;

use super::SessionBindings;

/// Binds the legacy session of one SSE stream to its owner while the stream is open.
pub(crate) struct LegacyStream {
    bindings: Arc<SessionBindings>,
    owner: SessionOwner,
    /// The session the stream announced, once it did.
    session: Mutex<Option<String>>,
}

impl LegacyStream {
    /// An observer binding the session of a stream opened by `owner` in `bindings`.
    pub(crate) fn new(bindings: Arc<SessionBindings>, owner: SessionOwner) -> Self {
        LegacyStream {
            bindings,
            owner,
            session: Mutex::new(None),
        }
    }

    fn session(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl std::fmt::Debug for LegacyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Neither the session id nor the principal belongs in debug output.
        f.debug_struct("LegacyStream").finish_non_exhaustive()
    }
}

impl EndpointObserver for LegacyStream {
    fn session_opened(&self, id: &str) {
        self.bindings.bind(id, &self.owner);
        *self.session() = Some(id.to_owned());
    }

    fn stream_ended(&self) {
        if let Some(id) = self.session().take() {
            self.bindings.forget(&id, &self.owner);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use smcp_transport::http::EndpointObserver;
    use smcp_transport::stdio::backend::SessionOwner;

    use super::LegacyStream;
    use crate::server::auth::session_binding::{Admission, SessionBindings};

    fn alice() -> SessionOwner {
        SessionOwner::from_principal("https://idp", "alice")
    }

    fn bob() -> SessionOwner {
        SessionOwner::from_principal("https://idp", "bob")
    }

    #[test]
    fn bound_while_the_stream_is_open() {
        let bindings = Arc::new(SessionBindings::new("b".into(), 100, 10));
        let stream = LegacyStream::new(Arc::clone(&bindings), alice());
        assert_eq!(
            bindings.admit_legacy(Some("sessionId=s1"), &bob()),
            Admission::Pass,
            "unknown before the endpoint event"
        );
        stream.session_opened("s1");
        for query in [
            "sessionId=s1",
            "session_id=s1",
            "sessionId=own&session_id=s1",
            "session_id=own&sessionId=s1",
            "x=1&sessionId=s%31",
        ] {
            assert_eq!(
                bindings.admit_legacy(Some(query), &bob()),
                Admission::Foreign,
                "{query}"
            );
        }
        assert_eq!(
            bindings.admit_legacy(Some("sessionId=s1"), &alice()),
            Admission::Pass
        );
        assert_eq!(bindings.admit_legacy(None, &bob()), Admission::Pass);
        assert_eq!(
            bindings.admit_legacy(Some("sessionId=other"), &bob()),
            Admission::Pass
        );
        stream.stream_ended();
        assert_eq!(
            bindings.admit_legacy(Some("sessionId=s1"), &bob()),
            Admission::Pass,
            "forgotten when the stream ends"
        );
    }

    #[test]
    fn a_stream_never_forgets_another_principals_binding() {
        let bindings = Arc::new(SessionBindings::new("b".into(), 100, 10));
        let first = LegacyStream::new(Arc::clone(&bindings), alice());
        let second = LegacyStream::new(Arc::clone(&bindings), bob());
        first.session_opened("s1");
        // A backend reissuing the id to Bob keeps Alice's binding, and Bob's stream ending
        // does not remove it.
        second.session_opened("s1");
        second.stream_ended();
        assert_eq!(
            bindings.admit_legacy(Some("sessionId=s1"), &bob()),
            Admission::Foreign
        );
        first.stream_ended();
        assert_eq!(
            bindings.admit_legacy(Some("sessionId=s1"), &bob()),
            Admission::Pass
        );
    }
}
