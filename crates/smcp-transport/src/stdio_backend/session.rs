//! MCP sessions of a stdio backend: one session, one owner, one child connection.
//!
//! A [`Session`] ties a session id to the principal that created it and to the connection of
//! its own backend process, and keeps what the HTTP transports need across requests: the open
//! SSE streams, the replay buffer for `Last-Event-ID`, the unsolicited messages waiting for a
//! stream, and the activity that decides when an idle session is reaped. [`Sessions`] is the
//! set of sessions of one backend (create, look up for an owner, end with a reason, shutdown).
//!
//! Invariants: a session belongs to exactly one owner and one connection; every message of
//! the backend goes out on exactly one stream (never broadcast, never silently dropped: what
//! cannot be delivered yet waits in a bounded queue whose overflow is counted and logged).
//!
//! # Where messages go (Streamable HTTP)
//! - A request's own messages (related notifications and requests, then its response) go on
//!   that request's POST stream. If the client has gone, they still get event ids and land in
//!   the replay buffer, so a `GET` with `Last-Event-ID` can collect them.
//! - An unsolicited message goes to the most recently attached GET stream whose client is
//!   still reading; failing that, to the oldest running request whose POST stream a client is
//!   reading, or which has not answered yet (it then answers as `text/event-stream`, the
//!   message first); failing that, it waits, in order, until a GET stream opens or a request
//!   starts. The wait queue holds at most `replay_buffer_events` messages (at least 16) and
//!   [`PENDING_MAX_BYTES`]; beyond that the oldest is dropped, logged and counted in
//!   `smcp_unsolicited_dropped_total{backend}`.
//!
//! # Memory bounds toward slow clients
//! Every SSE response body reads from a sink of at most `SINK_BYTES` (see `stream`); a
//! writer waits for room at most `stall_timeout`, then that response ends (counted in
//! `smcp_stdio_stalled_streams_total{backend}`) and the stream is detached, its events going to
//! the replay buffer only ([`REPLAY_MAX_BYTES`]). While a writer waits, the messages behind it
//! wait in the connection's bounded request streams, and then the child's stdout is not read.
//!
//! In a legacy (2024-11-05) session there is one SSE stream and everything goes on it.

pub(crate) mod activity;
pub(crate) mod conn;
#[cfg(test)]
pub(crate) mod fake;
mod id;
mod metrics;
mod quota;
pub(crate) mod replay;
mod request;
mod store;
pub(crate) mod stream;
mod supervisor;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, oneshot};
use tokio_util::sync::CancellationToken;

use self::activity::Activity;
use self::conn::McpConnection;
use self::quota::QuotaKey;
use self::replay::{EventId, ReplayBuffer, StreamKind};
use self::stream::{
    Decision, Limits, Refused, Shape, SharedWriter, Sink, SinkRx, StreamWriter, lock, replay_only,
};
use crate::jsonrpc::Message;

pub(crate) use self::id::{SessionId, short as short_id};
pub(crate) use self::metrics::stdin_full;
pub(crate) use self::request::{Output, drive};
pub(crate) use self::store::{CreateError, LegacyStream, Lookup, Sessions, Settings};
pub use crate::owner::SessionOwner;

/// How many GET streams a session keeps; opening one more drops the oldest.
const MAX_GET_STREAMS: usize = 4;

/// The most bytes of SSE events a session keeps for replay (besides the event-count limit).
pub const REPLAY_MAX_BYTES: usize = 16 * 1024 * 1024;

/// The most bytes of unsolicited messages waiting for a stream (the newest always stays).
pub const PENDING_MAX_BYTES: usize = 4 * 1024 * 1024;

/// The wait queue for unsolicited messages never holds fewer than this many messages,
/// whatever the replay setting.
const MIN_PENDING: usize = 16;

/// `from + wait`, saturating at about thirty years from `from` (a configured "forever" must
/// not overflow the clock).
pub(crate) fn deadline(
    from: tokio::time::Instant,
    wait: std::time::Duration,
) -> tokio::time::Instant {
    const FAR: std::time::Duration = std::time::Duration::from_secs(30 * 365 * 24 * 3600);
    from.checked_add(wait.min(FAR)).unwrap_or(from)
}

/// Which HTTP transport a session speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// Streamable HTTP (2025-03-26 and later).
    Streamable,
    /// HTTP+SSE (2024-11-05): one SSE stream carries everything.
    Legacy,
}

/// Why a session ended; the `reason` label of `smcp_sessions_ended_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EndReason {
    /// The client sent `DELETE`.
    Delete,
    /// No request and no open stream for the idle timeout.
    Idle,
    /// The backend process exited.
    ChildExit,
    /// Ended to make room for a new session (see `smcp_sessions_evicted_total` for why).
    Evicted,
    /// The proxy is shutting down.
    Shutdown,
    /// The client closed the legacy SSE stream.
    ClientClosed,
    /// The backend answered `initialize` with an error, so the session never started.
    InitFailed,
}

impl EndReason {
    /// The metric label and log value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EndReason::Delete => "delete",
            EndReason::Idle => "idle",
            EndReason::ChildExit => "child_exit",
            EndReason::Evicted => "evicted",
            EndReason::Shutdown => "shutdown",
            EndReason::ClientClosed => "client_closed",
            EndReason::InitFailed => "init_failed",
        }
    }
}

/// The streams of a Streamable HTTP session.
#[derive(Default)]
struct Streams {
    /// The last stream number handed out.
    last_no: u64,
    /// Running requests' POST streams, by number: oldest first.
    posts: BTreeMap<u64, SharedWriter>,
    /// GET streams in the order their current client attached: newest last.
    gets: Vec<SharedWriter>,
    /// Numbers of `gets`, same order (kept beside them so no async lock is needed to search).
    get_nos: Vec<u64>,
}

/// One MCP session.
pub(crate) struct Session {
    /// The session id.
    pub(crate) id: SessionId,
    /// Who may use it.
    pub(crate) owner: SessionOwner,
    /// Whose `max_sessions_per_principal` it counts against.
    quota: QuotaKey,
    /// Which transport it speaks.
    pub(crate) transport: Transport,
    /// The backend connection.
    pub(crate) conn: Arc<dyn McpConnection>,
    /// Running requests, open streams and last traffic.
    pub(crate) activity: Arc<Activity>,
    /// Cancelled when the session ends.
    pub(crate) ended: CancellationToken,
    /// Cancelled when the session ends or the backend begins shutting down: ends GET streams.
    pub(crate) streams_stop: CancellationToken,
    /// Poked when a stream opens, so waiting unsolicited messages get another chance.
    pub(crate) streams_changed: Notify,
    /// The legacy SSE stream's sender (legacy sessions only), taken when the session ends so
    /// the stream closes once the last running request has written its answer.
    legacy: Mutex<Option<Sink>>,
    initialized: AtomicBool,
    replay: Arc<Mutex<ReplayBuffer>>,
    streams: Mutex<Streams>,
    /// Unsolicited messages no stream could take yet, oldest first, and their bytes.
    pending: Mutex<(VecDeque<Message>, usize)>,
    pending_capacity: usize,
    /// What every stream writer of this session is given.
    limits: Limits,
}

impl Session {
    fn new(
        id: SessionId,
        // Who the session belongs to, and whose limit it counts against.
        (owner, quota): (SessionOwner, QuotaKey),
        transport: Transport,
        conn: Arc<dyn McpConnection>,
        settings: &Settings,
        streams_stop: CancellationToken,
        legacy: Option<Sink>,
    ) -> Self {
        let replay_events = settings.replay_events;
        Session {
            id,
            owner,
            quota,
            transport,
            conn,
            activity: Activity::new(),
            ended: CancellationToken::new(),
            streams_stop,
            streams_changed: Notify::new(),
            legacy: Mutex::new(legacy),
            initialized: AtomicBool::new(false),
            replay: Arc::new(Mutex::new(ReplayBuffer::new(
                replay_events,
                REPLAY_MAX_BYTES,
            ))),
            streams: Mutex::new(Streams::default()),
            pending: Mutex::new((VecDeque::new(), 0)),
            pending_capacity: replay_events.max(MIN_PENDING),
            limits: Limits {
                stall: settings.stall_timeout,
                backend: settings.backend.clone(),
            },
        }
    }

    /// Records that the client sent `initialize`; false if it already had (a backend must see
    /// exactly one).
    pub(crate) fn mark_initialized(&self) -> bool {
        !self.initialized.swap(true, Ordering::AcqRel)
    }

    /// When the session went quiet if it may be ended to make room for another: no request
    /// running (nor one just registered whose driver has not started yet) and no stream open.
    fn evictable_since(&self) -> Option<tokio::time::Instant> {
        let since = self.activity.quiet_since()?;
        lock(&self.streams).posts.is_empty().then_some(since)
    }

    /// Registers the stream of a new POST request whose client accepts `shape`; the handler
    /// learns the answer's shape from `decide`.
    pub(crate) fn open_post(
        &self,
        decide: oneshot::Sender<Decision>,
        shape: Shape,
    ) -> (u64, SharedWriter) {
        let mut streams = lock(&self.streams);
        streams.last_no += 1;
        let no = streams.last_no;
        let writer =
            StreamWriter::post(no, decide, shape, self.replay.clone(), self.limits.clone());
        streams.posts.insert(no, writer.clone());
        drop(streams);
        self.streams_changed.notify_one();
        (no, writer)
    }

    /// The legacy SSE stream's sender, while the session lasts.
    pub(crate) fn legacy_stream(&self) -> Option<Sink> {
        lock(&self.legacy).clone()
    }

    /// Lets go of the legacy SSE stream (the session ended).
    fn release_legacy_stream(&self) {
        lock(&self.legacy).take();
    }

    /// Forgets a finished request's stream (its events stay in the replay buffer).
    pub(crate) fn close_post(&self, no: u64) {
        lock(&self.streams).posts.remove(&no);
    }

    /// Opens a new GET stream and returns what its response body reads.
    pub(crate) fn open_get(&self) -> SinkRx {
        let (tx, rx) = stream::sink();
        let mut streams = lock(&self.streams);
        streams.last_no += 1;
        let no = streams.last_no;
        let writer = StreamWriter::get(no, 0, tx, self.replay.clone(), self.limits.clone());
        Self::push_get(&mut streams, no, writer);
        drop(streams);
        self.streams_changed.notify_one();
        rx
    }

    /// Resumes the stream that `last` belongs to, for a `GET` with `Last-Event-ID`.
    ///
    /// - A stream still registered (a GET stream, or a running request's POST stream) gets
    ///   the buffered events after `last`, then continues live on the new response; the
    ///   response that carried it before, if still open, ends.
    /// - A finished POST stream gets its buffered events after `last`, then ends.
    /// - A GET stream no longer registered (dropped for a newer one) is re-registered under
    ///   its number: buffered events after `last`, then live.
    /// - An id naming nothing we still know (or not one we issue): nothing is replayed and a
    ///   fresh GET stream opens.
    pub(crate) async fn resume(&self, last: &str) -> (SinkRx, StreamKind) {
        let Some(last) = EventId::parse(last) else {
            return (self.open_get(), StreamKind::Get);
        };
        let registered = {
            let streams = lock(&self.streams);
            match streams.posts.get(&last.stream) {
                Some(w) => Some((w.clone(), StreamKind::Post)),
                None => streams
                    .get_nos
                    .iter()
                    .position(|no| *no == last.stream)
                    .map(|i| (streams.gets[i].clone(), StreamKind::Get)),
            }
        };
        if let Some((writer, kind)) = registered {
            let mut guard = writer.lock().await;
            if let Some(rx) = guard.attach(last.seq) {
                if kind == StreamKind::Get {
                    let mut streams = lock(&self.streams);
                    // Newest attached is tried first for unsolicited messages.
                    if let Some(i) = streams.get_nos.iter().position(|no| *no == last.stream) {
                        let w = streams.gets.remove(i);
                        streams.get_nos.remove(i);
                        Self::push_get(&mut streams, last.stream, w);
                    }
                }
                drop(guard);
                self.streams_changed.notify_one();
                return (rx, kind);
            }
        }
        let (rx, kind) = replay_only(&self.replay, last);
        match kind {
            Some(StreamKind::Post) => (rx, StreamKind::Post),
            Some(StreamKind::Get) => {
                let last_seq = lock(&self.replay).last_seq(last.stream);
                let writer = StreamWriter::detached_get(
                    last.stream,
                    last_seq,
                    self.replay.clone(),
                    self.limits.clone(),
                );
                let rx = writer.lock().await.attach(last.seq);
                Self::push_get(&mut lock(&self.streams), last.stream, writer);
                self.streams_changed.notify_one();
                // `attach` refuses only undecided POST streams, so this is always `Some`.
                (rx.unwrap_or_else(|| self.open_get()), StreamKind::Get)
            }
            None => (self.open_get(), StreamKind::Get),
        }
    }

    fn push_get(streams: &mut Streams, no: u64, writer: SharedWriter) {
        if streams.gets.len() >= MAX_GET_STREAMS {
            // Dropping the writer drops its sink, which ends that response.
            streams.gets.remove(0);
            streams.get_nos.remove(0);
        }
        streams.gets.push(writer);
        streams.get_nos.push(no);
    }

    /// Queues an unsolicited message for delivery ([`Session::flush`] delivers it). When the
    /// queue is full (in messages or in bytes) the oldest messages are dropped, counted and
    /// logged; the new one always stays.
    pub(crate) fn queue(&self, msg: Message, backend: &Arc<str>) {
        let size = msg.bytes().len();
        let mut pending = lock(&self.pending);
        let mut dropped = 0u64;
        while !pending.0.is_empty()
            && (pending.0.len() >= self.pending_capacity
                || pending.1.saturating_add(size) > PENDING_MAX_BYTES)
        {
            if let Some(old) = pending.0.pop_front() {
                pending.1 -= old.bytes().len();
                dropped += 1;
            }
        }
        pending.1 += size;
        pending.0.push_back(msg);
        drop(pending);
        for _ in 0..dropped {
            metrics::unsolicited_dropped(backend);
        }
        if dropped > 0 {
            tracing::warn!(
                backend = %backend,
                session = %self.id.short(),
                dropped,
                "no stream took unsolicited messages in time: dropped the oldest waiting ones"
            );
        }
    }

    fn pop_pending(&self) -> Option<Message> {
        let mut pending = lock(&self.pending);
        let msg = pending.0.pop_front()?;
        pending.1 -= msg.bytes().len();
        Some(msg)
    }

    fn unpop_pending(&self, msg: Message) {
        let mut pending = lock(&self.pending);
        pending.1 += msg.bytes().len();
        pending.0.push_front(msg);
    }

    /// Delivers queued unsolicited messages, in order, until one finds no stream.
    pub(crate) async fn flush(&self) {
        loop {
            let Some(msg) = self.pop_pending() else {
                return;
            };
            if let Err(msg) = self.deliver(msg).await {
                self.unpop_pending(msg);
                return;
            }
        }
    }

    /// Puts the queued unsolicited messages on a request's POST stream, which is just
    /// starting (so it answers as an event stream, these messages first). Used when nothing
    /// else could take them: the next request carries them.
    pub(crate) async fn flush_into(&self, writer: &SharedWriter) {
        let mut writer = writer.lock().await;
        loop {
            let Some(msg) = self.pop_pending() else {
                return;
            };
            if let Err(Refused(msg)) = writer.offer(msg).await {
                self.unpop_pending(msg);
                return;
            }
        }
    }

    /// Delivers one unsolicited message following the rules in the module docs; gives it back
    /// when no stream can take it now.
    async fn deliver(&self, msg: Message) -> Result<(), Message> {
        if self.transport == Transport::Legacy {
            let Some(legacy) = self.legacy_stream() else {
                return Err(msg);
            };
            let event = stream::message_event(msg.bytes().clone(), None);
            let limits = &self.limits;
            return if stream::send_to(&legacy, event, limits.stall, &limits.backend).await {
                Ok(())
            } else {
                Err(msg)
            };
        }
        let candidates: Vec<SharedWriter> = {
            let streams = lock(&self.streams);
            streams
                .gets
                .iter()
                .rev()
                .chain(streams.posts.values())
                .cloned()
                .collect()
        };
        let mut msg = msg;
        for writer in candidates {
            match writer.lock().await.offer(msg).await {
                Ok(()) => return Ok(()),
                Err(Refused(back)) => msg = back,
            }
        }
        Err(msg)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn deadlines_saturate_instead_of_overflowing() {
        let now = Instant::now();
        assert_eq!(
            super::deadline(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        assert!(super::deadline(now, Duration::MAX) > now + Duration::from_secs(3600 * 24 * 365));
    }
}
