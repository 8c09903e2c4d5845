//! HTTP backends' MCP sessions bound to (route, principal).
//!
//! An HTTP backend hands out its own `Mcp-Session-Id`s and knows nothing of smcp's routes or
//! callers: a session id leaked from one principal would let another act inside that session,
//! and when two routes front the same upstream (a public route and a protected one, or two
//! protected routes with different claim rules), an id minted on one route and presented on
//! the other would reach the same session past the other route's policy. So smcp keeps one
//! table of the sessions it saw created, for every HTTP route of the server, each bound to
//! the route and the principal it was created on:
//!
//! - learned on a protected route from the response to a POST that carried no session id
//!   (the initialize request) when the response head carries `Mcp-Session-Id`;
//! - a request presenting a bound id on another route (protected or not) or from another
//!   principal is answered 404, exactly what an unknown session gets, and logged as a
//!   security event with a short fingerprint of the id (`reason` `route` or `foreign`);
//! - forgotten on a 2xx answer to the session's DELETE, and on the backend's 404 for it.
//!
//! Legacy HTTP+SSE sessions (2024-11-05) are bound in the same table (see `legacy`), more
//! strictly: the session id named by the `endpoint` event of a GET's SSE stream is bound to
//! the route and caller who opened the stream until the stream ends, and on a protected route
//! a request whose query names a legacy session (`sessionId`/`session_id`) passes only when it
//! names exactly one, byte for byte the value smcp saw announced to this caller on this route.
//! Backends canonicalise ids (the Python SDK parses them as UUIDs, accepting case, hyphens,
//! braces and `urn:uuid:`), so any other spelling, an id smcp never announced, and a query
//! naming the session twice or ambiguously (see `legacy_session`) get
//! 404. A legacy stream cannot outlive the smcp process that carries it, so nothing legitimate
//! is lost by refusing unknown ids. On an unprotected route nothing is bound (there is no
//! principal to bind to), but ids bound on other routes and ambiguous queries are refused
//! there too.
//!
//! Streamable HTTP ids smcp never saw (sessions created before a restart, or through another
//! smcp replica) pass through to the backend, which decides. The table is bounded: each
//! principal keeps at most `per_owner` bindings and the whole table `capacity`, the least
//! recently used going first, so one caller cannot flood out another's bindings without many
//! identities.
//!
//! The stdio backends need none of this: each route's sessions live in its own
//! `StdioBackend` and carry their owner inside `smcp-transport`, so an id of another route or
//! owner is unknown there by construction (404 as well).

mod legacy;

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use ::http::{HeaderMap, HeaderName, Method, Response, StatusCode};

use super::{EndpointObserver, LegacySession, legacy_session};
use crate::body::Body;
use crate::owner::SessionOwner;

use legacy::LegacyStream;

/// The MCP session header (Streamable HTTP), as a name: a `&str` key would be parsed on
/// every lookup, and every request to an HTTP route is looked at.
const SESSION_HEADER: HeaderName = HeaderName::from_static("mcp-session-id");
/// Longest session id remembered; longer ids are never bound (the spec's ids are short).
const MAX_ID_BYTES: usize = 256;
/// Session bindings a server should keep for all its routes (smcp-server's choice).
pub const SESSION_BINDINGS: usize = 100_000;
/// Of those, the bindings kept per principal.
pub const SESSION_BINDINGS_PER_PRINCIPAL: usize = 1_000;

/// Whether a request may go on to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// No session id, an id of this route and principal, or a Streamable HTTP id smcp does
    /// not know.
    Pass,
    /// A session bound to another principal on this route.
    Foreign,
    /// A session bound to another route.
    OtherRoute,
    /// A legacy session id that smcp never announced to this caller (including other
    /// spellings of an announced one).
    Unknown,
    /// A query naming its legacy session more than once or ambiguously.
    Ambiguous,
}

impl Admission {
    /// The `reason` label of a refusal.
    fn reason(self) -> &'static str {
        match self {
            Admission::Pass => "pass",
            Admission::Foreign => "foreign",
            Admission::OtherRoute => "route",
            Admission::Unknown => "unknown",
            Admission::Ambiguous => "ambiguous",
        }
    }
}

/// The session bindings of every HTTP route of one server (one table, so that an id of one
/// route is recognised on all the others).
pub struct SessionBindings {
    capacity: usize,
    per_owner: usize,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    /// Session id -> route, owner and the tick of its last use.
    sessions: HashMap<Arc<str>, Binding>,
    /// Tick -> session id, oldest first.
    by_age: BTreeMap<u64, Arc<str>>,
    /// Owner -> (tick -> session id) of that owner's sessions.
    by_owner: HashMap<SessionOwner, BTreeMap<u64, Arc<str>>>,
    tick: u64,
}

struct Binding {
    /// The id of the backend (route) the session was created on.
    route: Arc<str>,
    owner: SessionOwner,
    tick: u64,
    /// Announced by a legacy `endpoint` event (only those may be named in a query).
    legacy: bool,
}

impl Binding {
    fn belongs_to(&self, route: &str, owner: &SessionOwner) -> bool {
        *self.route == *route && self.owner == *owner
    }
}

impl SessionBindings {
    /// An empty table holding at most `capacity` bindings, `per_owner` of them for any one
    /// principal.
    pub fn new(capacity: usize, per_owner: usize) -> Self {
        SessionBindings {
            capacity: capacity.max(1),
            per_owner: per_owner.max(1),
            table: Mutex::new(Table::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that
        // matters more than refusing every request would.
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One HTTP route's view of the server's [`SessionBindings`]: what this route may bind, and
/// the checks its requests pass. Cheap to clone.
#[derive(Clone)]
pub struct RouteSessions {
    bindings: Arc<SessionBindings>,
    /// The backend id of the route (also the metric label of its refusals).
    route: Arc<str>,
    /// Whether the route authenticates its callers: only then are sessions bound to one.
    protected: bool,
}

impl std::fmt::Debug for RouteSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No session id belongs in debug output.
        f.debug_struct("RouteSessions")
            .field("route", &self.route)
            .field("protected", &self.protected)
            .finish_non_exhaustive()
    }
}

impl RouteSessions {
    /// The view of route `route` (a backend id); `protected` when its callers are
    /// authenticated.
    pub fn new(bindings: Arc<SessionBindings>, route: Arc<str>, protected: bool) -> Self {
        RouteSessions {
            bindings,
            route,
            protected,
        }
    }

    /// Checks a request before it is forwarded: its `Mcp-Session-Id` (Streamable HTTP, read
    /// by the caller with [`session_id`], which needs it again for [`RouteSessions::observe`])
    /// and the legacy session its query names. `Pass` or the refusal (already counted and
    /// logged).
    pub fn admit_request(
        &self,
        session_id: Option<&str>,
        query: Option<&str>,
        owner: &SessionOwner,
    ) -> Admission {
        match self.admit(session_id, owner) {
            Admission::Pass => self.admit_legacy(query, owner),
            refused => refused,
        }
    }

    /// Checks the session id of a request (if any) against its binding, and marks a session
    /// of this route and principal as recently used.
    pub fn admit(&self, session_id: Option<&str>, owner: &SessionOwner) -> Admission {
        let Some(id) = session_id else {
            return Admission::Pass;
        };
        let mut table = self.bindings.lock();
        let Some(binding) = table.sessions.get(id) else {
            return Admission::Pass;
        };
        let verdict = if *binding.route != *self.route {
            Admission::OtherRoute
        } else if binding.owner != *owner {
            Admission::Foreign
        } else {
            table.touch(id);
            return Admission::Pass;
        };
        drop(table);
        self.refuse(verdict, Some(id))
    }

    /// Checks the legacy session a request's query names (`sessionId`, `session_id`): on a
    /// protected route it must be exactly one value, byte for byte one that an `endpoint`
    /// event announced to `owner` on this route; on any route it must be named once and not
    /// be bound to another route (see the module docs). A query naming no legacy session
    /// passes.
    pub fn admit_legacy(&self, query: Option<&str>, owner: &SessionOwner) -> Admission {
        let named = query.map_or(LegacySession::None, legacy_session);
        let id = match named {
            LegacySession::None => return Admission::Pass,
            LegacySession::Ambiguous => return self.refuse(Admission::Ambiguous, None),
            LegacySession::One(id) => id,
        };
        let mut table = self.bindings.lock();
        let verdict = match table.sessions.get(id) {
            Some(binding) if *binding.route != *self.route => Admission::OtherRoute,
            Some(binding) if binding.owner != *owner => Admission::Foreign,
            Some(binding) if binding.legacy => Admission::Pass,
            _ if self.protected => Admission::Unknown,
            _ => Admission::Pass,
        };
        if verdict == Admission::Pass {
            table.touch(id);
            return Admission::Pass;
        }
        drop(table);
        self.refuse(verdict, Some(id))
    }

    /// The observer for a GET that may open a legacy SSE stream: its session is bound to
    /// `owner` on this route while the stream lasts. `None` on an unprotected route.
    pub fn stream_observer(&self, owner: &SessionOwner) -> Option<Arc<dyn EndpointObserver>> {
        self.protected.then(|| {
            Arc::new(LegacyStream::new(self.clone(), owner.clone())) as Arc<dyn EndpointObserver>
        })
    }

    /// Counts and logs a refusal (`verdict` is not `Pass`) and returns it.
    fn refuse(&self, verdict: Admission, id: Option<&str>) -> Admission {
        metrics::counter!(
            "smcp_session_binding_refusals_total",
            "backend" => self.route.to_string(),
            "reason" => verdict.reason()
        )
        .increment(1);
        let session = id.map(fingerprint).unwrap_or_default();
        match verdict {
            Admission::Foreign => tracing::warn!(
                backend = %self.route,
                session = %session,
                "security: an MCP session id was presented by a principal that does not own it; answered as unknown"
            ),
            Admission::OtherRoute => tracing::warn!(
                backend = %self.route,
                session = %session,
                "security: an MCP session id created on another route was presented on this one; answered as unknown"
            ),
            Admission::Unknown => tracing::warn!(
                backend = %self.route,
                session = %session,
                "security: a legacy SSE session id that smcp never announced to this caller (or another spelling of one); answered as unknown"
            ),
            _ => tracing::warn!(
                backend = %self.route,
                "security: a request names its legacy SSE session more than once or ambiguously; answered as unknown"
            ),
        }
        verdict
    }

    /// Forgets session `id` if it is bound to this route and `owner` (any other binding
    /// stays).
    fn forget(&self, id: &str, owner: &SessionOwner) {
        let mut table = self.bindings.lock();
        if table
            .sessions
            .get(id)
            .is_some_and(|b| b.belongs_to(&self.route, owner))
        {
            table.remove(id);
        }
    }

    /// Learns from a response head on a protected route: binds a new session, or forgets an
    /// ended one.
    pub fn observe(
        &self,
        method: &Method,
        request_session: Option<&str>,
        response: &Response<Body>,
        owner: &SessionOwner,
    ) {
        if !self.protected {
            return;
        }
        let status = response.status();
        match request_session {
            None if *method == Method::POST && status.is_success() => {
                if let Some(id) = session_id(response.headers()) {
                    self.bind(id, owner);
                }
            }
            Some(id)
                if status == StatusCode::NOT_FOUND
                    || (*method == Method::DELETE && status.is_success()) =>
            {
                // The request passed `admit`, so a binding of this id is this route's.
                self.forget(id, owner);
            }
            _ => {}
        }
    }

    fn bind(&self, id: &str, owner: &SessionOwner) {
        self.bind_as(id, owner, false);
    }

    /// Binds session `id` to this route and `owner`; `legacy` when an `endpoint` event
    /// announced it.
    fn bind_as(&self, id: &str, owner: &SessionOwner, legacy: bool) {
        if id.is_empty() || id.len() > MAX_ID_BYTES {
            return;
        }
        let (capacity, per_owner) = (self.bindings.capacity, self.bindings.per_owner);
        let mut table = self.bindings.lock();
        if let Some(existing) = table.sessions.get_mut(id) {
            if existing.belongs_to(&self.route, owner) {
                existing.legacy |= legacy;
            } else {
                // The backend reissued a live id: keep the first binding, never hand it over.
                tracing::warn!(
                    backend = %self.route,
                    session = %fingerprint(id),
                    "security: the backend issued a session id that is bound to another route or principal; keeping the first binding"
                );
            }
            return;
        }
        while table
            .by_owner
            .get(owner)
            .is_some_and(|sessions| sessions.len() >= per_owner)
        {
            let oldest = table
                .by_owner
                .get(owner)
                .and_then(|sessions| sessions.values().next().cloned());
            match oldest {
                Some(oldest) => {
                    table.remove(&oldest);
                    self.evicted("per_principal");
                }
                None => break,
            }
        }
        while table.sessions.len() >= capacity {
            let Some(oldest) = table.by_age.values().next().cloned() else {
                break;
            };
            table.remove(&oldest);
            self.evicted("capacity");
        }
        table.insert(
            Arc::from(id),
            Arc::clone(&self.route),
            owner.clone(),
            legacy,
        );
    }

    /// Counts a binding dropped to make room for a new one on this route: `per_principal`
    /// (its principal held `per_owner` already) or `capacity` (the whole table was full).
    /// The client of an evicted session is then refused nothing (an id smcp does not know
    /// passes to the backend), so a rising count means the bounds are too small for the
    /// load, or someone is churning sessions.
    fn evicted(&self, reason: &'static str) {
        metrics::counter!(
            "smcp_session_binding_evictions_total",
            "backend" => self.route.to_string(),
            "reason" => reason
        )
        .increment(1);
    }

    /// Number of bindings held in the whole table (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.bindings.lock().sessions.len()
    }
}

impl Table {
    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    fn insert(&mut self, id: Arc<str>, route: Arc<str>, owner: SessionOwner, legacy: bool) {
        let tick = self.next_tick();
        self.by_age.insert(tick, Arc::clone(&id));
        self.by_owner
            .entry(owner.clone())
            .or_default()
            .insert(tick, Arc::clone(&id));
        self.sessions.insert(
            id,
            Binding {
                route,
                owner,
                tick,
                legacy,
            },
        );
        self.report_size();
    }

    /// `smcp_session_bindings`: how many HTTP session bindings the table holds (at most its
    /// capacity, see [`SessionBindings::new`]; smcp-server's is 100,000).
    fn report_size(&self) {
        metrics::gauge!("smcp_session_bindings").set(self.sessions.len() as f64);
    }

    fn touch(&mut self, id: &str) {
        let tick = self.next_tick();
        let Some((key, binding)) = self.sessions.get_key_value(id) else {
            return;
        };
        let (key, old, owner) = (Arc::clone(key), binding.tick, binding.owner.clone());
        self.by_age.remove(&old);
        self.by_age.insert(tick, Arc::clone(&key));
        if let Some(sessions) = self.by_owner.get_mut(&owner) {
            sessions.remove(&old);
            sessions.insert(tick, key);
        }
        if let Some(binding) = self.sessions.get_mut(id) {
            binding.tick = tick;
        }
    }

    fn remove(&mut self, id: &str) {
        let Some(binding) = self.sessions.remove(id) else {
            return;
        };
        self.by_age.remove(&binding.tick);
        if let Some(sessions) = self.by_owner.get_mut(&binding.owner) {
            sessions.remove(&binding.tick);
            if sessions.is_empty() {
                self.by_owner.remove(&binding.owner);
            }
        }
        self.report_size();
    }
}

/// The request's (or response's) `Mcp-Session-Id`, when it is one readable value.
pub fn session_id(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(&SESSION_HEADER).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    first.to_str().ok()
}

/// 404 for a session that belongs to another route or principal: the same answer as an
/// unknown session (the stdio backends' too).
pub fn unknown_session() -> Response<Body> {
    crate::reply::ProxyError::UnknownSession.respond(None)
}

/// 8 hex digits identifying a session id in logs without revealing it.
fn fingerprint(id: &str) -> String {
    let mut hasher = DefaultHasher::new();
    id.hash(&mut hasher);
    format!("{:08x}", hasher.finish() >> 32)
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::Arc;

    use ::http::{HeaderValue, Method, Response, StatusCode};

    use crate::body;
    use crate::owner::SessionOwner;

    use super::{Admission, RouteSessions, SessionBindings};

    /// A protected route `b` on a table of `capacity` bindings, `per_owner` per principal.
    pub(super) fn protected(capacity: usize, per_owner: usize) -> RouteSessions {
        let table = Arc::new(SessionBindings::new(capacity, per_owner));
        RouteSessions::new(table, "b".into(), true)
    }

    fn alice() -> SessionOwner {
        SessionOwner::from_principal("https://idp", "alice")
    }

    fn bob() -> SessionOwner {
        SessionOwner::from_principal("https://idp", "bob")
    }

    fn initialized(id: &str) -> Response<crate::body::Body> {
        let mut response = Response::new(body::empty());
        response
            .headers_mut()
            .insert("mcp-session-id", HeaderValue::from_str(id).unwrap());
        response
    }

    fn status(code: StatusCode) -> Response<crate::body::Body> {
        let mut response = Response::new(body::empty());
        *response.status_mut() = code;
        response
    }

    #[test]
    fn binds_on_initialize_and_refuses_other_principals() {
        let b = protected(100, 10);
        b.observe(&Method::POST, None, &initialized("s1"), &alice());
        assert_eq!(b.admit(Some("s1"), &alice()), Admission::Pass);
        assert_eq!(b.admit(Some("s1"), &bob()), Admission::Foreign);
        assert_eq!(b.admit(Some("unknown"), &bob()), Admission::Pass);
        assert_eq!(b.admit(None, &bob()), Admission::Pass);
        // Only a POST without a session id creates a binding.
        b.observe(&Method::GET, None, &initialized("s2"), &bob());
        b.observe(&Method::POST, Some("s1"), &initialized("s3"), &bob());
        assert_eq!(b.len(), 1);
        // A reissued id keeps its first owner.
        b.observe(&Method::POST, None, &initialized("s1"), &bob());
        assert_eq!(b.admit(Some("s1"), &bob()), Admission::Foreign);
    }

    #[test]
    fn forgets_on_delete_and_on_backend_404() {
        let b = protected(100, 10);
        b.observe(&Method::POST, None, &initialized("s1"), &alice());
        b.observe(&Method::POST, None, &initialized("s2"), &alice());
        b.observe(
            &Method::DELETE,
            Some("s1"),
            &status(StatusCode::METHOD_NOT_ALLOWED),
            &alice(),
        );
        assert_eq!(b.len(), 2, "a refused DELETE ends nothing");
        b.observe(
            &Method::DELETE,
            Some("s1"),
            &status(StatusCode::OK),
            &alice(),
        );
        b.observe(
            &Method::POST,
            Some("s2"),
            &status(StatusCode::NOT_FOUND),
            &alice(),
        );
        assert_eq!(b.len(), 0);
    }

    #[test]
    fn bounded_per_owner_and_overall_least_recently_used_first() {
        let b = protected(4, 2);
        b.observe(&Method::POST, None, &initialized("a1"), &alice());
        b.observe(&Method::POST, None, &initialized("a2"), &alice());
        assert_eq!(b.admit(Some("a1"), &alice()), Admission::Pass); // a1 now newer than a2
        b.observe(&Method::POST, None, &initialized("a3"), &alice());
        assert_eq!(b.len(), 2);
        assert_eq!(
            b.admit(Some("a2"), &bob()),
            Admission::Pass,
            "a2 was evicted"
        );
        assert_eq!(b.admit(Some("a1"), &bob()), Admission::Foreign);
        for id in ["b1", "b2"] {
            b.observe(&Method::POST, None, &initialized(id), &bob());
        }
        let carol = SessionOwner::from_principal("https://idp", "carol");
        b.observe(&Method::POST, None, &initialized("c1"), &carol);
        assert_eq!(b.len(), 4);
        // The least recently used overall (a1's touch came before a3) went first.
        assert_eq!(b.admit(Some("a1"), &bob()), Admission::Pass);
        assert_eq!(b.admit(Some("a3"), &bob()), Admission::Foreign);
    }

    #[test]
    fn evictions_are_counted_by_reason_and_the_table_size_is_a_gauge() {
        let capture = crate::test_metrics::Capture::default();
        metrics::with_local_recorder(&capture, || {
            let b = protected(2, 1);
            b.observe(&Method::POST, None, &initialized("a1"), &alice());
            b.observe(&Method::POST, None, &initialized("a2"), &alice()); // a1 out: per principal
            b.observe(&Method::POST, None, &initialized("b1"), &bob());
            let carol = SessionOwner::from_principal("https://idp", "carol");
            b.observe(&Method::POST, None, &initialized("c1"), &carol); // a2 out: capacity
            assert_eq!(b.len(), 2);
            assert_eq!(capture.gauge("smcp_session_bindings{}"), Some(2.0));
            b.observe(&Method::DELETE, Some("c1"), &status(StatusCode::OK), &carol);
            assert_eq!(capture.gauge("smcp_session_bindings{}"), Some(1.0));
        });
        let evictions = |reason: &str| {
            capture.get(&format!(
                "smcp_session_binding_evictions_total{{backend=b,reason={reason}}}"
            ))
        };
        assert_eq!(evictions("per_principal"), 1);
        assert_eq!(evictions("capacity"), 1);
    }

    #[test]
    fn a_session_is_refused_on_every_other_route() {
        let a = protected(100, 10);
        let other = RouteSessions::new(Arc::clone(&a.bindings), "other".into(), true);
        let public = RouteSessions::new(Arc::clone(&a.bindings), "public".into(), false);
        a.observe(&Method::POST, None, &initialized("s1"), &alice());
        assert_eq!(a.admit(Some("s1"), &alice()), Admission::Pass);
        // The same principal, or anyone, presenting it on another route: refused.
        assert_eq!(other.admit(Some("s1"), &alice()), Admission::OtherRoute);
        assert_eq!(other.admit(Some("s1"), &bob()), Admission::OtherRoute);
        let anonymous = SessionOwner::anonymous();
        assert_eq!(public.admit(Some("s1"), &anonymous), Admission::OtherRoute);
        // An unprotected route binds nothing and passes ids it does not know.
        public.observe(&Method::POST, None, &initialized("p1"), &anonymous);
        assert_eq!(a.len(), 1);
        assert_eq!(public.admit(Some("p1"), &anonymous), Admission::Pass);
        // The other route's 404 or DELETE for the id does not end the binding.
        other.observe(
            &Method::POST,
            Some("s1"),
            &status(StatusCode::NOT_FOUND),
            &alice(),
        );
        other.observe(
            &Method::DELETE,
            Some("s1"),
            &status(StatusCode::OK),
            &alice(),
        );
        assert_eq!(a.admit(Some("s1"), &alice()), Admission::Pass);
        // A backend reissuing the id on another route keeps the first binding.
        other.observe(&Method::POST, None, &initialized("s1"), &alice());
        assert_eq!(other.admit(Some("s1"), &alice()), Admission::OtherRoute);
    }

    #[test]
    fn fingerprints_are_short_and_stable() {
        let f = super::fingerprint("0123456789abcdef-session");
        assert_eq!(f.len(), 8);
        assert_eq!(f, super::fingerprint("0123456789abcdef-session"));
        assert!(!f.contains("0123"));
    }
}
