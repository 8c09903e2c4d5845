//! `ChildGuard`: a child process started in its own process group, whose output is captured
//! line by line, and which is killed (the whole group) when the guard is dropped.
//!
//! Every long-lived peer a test starts (a Node server, later smcp-server itself when run as a
//! binary) should live in a `ChildGuard`, so that a failing assertion or a panic still stops it
//! and nothing is left behind after the test binary exits.

use std::fmt::Write as _;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::watch;

/// Which output stream a captured line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The child's stdout.
    Stdout,
    /// The child's stderr.
    Stderr,
}

/// One line of captured child output.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// Where the line came from.
    pub stream: Stream,
    /// The line without its trailing newline.
    pub text: String,
}

/// Error from [`ChildGuard::wait_for_line`].
#[derive(Debug)]
pub enum WaitError {
    /// The deadline passed without a matching line.
    Timeout,
    /// Both output streams closed (the child most likely exited) without a matching line.
    Exited,
}

/// A running child process that is killed with its whole process group on drop.
///
/// Its stdout and stderr are drained continuously by background tasks on the current Tokio
/// runtime (a full pipe would block the child) and kept in memory: read them with
/// [`ChildGuard::logs`] when an assertion fails, or wait for a readiness line with
/// [`ChildGuard::wait_for_line`].
#[derive(Debug)]
pub struct ChildGuard {
    name: String,
    child: Child,
    pgid: Pid,
    lines: watch::Receiver<Vec<LogLine>>,
}

impl ChildGuard {
    /// Spawns `command` in a new process group (its pgid is the child's pid) with stdin closed
    /// and stdout/stderr captured. `name` labels the child in panics and logs.
    ///
    /// Must be called from within a Tokio runtime (the output drains are Tokio tasks).
    pub fn spawn(name: &str, command: Command) -> std::io::Result<Self> {
        Self::spawn_with(name, command, Stdio::null()).map(|(guard, _)| guard)
    }

    /// [`spawn`](Self::spawn) with a pipe to the child's stdin, for a child that is driven
    /// over stdin (an MCP stdio server): write to the returned handle, read its answers from
    /// the captured stdout with [`wait_for_line`](Self::wait_for_line). Dropping the handle
    /// closes the child's stdin.
    pub fn spawn_with_stdin(name: &str, command: Command) -> std::io::Result<(Self, ChildStdin)> {
        let (guard, stdin) = Self::spawn_with(name, command, Stdio::piped())?;
        let stdin = stdin.ok_or_else(|| std::io::Error::other("no stdin pipe"))?;
        Ok((guard, stdin))
    }

    fn spawn_with(
        name: &str,
        mut command: Command,
        stdin: Stdio,
    ) -> std::io::Result<(Self, Option<ChildStdin>)> {
        command
            .process_group(0)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| std::io::Error::other("child exited before its pid was read"))?;
        let pgid = Pid::from_raw(i32::try_from(pid).map_err(std::io::Error::other)?);
        let (tx, rx) = watch::channel(Vec::new());
        // The sender lives as long as the drains: when both streams hit EOF it is dropped and
        // waiters learn that no more output will come.
        let tx = Arc::new(tx);
        if let Some(out) = child.stdout.take() {
            tokio::spawn(drain(out, Stream::Stdout, Arc::clone(&tx)));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(drain(err, Stream::Stderr, tx));
        }
        let stdin = child.stdin.take();
        let guard = Self {
            name: name.to_owned(),
            child,
            pgid,
            lines: rx,
        };
        Ok((guard, stdin))
    }

    /// The label given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's pid (also its process group id).
    pub fn pid(&self) -> u32 {
        self.pgid.as_raw().unsigned_abs()
    }

    /// Everything the child printed so far, one `[stdout]`/`[stderr]`-tagged line each.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for line in self.lines.borrow().iter() {
            let tag = match line.stream {
                Stream::Stdout => "stdout",
                Stream::Stderr => "stderr",
            };
            let _ = writeln!(out, "[{} {tag}] {}", self.name, line.text);
        }
        out
    }

    /// Waits until a line (on either stream, printed at any time since spawn) satisfies
    /// `matches`, and returns it. Bounded by `timeout`; fails early if the child closes both
    /// output streams first.
    pub async fn wait_for_line(
        &self,
        timeout: Duration,
        matches: impl Fn(&LogLine) -> bool,
    ) -> Result<LogLine, WaitError> {
        let mut rx = self.lines.clone();
        let found = tokio::time::timeout(timeout, async {
            let lines = rx
                .wait_for(|lines| lines.iter().any(&matches))
                .await
                .map_err(|_closed| WaitError::Exited)?;
            lines
                .iter()
                .find(|line| matches(line))
                .cloned()
                .ok_or(WaitError::Exited)
        })
        .await;
        match found {
            Ok(result) => result,
            Err(_elapsed) => Err(WaitError::Timeout),
        }
    }

    /// Returns the exit status if the child has already exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Stops the child politely: SIGTERM to the whole group, then SIGKILL after `grace`.
    /// Returns the child's exit status.
    pub async fn terminate(mut self, grace: Duration) -> std::io::Result<ExitStatus> {
        let _ = killpg(self.pgid, Signal::SIGTERM);
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => {
                // The leader is gone; make sure no straggler of its group survives it.
                let _ = killpg(self.pgid, Signal::SIGKILL);
                status
            }
            Err(_elapsed) => {
                let _ = killpg(self.pgid, Signal::SIGKILL);
                self.child.wait().await
            }
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // ESRCH (group already gone) is fine: there is nothing left to stop.
        let _ = killpg(self.pgid, Signal::SIGKILL);
        // Reap the leader so it does not linger as a zombie while the test binary runs on.
        // SIGKILL takes effect within milliseconds; the bound only guards against surprises.
        for _ in 0..200 {
            match self.child.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Ok(Some(_)) | Err(_) => break,
            }
        }
    }
}

async fn drain(stream: impl AsyncRead + Unpin, kind: Stream, tx: Arc<watch::Sender<Vec<LogLine>>>) {
    // Bytes, not `lines()`: a non-UTF-8 line must not stop the drain (the child would then
    // block on a full pipe).
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let text = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\n', '\r'])
                    .to_owned();
                tx.send_modify(|all| all.push(LogLine { stream: kind, text }));
            }
        }
    }
}
