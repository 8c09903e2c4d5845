//! Route prefixes: their shape (the same rules as `smcp-router`), and their relation to the
//! operations endpoints smcp serves itself.

/// The endpoints smcp answers before routing, besides the metrics path (which is
/// configurable). A prefix entry covers everything below it.
pub(super) const OPS_ENDPOINTS: &[&str] = &["/health", "/ready", "/api/models", "/.well-known"];

/// Checks a route prefix and returns it normalised: without its one trailing slash, or `/`
/// for the root. Mirrors `smcp-router`'s rules so the route table never refuses what
/// validation accepted.
pub(super) fn normalize_path(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("must start with \"/\" (got {path:?})"));
    }
    if path.contains(['?', '#']) {
        return Err(format!("must not contain \"?\" or \"#\" (got {path:?})"));
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "must not contain whitespace or control characters (got {path:?})"
        ));
    }
    if path == "/" {
        return Ok(path.to_owned());
    }
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    for segment in trimmed[1..].split('/') {
        match segment {
            "" => {
                return Err(format!(
                    "must not contain an empty segment \"//\" (got {path:?})"
                ));
            }
            "." | ".." => {
                return Err(format!(
                    "must not contain \".\" or \"..\" segments (got {path:?})"
                ));
            }
            _ => {}
        }
    }
    Ok(trimmed.to_owned())
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
