//! Log output for the smcp binaries: level (or filter) and format from the command line.
//!
//! Logs go to stderr: stdout belongs to the stdio bridge in smcp-client. `RUST_LOG`, when
//! set, overrides the configured level with a full `tracing` filter.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. Call once, first thing in `main`. `level` is a level name
/// (`info`) or a filter directive (`smcp_proxy=debug,info`); an invalid one falls back to
/// `info` with a message on stderr.
pub fn init(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|error| {
            eprintln!("smcp: invalid log level {level:?} ({error}); using info");
            EnvFilter::new("info")
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if let Err(error) = result {
        eprintln!("smcp: logging was already initialised: {error}");
    }
}
