//! smcp-server configuration snippets for the end-to-end tests.
//!
//! Values are written as JSON (strings, arrays, objects), which YAML reads as flow scalars and
//! collections, so paths and arguments never need YAML quoting rules.

use serde_json::{Value, json};

use crate::peers::PeerCommand;

/// A whole config: loopback listener on port 0, a 5 s shutdown, and `backends` (entries from
/// [`stdio_backend`] / [`http_backend`]).
pub fn server_config(backends: &[String]) -> String {
    format!(
        "server:\n  host: \"127.0.0.1\"\n  port: 0\n  shutdown_timeout: \"5s\"\nmcp:\n  backends:\n{}",
        backends.concat()
    )
}

/// [`server_config`] in auth mode oidc, trusting `issuer`. The audience `urn:smcp:nobody`
/// matches no token, so only tokens issued for a backend's own public URL (RFC 8707 `resource`)
/// are accepted. `oidc_extra` adds keys to the `oidc:` block (lines indented two spaces, each
/// ending in a newline), e.g. a `scope_hierarchy`.
pub fn oidc_server_config(issuer: &str, oidc_extra: &str, backends: &[String]) -> String {
    server_config(backends).replacen(
        "mcp:\n",
        &format!(
            "auth:\n  mode: oidc\noidc:\n  issuers: [{issuer}]\n  audience: \"urn:smcp:nobody\"\n{oidc_extra}mcp:\n",
            issuer = json!(issuer),
        ),
        1,
    )
}

/// A stdio backend entry running `peer`, with `E2E_MARKER=<marker>` in the child's environment
/// so leak checks can find its children (see [`crate::procs`]).
pub fn stdio_backend(id: &str, path: &str, peer: &PeerCommand, marker: &str) -> String {
    let mut env = serde_json::Map::new();
    env.insert("E2E_MARKER".into(), json!(marker));
    for (key, value) in &peer.env {
        env.insert(key.clone(), json!(value));
    }
    format!(
        "    - id: {id}\n      transport: stdio\n      path: {path}\n      stdio:\n        command: {command}\n        args: {args}\n        env: {env}\n        stdio_timeout: \"30s\"\n",
        id = json!(id),
        path = json!(path),
        command = json!(peer.program.to_string_lossy()),
        args = json!(peer.args),
        env = Value::Object(env),
    )
}

/// An HTTP backend entry forwarding `path` (stripped) to `url`, with a 30 s timeout.
pub fn http_backend(id: &str, path: &str, url: &str) -> String {
    format!(
        "    - id: {id}\n      transport: http\n      url: {url}\n      path: {path}\n      strip_path: true\n      timeout: \"30s\"\n",
        id = json!(id),
        path = json!(path),
        url = json!(url),
    )
}
