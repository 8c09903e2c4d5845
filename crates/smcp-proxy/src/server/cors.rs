//! CORS for browser-based MCP clients (the MCP Inspector, web apps).
//!
//! A browser sends a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`)
//! before any request carrying `Authorization` or `Mcp-Session-Id`, and never puts
//! credentials on it. So smcp answers preflights itself, before auth: 204 with the methods and
//! headers MCP uses when the `Origin` passes the origin policy (`origin`), 403 otherwise.
//! Preflights never reach a backend.
//!
//! Actual responses to an allowed `Origin` get `Access-Control-Allow-Origin: <origin>`,
//! `Vary: Origin` and `Access-Control-Expose-Headers: mcp-session-id, www-authenticate` (a
//! browser client must read the session id and, on a 401, the challenge that leads it to the
//! protected-resource metadata). An HTTP backend's own CORS headers win: smcp only fills in
//! those the backend did not set, and only adds `Origin` to a `Vary` that lacks it. No
//! `Access-Control-Allow-Credentials`: MCP clients send bearer tokens, not cookies.
//!
//! Applied to backend routes and to the `/.well-known/` documents smcp serves; requests
//! without `Origin` (every non-browser client) get no CORS headers.

use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD,
    HeaderName, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use smcp_transport::body::{self, Body};

/// Methods of the MCP transports (Streamable HTTP and legacy SSE).
const ALLOW_METHODS: &str = "GET, POST, DELETE, OPTIONS";
/// Request headers MCP clients send.
const ALLOW_HEADERS: &str = "authorization, content-type, accept, mcp-session-id, \
                             mcp-protocol-version, mcp-method, mcp-name, last-event-id";
/// Response headers a browser client must be able to read.
const EXPOSE_HEADERS: &str = "mcp-session-id, www-authenticate";
/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE: &str = "600";

/// Whether `request` is a CORS preflight: `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`.
pub(crate) fn is_preflight<B>(request: &Request<B>) -> bool {
    request.method() == Method::OPTIONS
        && request.headers().contains_key(ORIGIN)
        && request
            .headers()
            .contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

/// The 204 answer to a preflight from the allowed `origin`.
pub(crate) fn preflight(origin: &HeaderValue) -> Response<Body> {
    let mut response = Response::new(body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(VARY, HeaderValue::from_static("Origin"));
    headers.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOW_METHODS),
    );
    headers.insert(
        ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
    response
}

/// Adds the CORS headers of an actual response to the allowed `origin`, keeping any the
/// response (a backend) already carries.
pub(crate) fn decorate(response: &mut Response<Body>, origin: &HeaderValue) {
    let headers = response.headers_mut();
    set_if_absent(headers, ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    set_if_absent(
        headers,
        ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
    let varies = headers.get_all(VARY).iter().any(|value| {
        value.to_str().is_ok_and(|value| {
            value
                .split(',')
                .map(str::trim)
                .any(|name| name == "*" || name.eq_ignore_ascii_case("origin"))
        })
    });
    if !varies {
        headers.append(VARY, HeaderValue::from_static("Origin"));
    }
}

fn set_if_absent(headers: &mut HeaderMap, name: HeaderName, value: HeaderValue) {
    headers.entry(name).or_insert(value);
}

#[cfg(test)]
mod tests {
    use http::{HeaderValue, Method, Request, Response, StatusCode};
    use smcp_transport::body;

    use super::{decorate, is_preflight, preflight};
    use crate::server::origin::{OriginPolicy, OriginVerdict};

    fn allowed_origin(policy: &OriginPolicy, headers: &http::HeaderMap) -> Option<HeaderValue> {
        policy.judge(headers).allowed().cloned()
    }

    fn request(method: Method, headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::builder().method(method).uri("/v1/x");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn preflights_are_options_with_origin_and_request_method() {
        let origin = ("origin", "http://localhost:6274");
        let method = ("access-control-request-method", "POST");
        assert!(is_preflight(&request(Method::OPTIONS, &[origin, method])));
        assert!(!is_preflight(&request(Method::OPTIONS, &[origin])));
        assert!(!is_preflight(&request(Method::OPTIONS, &[method])));
        assert!(!is_preflight(&request(Method::POST, &[origin, method])));
    }

    #[test]
    fn only_allowed_origins_are_echoed() {
        let policy = OriginPolicy::new(&["https://app.example.com".to_owned()]);
        let headers = |origin: &str| {
            request(Method::GET, &[("origin", origin)])
                .headers()
                .clone()
        };
        assert_eq!(
            allowed_origin(&policy, &headers("https://app.example.com")).unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            allowed_origin(&policy, &headers("http://127.0.0.1:6274")).unwrap(),
            "http://127.0.0.1:6274"
        );
        assert!(allowed_origin(&policy, &headers("https://evil.example.com")).is_none());
        assert!(allowed_origin(&policy, &http::HeaderMap::new()).is_none());
        assert_eq!(
            policy.judge(&headers("https://evil.example.com")),
            OriginVerdict::Refused
        );
        assert_eq!(policy.judge(&http::HeaderMap::new()), OriginVerdict::Absent);
    }

    #[test]
    fn preflight_answer() {
        let response = preflight(&HeaderValue::from_static("http://localhost:6274"));
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let h = response.headers();
        assert_eq!(h["access-control-allow-origin"], "http://localhost:6274");
        assert_eq!(h["vary"], "Origin");
        assert_eq!(
            h["access-control-allow-methods"],
            "GET, POST, DELETE, OPTIONS"
        );
        let allowed = h["access-control-allow-headers"].to_str().unwrap();
        for name in [
            "authorization",
            "content-type",
            "accept",
            "mcp-session-id",
            "mcp-protocol-version",
            "mcp-method",
            "mcp-name",
            "last-event-id",
        ] {
            assert!(allowed.split(", ").any(|n| n == name), "{name}");
        }
        assert_eq!(h["access-control-max-age"], "600");
    }

    #[test]
    fn actual_responses_get_cors_headers_without_clobbering_the_backends() {
        let origin = HeaderValue::from_static("http://localhost:6274");
        let mut plain = Response::new(body::empty());
        plain
            .headers_mut()
            .insert("vary", "Accept".parse().unwrap());
        decorate(&mut plain, &origin);
        let h = plain.headers();
        assert_eq!(h["access-control-allow-origin"], "http://localhost:6274");
        assert_eq!(
            h["access-control-expose-headers"],
            "mcp-session-id, www-authenticate"
        );
        let vary: Vec<_> = h.get_all("vary").iter().collect();
        assert_eq!(vary, ["Accept", "Origin"]);

        // A backend that set its own CORS headers keeps them; smcp fills in the rest.
        let mut backend = Response::new(body::empty());
        let h = backend.headers_mut();
        h.insert("access-control-allow-origin", "*".parse().unwrap());
        h.insert("vary", "accept-encoding, origin".parse().unwrap());
        decorate(&mut backend, &origin);
        let h = backend.headers();
        assert_eq!(h["access-control-allow-origin"], "*");
        assert_eq!(
            h["access-control-expose-headers"],
            "mcp-session-id, www-authenticate"
        );
        assert_eq!(h.get_all("vary").iter().count(), 1);
    }
}
