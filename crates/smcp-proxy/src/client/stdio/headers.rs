//! The HTTP headers an MCP client sends, which a stdio host cannot: `Accept`, the session id,
//! the negotiated protocol version, and for the stateless 2026-07-28 protocol `Mcp-Method` and
//! `Mcp-Name` taken from the message itself.

use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use smcp_transport::jsonrpc::Message;
use smcp_transport::mcp_headers::{self, MCP_METHOD, MCP_NAME};

use crate::client::upstream::MCP_SESSION_ID;

/// `MCP-Protocol-Version`.
pub(super) const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// `Last-Event-ID`.
pub(super) const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
/// The `_meta` key carrying a 2026-07-28 request's protocol version.
const PROTOCOL_VERSION_META: &str = "io.modelcontextprotocol/protocolVersion";

/// What the session adds to every request.
#[derive(Debug, Clone, Default)]
pub(super) struct SessionHeaders {
    /// `Mcp-Session-Id`, once the server gave one.
    pub(super) session_id: Option<HeaderValue>,
    /// The negotiated protocol version, once `initialize` answered.
    pub(super) protocol_version: Option<HeaderValue>,
}

impl SessionHeaders {
    fn apply(&self, headers: &mut HeaderMap) {
        if let Some(id) = &self.session_id {
            headers.insert(MCP_SESSION_ID, id.clone());
        }
        if let Some(version) = &self.protocol_version {
            headers.insert(MCP_PROTOCOL_VERSION, version.clone());
        }
    }
}

/// Headers for POSTing `message`.
pub(super) fn post(message: &Message, session: &SessionHeaders) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(
        ACCEPT,
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    session.apply(&mut headers);
    if message.method() == Some("initialize") {
        // The version is negotiated by this very request.
        headers.remove(MCP_PROTOCOL_VERSION);
    }
    add_stateless(message, &mut headers);
    headers
}

/// Headers for the GET stream (`last_event_id` to resume).
pub(super) fn get(session: &SessionHeaders, last_event_id: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    session.apply(&mut headers);
    if let Some(value) = last_event_id.and_then(|id| HeaderValue::from_str(id).ok()) {
        headers.insert(LAST_EVENT_ID, value);
    }
    headers
}

/// Headers for the closing DELETE.
pub(super) fn delete(session: &SessionHeaders) -> HeaderMap {
    let mut headers = HeaderMap::new();
    session.apply(&mut headers);
    headers
}

/// A 2026-07-28 message names its protocol version in `params._meta`; its POST must then
/// carry that version, `Mcp-Method`, and for named calls `Mcp-Name` (servers and proxies
/// check them against the body).
fn add_stateless(message: &Message, headers: &mut HeaderMap) {
    let Some(method) = message.method() else {
        return;
    };
    let bytes = message.bytes();
    if !contains(bytes, PROTOCOL_VERSION_META.as_bytes()) {
        return;
    }
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        return;
    };
    let params = &value["params"];
    let Some(version) = params["_meta"][PROTOCOL_VERSION_META].as_str() else {
        return;
    };
    if let Ok(version) = HeaderValue::from_str(version) {
        headers.insert(MCP_PROTOCOL_VERSION, version);
    }
    if let Ok(method) = HeaderValue::from_str(method) {
        headers.insert(MCP_METHOD, method);
    }
    let name = match method {
        "tools/call" | "prompts/get" => params["name"].as_str(),
        "resources/read" => params["uri"].as_str(),
        _ => None,
    };
    if let Some(value) = name.and_then(|n| HeaderValue::from_str(&mcp_headers::encode(n)).ok()) {
        headers.insert(MCP_NAME, value);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::HeaderValue;
    use smcp_transport::jsonrpc;

    use super::{SessionHeaders, post};

    #[test]
    fn post_headers() {
        let session = SessionHeaders {
            session_id: Some(HeaderValue::from_static("s1")),
            protocol_version: Some(HeaderValue::from_static("2025-11-25")),
        };
        let call = jsonrpc::parse(Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#,
        ))
        .unwrap();
        let headers = post(&call, &session);
        assert_eq!(headers["mcp-session-id"], "s1");
        assert_eq!(headers["mcp-protocol-version"], "2025-11-25");
        assert_eq!(headers["accept"], "application/json, text/event-stream");
        assert!(headers.get("mcp-method").is_none());

        let init = jsonrpc::parse(Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#,
        ))
        .unwrap();
        assert!(post(&init, &session).get("mcp-protocol-version").is_none());

        let modern = jsonrpc::parse(Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get time","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
        ))
        .unwrap();
        let headers = post(&modern, &SessionHeaders::default());
        assert_eq!(headers["mcp-protocol-version"], "2026-07-28");
        assert_eq!(headers["mcp-method"], "tools/call");
        assert_eq!(headers["mcp-name"], "get time");
    }

    #[test]
    fn the_headers_written_pass_the_rule_servers_and_proxies_apply() {
        let bytes = Bytes::from_static(
            r#"{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"file:///café","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#
                .as_bytes(),
        );
        let headers = post(
            &jsonrpc::parse(bytes.clone()).unwrap(),
            &SessionHeaders::default(),
        );
        assert_eq!(headers["mcp-name"], "=?base64?ZmlsZTovLy9jYWbDqQ==?=");
        let body = smcp_transport::request_body::RequestBody::from_bytes(bytes);
        assert_eq!(smcp_transport::mcp_headers::check(&headers, &body), Ok(()));
    }
}
