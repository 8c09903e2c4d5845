//! The load harness behind `smcp-load`: many MCP sessions, each with several `tools/call`
//! requests in flight, for a fixed time, against a Streamable HTTP endpoint ([`http`]) or
//! straight against stdio server processes ([`raw_stdio`], the floor no proxy can beat).
//!
//! Both modes share the same clock ([`Schedule`]): a warm-up whose calls are not recorded,
//! then a measured window. A call counts when it was *sent* inside the window; its latency is
//! from just before sending to its complete reply. Every worker keeps its own HDR histogram
//! (nanoseconds, 3 significant digits), merged at the end ([`stats`]).

pub mod http;
pub mod raw_stdio;
pub mod stats;
mod worker;

use std::time::Duration;

pub use stats::Report;

/// The load to apply, whatever the target.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// A name for this run in the report (e.g. `smcp-auth-off/echo`).
    pub label: String,
    /// MCP sessions to open.
    pub sessions: usize,
    /// Calls in flight per session (one connection or pipeline slot each).
    pub concurrency: usize,
    /// A fixed offered load in calls per second, shared by every worker; `None` calls as fast
    /// as the target answers (closed loop). Paced, a call's latency is still measured from
    /// its actual send, so a target slower than the rate shows up as a shortfall in calls/s.
    pub rate: Option<f64>,
    /// Time spent calling before recording starts.
    pub warmup: Duration,
    /// Length of the measured window.
    pub duration: Duration,
    /// A call not answered in this time counts as an error.
    pub request_timeout: Duration,
    /// Sessions opened at the same time during setup.
    pub open_parallelism: usize,
    /// The tool called (`echo` on both echo servers and on server-everything).
    pub tool: String,
    /// The `message` argument.
    pub message: String,
    /// The processes whose memory and CPU time are read and summed (the proxy, or the server
    /// called directly; for nginx its master and workers); their other descendants are
    /// reported apart.
    pub pids: Vec<u32>,
}

/// The `tools/call` request with JSON-RPC id `id`.
pub(crate) fn call_body(cfg: &LoadConfig, id: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + cfg.message.len());
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(id.to_string().as_bytes());
    out.extend_from_slice(br#","method":"tools/call","params":{"name":"#);
    let _ = serde_json::to_writer(&mut out, &cfg.tool);
    out.extend_from_slice(br#","arguments":{"message":"#);
    let _ = serde_json::to_writer(&mut out, &cfg.message);
    out.extend_from_slice(b"}}}");
    out
}

/// The `initialize` request (id 0) announcing `protocol_version`.
pub(crate) fn initialize_body(protocol_version: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(192);
    out.extend_from_slice(
        br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"#,
    );
    let _ = serde_json::to_writer(&mut out, protocol_version);
    out.extend_from_slice(
        br#","capabilities":{},"clientInfo":{"name":"smcp-load","version":"0.1.0"}}}"#,
    );
    out
}

/// The `notifications/initialized` notification.
pub(crate) const INITIALIZED: &[u8] = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// The protocol version the harness asks for (supported by every peer measured).
pub const PROTOCOL_VERSION: &str = "2025-06-18";

pub use worker::Schedule;
