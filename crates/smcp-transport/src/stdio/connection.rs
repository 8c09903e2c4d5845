//! The JSON-RPC connection to one child: a writer task, a reader task and a routing table.
//!
//! Writes go through one channel to one writer task, so messages are never interleaved and
//! callers never wait on the pipe. The reader task reads stdout line by line (bounded), parses
//! only the envelope and hands each message to [`super::routes`]. When the child exits (or
//! closes stdout) every request in flight ends with a synthesized error response.

use std::sync::atomic::{AtomicBool, Ordering};
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
use super::stream::RequestStream;
use crate::jsonrpc::{
    self, INTERNAL_ERROR, Kind, Message, ParseError, REQUEST_CANCELLED, RequestId,
};

/// How many unsolicited messages wait for the session layer before new ones are dropped.
const UNSOLICITED_CAPACITY: usize = 1024;
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
    unsolicited: Mutex<Option<mpsc::Receiver<Message>>>,
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
        let (unsolicited_tx, unsolicited_rx) = mpsc::channel(UNSOLICITED_CAPACITY);
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
        tokio::spawn(write_loop(
            spawned.stdin,
            writer_rx,
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
            }
            .run(spawned.stdout, spec.max_line_bytes, spawned.exit.clone()),
        );

        Ok(StdioConnection {
            inner: Arc::new(Handle {
                routes,
                writer: writer_tx,
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
    /// Fails if `msg` is not a request, if a request with the same id is in flight, or if the
    /// connection is closed.
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
        if self.inner.writer.send(Outgoing::Line(line)).is_err() {
            return Err(RequestError::Closed);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let token = msg.progress_token().cloned();
        if let Some(token) = &token {
            table.by_token.insert(token.clone(), id.clone());
        }
        table.pending.insert(id.clone(), Pending { tx, token });
        drop(table);
        Ok(RequestStream::new(id.clone(), rx))
    }

    /// Sends a notification or a response (e.g. the client's answer to a child's
    /// `sampling/createMessage`) to the child.
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
        if self.inner.writer.send(Outgoing::Line(line)).is_err() {
            return Err(SendError::Closed);
        }
        let cancelled = match msg.cancelled_request_id() {
            Some(id) if msg.method() == Some("notifications/cancelled") => {
                table.remove(id).map(|p| (id, p))
            }
            _ => None,
        };
        drop(table);
        if let Some((id, pending)) = cancelled {
            let _ = pending.tx.send(Message::error(
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
            let _ = self
                .inner
                .writer
                .send(Outgoing::Line(jsonrpc::cancelled_notification(id, reason)));
        }
        drop(table);
        let _ = pending.tx.send(Message::error(
            Some(id),
            REQUEST_CANCELLED,
            "request cancelled",
        ));
    }

    /// Takes the receiver of messages from the child that belong to no request (see the
    /// routing rules in the module docs). Returns `Some` once; it ends when the connection
    /// closes. Until it is taken, up to 1024 messages are kept; beyond that they are dropped.
    pub fn take_unsolicited(&self) -> Option<mpsc::Receiver<Message>> {
        self.inner
            .unsolicited
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
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

const UNKNOWN_EXIT: ExitInfo = ExitInfo {
    code: None,
    signal: None,
};

/// Writes queued lines to the child's stdin, flushing whenever the queue is empty.
async fn write_loop(
    stdin: ChildStdin,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
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
            tokio::select! {
                line = lines.next_line() => match line {
                    Ok(Some(Line::Complete(bytes))) => self.on_line(bytes),
                    Ok(Some(Line::Oversize(prefix))) => {
                        self.oversize.increment(1);
                        tracing::warn!(
                            backend = %self.backend,
                            session = %self.session,
                            limit = max_line_bytes,
                            start = %preview(&prefix),
                            "line from child longer than max_line_bytes: skipped"
                        );
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
                }
                () = &mut drain, if exited => break,
            }
        }
        self.routes.close_all(INTERNAL_ERROR, EXITED);
    }

    fn on_line(&self, bytes: Bytes) {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        match jsonrpc::parse(bytes.clone()) {
            Ok(msg) => {
                self.from_child.increment(1);
                self.routes.route(msg);
            }
            Err(ParseError::Batch) => match jsonrpc::parse_batch(bytes.clone()) {
                Ok(items) => {
                    for item in items {
                        match item {
                            Ok(msg) => {
                                self.from_child.increment(1);
                                self.routes.route(msg);
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

/// The start of a line, lossily decoded, for logs.
fn preview(bytes: &[u8]) -> String {
    let cut = bytes.len().min(LOG_PREVIEW);
    let mut s = String::from_utf8_lossy(&bytes[..cut]).into_owned();
    if cut < bytes.len() {
        s.push('…');
    }
    s
}
