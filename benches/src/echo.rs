//! The fast echo MCP server logic shared by `echo-mcp-stdio` and `echo-mcp-http`.
//!
//! It answers `initialize` (echoing the client's protocol version), `ping`, `tools/list` (one
//! tool, `echo`) and `tools/call` of `echo`, whose result is the text `Echo: <message>`, the
//! same shape as server-everything's `echo` tool. Notifications and responses get no answer.
//! The message is copied as raw JSON (its string literal is spliced after `Echo: `), so a call
//! costs one small parse and one small write: in a benchmark, the proxy is what is measured.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// The server name in `initialize` results.
pub const SERVER_NAME: &str = "smcp-bench-echo";

/// The protocol version answered when the client sends none.
pub const DEFAULT_PROTOCOL_VERSION: &str = "2025-06-18";

#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct InitializeParams<'a> {
    #[serde(borrow, default, rename = "protocolVersion")]
    protocol_version: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct CallParams<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    arguments: Option<EchoArguments<'a>>,
}

#[derive(Deserialize)]
struct EchoArguments<'a> {
    #[serde(borrow, default)]
    message: Option<&'a RawValue>,
}

/// What one incoming message asks of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A response was appended to the output.
    Answered,
    /// This was `initialize` and a response was appended (an HTTP server starts a session).
    Initialized,
    /// A notification or a response: nothing to answer.
    Nothing,
}

/// Answers one JSON-RPC message, appending the response (without a line end) to `out`.
pub fn answer(message: &[u8], out: &mut Vec<u8>) -> Outcome {
    let incoming: Incoming<'_> = match serde_json::from_slice(message) {
        Ok(incoming) => incoming,
        Err(_) => {
            error(out, None, -32700, "Parse error");
            return Outcome::Answered;
        }
    };
    let (Some(method), Some(id)) = (incoming.method.as_deref(), incoming.id) else {
        return Outcome::Nothing;
    };
    match method {
        "initialize" => {
            let requested = incoming
                .params
                .and_then(|p| serde_json::from_str::<InitializeParams<'_>>(p.get()).ok())
                .and_then(|p| p.protocol_version);
            let version = requested.as_deref().unwrap_or(DEFAULT_PROTOCOL_VERSION);
            head(out, id);
            out.extend_from_slice(br#""result":{"protocolVersion":"#);
            json_string(out, version);
            out.extend_from_slice(br#","capabilities":{"tools":{}},"serverInfo":{"name":""#);
            out.extend_from_slice(SERVER_NAME.as_bytes());
            out.extend_from_slice(br#"","version":"0.1.0"}}}"#);
            Outcome::Initialized
        }
        "ping" => {
            head(out, id);
            out.extend_from_slice(br#""result":{}}"#);
            Outcome::Answered
        }
        "tools/list" => {
            head(out, id);
            out.extend_from_slice(
                br#""result":{"tools":[{"name":"echo","description":"Echoes back the input","inputSchema":{"type":"object","properties":{"message":{"type":"string","description":"Message to echo"}},"required":["message"]}}]}}"#,
            );
            Outcome::Answered
        }
        "tools/call" => {
            call(out, id, incoming.params);
            Outcome::Answered
        }
        _ => {
            error(out, Some(id), -32601, "Method not found");
            Outcome::Answered
        }
    }
}

/// `tools/call`: only `echo` with a string `message` exists.
fn call(out: &mut Vec<u8>, id: &RawValue, params: Option<&RawValue>) {
    let params = params.and_then(|p| serde_json::from_str::<CallParams<'_>>(p.get()).ok());
    let Some(params) = params else {
        error(out, Some(id), -32602, "Invalid params");
        return;
    };
    if params.name != "echo" {
        error(out, Some(id), -32602, "Unknown tool");
        return;
    }
    let message = params.arguments.and_then(|a| a.message).map(RawValue::get);
    // A JSON string literal: `"Echo: ` followed by the literal without its opening quote is
    // again a valid literal, so the message is never decoded or re-escaped.
    let Some(literal) = message.filter(|m| m.starts_with('"')) else {
        error(out, Some(id), -32602, "message must be a string");
        return;
    };
    head(out, id);
    out.extend_from_slice(br#""result":{"content":[{"type":"text","text":"Echo: "#);
    out.extend_from_slice(&literal.as_bytes()[1..]);
    out.extend_from_slice(b"}]}}");
}

/// `{"jsonrpc":"2.0","id":<id>,`
fn head(out: &mut Vec<u8>, id: &RawValue) {
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(id.get().as_bytes());
    out.push(b',');
}

fn error(out: &mut Vec<u8>, id: Option<&RawValue>, code: i64, message: &str) {
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(id.map_or("null", RawValue::get).as_bytes());
    out.extend_from_slice(format!(r#","error":{{"code":{code},"message":"#).as_bytes());
    json_string(out, message);
    out.extend_from_slice(b"}}");
}

fn json_string(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::{Outcome, answer};

    fn reply(msg: &str) -> (Outcome, serde_json::Value) {
        let mut out = Vec::new();
        let outcome = answer(msg.as_bytes(), &mut out);
        let value = if out.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&out).unwrap()
        };
        (outcome, value)
    }

    #[test]
    fn initialize_echoes_the_protocol_version() {
        let (outcome, v) = reply(
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
        );
        assert_eq!(outcome, Outcome::Initialized);
        assert_eq!(v["id"], 1);
        assert_eq!(v["result"]["protocolVersion"], "2025-11-25");
        assert!(v["result"]["capabilities"]["tools"].is_object());
    }

    #[test]
    fn echo_keeps_escapes_and_string_ids() {
        let (outcome, v) = reply(
            r#"{"jsonrpc":"2.0","id":"a-7","method":"tools/call","params":{"name":"echo","arguments":{"message":"he said \"hi\"\n"}}}"#,
        );
        assert_eq!(outcome, Outcome::Answered);
        assert_eq!(v["id"], "a-7");
        assert_eq!(v["result"]["content"][0]["text"], "Echo: he said \"hi\"\n");
    }

    #[test]
    fn notifications_get_nothing_and_unknown_methods_an_error() {
        let (outcome, v) = reply(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        assert_eq!(outcome, Outcome::Nothing);
        assert!(v.is_null());
        let (_, v) = reply(r#"{"jsonrpc":"2.0","id":3,"method":"resources/list"}"#);
        assert_eq!(v["error"]["code"], -32601);
        let (_, v) =
            reply(r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"nope"}}"#);
        assert_eq!(v["error"]["code"], -32602);
        let (_, v) = reply("not json");
        assert_eq!(v["error"]["code"], -32700);
        let (_, v) = reply(r#"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#);
        assert_eq!(v["result"]["tools"][0]["name"], "echo");
    }
}
