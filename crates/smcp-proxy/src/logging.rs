//! Log output for the smcp binaries: level (or filter) and format from the command line.
//!
//! Logs go to stderr: stdout belongs to the stdio bridge in smcp-client. `RUST_LOG`, when
//! set, overrides the configured level with a full `tracing` filter.
//!
//! Lines are formatted on the thread that logs them and written in batches by a writer thread
//! (`batched`), so the request path never waits on a system call for its access-log line. The
//! [`LogGuard`] flushes what is left when the binary exits. ANSI colours are used only when
//! stderr is a terminal, so log files and collectors get plain text.

pub(crate) mod access;
mod batched;
pub(crate) mod timestamp;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use self::batched::{BatchedStderr, WriterGuard};
use crate::shared::LogFormat;

/// Keeps the log writer running; dropping it flushes every queued line. Hold it in `main`
/// until the binary exits.
#[must_use = "dropping the guard stops the log writer: keep it until exit"]
pub struct LogGuard {
    _writer: Option<WriterGuard>,
}

/// Installs the global subscriber. Call once, first thing in `main`, and keep the returned
/// guard. `level` is a level name (`info`) or a filter directive (`smcp_proxy=debug,info`); an
/// invalid one falls back to `info` with a message on stderr.
pub fn init(level: &str, format: LogFormat) -> LogGuard {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|error| {
            eprintln!("smcp: invalid log level {level:?} ({error}); using info");
            EnvFilter::new("info")
        });
    let ansi = std::io::stderr().is_terminal();
    let (writer, guard) = match BatchedStderr::start() {
        Ok((writer, guard)) => (Some(writer), Some(guard)),
        Err(error) => {
            eprintln!("smcp: cannot start the log writer thread ({error}); writing directly");
            (None, None)
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_target(true);
    let access_writer = writer.clone();
    let result = match (writer, format) {
        (Some(writer), LogFormat::Text) => builder.with_writer(writer).try_init(),
        (Some(writer), LogFormat::Json) => builder
            .with_writer(writer)
            .json()
            .flatten_event(true)
            .try_init(),
        (None, LogFormat::Text) => builder.with_writer(std::io::stderr).try_init(),
        (None, LogFormat::Json) => builder
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .try_init(),
    };
    if let Err(error) = result {
        eprintln!("smcp: logging was already initialised: {error}");
        return LogGuard { _writer: None };
    }
    if let Some(writer) = access_writer {
        access::install(writer, format);
    }
    LogGuard { _writer: guard }
}
