//! Binding legacy HTTP+SSE sessions to the principal whose GET opened their stream.
//!
//! A legacy server names its session only inside the SSE stream, in the `endpoint` event's
//! URI (`/message?sessionId=...`). The HTTP forwarder scans that event anyway (to rewrite it)
//! and reports the session through an [`EndpointObserver`]; a [`LegacyStream`] is that
//! observer for one GET: it binds the session to the caller when the event passes, and
//! forgets the binding when the stream ends (the body is dropped: the backend closed it, it
//! broke, or the client went away), since the backend's session ends with its stream.

use std::sync::Mutex;

use super::RouteSessions;
use crate::http::EndpointObserver;
use crate::owner::SessionOwner;

/// Binds the legacy session of one SSE stream to its route and owner while the stream is
/// open.
pub(crate) struct LegacyStream {
    bindings: RouteSessions,
    owner: SessionOwner,
    /// The session the stream announced, once it did.
    session: Mutex<Option<String>>,
}

impl LegacyStream {
    /// An observer binding the session of a stream opened by `owner` on `bindings`' route.
    pub(crate) fn new(bindings: RouteSessions, owner: SessionOwner) -> Self {
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
        self.bindings.bind_as(id, &self.owner, true);
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

    use super::LegacyStream;
    use crate::http::EndpointObserver;
    use crate::http::sessions::tests::protected;
    use crate::http::sessions::{Admission, RouteSessions};
    use crate::owner::SessionOwner;

    fn alice() -> SessionOwner {
        SessionOwner::from_principal("https://idp", "alice")
    }

    fn bob() -> SessionOwner {
        SessionOwner::from_principal("https://idp", "bob")
    }

    #[test]
    fn bound_while_the_stream_is_open() {
        let bindings = protected(100, 10);
        let stream = LegacyStream::new(bindings.clone(), alice());
        assert_eq!(
            bindings.admit_legacy(Some("sessionId=s1"), &alice()),
            Admission::Unknown,
            "nothing passes before the endpoint event"
        );
        stream.session_opened("s1");
        for (query, verdict) in [
            ("sessionId=s1", Admission::Foreign),
            ("session_id=s1", Admission::Foreign),
            ("sessionId=own&session_id=s1", Admission::Ambiguous),
            ("session_id=own&sessionId=s1", Admission::Ambiguous),
            ("x=1&sessionId=s%31", Admission::Unknown),
            ("sessionId=other", Admission::Unknown),
        ] {
            assert_eq!(
                bindings.admit_legacy(Some(query), &bob()),
                verdict,
                "{query}"
            );
        }
        assert_eq!(
            bindings.admit_legacy(Some("sessionId=s1"), &alice()),
            Admission::Pass
        );
        assert_eq!(
            bindings.admit_legacy(Some("x=1&session_id=s1"), &alice()),
            Admission::Pass
        );
        assert_eq!(bindings.admit_legacy(None, &bob()), Admission::Pass);
        stream.stream_ended();
        assert_eq!(
            bindings.admit_legacy(Some("sessionId=s1"), &alice()),
            Admission::Unknown,
            "forgotten when the stream ends"
        );
    }

    #[test]
    fn a_streamable_session_id_is_no_legacy_session() {
        let bindings = protected(100, 10);
        bindings.bind("s1", &alice());
        assert_eq!(
            bindings.admit_legacy(Some("sessionId=s1"), &alice()),
            Admission::Unknown
        );
        LegacyStream::new(bindings.clone(), alice()).session_opened("s1");
        assert_eq!(
            bindings.admit_legacy(Some("sessionId=s1"), &alice()),
            Admission::Pass
        );
    }

    /// The session id the Python SDK announces: a UUID's 32 hex digits.
    const PY_ID: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

    #[test]
    fn only_the_exact_announced_value_passes() {
        let bindings = protected(100, 10);
        let stream = LegacyStream::new(bindings.clone(), alice());
        stream.session_opened(PY_ID);
        assert_eq!(
            bindings.admit_legacy(Some(&format!("session_id={PY_ID}")), &alice()),
            Admission::Pass
        );
        // Every spelling Python's `UUID(hex=...)` (or a percent-decoder) turns into Alice's id,
        // and every id smcp never saw announced: refused for Bob, and for Alice too.
        let hyphenated = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
        let spellings = [
            PY_ID.to_uppercase(),
            hyphenated.to_owned(),
            hyphenated.to_uppercase(),
            format!("{{{PY_ID}}}"),
            format!("{{{hyphenated}}}"),
            format!("urn:uuid:{hyphenated}"),
            format!("urn:uuid:{PY_ID}"),
            format!("%30{}", &PY_ID[1..]),
            "ffffffffffffffffffffffffffffffff".to_owned(),
        ];
        for owner in [bob(), alice()] {
            for spelling in &spellings {
                for key in ["session_id", "sessionId"] {
                    let query = format!("{key}={spelling}");
                    assert_ne!(
                        bindings.admit_legacy(Some(&query), &owner),
                        Admission::Pass,
                        "{query}"
                    );
                }
            }
        }
        // Naming the session twice, under both names, or with a spelling of the parameter
        // that some server would read as the session: refused, even for the owner.
        for query in [
            format!("session_id={PY_ID}&session_id={PY_ID}"),
            format!("session_id={PY_ID}&sessionId={PY_ID}"),
            format!("sessionId={PY_ID}&session_id=other"),
            format!("session%5Fid={PY_ID}"),
            format!("Session_Id={PY_ID}"),
            format!("sessionId[]={PY_ID}"),
            format!("session_id={PY_ID};x=1"),
            format!("x=1;session_id=other&session_id={PY_ID}"),
        ] {
            assert_ne!(
                bindings.admit_legacy(Some(&query), &alice()),
                Admission::Pass,
                "{query}"
            );
        }
        // Requests naming no legacy session are not this check's business.
        assert_eq!(bindings.admit_legacy(None, &bob()), Admission::Pass);
        assert_eq!(
            bindings.admit_legacy(Some("cursor=abc&session=1"), &bob()),
            Admission::Pass
        );
    }

    #[test]
    fn a_stream_never_forgets_another_principals_binding() {
        let bindings = protected(100, 10);
        let first = LegacyStream::new(bindings.clone(), alice());
        let second = LegacyStream::new(bindings.clone(), bob());
        first.session_opened("s1");
        // A backend reissuing the id to Bob keeps Alice's binding, and Bob's stream ending
        // does not remove it.
        second.session_opened("s1");
        second.stream_ended();
        assert_eq!(
            bindings.admit_legacy(Some("sessionId=s1"), &bob()),
            Admission::Foreign
        );
        assert_eq!(
            bindings.admit_legacy(Some("sessionId=s1"), &alice()),
            Admission::Pass
        );
        first.stream_ended();
        assert_eq!(
            bindings.admit_legacy(Some("sessionId=s1"), &bob()),
            Admission::Unknown
        );
    }

    #[test]
    fn a_legacy_session_is_refused_on_every_other_route() {
        let bindings = protected(100, 10);
        let table = Arc::clone(&bindings.bindings);
        let other = RouteSessions::new(Arc::clone(&table), "other".into(), true);
        let public = RouteSessions::new(table, "public".into(), false);
        let stream = LegacyStream::new(bindings.clone(), alice());
        stream.session_opened("s1");
        assert_eq!(
            bindings.admit_legacy(Some("sessionId=s1"), &alice()),
            Admission::Pass
        );
        let anonymous = SessionOwner::anonymous();
        assert_eq!(
            other.admit_legacy(Some("sessionId=s1"), &alice()),
            Admission::OtherRoute
        );
        assert_eq!(
            public.admit_legacy(Some("session_id=s1"), &anonymous),
            Admission::OtherRoute
        );
        // A public route passes ids it does not know, but not an ambiguous query.
        assert_eq!(
            public.admit_legacy(Some("sessionId=mine"), &anonymous),
            Admission::Pass
        );
        assert_eq!(
            public.admit_legacy(Some("sessionId=mine&session_id=s1"), &anonymous),
            Admission::Ambiguous
        );
        assert!(
            public.stream_observer(&anonymous).is_none(),
            "nothing bound on a public route"
        );
        // Another route's stream with the same id ending leaves the binding alone.
        let foreign = LegacyStream::new(other.clone(), alice());
        foreign.session_opened("s1");
        foreign.stream_ended();
        assert_eq!(
            bindings.admit_legacy(Some("sessionId=s1"), &alice()),
            Admission::Pass
        );
    }
}
