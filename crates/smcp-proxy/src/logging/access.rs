//! The access log's fast path: one line per request, formatted by hand.
//!
//! Every request writes one access-log line (target `smcp::access`). Through the generic
//! `tracing` formatter that line cost more CPU than any other part of smcp's own request
//! handling (field visitors, `Debug` formatting of every value, a date computation), so when
//! the binaries' logging is installed ([`super::init`]) the line is formatted here instead, in
//! the same text or JSON shape the formatter writes, into a reused buffer, and handed to the
//! batched writer. Whether it is written at all is still decided by the installed filter
//! (`RUST_LOG`, `--log-level`). Without the binaries' logging (a library embedding smcp-proxy
//! with its own subscriber) [`write`] declines and the caller emits an ordinary `tracing`
//! event.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use super::batched::BatchedStderr;
use super::timestamp;
use crate::shared::LogFormat;

/// Where access lines go once the binaries' logging is installed.
static SINK: OnceLock<Sink> = OnceLock::new();

struct Sink {
    writer: BatchedStderr,
    format: LogFormat,
}

thread_local! {
    static LINE: RefCell<String> = RefCell::new(String::with_capacity(256));
}

/// Routes access lines to `writer` in `format`, for the rest of the process.
pub(super) fn install(writer: BatchedStderr, format: LogFormat) {
    let _ = SINK.set(Sink { writer, format });
}

/// One request as the access log records it.
pub(crate) struct AccessRecord<'a> {
    pub(crate) message: &'a str,
    pub(crate) request_id: &'a str,
    pub(crate) remote: &'a str,
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    /// `None` when the request never got a response (abandoned by the client).
    pub(crate) backend: Option<&'a str>,
    pub(crate) status: Option<u16>,
    pub(crate) duration: Duration,
}

/// Writes `record` if the fast path is installed; returns false (nothing written) otherwise.
/// The caller checks the filter first.
pub(crate) fn write(record: &AccessRecord<'_>) -> bool {
    let Some(sink) = SINK.get() else {
        return false;
    };
    LINE.with(|line| {
        let mut line = line.borrow_mut();
        line.clear();
        match sink.format {
            LogFormat::Text => text(&mut line, record, SystemTime::now()),
            LogFormat::Json => json(&mut line, record, SystemTime::now()),
        }
        let _ = sink.writer.make_line_writer().write_all(line.as_bytes());
    });
    true
}

/// The `tracing` formatter's text shape: `<time>  INFO smcp::access: <message> key=value...`.
fn text(out: &mut String, record: &AccessRecord<'_>, now: SystemTime) {
    timestamp::push(out, now);
    out.push_str("  INFO smcp::access: ");
    out.push_str(record.message);
    for (key, value) in [
        (" request_id=", record.request_id),
        (" remote=", record.remote),
        (" method=", record.method),
        (" path=", record.path),
    ] {
        out.push_str(key);
        out.push_str(value);
    }
    if let Some(backend) = record.backend {
        let _ = write!(out, " backend={backend:?}");
    }
    if let Some(status) = record.status {
        let _ = write!(out, " status={status}");
    }
    push_millis(out, " duration_ms=", record.duration);
    out.push('\n');
}

/// The `tracing` JSON formatter's shape (events flattened): timestamp, level, message and
/// fields, target.
fn json(out: &mut String, record: &AccessRecord<'_>, now: SystemTime) {
    out.push_str("{\"timestamp\":\"");
    timestamp::push(out, now);
    out.push_str("\",\"level\":\"INFO\",\"message\":");
    json_string(out, record.message);
    out.push_str(",\"request_id\":");
    json_string(out, record.request_id);
    out.push_str(",\"remote\":");
    json_string(out, record.remote);
    out.push_str(",\"method\":");
    json_string(out, record.method);
    out.push_str(",\"path\":");
    json_string(out, record.path);
    if let Some(backend) = record.backend {
        out.push_str(",\"backend\":");
        json_string(out, backend);
    }
    if let Some(status) = record.status {
        let _ = write!(out, ",\"status\":{status}");
    }
    push_millis(out, ",\"duration_ms\":", record.duration);
    out.push_str(",\"target\":\"smcp::access\"}\n");
}

/// `key` then the duration in milliseconds with microsecond precision (`0.031`).
fn push_millis(out: &mut String, key: &str, duration: Duration) {
    let micros = duration.as_micros();
    let _ = write!(out, "{key}{}.{:03}", micros / 1000, micros % 1000);
}

/// `text` as a JSON string literal.
fn json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    fn record(backend: Option<&'static str>, status: Option<u16>) -> AccessRecord<'static> {
        AccessRecord {
            message: "request",
            request_id: "c3df8d938ee74e61",
            remote: "127.0.0.1",
            method: "POST",
            path: "/v1/memory/mcp",
            backend,
            status,
            duration: Duration::from_micros(31_389),
        }
    }

    fn instant() -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(1_795_678_956_835_726)
    }

    #[test]
    fn text_line_has_the_formatter_shape() {
        let mut out = String::new();
        text(&mut out, &record(Some("memory"), Some(200)), instant());
        assert_eq!(
            out,
            "2026-11-26T07:42:36.835726Z  INFO smcp::access: request request_id=c3df8d938ee74e61 \
             remote=127.0.0.1 method=POST path=/v1/memory/mcp backend=\"memory\" status=200 \
             duration_ms=31.389\n"
        );
    }

    #[test]
    fn json_line_parses_and_carries_every_field() {
        let mut out = String::new();
        let mut abandoned = record(None, None);
        abandoned.path = "/v1/\"odd\\path";
        json(&mut out, &abandoned, instant());
        assert!(out.ends_with('\n'));
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value["timestamp"], "2026-11-26T07:42:36.835726Z");
        assert_eq!(value["level"], "INFO");
        assert_eq!(value["message"], "request");
        assert_eq!(value["request_id"], "c3df8d938ee74e61");
        assert_eq!(value["remote"], "127.0.0.1");
        assert_eq!(value["method"], "POST");
        assert_eq!(value["path"], "/v1/\"odd\\path");
        assert_eq!(value["duration_ms"], 31.389);
        assert_eq!(value["target"], "smcp::access");
        assert!(value.get("backend").is_none() && value.get("status").is_none());
    }

    #[test]
    fn json_line_with_backend_and_status() {
        let mut out = String::new();
        json(&mut out, &record(Some(""), Some(404)), instant());
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value["backend"], "");
        assert_eq!(value["status"], 404);
    }
}
