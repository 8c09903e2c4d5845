//! The child-process layer: local MCP servers run as child processes speaking
//! newline-delimited JSON-RPC on stdio.
//!
//! A [`ChildSpec`] says what to run. [`StdioConnection::spawn`] starts it (own process group,
//! minimal environment, stderr drained and logged) and returns a handle that is a real
//! JSON-RPC transport: requests are matched to responses by `id`, never by order; progress
//! notifications follow their request's `progressToken`; anything else the child sends goes to
//! the one request in flight if there is exactly one, or else to the connection's unsolicited
//! channel. The child sees exactly the bytes the client sent: nothing is added or rewritten.
//! Stopping is graceful (EOF, SIGTERM, SIGKILL to the group) and always reaps the child.
//!
//! One connection serves one MCP session; the session layer above owns it and decides what
//! reaches the client. That layer, the stdio backend (sessions, Streamable HTTP, legacy
//! HTTP+SSE), is [`crate::stdio_backend`]: it uses this module, never the other way round.

mod child;
mod connection;
mod env;
mod lines;
mod routes;
mod spawner;
mod stderr;
mod stream;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use child::{ExitInfo, SpawnError, StopPolicy};
pub use connection::ROUTED_BYTES;
pub use connection::{RequestError, SendError, StdioConnection};
pub use env::{RESERVED_PREFIX, child_env};
pub use stderr::{STDERR_BURST, STDERR_LINES_PER_SEC};
pub use stream::{RequestStream, Unsolicited};

/// Moved: the stdio backend is now [`crate::stdio_backend`]; this keeps the old paths.
pub mod backend {
    pub use crate::stdio_backend::{
        DEFAULT_STALL_TIMEOUT, SessionOwner, StdioBackend, StdioBackendOptions, StdioRequestContext,
    };
}

/// The default limit on one line (one message) from a child: 16 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// The default bound on what waits for one child's stdin: 4 MiB.
pub const DEFAULT_STDIN_QUEUE_BYTES: usize = 4 * 1024 * 1024;

/// The default time [`StdioConnection::spawn`] watches a new child for an immediate exit.
pub const DEFAULT_STARTUP_CHECK: Duration = Duration::from_millis(100);

/// What to run for a stdio backend.
#[derive(Clone)]
pub struct ChildSpec {
    /// The backend's id, used in logs and metric labels.
    pub backend_id: Arc<str>,
    /// The program: a path, or a name looked up on the child's `PATH`.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Configured environment variables, already expanded. Names keep their case.
    pub env: BTreeMap<String, String>,
    /// The working directory; smcp's own when `None`.
    pub working_dir: Option<PathBuf>,
    /// Pass smcp's whole environment instead of the minimal set (see [`child_env`]).
    /// `SMCP_*` variables are removed either way.
    pub inherit_env: bool,
    /// The longest line accepted from the child; longer lines are skipped.
    pub max_line_bytes: usize,
    /// The most bytes of client messages waiting for the child's stdin; beyond that new ones
    /// are refused (the child is not reading). One message always fits an empty queue.
    pub stdin_queue_bytes: usize,
    /// How long spawning watches the child for an immediate exit, reported as
    /// [`SpawnError::ExitedAtOnce`]. Zero disables the check (an early exit then shows up as
    /// the connection closing).
    pub startup_check: Duration,
}

impl ChildSpec {
    /// A spec running `command` with no arguments, no extra environment and the defaults.
    pub fn new(backend_id: impl Into<Arc<str>>, command: impl Into<String>) -> Self {
        ChildSpec {
            backend_id: backend_id.into(),
            command: command.into(),
            args: Vec::new(),
            env: BTreeMap::new(),
            working_dir: None,
            inherit_env: false,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            stdin_queue_bytes: DEFAULT_STDIN_QUEUE_BYTES,
            startup_check: DEFAULT_STARTUP_CHECK,
        }
    }
}

/// Shows variable names but never their values, which are often secrets.
impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("backend_id", &self.backend_id)
            .field("command", &self.command)
            .field("args", &self.args)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("working_dir", &self.working_dir)
            .field("inherit_env", &self.inherit_env)
            .field("max_line_bytes", &self.max_line_bytes)
            .field("stdin_queue_bytes", &self.stdin_queue_bytes)
            .field("startup_check", &self.startup_check)
            .finish()
    }
}
