//! A log sink that batches lines and writes them to stderr from its own thread.
//!
//! At one access-log line per request, writing each line straight to stderr cost the request
//! path a system call per request (and the stderr lock around it). Here a logging thread only
//! appends its formatted line to a shared buffer; the `smcp-log` thread writes the buffer out.
//! When idle it sleeps on a condition variable and a line wakes it at once, so a lone line is
//! not delayed; while lines keep coming it writes at most once per [`BATCH_INTERVAL`], so under
//! load many lines go out in one `write`.
//!
//! Nothing is lost or reordered: a line that would grow the buffer past [`MAX_BUFFERED`] makes
//! its thread wait until the writer has drained it (back-pressure), and dropping the
//! [`BatchedStderr`]'s guard writes whatever is still buffered before the thread exits.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// While lines keep coming, the writer waits this long between writes to let them batch.
const BATCH_INTERVAL: Duration = Duration::from_millis(10);
/// Buffered bytes past which a logging thread waits for the writer instead of appending.
const MAX_BUFFERED: usize = 1024 * 1024;

/// The [`MakeWriter`] handed to the `tracing` formatter: cheap to clone, appends to the
/// shared buffer.
#[derive(Clone)]
pub(crate) struct BatchedStderr {
    shared: Arc<Shared>,
}

/// Stops the writer thread when dropped, after it has written every buffered line.
pub(crate) struct WriterGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when lines arrive for an idle writer, or on close.
    work: Condvar,
    /// Signalled when the writer has drained the buffer, for loggers waiting on a full one.
    drained: Condvar,
}

#[derive(Default)]
struct State {
    buffer: Vec<u8>,
    /// The writer is waiting on `work` (only then does a new line need to wake it).
    writer_idle: bool,
    /// Loggers waiting on `drained`.
    waiting_loggers: usize,
    closed: bool,
}

impl BatchedStderr {
    /// Starts the writer thread on stderr. Keep the guard until exit; dropping it flushes.
    pub(crate) fn start() -> std::io::Result<(Self, WriterGuard)> {
        Self::start_on(std::io::stderr())
    }

    /// Starts the writer thread on `out`.
    fn start_on(mut out: impl Write + Send + 'static) -> std::io::Result<(Self, WriterGuard)> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            drained: Condvar::new(),
        });
        let writer = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("smcp-log".to_owned())
            .spawn(move || write_until_closed(&writer, &mut out))?;
        let guard = WriterGuard {
            shared: Arc::clone(&shared),
            thread: Some(thread),
        };
        Ok((Self { shared }, guard))
    }

    /// A writer for one line (the formatter's and the access log's way in).
    pub(crate) fn make_line_writer(&self) -> LineWriter<'_> {
        LineWriter {
            shared: &self.shared,
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves only bytes in a buffer: keep logging.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn append(&self, bytes: &[u8]) {
        let mut state = self.lock();
        while !state.buffer.is_empty()
            && state.buffer.len() + bytes.len() > MAX_BUFFERED
            && !state.closed
        {
            state.waiting_loggers += 1;
            if state.writer_idle {
                self.work.notify_one();
            }
            state = self
                .drained
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.waiting_loggers -= 1;
        }
        if state.closed {
            // After shutdown (a log line from a late thread): write it directly, in order.
            drop(state);
            let _ = std::io::stderr().write_all(bytes);
            return;
        }
        state.buffer.extend_from_slice(bytes);
        if state.writer_idle {
            state.writer_idle = false;
            self.work.notify_one();
        }
    }
}

/// The writer thread: swaps the buffer out under the lock and writes it outside, until closed
/// and empty.
fn write_until_closed(shared: &Shared, out: &mut impl Write) {
    let mut batch = Vec::new();
    loop {
        {
            let mut state = shared.lock();
            while state.buffer.is_empty() && !state.closed {
                state.writer_idle = true;
                state = shared
                    .work
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            state.writer_idle = false;
            if state.buffer.is_empty() && state.closed {
                return;
            }
            std::mem::swap(&mut batch, &mut state.buffer);
            if state.waiting_loggers > 0 {
                shared.drained.notify_all();
            }
        }
        // Nowhere to report a failing stderr: the lines are dropped, the server goes on.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        batch.clear();
        if batch.capacity() > MAX_BUFFERED {
            batch = Vec::new();
        }
        std::thread::sleep(BATCH_INTERVAL);
    }
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        {
            let mut state = self.shared.lock();
            state.closed = true;
            self.shared.work.notify_one();
            self.shared.drained.notify_all();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One event's writer: the formatter writes its whole line, which is appended at once.
pub(crate) struct LineWriter<'a> {
    shared: &'a Shared,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.shared.append(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedStderr {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        self.make_line_writer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Write` into a shared vector, to read back what the writer thread wrote.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_from_every_thread_is_written_once_and_in_order_per_thread() {
        let captured = Captured::default();
        let (sink, guard) = BatchedStderr::start_on(captured.clone()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let sink = sink.clone();
                std::thread::spawn(move || {
                    for i in 0..2_000 {
                        let line = format!("t{t} line {i}\n");
                        sink.make_writer().write_all(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(guard);
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 8_000);
        for t in 0..4 {
            let own: Vec<&str> = lines
                .iter()
                .copied()
                .filter(|l| l.starts_with(&format!("t{t} ")))
                .collect();
            let expected: Vec<String> = (0..2_000).map(|i| format!("t{t} line {i}")).collect();
            assert_eq!(own, expected);
        }
    }

    #[test]
    fn a_line_bigger_than_the_buffer_bound_still_goes_out_whole() {
        let captured = Captured::default();
        let (sink, guard) = BatchedStderr::start_on(captured.clone()).unwrap();
        let big = vec![b'x'; MAX_BUFFERED + 10];
        sink.make_writer().write_all(b"first\n").unwrap();
        sink.make_writer().write_all(&big).unwrap();
        sink.make_writer().write_all(b"last\n").unwrap();
        drop(guard);
        let out = captured.0.lock().unwrap().clone();
        assert_eq!(out.len(), 6 + big.len() + 5);
        assert!(out.starts_with(b"first\n"));
        assert!(out.ends_with(b"last\n"));
    }
}
