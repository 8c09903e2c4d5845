//! `Origin` validation for MCP endpoints (DNS-rebinding protection).
//!
//! The MCP transport spec requires servers to validate `Origin`: a web page must not be able to
//! drive an MCP server through a victim's browser. Requests without `Origin` (every non-browser
//! client) pass. A present `Origin` passes when it is a loopback origin (`localhost`,
//! `127.0.0.0/8`, `[::1]`, any scheme and port) or is listed in `server.allowed_origins`
//! (compared as `scheme://host[:port]`, case-insensitively).

use http::HeaderMap;

/// The configured origin policy.
#[derive(Debug, Clone, Default)]
pub(crate) struct OriginPolicy {
    allowed: Vec<String>,
}

impl OriginPolicy {
    /// Builds the policy from `server.allowed_origins`.
    pub(crate) fn new(allowed: &[String]) -> Self {
        Self {
            allowed: allowed
                .iter()
                .map(|origin| origin.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether a request with these headers may reach a backend.
    /// The verdict on a request's `Origin`: decided once per request, then read by every
    /// stage that cares (CORS answers and headers, admission).
    pub(crate) fn judge(&self, headers: &HeaderMap) -> OriginVerdict {
        match headers.get(http::header::ORIGIN) {
            None => OriginVerdict::Absent,
            Some(origin) if self.permits(headers) => OriginVerdict::Allowed(origin.clone()),
            Some(_) => OriginVerdict::Refused,
        }
    }

    pub(crate) fn permits(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(http::header::ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        is_loopback_origin(&origin) || self.allowed.contains(&origin)
    }
}

/// What the origin policy says of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OriginVerdict {
    /// No `Origin` header (not a browser's cross-origin request): allowed, no CORS headers.
    Absent,
    /// An allowed `Origin`, which CORS answers name.
    Allowed(http::HeaderValue),
    /// An `Origin` the policy refuses: 403.
    Refused,
}

impl OriginVerdict {
    /// The origin CORS answers may name, when it is allowed.
    pub(crate) fn allowed(&self) -> Option<&http::HeaderValue> {
        match self {
            OriginVerdict::Allowed(origin) => Some(origin),
            _ => None,
        }
    }
}

fn is_loopback_origin(origin: &str) -> bool {
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    match url.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with_origin(origin: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        headers
    }

    #[test]
    fn origin_table() {
        let policy = OriginPolicy::new(&["https://app.example.com".to_owned()]);
        let cases = [
            ("http://localhost:3000", true),
            ("http://127.0.0.1", true),
            ("http://127.9.9.9:1234", true),
            ("http://[::1]:8080", true),
            ("https://app.example.com", true),
            ("https://APP.example.com/", true),
            ("https://app.example.com:8443", false),
            ("http://app.example.com", false),
            ("https://evil.example.com", false),
            ("http://localhost.evil.com", false),
            ("null", false),
        ];
        for (origin, expected) in cases {
            assert_eq!(policy.permits(&with_origin(origin)), expected, "{origin}");
        }
        assert!(policy.permits(&HeaderMap::new()), "no Origin header passes");
    }
}
