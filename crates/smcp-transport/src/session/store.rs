//! The sessions of one backend: creation under a limit, owner-checked lookup, ending with a
//! reason, and shutdown.
//!
//! Every task the session layer spawns (per-session supervisors, request drivers, child stops)
//! runs on one [`TaskTracker`], so [`Sessions::shutdown`] can wait until every child is gone.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::conn::{ConnectError, Connector};
use super::metrics::{self as session_metrics, ToolNames};
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
    /// Sessions with no request and no open stream for this long are ended.
    pub(crate) idle_timeout: Duration,
    /// Quiet SSE streams get a keepalive comment this often (never when zero).
    pub(crate) keepalive: Duration,
    /// A client that takes none of its stream's events for this long loses that response.
    pub(crate) stall_timeout: Duration,
    /// Events kept per session for `Last-Event-ID` replay.
    pub(crate) replay_events: usize,
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
    /// `max_sessions` are open already.
    #[error("too many sessions")]
    Full,
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
    armed: bool,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.armed {
            lock(&self.sessions.table).starting -= 1;
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

    /// Starts a backend and creates a session on it for `owner`. A legacy session gets its
    /// SSE stream, `legacy`, whose first event (`endpoint`) is queued before any message of
    /// the backend can be.
    ///
    /// The spawn runs in its own task, so a caller that goes away mid-way (the client
    /// disconnected) cannot leave a half-started child behind: the task finishes, sees nobody
    /// waiting, and ends the new session at once (reason `client_closed`).
    pub(crate) async fn create(
        self: &Arc<Self>,
        owner: SessionOwner,
        legacy: Option<LegacyStream>,
    ) -> Result<Arc<Session>, CreateError> {
        {
            let mut table = lock(&self.table);
            if self.is_closing() {
                return Err(CreateError::Closing);
            }
            if table.sessions.len() + table.starting >= self.settings.max_sessions {
                return Err(CreateError::Full);
            }
            table.starting += 1;
        }
        let reservation = Reservation {
            sessions: self.clone(),
            armed: true,
        };
        let (tx, rx) = oneshot::channel();
        let sessions = self.clone();
        self.spawn(async move {
            let created = sessions.start(reservation, owner, legacy).await;
            if let Err(Ok(session)) = tx.send(created) {
                sessions.end(&session, EndReason::ClientClosed);
            }
        });
        // The task always answers unless the runtime is going away.
        rx.await.unwrap_or(Err(CreateError::Closing))
    }

    /// The part of [`Sessions::create`] after the slot is reserved.
    async fn start(
        self: &Arc<Self>,
        mut reservation: Reservation,
        owner: SessionOwner,
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
            owner,
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
            Some(session) if session.owner == *owner => Lookup::Found(session),
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
        let removed = {
            let mut table = lock(&self.table);
            match table.sessions.get(&session.id) {
                Some(s) if std::ptr::eq(Arc::as_ptr(s), session) => {
                    table.sessions.remove(&session.id)
                }
                _ => None,
            }
        };
        let Some(session) = removed else { return };
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
        let conn = session.conn.clone();
        self.spawn(async move { conn.stop().await });
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
