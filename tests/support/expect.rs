//! What the client drivers' results must show, shared by the direct and the proxied tests.
//!
//! The same assertions run on a scenario driven straight at a real server and through
//! smcp-server: a proxy that is transparent passes both.

use serde_json::Value;

/// Progress steps asked of `trigger-long-running-operation` (the drivers' default).
pub const STEPS: u64 = 5;

/// Driver arguments for `scenario` against `url` over `transport` (`streamable` or `sse`).
pub fn driver_args(url: &str, transport: &str, scenario: &str) -> Vec<String> {
    [
        "--url",
        url,
        "--transport",
        transport,
        "--scenario",
        scenario,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The string field `field` of a driver result.
pub fn text(out: &Value, field: &str) -> String {
    out[field]
        .as_str()
        .unwrap_or_else(|| panic!("no string {field:?} in {out}"))
        .to_owned()
}

/// How many progress notifications the driver saw.
pub fn progress_count(out: &Value) -> u64 {
    out["progress"].as_array().map_or(0, |p| p.len() as u64)
}

/// The driver's trace of HTTP exchanges.
pub fn http_trace(out: &Value) -> &Vec<Value> {
    out["http"]
        .as_array()
        .unwrap_or_else(|| panic!("no http trace in {out}"))
}

/// What every `everything` scenario must show, whichever SDK and transport: tools listed,
/// echo and sum answered, progress reported, sampling and elicitation round trips completed,
/// a session established.
pub fn assert_everything(out: &Value, client: &str, echo_message: &str) {
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["client"], client);
    // server-everything only speaks the handshake era; both SDKs settle on its newest.
    assert_eq!(out["protocol_version"], "2025-11-25");
    assert_eq!(out["server_info"]["name"], "mcp-servers/everything");
    let tools: Vec<&str> = out["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools in {out}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for tool in [
        "echo",
        "get-sum",
        "trigger-long-running-operation",
        "trigger-sampling-request",
        "trigger-elicitation-request",
    ] {
        assert!(tools.contains(&tool), "{tool} missing from {tools:?}");
    }
    assert_eq!(text(out, "echo"), format!("Echo: {echo_message}"));
    assert_eq!(text(out, "sum"), "The sum of 2 and 3 is 5.");
    assert!(text(out, "long_running").contains(&format!("Steps: {STEPS}")));
    // The server ran our sampling and elicitation callbacks and returned what they answered.
    assert_eq!(out["sampling_requests"], 1);
    assert!(text(out, "sampling").contains("smcp-test-model"));
    assert!(text(out, "sampling").contains("smcp-sampled: "));
    assert_eq!(out["elicitation_requests"], 1);
    assert!(text(out, "elicitation").contains("smcp tester"));
    assert!(!text(out, "session_id").is_empty());
}

/// Progress as each SDK reports it: Python sees every step; the TypeScript SDK may lose the
/// last one (it dispatches notifications a microtask after responses).
pub fn assert_progress(out: &Value) {
    let progress = progress_count(out);
    if out["client"] == "python" {
        assert_eq!(progress, STEPS, "{out}");
    } else {
        assert!(
            (STEPS - 1..=STEPS).contains(&progress),
            "{progress} progress notifications"
        );
    }
}
