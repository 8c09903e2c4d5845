//! The 2026-07-28 request headers that mirror the body: `Mcp-Method` (every request) and
//! `Mcp-Name` (`params.name` of `tools/call` and `prompts/get`, `params.uri` of
//! `resources/read`), how their values are written ([`encode`], [`decode`]) and the rule an
//! intermediary must apply ([`check`]): a header that disagrees with the body is refused, so
//! that whatever routes or decides by the header (a balancer, a WAF, a policy) and whatever
//! acts on the body (the server) see the same call.
//!
//! What this module does not do: it does not add or change headers on forwarded requests (the
//! bytes and headers a client sent pass unchanged), and it does not judge `Mcp-Param-*`
//! headers (whoever reads the tool's schema validates those).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName};
use serde::Deserialize;

use crate::jsonrpc::Message;
use crate::request_body::{Envelope, RequestBody};

/// `Mcp-Method`.
pub const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
/// `Mcp-Name`.
pub const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");
/// The first protocol revision whose requests must carry these headers.
pub const FIRST_STATELESS_VERSION: &str = "2026-07-28";

/// Why a request's headers and body disagree; the message is safe to send back (it quotes no
/// value the client did not send in the same request, and cuts long ones).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderMismatch {
    /// A header names something other than the body.
    #[error("the {header} header does not match the request body")]
    Differs {
        /// `Mcp-Method` or `Mcp-Name`.
        header: &'static str,
    },
    /// A 2026-07-28 request lacks a header its method requires.
    #[error("a {FIRST_STATELESS_VERSION} request must carry {header}")]
    Missing {
        /// `Mcp-Method` or `Mcp-Name`.
        header: &'static str,
    },
    /// A header's value cannot be read (not text, or a malformed `=?base64?...?=`).
    #[error("the {header} header is not a valid value")]
    Unreadable {
        /// `Mcp-Method` or `Mcp-Name`.
        header: &'static str,
    },
    /// A batch (which has no single method) came with `Mcp-Method` or `Mcp-Name`.
    #[error("a batch cannot carry {header}")]
    Batch {
        /// `Mcp-Method` or `Mcp-Name`.
        header: &'static str,
    },
}

/// Checks `headers` against `body`'s JSON-RPC envelope:
///
/// - `Mcp-Method`, when present, equals the message's `method` (a response has none);
/// - `Mcp-Name`, when present, decodes to the message's `params.name` (`tools/call`,
///   `prompts/get`) or `params.uri` (`resources/read`), and is absent for other methods;
/// - a request whose `MCP-Protocol-Version` is 2026-07-28 or later carries `Mcp-Method`, and
///   `Mcp-Name` for the three named methods;
/// - a batch carries neither. A body that is not JSON-RPC is left to the server to refuse.
///
/// The body is parsed only when the rule has something to check: a request with neither
/// header and an older protocol version (nearly all of today's traffic) costs three header
/// lookups, and an HTTP backend's body stays unparsed bytes.
pub fn check(headers: &HeaderMap, body: &RequestBody) -> Result<(), HeaderMismatch> {
    let method_header = headers.get(MCP_METHOD);
    let name_header = headers.get(MCP_NAME);
    let stateless = headers
        .get("mcp-protocol-version")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|version| is_stateless(version.trim()));
    if method_header.is_none() && name_header.is_none() && !stateless {
        return Ok(());
    }
    let message = match body.envelope() {
        Envelope::One(message) => message,
        Envelope::Batch(_) => {
            return match (method_header, name_header) {
                (Some(_), _) => Err(HeaderMismatch::Batch {
                    header: "Mcp-Method",
                }),
                (None, Some(_)) => Err(HeaderMismatch::Batch { header: "Mcp-Name" }),
                (None, None) => Ok(()),
            };
        }
        Envelope::Invalid(_) => return Ok(()),
    };
    let method = message.method();
    match (method_header, method) {
        (Some(value), _) => {
            let value = value.to_str().map_err(|_| HeaderMismatch::Unreadable {
                header: "Mcp-Method",
            })?;
            if Some(value.trim()) != method {
                return Err(HeaderMismatch::Differs {
                    header: "Mcp-Method",
                });
            }
        }
        (None, Some(_)) if stateless => {
            return Err(HeaderMismatch::Missing {
                header: "Mcp-Method",
            });
        }
        (None, _) => {}
    }
    let named = method.and_then(named_param);
    match (name_header, named) {
        (Some(value), Some(param)) => {
            let value = decode(value.as_bytes())
                .ok_or(HeaderMismatch::Unreadable { header: "Mcp-Name" })?;
            if name_in(message, param).as_deref() != Some(value.as_str()) {
                return Err(HeaderMismatch::Differs { header: "Mcp-Name" });
            }
        }
        (Some(_), None) => return Err(HeaderMismatch::Differs { header: "Mcp-Name" }),
        (None, Some(_)) if stateless && message.is_request() => {
            return Err(HeaderMismatch::Missing { header: "Mcp-Name" });
        }
        (None, _) => {}
    }
    Ok(())
}

/// Whether `version` is 2026-07-28 or later (versions are dates: they sort as text).
fn is_stateless(version: &str) -> bool {
    version.len() == FIRST_STATELESS_VERSION.len() && version >= FIRST_STATELESS_VERSION
}

/// Which parameter `Mcp-Name` mirrors for `method`, if it is a named one.
fn named_param(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    }
}

/// `params.<param>` of `message` when it is a string.
fn name_in(message: &Message, param: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Envelope {
        params: Option<serde_json::Map<String, serde_json::Value>>,
    }
    let envelope: Envelope = serde_json::from_slice(message.bytes()).ok()?;
    envelope.params?.remove(param)?.as_str().map(str::to_owned)
}

/// A value as MCP writes it in a header: verbatim when it is printable ASCII without edge
/// whitespace (and does not itself look encoded), else `=?base64?<base64 of the UTF-8>?=`.
pub fn encode(value: &str) -> String {
    let plain = !value.is_empty()
        && value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && value.trim() == value
        && !(value.starts_with("=?base64?") && value.ends_with("?="));
    if plain {
        value.to_owned()
    } else {
        format!("=?base64?{}?=", STANDARD.encode(value.as_bytes()))
    }
}

/// The value a header carries: `=?base64?...?=` decoded (it must be UTF-8), or the text
/// itself with its edge whitespace trimmed. `None` for what is neither.
pub fn decode(value: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(value).ok()?.trim();
    match text
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
    {
        Some(encoded) => String::from_utf8(STANDARD.decode(encoded).ok()?).ok(),
        None => Some(text.to_owned()),
    }
}

#[cfg(test)]
mod tests;
