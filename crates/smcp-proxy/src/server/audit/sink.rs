//! Where audit records go: a bounded queue and a writer thread (`smcp-audit`).
//!
//! The request path only formats a record and offers it to the queue ([`AuditSink::send`]),
//! which never waits: when the queue is full (a stalled disk, a stderr nobody reads) the record
//! is dropped and counted in `smcp_audit_records_total{outcome="dropped"}`, so a stalled sink can never
//! block a request. The writer thread takes records off the queue in batches, writes them and
//! flushes after each batch; it polls while records flow (so no sender ever has to wake it)
//! and blocks when idle, and a record reaches the sink within about 10 ms.
//!
//! A file sink is opened for append (created if missing) and reopened on request
//! ([`AuditSink::reopen`], which the server calls on SIGHUP): after a rotation tool renames the
//! file, new records go to a new file of the configured name. A reopen that fails keeps the
//! old file and logs why. At shutdown the server waits, within a bound, for what is queued to
//! be written ([`AuditSink::flush`]); when every sender is gone the writer drains the queue,
//! flushes, and exits.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::time::{Duration, Instant};

use metrics::Counter;

use crate::config::AuditSinkConfig;

/// What the writer thread is asked to do.
enum Command {
    /// Write this line (a record with its newline).
    Write(Vec<u8>),
    /// Reopen the file (SIGHUP).
    Reopen,
    /// Write and flush everything before this, then say so.
    Flush(mpsc::Sender<()>),
}

/// The sending side of the audit queue; cheap to clone.
#[derive(Clone)]
pub(crate) struct AuditSink {
    queue: SyncSender<Command>,
    written: Counter,
    dropped: Counter,
}

impl AuditSink {
    /// Opens `config`'s sink and starts the writer, with room for `queue` records.
    pub(crate) fn open(config: &AuditSinkConfig, queue: usize) -> io::Result<Self> {
        Self::start(Target::open(config)?, queue)
    }

    fn start(target: Target, queue: usize) -> io::Result<Self> {
        let (sender, receiver) = mpsc::sync_channel(queue.max(1));
        // Detached: it ends when every sender is gone (or with the process).
        std::thread::Builder::new()
            .name("smcp-audit".into())
            .spawn(move || write_loop(target, &receiver))?;
        Ok(Self {
            queue: sender,
            written: metrics::counter!("smcp_audit_records_total", "outcome" => "queued"),
            dropped: metrics::counter!("smcp_audit_records_total", "outcome" => "dropped"),
        })
    }

    /// Offers one record (a line without its newline) to the queue; drops and counts it when
    /// the queue is full. Never waits. Whether it was queued.
    pub(crate) fn send(&self, mut line: Vec<u8>) -> bool {
        line.push(b'\n');
        match self.queue.try_send(Command::Write(line)) {
            Ok(()) => {
                self.written.increment(1);
                true
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.increment(1);
                false
            }
        }
    }

    /// Asks the writer to reopen a file sink (no effect on stderr). When the queue is full the
    /// request waits in line like a record would: it is sent from a task, never the request
    /// path, so it may wait.
    pub(crate) fn reopen(&self) {
        if self.queue.send(Command::Reopen).is_err() {
            tracing::warn!("the audit writer has stopped; cannot reopen its file");
        }
    }

    /// Waits, at most `within`, until everything queued before this call is written and
    /// flushed. Whether it was (a stalled sink is given up on, not waited for forever). Blocks
    /// the calling thread: call it off the runtime's workers.
    pub(crate) fn flush(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let (ack, acked) = mpsc::channel();
        let mut command = Command::Flush(ack);
        loop {
            match self.queue.try_send(command) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(back)) => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    command = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
        acked
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
    }
}

/// The open sink.
enum Target {
    Stderr(io::Stderr),
    File {
        path: PathBuf,
        file: BufWriter<File>,
    },
    /// Any writer (tests: one that stalls).
    #[cfg(test)]
    Other(Box<dyn Write + Send>),
}

impl Target {
    fn open(config: &AuditSinkConfig) -> io::Result<Self> {
        Ok(match config {
            AuditSinkConfig::Stderr => Target::Stderr(io::stderr()),
            AuditSinkConfig::File(path) => Target::File {
                path: path.clone(),
                file: BufWriter::new(open_append(path)?),
            },
        })
    }

    fn write(&mut self, line: &[u8]) -> io::Result<()> {
        match self {
            // One write per line: stderr is shared with the logs, a line must not be split.
            Target::Stderr(stderr) => stderr.lock().write_all(line),
            Target::File { file, .. } => file.write_all(line),
            #[cfg(test)]
            Target::Other(writer) => writer.write_all(line),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Target::Stderr(stderr) => stderr.flush(),
            Target::File { file, .. } => file.flush(),
            #[cfg(test)]
            Target::Other(writer) => writer.flush(),
        }
    }

    fn reopen(&mut self) {
        let Target::File { path, file } = self else {
            return;
        };
        if let Err(error) = file.flush() {
            tracing::warn!(path = %path.display(), %error, "flushing the audit file before reopening it failed");
        }
        match open_append(path) {
            Ok(fresh) => {
                *file = BufWriter::new(fresh);
                tracing::info!(path = %path.display(), "audit file reopened");
            }
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "cannot reopen the audit file; still writing to the old one");
            }
        }
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// How often a busy writer looks at the queue.
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// Empty looks in a row after which the writer blocks until the next record (1 s idle).
const IDLE_POLLS: u32 = 100;

/// Takes records off the queue and writes them, flushing after each batch.
///
/// While records flow the writer polls every [`POLL_INTERVAL`] instead of blocking on the
/// queue: a blocked receiver must be woken by each sender (a futex call and a context switch
/// on the request path, per record), a polling one is never woken, and each look drains a
/// batch. After [`IDLE_POLLS`] empty looks it blocks, so an idle server does not spin; the
/// first record after that wakes it once. A record reaches the sink within about one
/// interval.
fn write_loop(mut target: Target, queue: &Receiver<Command>) {
    let mut failing = false;
    let report = |result: io::Result<()>, failing: &mut bool| match result {
        Ok(()) => *failing = false,
        Err(error) => {
            // Once per run of failures, not once per record.
            if !*failing {
                tracing::error!(%error, "writing the audit trail failed; records are being lost");
            }
            *failing = true;
        }
    };
    let mut idle = 0;
    loop {
        let mut next = if idle >= IDLE_POLLS {
            match queue.recv() {
                Ok(command) => Some(command),
                Err(_) => break,
            }
        } else {
            match queue.try_recv() {
                Ok(command) => Some(command),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => break,
            }
        };
        if next.is_none() {
            idle += 1;
            std::thread::sleep(POLL_INTERVAL);
            continue;
        }
        idle = 0;
        // Everything already queued goes out before the flush.
        while let Some(command) = next {
            match command {
                Command::Write(line) => report(target.write(&line), &mut failing),
                Command::Reopen => target.reopen(),
                Command::Flush(ack) => {
                    report(target.flush(), &mut failing);
                    let _ = ack.send(());
                }
            }
            next = queue.try_recv().ok();
        }
        report(target.flush(), &mut failing);
    }
    report(target.flush(), &mut failing);
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn records_reach_the_file_and_a_reopen_follows_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let sink = AuditSink::open(&AuditSinkConfig::File(path.clone()), 16).unwrap();
        sink.send(b"{\"n\":1}".to_vec());
        // Rotate: rename the file, then ask for a reopen; the next record goes to a new file.
        let rotated = dir.path().join("audit.jsonl.1");
        std::fs::rename(&path, &rotated).unwrap();
        sink.reopen();
        sink.send(b"{\"n\":2}".to_vec());
        assert!(sink.flush(Duration::from_secs(10)));
        assert_eq!(lines(&rotated), ["{\"n\":1}"]);
        assert_eq!(lines(&path), ["{\"n\":2}"]);
    }

    /// A writer that blocks until `release` is dropped, then counts what it is given.
    struct Stalled {
        release: std::sync::mpsc::Receiver<()>,
        lines: Arc<Mutex<usize>>,
    }

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _ = self.release.recv();
            *self.lines.lock().unwrap() += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_sink_drops_records_instead_of_blocking_the_sender() {
        let (release, stalled) = std::sync::mpsc::channel();
        let lines = Arc::new(Mutex::new(0));
        let writer = Stalled {
            release: stalled,
            lines: Arc::clone(&lines),
        };
        let sink = AuditSink::start(Target::Other(Box::new(writer)), 2).unwrap();
        // The writer holds at most one record (stuck in write) and the queue two more: of ten
        // records sent while it is stalled, at most three are kept, and no send waits.
        let queued = (0..10)
            .filter(|n| sink.send(format!("{n}").into_bytes()))
            .count();
        assert!((2..=3).contains(&queued), "{queued} queued");
        // While it is stalled, a flush is given up on, not waited for.
        assert!(!sink.flush(Duration::from_millis(50)));
        drop(release);
        assert!(sink.flush(Duration::from_secs(10)));
        assert_eq!(*lines.lock().unwrap(), queued);
    }
}
