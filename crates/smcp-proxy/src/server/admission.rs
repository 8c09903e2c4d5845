//! The shape every request must have before smcp looks at what it asks for.
//!
//! Two checks, both answered with 400 and a JSON-RPC error before routing, for every path
//! (backend routes of either transport, `/.well-known/*`, the operations endpoints):
//!
//! - the path must be in normal form ([`smcp_router::normalise_or_refuse`]): routing and auth
//!   judge the raw path, the backend gets it unchanged, so no backend may be able to read it
//!   as another path (`..\`, `..%2F`, `%2e%2e`, `..;/`, `//` and the rest of that class);
//! - a header smcp decides on must come at most once. Two copies let two readers disagree:
//!   the session binding reads "no single session id" while the backend serves the first,
//!   so a second principal could use the first one's session. Refusing is the only answer
//!   both readers agree with.
//!
//! `Authorization` is not in the list: the auth stage already requires exactly one and
//! answers with the OAuth challenge a client expects (401 `invalid_token`); on unprotected
//! backends it is removed before forwarding. List-valued headers smcp reads as lists
//! (`Accept`, `Vary`) may repeat.

use http::{HeaderMap, HeaderName, Request, Response, header};
use smcp_router::PathRefusal;
use smcp_transport::body::Body;
use smcp_transport::reply::ProxyError;

use super::reply;

/// Headers smcp reads one value of (for routing, admission, auth, session binding, CORS or
/// the stdio transport), with the spelling used in error messages.
const SINGLE_HEADERS: [(HeaderName, &str); 10] = [
    (HeaderName::from_static("mcp-session-id"), "Mcp-Session-Id"),
    (
        HeaderName::from_static("mcp-protocol-version"),
        "MCP-Protocol-Version",
    ),
    (header::ORIGIN, "Origin"),
    (header::HOST, "Host"),
    (HeaderName::from_static("mcp-method"), "Mcp-Method"),
    (HeaderName::from_static("mcp-name"), "Mcp-Name"),
    (HeaderName::from_static("last-event-id"), "Last-Event-ID"),
    (header::CONTENT_TYPE, "Content-Type"),
    (header::CONTENT_LENGTH, "Content-Length"),
    (
        header::ACCESS_CONTROL_REQUEST_METHOD,
        "Access-Control-Request-Method",
    ),
];

/// Why a request was refused before routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The path is not in normal form.
    Path(PathRefusal),
    /// A header of [`SINGLE_HEADERS`] came more than once (its display name).
    Doubled(&'static str),
}

impl Refused {
    /// The `reason` label of `smcp_rejected_requests_total`.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Refused::Path(_) => "path_not_normal",
            Refused::Doubled(_) => "doubled_header",
        }
    }

    /// The 400 to send.
    pub(crate) fn response(self) -> Response<Body> {
        let message = match self {
            Refused::Path(refusal) => refusal.to_string(),
            Refused::Doubled(name) => format!("send at most one {name} header"),
        };
        reply::error(&ProxyError::Malformed(message.into()))
    }
}

/// Checks the path and the single-valued headers of `request`; logs a refusal.
pub(crate) fn check<B>(request: &Request<B>) -> Result<(), Refused> {
    let path = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.uri().path(), |pq| pq.as_str());
    if let Err(refusal) = smcp_router::normalise_or_refuse(path) {
        // The path itself is in the access log line; the rule broken is said here.
        tracing::info!(
            rule = refusal.reason(),
            "refused a request path not in normal form"
        );
        return Err(Refused::Path(refusal));
    }
    if let Some(name) = doubled(request.headers()) {
        tracing::info!(header = name, "refused a request with a doubled header");
        return Err(Refused::Doubled(name));
    }
    Ok(())
}

/// The display name of the first header of [`SINGLE_HEADERS`] present more than once.
fn doubled(headers: &HeaderMap) -> Option<&'static str> {
    // Most requests carry no header twice: one pass over the map is cheaper than a lookup
    // per name.
    if headers.keys_len() == headers.len() {
        return None;
    }
    SINGLE_HEADERS
        .iter()
        .find(|(name, _)| headers.get_all(name).iter().nth(1).is_some())
        .map(|(_, display)| *display)
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue, Request};
    use smcp_router::PathRefusal;

    use super::{Refused, SINGLE_HEADERS, check, doubled};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn each_single_header_doubled_is_found() {
        for (name, display) in &SINGLE_HEADERS {
            let mut map = headers(&[("accept", "a"), ("accept", "b")]);
            map.append(name, HeaderValue::from_static("1"));
            assert_eq!(doubled(&map), None, "{display} once");
            map.append(name, HeaderValue::from_static("1"));
            assert_eq!(doubled(&map), Some(*display));
        }
    }

    #[test]
    fn repeated_list_headers_and_unknown_ones_pass() {
        let map = headers(&[
            ("accept", "application/json"),
            ("accept", "text/event-stream"),
            ("x-custom", "1"),
            ("x-custom", "2"),
            ("mcp-session-id", "s"),
        ]);
        assert_eq!(doubled(&map), None);
    }

    #[test]
    fn check_refuses_paths_before_headers() {
        let request = Request::get("/v1/a/..%2Fb")
            .header("mcp-session-id", "a")
            .header("mcp-session-id", "b")
            .body(())
            .unwrap();
        assert_eq!(
            check(&request),
            Err(Refused::Path(PathRefusal::EncodedDelimiter))
        );
        let request = Request::get("/v1/a?x=..%2F")
            .header("mcp-session-id", "a")
            .header("mcp-session-id", "b")
            .body(())
            .unwrap();
        assert_eq!(check(&request), Err(Refused::Doubled("Mcp-Session-Id")));
        let response = Refused::Doubled("Mcp-Session-Id").response();
        assert_eq!(response.status(), 400);
        let request = Request::get("/v1/a/mcp?x=1").body(()).unwrap();
        assert_eq!(check(&request), Ok(()));
    }
}
