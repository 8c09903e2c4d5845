//! The HTTP headers an MCP client sends, which a stdio host cannot: `Accept`, the session id,
//! the negotiated protocol version, and for the stateless 2026-07-28 protocol `Mcp-Method` and
//! `Mcp-Name` taken from the message itself.

use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use smcp_transport::jsonrpc::Message;

use crate::client::upstream::MCP_SESSION_ID;

/// `MCP-Protocol-Version`.
pub(super) const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// `Mcp-Method` (2026-07-28).
const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
/// `Mcp-Name` (2026-07-28).
const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");
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
    if let Some(value) = name.and_then(|n| HeaderValue::from_str(&header_safe(n)).ok()) {
        headers.insert(MCP_NAME, value);
    }
}

/// A value as MCP sends it in a header: verbatim when it is plain printable ASCII without
/// edge whitespace, else `=?base64?<base64 of the UTF-8>?=`.
fn header_safe(value: &str) -> String {
    let plain = !value.is_empty()
        && value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && value.trim() == value
        && !(value.starts_with("=?base64?") && value.ends_with("?="));
    if plain {
        value.to_owned()
    } else {
        format!("=?base64?{}?=", base64(value.as_bytes()))
    }
}

/// Standard base64 with padding (the one place this crate needs it).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::HeaderValue;
    use smcp_transport::jsonrpc;

    use super::{SessionHeaders, header_safe, post};

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
    fn header_values() {
        assert_eq!(header_safe("echo"), "echo");
        assert_eq!(header_safe("café"), "=?base64?Y2Fmw6k=?=");
        assert_eq!(header_safe(" x"), "=?base64?IHg=?=");
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"foob"), "Zm9vYg==");
    }
}
