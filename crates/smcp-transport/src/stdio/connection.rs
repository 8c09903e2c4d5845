//! The JSON-RPC connection to one child: a writer task, a reader task and a routing table.
//!
//! Writes go through one channel to one writer task, so messages are never interleaved and
//! callers never wait on the pipe. The reader task reads stdout line by line (bounded), parses
//! only the envelope and hands each message to [`super::routes`]. When the child exits (or
//! closes stdout) every request in flight ends with a synthesized error response.
//!
//! Both directions are bounded in bytes. Toward the child, the lines waiting for its stdin
//! may hold at most `stdin_queue_bytes` (one message always fits when nothing waits): past
//! that a message is refused with [`RequestError::Full`] / [`SendError::Full`] instead of
//! queued, since a child that does not read would otherwise let clients fill smcp's memory.
//! From the child, what waits for the readers of its request streams shares one budget of
//! [`ROUTED_BYTES`]; while it is spent the reader task stops reading stdout, so the pipe fills
//! and the child blocks (backpressure), and unsolicited messages have a budget of their own
//! beyond which they are dropped and counted. Lines that are not valid UTF-8 are skipped and
//! counted like any other line that is not JSON-RPC: they must never reach a client labelled
//! `application/json`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use metrics::Counter;
use tokio::io::{AsyncWriteExt as _, BufWriter};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::{mpsc, watch};

use super::ChildSpec;
use super::child::{self, ChildLabels, ExitInfo, SpawnError, StopPolicy};
use super::lines::{Line, LineReader};
use super::routes::{DropCounters, Pending, Routes};
use super::stream::{RequestStream, Unsolicited};
use crate::budget::{self, Budget};
use crate::jsonrpc::{
    self, INTERNAL_ERROR, Kind, Message, ParseError, REQUEST_CANCELLED, RequestId,
};

/// How many bytes of unsolicited messages wait for the session layer before new ones are
/// dropped.
const UNSOLICITED_BYTES: usize = 4 * 1024 * 1024;
/// How many bytes of messages for requests may wait for their readers, all requests of one
/// child together, before the child's stdout is no longer read.
pub const ROUTED_BYTES: usize = 8 * 1024 * 1024;
/// What each line queued for stdin costs on top of its bytes.
const STDIN_ITEM_OVERHEAD: usize = 64;
/// After the child exits, how long its remaining stdout is still read before requests in
/// flight are failed (a grandchild may hold the pipe open).
const EXIT_DRAIN: Duration = Duration::from_secs(1);
/// How much of an unparseable line is logged.
const LOG_PREVIEW: usize = 200;
/// The message of the error response given to requests in flight when the child goes away.
const EXITED: &str = "backend process exited";

/// Why [`StdioConnection::request`] refused a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The connection has been closed.
    #[error("backend connection closed")]
    Closed,
    /// A request with this id is already in flight on this connection.
    #[error("request id {0} is already in flight")]
    DuplicateId(RequestId),
    /// The queue toward the child's stdin is full: the child is not reading.
    #[error("the backend is not reading its input: its queue is full")]
    Full,
    /// The message is a notification or a response: use [`StdioConnection::send`].
    #[error("not a request ({0:?})")]
    NotARequest(Kind),
}

/// Why [`StdioConnection::send`] refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The connection has been closed.
    #[error("backend connection closed")]
    Closed,
    /// The message is a request: use [`StdioConnection::request`] so its answer is routed.
    #[error("requests must be sent with request()")]
    IsRequest,
    /// The queue toward the child's stdin is full: the child is not reading.
    #[error("the backend is not reading its input: its queue is full")]
    Full,
}

/// What the writer task is asked to do.
enum Outgoing {
    /// Write these bytes and a newline.
    Line(Bytes),
    /// Flush and close stdin.
    Close,
}

/// A running child process spoken to as a JSON-RPC peer. Cheap to clone; all clones share one
/// child.
///
/// The owner should call [`stop`](Self::stop). If the last clone is dropped while the child is
/// still running and no stop was requested, the whole process group is killed at once.
#[derive(Clone)]
pub struct StdioConnection {
    inner: Arc<Handle>,
}

struct Handle {
    routes: Arc<Routes>,
    writer: mpsc::UnboundedSender<Outgoing>,
    /// Bytes queued for stdin and not yet written (see [`STDIN_ITEM_OVERHEAD`]).
    stdin_queued: Arc<AtomicUsize>,
    stdin_max: usize,
    /// Shared by every request stream of this child.
    routed: Budget,
    unsolicited: Mutex<Option<Unsolicited>>,
    pid: u32,
    exit: watch::Receiver<Option<ExitInfo>>,
    finished: watch::Receiver<bool>,
    policy: StopPolicy,
    stopping: Arc<AtomicBool>,
    stop_started: AtomicBool,
    backend: Arc<str>,
    session: Arc<str>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.exit.borrow().is_none()
            && !self.stop_started.load(Ordering::SeqCst)
            && let Some(group) = child::group_of(self.pid)
        {
            tracing::warn!(
                backend = %self.backend,
                session = %self.session,
                pid = self.pid,
                "stdio connection dropped without stop(): killing its process group"
            );
            self.stopping.store(true, Ordering::SeqCst);
            child::signal_group(group, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

impl std::fmt::Debug for StdioConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdioConnection")
            .field("backend", &self.inner.backend)
            .field("session", &self.inner.session)
            .field("pid", &self.inner.pid)
            .finish()
    }
}

impl StdioConnection {
    /// Starts the child described by `spec` and connects to it. `session_label` only labels
    /// logs. `stop` is the policy used by [`stop`](Self::stop) and to empty the process
    /// group after the child exits.
    pub async fn spawn(
        spec: Arc<ChildSpec>,
        session_label: &str,
        stop: StopPolicy,
    ) -> Result<Self, SpawnError> {
        let backend = spec.backend_id.clone();
        let session: Arc<str> = Arc::from(session_label);
        let stopping = Arc::new(AtomicBool::new(false));
        let labels = ChildLabels {
            backend: backend.clone(),
            session: session.clone(),
            stopping: stopping.clone(),
        };
        let spawned = child::spawn_child(&spec, &labels, stop.term_grace).await?;

        let counter = |name: &'static str, key: &'static str, value: &'static str| metrics::counter!(name, "backend" => backend.clone(), key => value);
        let (unsolicited_tx, unsolicited_rx) = Unsolicited::channel(UNSOLICITED_BYTES);
        let routes = Arc::new(Routes::new(
            unsolicited_tx,
            backend.clone(),
            session.clone(),
            DropCounters {
                unknown_id: counter("smcp_stdio_dropped_messages_total", "reason", "unknown_id"),
                unsolicited_full: counter(
                    "smcp_stdio_dropped_messages_total",
                    "reason",
                    "unsolicited_full",
                ),
            },
        ));

        let (writer_tx, writer_rx) = mpsc::unbounded_channel();
        let stdin_queued = Arc::new(AtomicUsize::new(0));
        tokio::spawn(write_loop(
            spawned.stdin,
            writer_rx,
            stdin_queued.clone(),
            routes.clone(),
            counter("smcp_jsonrpc_messages_total", "direction", "to_child"),
        ));
        tokio::spawn(
            Reader {
                routes: routes.clone(),
                backend: backend.clone(),
                session: session.clone(),
                from_child: counter("smcp_jsonrpc_messages_total", "direction", "from_child"),
                oversize: counter("smcp_stdio_skipped_lines_total", "reason", "oversize"),
                invalid: counter("smcp_stdio_skipped_lines_total", "reason", "invalid"),
                invalid_utf8: counter("smcp_stdio_skipped_lines_total", "reason", "invalid_utf8"),
            }
            .run(spawned.stdout, spec.max_line_bytes, spawned.exit.clone()),
        );

        Ok(StdioConnection {
            inner: Arc::new(Handle {
                routes,
                writer: writer_tx,
                stdin_queued,
                stdin_max: spec.stdin_queue_bytes,
                routed: Budget::new(ROUTED_BYTES),
                unsolicited: Mutex::new(Some(unsolicited_rx)),
                pid: spawned.pid,
                exit: spawned.exit,
                finished: spawned.finished,
                policy: stop,
                stopping,
                stop_started: AtomicBool::new(false),
                backend,
                session,
            }),
        })
    }

    /// Sends a request to the child and returns the stream of what comes back for it.
    ///
    /// Fails if `msg` is not a request, if a request with the same id is in flight, if the
    /// queue toward the child's stdin is full, or if the connection is closed.
    pub fn request(&self, msg: Message) -> Result<RequestStream, RequestError> {
        let Some(id) = msg.id().filter(|_| msg.is_request()) else {
            return Err(RequestError::NotARequest(msg.kind()));
        };
        let line = msg.single_line();
        let mut table = self.inner.routes.lock();
        if table.closed {
            return Err(RequestError::Closed);
        }
        if table.pending.contains_key(id) {
            return Err(RequestError::DuplicateId(id.clone()));
        }
        // Registered and queued under the same lock: the reader cannot see the answer before
        // the request is in the table.
        match self.queue_line(line) {
            Ok(()) => {}
            Err(QueueError::Full) => return Err(RequestError::Full),
            Err(QueueError::Closed) => return Err(RequestError::Closed),
        }
        let (tx, rx) = budget::channel_in(&self.inner.routed);
        let token = msg.progress_token().cloned();
        if let Some(token) = &token {
            table.by_token.insert(token.clone(), id.clone());
        }
        table.pending.insert(id.clone(), Pending { tx, token });
        drop(table);
        Ok(RequestStream::new(id.clone(), rx))
    }

    /// Sends a notification or a response (e.g. the client's answer to a child's
    /// `sampling/createMessage`) to the child. Fails when the queue toward the child's stdin
    /// is full or the connection is closed.
    ///
    /// A client `notifications/cancelled` for a request in flight also ends that request's
    /// stream with a [`REQUEST_CANCELLED`] error response; the child gets the client's
    /// notification unchanged.
    pub fn send(&self, msg: Message) -> Result<(), SendError> {
        if msg.is_request() {
            return Err(SendError::IsRequest);
        }
        let line = msg.single_line();
        let mut table = self.inner.routes.lock();
        if table.closed {
            return Err(SendError::Closed);
        }
        match self.queue_line(line) {
            Ok(()) => {}
            Err(QueueError::Full) => return Err(SendError::Full),
            Err(QueueError::Closed) => return Err(SendError::Closed),
        }
        let cancelled = match msg.cancelled_request_id() {
            Some(id) if msg.method() == Some("notifications/cancelled") => {
                table.remove(id).map(|p| (id, p))
            }
            _ => None,
        };
        drop(table);
        if let Some((id, pending)) = cancelled {
            let _ = pending.tx.force_send(Message::error(
                Some(id),
                REQUEST_CANCELLED,
                "request cancelled",
            ));
        }
        Ok(())
    }

    /// Cancels a request in flight: writes `notifications/cancelled` with `reason` to the child
    /// and ends the request's stream with a [`REQUEST_CANCELLED`] error response. A later
    /// answer from the child is dropped. Does nothing if `id` is not in flight.
    pub fn cancel(&self, id: &RequestId, reason: &str) {
        let mut table = self.inner.routes.lock();
        let Some(pending) = table.remove(id) else {
            return;
        };
        if !table.closed {
            // Never refused for a full queue: it is small, and it is what lets the child drop
            // work nobody waits for.
            let line = jsonrpc::cancelled_notification(id, reason);
            self.inner
                .stdin_queued
                .fetch_add(line.len() + STDIN_ITEM_OVERHEAD, Ordering::SeqCst);
            let _ = self.inner.writer.send(Outgoing::Line(line));
        }
        drop(table);
        let _ = pending.tx.force_send(Message::error(
            Some(id),
            REQUEST_CANCELLED,
            "request cancelled",
        ));
    }

    /// Takes the receiver of messages from the child that belong to no request (see the
    /// routing rules in the module docs). Returns `Some` once; it ends when the connection
    /// closes. Until it is taken (and whenever its reader lags), up to 4 MiB of messages are
    /// kept; beyond that they are dropped and counted.
    pub fn take_unsolicited(&self) -> Option<Unsolicited> {
        self.inner
            .unsolicited
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Queues one line for stdin unless that would take the queue over `stdin_queue_bytes`
    /// (a line always fits into an empty queue). Call with the routing table locked, so the
    /// check and the queueing are one step.
    fn queue_line(&self, line: Bytes) -> Result<(), QueueError> {
        let inner = &self.inner;
        let cost = line.len() + STDIN_ITEM_OVERHEAD;
        let queued = inner.stdin_queued.load(Ordering::SeqCst);
        if queued > 0 && queued.saturating_add(cost) > inner.stdin_max {
            return Err(QueueError::Full);
        }
        inner.stdin_queued.fetch_add(cost, Ordering::SeqCst);
        if inner.writer.send(Outgoing::Line(line)).is_err() {
            inner.stdin_queued.fetch_sub(cost, Ordering::SeqCst);
            return Err(QueueError::Closed);
        }
        Ok(())
    }

    /// How many bytes wait for the child's stdin now (overhead included).
    pub fn stdin_queued(&self) -> usize {
        self.inner.stdin_queued.load(Ordering::SeqCst)
    }

    /// How many requests are waiting for their response.
    pub fn in_flight(&self) -> usize {
        self.inner.routes.lock().pending.len()
    }

    /// True once the connection accepts nothing more (child gone or stopping).
    pub fn is_closed(&self) -> bool {
        self.inner.routes.lock().closed
    }

    /// The child's pid, which is also its process group id.
    pub fn pid(&self) -> u32 {
        self.inner.pid
    }

    /// Resolves when the child has exited (and was reaped), with how it ended.
    pub async fn closed(&self) -> ExitInfo {
        let mut exit = self.inner.exit.clone();
        match exit.wait_for(Option::is_some).await {
            Ok(info) => info.unwrap_or(UNKNOWN_EXIT),
            // The supervisor only goes away after publishing, or with the runtime.
            Err(_) => UNKNOWN_EXIT,
        }
    }

    /// Stops the child: close its stdin, wait `stdin_grace`, SIGTERM its process group, wait
    /// `term_grace`, SIGKILL the group. Returns once the child is reaped and its group is
    /// empty. Idempotent; concurrent callers all wait for the same stop. The sequence runs in
    /// its own task, so dropping this future does not interrupt it.
    pub async fn stop(&self) {
        let inner = &self.inner;
        if !inner.stop_started.swap(true, Ordering::SeqCst) {
            inner.stopping.store(true, Ordering::SeqCst);
            inner.routes.lock().closed = true;
            let writer = inner.writer.clone();
            tokio::spawn(child::stop_sequence(
                inner.pid,
                inner.policy,
                inner.exit.clone(),
                inner.finished.clone(),
                move || {
                    let _ = writer.send(Outgoing::Close);
                },
            ));
        }
        let mut finished = inner.finished.clone();
        let _ = finished.wait_for(|done| *done).await;
    }
}

/// Why a line was not queued for stdin.
enum QueueError {
    Full,
    Closed,
}

const UNKNOWN_EXIT: ExitInfo = ExitInfo {
    code: None,
    signal: None,
};

/// Writes queued lines to the child's stdin, flushing whenever the queue is empty.
async fn write_loop(
    stdin: ChildStdin,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    queued: Arc<AtomicUsize>,
    routes: Arc<Routes>,
    to_child: Counter,
) {
    let mut out = BufWriter::with_capacity(64 * 1024, stdin);
    let result: std::io::Result<()> = async {
        while let Some(mut item) = rx.recv().await {
            loop {
                match item {
                    Outgoing::Line(bytes) => {
                        out.write_all(&bytes).await?;
                        out.write_all(b"\n").await?;
                        // Counted out once it is in the writer's buffer (at most 64 KiB more)
                        // or the pipe.
                        queued.fetch_sub(bytes.len() + STDIN_ITEM_OVERHEAD, Ordering::SeqCst);
                        to_child.increment(1);
                    }
                    Outgoing::Close => {
                        out.flush().await?;
                        return Ok(());
                    }
                }
                match rx.try_recv() {
                    Ok(next) => item = next,
                    Err(_) => break,
                }
            }
            out.flush().await?;
        }
        out.flush().await
    }
    .await;
    if let Err(error) = result {
        tracing::debug!(%error, "writing to child stdin failed");
    }
    // stdin is closed when `out` drops here. Nothing more can reach the child.
    routes.lock().closed = true;
}

/// The reader task's state.
struct Reader {
    routes: Arc<Routes>,
    backend: Arc<str>,
    session: Arc<str>,
    from_child: Counter,
    oversize: Counter,
    invalid: Counter,
    invalid_utf8: Counter,
}

impl Reader {
    /// Reads and routes stdout until EOF (or until [`EXIT_DRAIN`] after the child exited),
    /// then fails every request still in flight.
    async fn run(
        self,
        stdout: ChildStdout,
        max_line_bytes: usize,
        mut exit: watch::Receiver<Option<ExitInfo>>,
    ) {
        let mut lines = LineReader::new(stdout, max_line_bytes);
        let drain = tokio::time::sleep(Duration::MAX);
        tokio::pin!(drain);
        let mut exited = false;
        loop {
            let complete = tokio::select! {
                line = lines.next_line() => match line {
                    Ok(Some(Line::Complete(bytes))) => Some(bytes),
                    Ok(Some(Line::Oversize(prefix))) => {
                        self.oversize.increment(1);
                        tracing::warn!(
                            backend = %self.backend,
                            session = %self.session,
                            limit = max_line_bytes,
                            start = %preview(&prefix),
                            "line from child longer than max_line_bytes: skipped"
                        );
                        None
                    }
                    Ok(None) => break,
                    Err(error) => {
                        tracing::warn!(backend = %self.backend, session = %self.session, %error, "reading child stdout failed");
                        break;
                    }
                },
                _ = exit.wait_for(Option::is_some), if !exited => {
                    exited = true;
                    drain.as_mut().reset(tokio::time::Instant::now() + EXIT_DRAIN);
                    None
                }
                () = &mut drain, if exited => break,
            };
            // Outside the select: routing may wait for room on a request's stream, and while
            // it does, stdout is not read.
            if let Some(bytes) = complete {
                self.on_line(bytes).await;
            }
        }
        self.routes.close_all(INTERNAL_ERROR, EXITED);
    }

    async fn on_line(&self, bytes: Bytes) {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        // The envelope parser skips over string contents without decoding them, so UTF-8 is
        // checked here, once, for the whole line.
        if let Err(error) = std::str::from_utf8(&bytes) {
            self.invalid_utf8.increment(1);
            tracing::warn!(
                backend = %self.backend,
                session = %self.session,
                %error,
                line = %preview(&bytes),
                "line from child is not valid UTF-8: skipped"
            );
            return;
        }
        match jsonrpc::parse(bytes.clone()) {
            Ok(msg) => {
                self.from_child.increment(1);
                self.deliver(msg).await;
            }
            Err(ParseError::Batch) => match jsonrpc::parse_batch(bytes.clone()) {
                Ok(items) => {
                    for item in items {
                        match item {
                            Ok(msg) => {
                                self.from_child.increment(1);
                                self.deliver(msg).await;
                            }
                            Err(error) => self.skip_invalid(&bytes, &error),
                        }
                    }
                }
                Err(error) => self.skip_invalid(&bytes, &error),
            },
            Err(error) => self.skip_invalid(&bytes, &error),
        }
    }

    /// Routes one message; one for a request waits for room on its stream (backpressure).
    async fn deliver(&self, msg: Message) {
        let Some(delivery) = self.routes.route(msg) else {
            return;
        };
        if let Err(msg) = delivery.tx.send(delivery.msg).await
            && delivery.fallback
        {
            // Nobody reads that request's stream any more: the message is unsolicited.
            self.routes.unsolicited(msg);
        }
    }

    fn skip_invalid(&self, bytes: &Bytes, error: &ParseError) {
        self.invalid.increment(1);
        tracing::warn!(
            backend = %self.backend,
            session = %self.session,
            %error,
            line = %preview(bytes),
            "line from child is not JSON-RPC: skipped"
        );
    }
}

/// The start of a line, lossily decoded and with control characters escaped, for logs.
fn preview(bytes: &[u8]) -> String {
    super::stderr::escape_for_log(bytes, LOG_PREVIEW)
}
