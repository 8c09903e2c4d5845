//! Route prefixes: their shape (`smcp-router`'s rule, called not copied), and their relation to the
//! operations endpoints smcp serves itself.

/// The endpoints smcp answers before routing, besides the metrics path (which is
/// configurable). A prefix entry covers everything below it.
pub(super) const OPS_ENDPOINTS: &[&str] = &["/health", "/ready", "/api/models", "/.well-known"];

/// Checks a route prefix and returns it normalised: without its one trailing slash, or `/`
/// for the root. The rule is `smcp-router`'s (the route table applies the same function), so
/// validation never accepts what the route table would refuse; here only the message gains
/// the offending value.
pub(super) fn normalize_path(path: &str) -> Result<String, String> {
    smcp_router::normalize_prefix(path)
        .map(str::to_owned)
        .map_err(|refusal| format!("{refusal} (got {path:?})"))
}

/// Whether normalised `path` is `base` or lies below it, segment-wise.
pub(super) fn is_under(path: &str, base: &str) -> bool {
    base == "/"
        || path == base
        || path
            .strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::{is_under, normalize_path};

    #[test]
    fn normalises() {
        let cases = [
            ("/", "/"),
            ("/v1/memory", "/v1/memory"),
            ("/v1/memory/", "/v1/memory"),
            ("/a.b/..c", "/a.b/..c"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_path(input).as_deref(), Ok(expected), "{input:?}");
        }
    }

    #[test]
    fn refuses() {
        let cases = [
            ("", "must start with \"/\""),
            ("v1/x", "must start with \"/\""),
            ("/a?b", "\"?\" or \"#\""),
            ("/a#b", "\"?\" or \"#\""),
            ("/a b", "whitespace"),
            ("//", "empty segment"),
            ("/a//b", "empty segment"),
            ("/a/../b", "\"..\""),
            ("/.", "\".\""),
            ("/a;b", "normal form"),
            ("/a\\b", "normal form"),
            ("/%2e%2e", "normal form"),
            ("/a%2Fb", "normal form"),
            ("/caf\u{e9}", "normal form"),
        ];
        for (input, needle) in cases {
            let err = normalize_path(input).unwrap_err();
            assert!(err.contains(needle), "{input:?}: {err}");
        }
    }

    #[test]
    fn under() {
        assert!(is_under("/health", "/health"));
        assert!(is_under("/health/x", "/health"));
        assert!(!is_under("/healthz", "/health"));
        assert!(is_under("/anything", "/"));
        assert!(!is_under("/api", "/api/models"));
    }
}
