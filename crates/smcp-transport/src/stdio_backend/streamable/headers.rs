//! The request headers the Streamable HTTP transport checks: `Accept` and
//! `MCP-Protocol-Version`.

use http::HeaderMap;
use http::header::ACCEPT;

/// The `MCP-Protocol-Version` header.
pub(crate) const PROTOCOL_VERSION: &str = "mcp-protocol-version";

/// The protocol versions with sessions that this transport serves.
pub(crate) const SUPPORTED_VERSIONS: [&str; 3] = ["2025-03-26", "2025-06-18", "2025-11-25"];

/// What the spec says to assume when a client sends no `MCP-Protocol-Version`.
const DEFAULT_VERSION: &str = "2025-03-26";

/// The media types a response can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Media {
    /// `application/json`.
    Json,
    /// `text/event-stream`.
    EventStream,
}

/// True when the request's `Accept` header (all of them together) admits `media`, or when there
/// is no `Accept` header at all. Media ranges (`*/*`, `text/*`) count; `q=0` excludes.
pub(crate) fn accepts(headers: &HeaderMap, media: Media) -> bool {
    let mut present = false;
    for value in headers.get_all(ACCEPT) {
        present = true;
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let mut parts = range.split(';');
            let ty = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if !refused && matches(&ty, media) {
                return true;
            }
        }
    }
    !present
}

/// Whether one media range covers `media`.
fn matches(range: &str, media: Media) -> bool {
    let (ty, sub) = match media {
        Media::Json => ("application", "json"),
        Media::EventStream => ("text", "event-stream"),
    };
    match range.split_once('/') {
        Some(("*", "*")) => true,
        Some((t, "*")) => t == ty,
        Some((t, s)) => t == ty && s == sub,
        None => false,
    }
}

/// The request's protocol version: `Ok` with the version (the default when absent), or `Err`
/// with the offending value when it is not one this transport serves.
pub(crate) fn protocol_version(headers: &HeaderMap) -> Result<&'static str, String> {
    let Some(value) = headers.get(PROTOCOL_VERSION) else {
        return Ok(DEFAULT_VERSION);
    };
    let text = value.to_str().unwrap_or_default().trim();
    SUPPORTED_VERSIONS
        .iter()
        .find(|v| **v == text)
        .copied()
        .ok_or_else(|| String::from_utf8_lossy(value.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with_accept(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(ACCEPT, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn accept_rules() {
        let both = with_accept(&["application/json, text/event-stream"]);
        assert!(accepts(&both, Media::Json) && accepts(&both, Media::EventStream));
        let none = HeaderMap::new();
        assert!(accepts(&none, Media::Json) && accepts(&none, Media::EventStream));
        let any = with_accept(&["*/*"]);
        assert!(accepts(&any, Media::EventStream));
        let text = with_accept(&["text/*;q=0.5"]);
        assert!(accepts(&text, Media::EventStream) && !accepts(&text, Media::Json));
        let html = with_accept(&["text/html"]);
        assert!(!accepts(&html, Media::Json) && !accepts(&html, Media::EventStream));
        let refused = with_accept(&["application/json;q=0", "TEXT/EVENT-STREAM"]);
        assert!(!accepts(&refused, Media::Json) && accepts(&refused, Media::EventStream));
    }

    #[test]
    fn protocol_versions() {
        let mut h = HeaderMap::new();
        assert_eq!(protocol_version(&h), Ok("2025-03-26"));
        h.insert(PROTOCOL_VERSION, HeaderValue::from_static("2025-11-25"));
        assert_eq!(protocol_version(&h), Ok("2025-11-25"));
        h.insert(PROTOCOL_VERSION, HeaderValue::from_static("2026-07-28"));
        assert_eq!(protocol_version(&h), Err("2026-07-28".to_owned()));
    }
}
