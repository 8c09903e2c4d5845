//! Raw Streamable HTTP exchanges for tests that must see exactly what an MCP endpoint
//! answers (status, `WWW-Authenticate`, the JSON-RPC message) rather than what an SDK makes of
//! it: one POST per call, with or without a bearer token, JSON or SSE answers alike.

use serde_json::{Value, json};

/// One Streamable HTTP exchange: status, headers and the JSON-RPC message of the answer
/// (from a JSON body or the last `data:` of an SSE body that carries an id).
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The `WWW-Authenticate` header, if any.
    pub challenge: Option<String>,
    /// The `Mcp-Session-Id` header, if any.
    pub session: Option<String>,
    /// The JSON-RPC message (`null` when the body had none).
    pub message: Value,
}

/// POSTs `body` to `url` (protocol version 2025-06-18), with `Authorization: Bearer <token>`
/// when a token is given and `Mcp-Session-Id` when a session is.
///
/// # Panics
/// When the request gets no answer or the body cannot be read.
pub async fn post(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    session: Option<&str>,
    body: &Value,
) -> Answer {
    let mut request = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    let response = request.send().await.expect("post");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (status, challenge, session) = (
        response.status().as_u16(),
        header("www-authenticate"),
        header("mcp-session-id"),
    );
    let text = response.text().await.expect("body");
    let json_text = if text.trim_start().starts_with('{') {
        text.clone()
    } else {
        text.lines()
            .rev()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(str::trim)
            .find(|data| data.contains("\"id\""))
            .unwrap_or("null")
            .to_owned()
    };
    let message = serde_json::from_str(&json_text).unwrap_or(Value::Null);
    Answer {
        status,
        challenge,
        session,
        message,
    }
}

/// A `tools/call` request.
pub fn call(id: u64, tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": arguments}})
}

/// The `initialize` request these exchanges use (id 0).
pub fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "smcp-e2e", "version": "1"}}})
}

/// Opens a session on `url` (initialize, then the initialized notification); its id.
///
/// # Panics
/// Unless `initialize` is answered 200 with a session id and the notification 202.
pub async fn open_session(http: &reqwest::Client, url: &str, token: Option<&str>) -> String {
    let opened = post(http, url, token, None, &initialize()).await;
    assert_eq!(opened.status, 200, "{url}: {}", opened.message);
    let session = opened.session.expect("a session id");
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let sent = post(http, url, token, Some(&session), &initialized).await;
    assert_eq!(sent.status, 202, "{url}");
    session
}
