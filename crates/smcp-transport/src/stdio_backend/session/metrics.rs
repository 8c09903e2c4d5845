//! The session layer's metrics, with label values kept to bounded sets.
//!
//! `method` is one of the methods the MCP spec defines for clients to call, or `other`;
//! `tool` is set only for `tools/call`, and only to a name the backend itself listed in a
//! `tools/list` result (at most [`MAX_TOOL_NAMES`] per backend, each at most
//! [`MAX_TOOL_NAME_LEN`] bytes), else `other`. A client can therefore not mint new label values
//! by sending made-up methods or tool names, and a backend can not fill the exporter with
//! megabyte-long names.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;

use super::EndReason;
use super::quota::{EvictReason, RefuseReason};
use super::stream::lock;
use crate::jsonrpc::Message;

/// The most tool names remembered per backend.
pub(crate) const MAX_TOOL_NAMES: usize = 512;
/// The longest tool name used as a label; longer names are counted as `other`. The MCP spec
/// asks for 1 to 128 characters.
pub(crate) const MAX_TOOL_NAME_LEN: usize = 128;

/// Requests a client may send an MCP server (2024-11-05 through 2025-11-25).
const KNOWN_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "tasks/get",
    "tasks/list",
    "tasks/result",
    "tasks/cancel",
];

/// The `method` label for a client request.
pub(crate) fn method_label(method: Option<&str>) -> &'static str {
    method
        .and_then(|m| KNOWN_METHODS.iter().find(|k| **k == m))
        .copied()
        .unwrap_or("other")
}

/// Tool names a backend has listed.
#[derive(Default)]
pub(crate) struct ToolNames(Mutex<HashSet<Arc<str>>>);

impl ToolNames {
    /// Remembers the tool names in a `tools/list` result (up to the cap).
    pub(crate) fn learn(&self, response: &Message) {
        #[derive(Deserialize)]
        struct Response {
            result: Option<ListResult>,
        }
        #[derive(Deserialize)]
        struct ListResult {
            #[serde(default)]
            tools: Vec<Tool>,
        }
        #[derive(Deserialize)]
        struct Tool {
            name: String,
        }
        let Ok(Response { result: Some(list) }) = serde_json::from_slice(response.bytes()) else {
            return;
        };
        let mut names = lock(&self.0);
        for tool in list.tools {
            if names.len() >= MAX_TOOL_NAMES {
                break;
            }
            if tool.name.is_empty() || tool.name.len() > MAX_TOOL_NAME_LEN {
                continue;
            }
            names.insert(Arc::from(tool.name));
        }
    }

    /// The `tool` label for a request: the called tool if listed, `other` if not, and empty
    /// for anything but `tools/call`.
    pub(crate) fn label(&self, request: &Message) -> Arc<str> {
        if request.method() != Some("tools/call") {
            return Arc::from("");
        }
        #[derive(Deserialize)]
        struct Call {
            params: Option<Params>,
        }
        #[derive(Deserialize)]
        struct Params {
            name: Option<String>,
        }
        let name = serde_json::from_slice::<Call>(request.bytes())
            .ok()
            .and_then(|c| c.params)
            .and_then(|p| p.name);
        let names = lock(&self.0);
        name.and_then(|n| names.get(n.as_str()).cloned())
            .unwrap_or_else(|| Arc::from("other"))
    }
}

/// Counts a session as started.
pub(crate) fn session_started(backend: &Arc<str>) {
    metrics::gauge!("smcp_sessions_active", "backend" => Arc::clone(backend)).increment(1.0);
}

/// Counts a session as ended for `reason`.
pub(crate) fn session_ended(backend: &Arc<str>, reason: EndReason) {
    metrics::gauge!("smcp_sessions_active", "backend" => Arc::clone(backend)).decrement(1.0);
    metrics::counter!(
        "smcp_sessions_ended_total",
        "backend" => Arc::clone(backend),
        "reason" => reason.as_str()
    )
    .increment(1);
}

/// Counts a session ended to make room for a new one.
pub(crate) fn session_evicted(backend: &Arc<str>, reason: EvictReason) {
    metrics::counter!(
        "smcp_sessions_evicted_total",
        "backend" => Arc::clone(backend),
        "reason" => reason.as_str()
    )
    .increment(1);
}

/// Counts a new session refused.
pub(crate) fn session_refused(backend: &Arc<str>, reason: RefuseReason) {
    metrics::counter!(
        "smcp_sessions_refused_total",
        "backend" => Arc::clone(backend),
        "reason" => reason.as_str()
    )
    .increment(1);
}

/// Counts one finished client request.
pub(crate) fn request_done(
    backend: &Arc<str>,
    method: &'static str,
    tool: Arc<str>,
    took: Duration,
) {
    metrics::counter!(
        "smcp_mcp_requests_total",
        "backend" => Arc::clone(backend),
        "method" => method,
        "tool" => tool
    )
    .increment(1);
    metrics::histogram!(
        "smcp_mcp_request_duration_seconds",
        "backend" => Arc::clone(backend),
        "method" => method
    )
    .record(took.as_secs_f64());
}

/// Counts an unsolicited message dropped because nothing could take it in time.
pub(crate) fn unsolicited_dropped(backend: &Arc<str>) {
    metrics::counter!("smcp_unsolicited_dropped_total", "backend" => Arc::clone(backend))
        .increment(1);
}

/// A message for a child's stdin was refused: the child is not reading and its queue is full.
pub(crate) fn stdin_full(backend: &Arc<str>) {
    metrics::counter!("smcp_stdio_stdin_rejected_total", "backend" => backend.clone()).increment(1);
}

/// A client read nothing of an SSE stream for the stall limit, and the response was ended.
pub(crate) fn stream_stalled(backend: &str) {
    metrics::counter!("smcp_stdio_stalled_streams_total", "backend" => backend.to_owned())
        .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(json: &str) -> Message {
        crate::jsonrpc::parse(Bytes::copy_from_slice(json.as_bytes())).unwrap()
    }

    #[test]
    fn methods_outside_the_spec_are_other() {
        assert_eq!(method_label(Some("tools/call")), "tools/call");
        assert_eq!(method_label(Some("x/evil-12345")), "other");
        assert_eq!(method_label(None), "other");
    }

    #[test]
    fn tool_labels_are_limited_to_listed_names() {
        let tools = ToolNames::default();
        let call =
            msg(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#);
        assert_eq!(&*tools.label(&call), "other");
        tools.learn(&msg(
            r#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo","inputSchema":{}}]}}"#,
        ));
        assert_eq!(&*tools.label(&call), "echo");
        let list = msg(r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#);
        assert_eq!(&*tools.label(&list), "");
        let made_up =
            msg(r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"zzz"}}"#);
        assert_eq!(&*tools.label(&made_up), "other");
    }

    #[test]
    fn overlong_tool_names_are_never_labels_and_the_set_is_capped() {
        let tools = ToolNames::default();
        let long = "t".repeat(MAX_TOOL_NAME_LEN + 1);
        let many: Vec<String> = (0..MAX_TOOL_NAMES + 50)
            .map(|i| format!(r#"{{"name":"tool{i}"}}"#))
            .collect();
        tools.learn(&msg(&format!(
            r#"{{"jsonrpc":"2.0","id":1,"result":{{"tools":[{{"name":"{long}"}},{}]}}}}"#,
            many.join(",")
        )));
        let call = |name: &str| {
            msg(&format!(
                r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"{name}"}}}}"#
            ))
        };
        assert_eq!(&*tools.label(&call(&long)), "other");
        assert_eq!(&*tools.label(&call("tool0")), "tool0");
        assert_eq!(lock(&tools.0).len(), MAX_TOOL_NAMES);
        let last = format!("tool{}", MAX_TOOL_NAMES + 49);
        assert_eq!(&*tools.label(&call(&last)), "other");
    }
}
