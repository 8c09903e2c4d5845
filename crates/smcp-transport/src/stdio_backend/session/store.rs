//! The sessions of one backend: creation under the limits, owner-checked lookup, ending with a
//! reason, and shutdown.
//!
//! Every task the session layer spawns (per-session supervisors, request drivers, child stops)
//! runs on one [`TaskTracker`], so [`Sessions::shutdown`] can wait until every child is gone.
//!
//! # Limits
//! A backend holds at most `max_sessions` sessions, and one principal at most
//! `max_sessions_per_principal` of them (counted per client address when the backend has no
//! authentication, see `quota`). Scripted clients often never `DELETE` their sessions, so a
//! limit that is reached does not refuse at once: it first ends the session that has been
//! idle longest (no request running, none just registered, no stream open) among the ones
//! the limit counts (the caller's own for the per-principal limit, every session for
//! `max_sessions`), reason `evicted`. Only when every such session is busy is the new one
//! refused: 429 for the caller's own limit, 503 for a full backend, both with `Retry-After`.
//! A session with a request in flight is never evicted. The evicted session's child is
//! stopped before the new one is spawned, so evictions never push the number of children
//! over `max_sessions`.
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use futures_util::future::BoxFuture;

use super::conn::{ConnectError, Connector};
use super::metrics::{self as session_metrics, ToolNames};
use super::quota::{EvictReason, QuotaKey, RefuseReason};
use super::stream::lock;
use super::{EndReason, Session, SessionId, SessionOwner, Transport, supervisor};

/// The knobs of one stdio backend's session layer.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// The backend id: the `backend` label and log field.
    pub(crate) backend: Arc<str>,
    /// How long a request may wait for the backend, restarted by each progress notification.
    pub(crate) stdio_timeout: Duration,
    /// At most this many sessions (and children) at once.
    pub(crate) max_sessions: usize,
    /// At most this many sessions per principal (per client address when anonymous).
    pub(crate) max_sessions_per_principal: usize,
    /// Sessions with no request and no open stream for this long are ended.
    pub(crate) idle_timeout: Duration,
    /// Quiet SSE streams get a keepalive comment this often (never when zero).
    pub(crate) keepalive: Duration,
    /// A client that takes none of its stream's events for this long loses that response.
    pub(crate) stall_timeout: Duration,
    /// Events kept per session for `Last-Event-ID` replay.
    pub(crate) replay_events: usize,
    /// The largest request body read from a client (413 over it).
    pub(crate) max_message_bytes: u64,
}

/// The SSE stream of a legacy session being created.
pub(crate) struct LegacyStream {
    /// Feeds the stream's response body.
    pub(crate) tx: super::stream::Sink,
    /// The URI clients POST to, up to and including `sessionId=`; the id is appended.
    pub(crate) endpoint: String,
}

/// Why no session was created.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CreateError {
    /// The backend is shutting down.
    #[error("the server is shutting down")]
    Closing,
    /// `max_sessions` are open already, every one busy.
    #[error("too many sessions")]
    Full,
    /// The caller has `max_sessions_per_principal` open already, every one busy.
    #[error("too many sessions for this principal")]
    PrincipalLimit,
    /// The child could not be started.
    #[error(transparent)]
    Spawn(ConnectError),
}

/// What a lookup found.
pub(crate) enum Lookup {
    /// The session, owned by the caller.
    Found(Arc<Session>),
    /// No such session (never existed, or ended).
    Unknown,
    /// The session exists but belongs to someone else. Callers answer exactly as for
    /// [`Lookup::Unknown`]; the variant exists so the attempt can be logged.
    Foreign,
}

#[derive(Default)]
struct Table {
    sessions: HashMap<SessionId, Arc<Session>>,
    /// Sessions whose child is being spawned: they count against the limit already.
    starting: usize,
    /// Sessions (open or starting) per quota key; keys with none are removed, so this holds
    /// at most `max_sessions` entries.
    per_key: HashMap<QuotaKey, usize>,
}

impl Table {
    fn count(&self, key: &QuotaKey) -> usize {
        self.per_key.get(key).copied().unwrap_or(0)
    }

    fn take_slot(&mut self, key: &QuotaKey) {
        *self.per_key.entry(key.clone()).or_insert(0) += 1;
    }

    fn release_slot(&mut self, key: &QuotaKey) {
        if let Some(n) = self.per_key.get_mut(key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_key.remove(key);
            }
        }
    }

    /// Removes `session` if it is the one registered under its id.
    fn remove(&mut self, session: &Session) -> Option<Arc<Session>> {
        match self.sessions.get(&session.id) {
            Some(s) if std::ptr::eq(Arc::as_ptr(s), session) => {
                let removed = self.sessions.remove(&session.id);
                self.release_slot(&session.quota);
                removed
            }
            _ => None,
        }
    }

    /// Removes and returns the session idle longest among those `counted` selects, if any is
    /// idle at all.
    fn evict(&mut self, counted: impl Fn(&Session) -> bool) -> Option<Arc<Session>> {
        let victim = self
            .sessions
            .values()
            .filter(|s| counted(s))
            .filter_map(|s| s.evictable_since().map(|since| (since, s)))
            .min_by_key(|(since, _)| *since)
            .map(|(_, s)| s.clone())?;
        self.remove(&victim)
    }
}

/// The session layer of one backend.
pub(crate) struct Sessions {
    /// Configuration.
    pub(crate) settings: Settings,
    /// Tool names seen in `tools/list` results, for the `tool` metric label.
    pub(crate) tools: ToolNames,
    connector: Arc<dyn Connector>,
    table: Mutex<Table>,
    /// Cancelled by [`Sessions::begin_shutdown`].
    closing: CancellationToken,
    tracker: TaskTracker,
}

/// Gives back a reserved session slot unless the session was inserted.
struct Reservation {
    sessions: Arc<Sessions>,
    quota: QuotaKey,
    armed: bool,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.armed {
            let mut table = lock(&self.sessions.table);
            table.starting -= 1;
            table.release_slot(&self.quota);
        }
    }
}

impl Sessions {
    /// An empty session layer making connections with `connector`.
    pub(crate) fn new(settings: Settings, connector: Arc<dyn Connector>) -> Arc<Self> {
        Arc::new(Sessions {
            tools: ToolNames::default(),
            settings,
            connector,
            table: Mutex::new(Table::default()),
            closing: CancellationToken::new(),
            tracker: TaskTracker::new(),
        })
    }

    /// Spawns a task that shutdown waits for.
    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task);
    }

    /// True once shutdown has begun.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.is_cancelled()
    }

    /// Starts a backend and creates a session on it for `owner`, calling from `client`,
    /// under the limits (see the module docs). A legacy session gets its SSE stream, `legacy`,
    /// whose first event (`endpoint`) is queued before any message of the backend can be.
    ///
    /// The spawn runs in its own task, so a caller that goes away mid-way (the client
    /// disconnected) cannot leave a half-started child behind: the task finishes, sees nobody
    /// waiting, and ends the new session at once (reason `client_closed`).
    pub(crate) async fn create(
        self: &Arc<Self>,
        owner: SessionOwner,
        client: IpAddr,
        legacy: Option<LegacyStream>,
    ) -> Result<Arc<Session>, CreateError> {
        let quota = QuotaKey::of(&owner, client);
        let evicted = self.reserve(&quota).inspect_err(|(reason, _)| {
            session_metrics::session_refused(&self.settings.backend, *reason);
        });
        let evicted = evicted.map_err(|(_, e)| e)?;
        let victim_stopped = evicted.map(|(victim, reason)| {
            session_metrics::session_evicted(&self.settings.backend, reason);
            tracing::info!(
                backend = %self.settings.backend,
                session = %victim.id.short(),
                why = reason.as_str(),
                "ending the session idle longest to make room for a new one"
            );
            self.ended(&victim, EndReason::Evicted)
        });
        let reservation = Reservation {
            sessions: self.clone(),
            quota: quota.clone(),
            armed: true,
        };
        let (tx, rx) = oneshot::channel();
        let sessions = self.clone();
        self.spawn(async move {
            // The evicted session's child goes before the new one comes, so children never
            // outnumber the limit because of an eviction.
            if let Some(stopped) = victim_stopped {
                stopped.await;
            }
            let created = sessions.start(reservation, owner, quota, legacy).await;
            if let Err(Ok(session)) = tx.send(created) {
                sessions.end(&session, EndReason::ClientClosed);
            }
        });
        // The task always answers unless the runtime is going away.
        rx.await.unwrap_or(Err(CreateError::Closing))
    }

    /// Takes a slot for a new session counted under `quota`, ending an idle session first
    /// when a limit is reached; gives back the session it ended, and why. Refusals come with
    /// their metric reason.
    #[allow(
        clippy::type_complexity,
        reason = "a private helper whose two outcomes are both spelled out in its doc"
    )]
    fn reserve(
        &self,
        quota: &QuotaKey,
    ) -> Result<Option<(Arc<Session>, EvictReason)>, (RefuseReason, CreateError)> {
        let mut table = lock(&self.table);
        if self.is_closing() {
            return Err((RefuseReason::ShuttingDown, CreateError::Closing));
        }
        let per_principal = self.settings.max_sessions_per_principal.max(1);
        let mut evicted = None;
        if table.count(quota) >= per_principal {
            match table.evict(|s| s.quota == *quota) {
                Some(victim) => evicted = Some((victim, EvictReason::PrincipalLimit)),
                None => {
                    return Err((RefuseReason::PrincipalLimit, CreateError::PrincipalLimit));
                }
            }
        } else if table.sessions.len() + table.starting >= self.settings.max_sessions {
            match table.evict(|_| true) {
                Some(victim) => evicted = Some((victim, EvictReason::BackendFull)),
                None => return Err((RefuseReason::BackendFull, CreateError::Full)),
            }
        }
        table.starting += 1;
        table.take_slot(quota);
        Ok(evicted)
    }

    /// The part of [`Sessions::create`] after the slot is reserved.
    async fn start(
        self: &Arc<Self>,
        mut reservation: Reservation,
        owner: SessionOwner,
        quota: QuotaKey,
        legacy: Option<LegacyStream>,
    ) -> Result<Arc<Session>, CreateError> {
        let transport = match legacy {
            Some(_) => Transport::Legacy,
            None => Transport::Streamable,
        };
        let id = SessionId::generate();
        let conn = self
            .connector
            .connect(id.short())
            .await
            .map_err(CreateError::Spawn)?;
        let session = Arc::new(Session::new(
            id,
            (owner, quota),
            transport,
            conn,
            &self.settings,
            self.closing.child_token(),
            legacy.as_ref().map(|l| l.tx.clone()),
        ));
        if let Some(legacy) = legacy {
            let uri = format!("{}{}", legacy.endpoint, session.id.as_str());
            let event = crate::sse::encode(&crate::sse::Event {
                event: Some("endpoint".to_owned()),
                data: Bytes::from(uri),
                ..crate::sse::Event::default()
            });
            // The channel is new and empty, so there is room.
            let _ = legacy.tx.try_send(event);
        }
        let unsolicited = session.conn.take_unsolicited();
        {
            let mut table = lock(&self.table);
            table.starting -= 1;
            reservation.armed = false;
            if self.is_closing() {
                table.release_slot(&session.quota);
                drop(table);
                let conn = session.conn.clone();
                self.spawn(async move { conn.stop().await });
                return Err(CreateError::Closing);
            }
            table.sessions.insert(session.id.clone(), session.clone());
        }
        session_metrics::session_started(&self.settings.backend);
        tracing::info!(
            backend = %self.settings.backend,
            session = %session.id.short(),
            transport = ?transport,
            "session created"
        );
        self.spawn(supervisor::run(self.clone(), session.clone(), unsolicited));
        Ok(session)
    }

    /// Finds session `id` for `owner`.
    pub(crate) fn lookup(&self, id: &str, owner: &SessionOwner) -> Lookup {
        let found = lock(&self.table).sessions.get(id).cloned();
        match found {
            Some(session) if session.owner == *owner => {
                // A request for the session is traffic: it is no longer the idlest, so a
                // concurrent eviction picks another while this request gets going.
                session.activity.touch();
                Lookup::Found(session)
            }
            Some(_) => {
                tracing::warn!(
                    backend = %self.settings.backend,
                    session = %super::short_id(id),
                    "security: session id presented by a principal that does not own it"
                );
                Lookup::Foreign
            }
            None => Lookup::Unknown,
        }
    }

    /// Ends `session` (once; later calls do nothing): its id stops working at once, its GET
    /// and legacy streams end, and its backend is stopped in the background.
    pub(crate) fn end(&self, session: &Session, reason: EndReason) {
        let removed = lock(&self.table).remove(session);
        let Some(session) = removed else { return };
        let stopped = self.ended(&session, reason);
        self.spawn(stopped);
    }

    /// What follows removing `session` from the table: its streams end, the end is counted
    /// and logged; returns the stop of its backend, for the caller to run.
    fn ended(&self, session: &Session, reason: EndReason) -> BoxFuture<'static, ()> {
        session.ended.cancel();
        session.streams_stop.cancel();
        session.release_legacy_stream();
        session_metrics::session_ended(&self.settings.backend, reason);
        tracing::info!(
            backend = %self.settings.backend,
            session = %session.id.short(),
            reason = reason.as_str(),
            "session ended"
        );
        session.conn.stop()
    }

    /// How many sessions are open.
    pub(crate) fn active(&self) -> usize {
        lock(&self.table).sessions.len()
    }

    fn all(&self) -> Vec<Arc<Session>> {
        lock(&self.table).sessions.values().cloned().collect()
    }

    /// Refuses new sessions and GET streams, ends every GET stream and every legacy session
    /// (whose stream is the session), and lets running POST requests finish.
    pub(crate) fn begin_shutdown(&self) {
        self.closing.cancel();
        for session in self.all() {
            if session.transport == Transport::Legacy {
                self.end(&session, EndReason::Shutdown);
            }
        }
    }

    /// Ends every session and returns once every backend process is gone and every task of
    /// the session layer has finished.
    pub(crate) async fn shutdown(&self) {
        self.begin_shutdown();
        for session in self.all() {
            self.end(&session, EndReason::Shutdown);
        }
        self.tracker.close();
        self.tracker.wait().await;
    }
}
