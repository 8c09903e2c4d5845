//! Joining the routed request path onto the backend URL's own path.
//!
//! The router hands over the path after any prefix stripping, always starting with `/`. The
//! backend URL may have a base path of its own (`http://h:3001/mcp`). A routed path of exactly
//! `/` means "the backend's endpoint itself" and maps to the base path unchanged, so a client
//! POSTing to the bare public prefix reaches `/mcp`, not `/mcp/` (which many MCP servers would
//! answer with 404). Any other path is appended to the base path.

/// Joins `routed` (a path with an optional `?query`, as routed) onto the backend URL's
/// `base_path` and `base_query`, giving the path-and-query to request upstream.
///
/// Queries are concatenated with `&`, the backend URL's own first, so a URL such as
/// `http://h/mcp?tenant=a` keeps its parameter on every request.
pub(super) fn join(base_path: &str, base_query: Option<&str>, routed: &str) -> String {
    let (path, query) = match routed.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (routed, None),
    };
    let mut out = String::with_capacity(base_path.len() + routed.len() + 1);
    if path.is_empty() || path == "/" {
        out.push_str(base_path);
    } else {
        out.push_str(base_path.trim_end_matches('/'));
        if !path.starts_with('/') {
            out.push('/');
        }
        out.push_str(path);
    }
    if out.is_empty() {
        out.push('/');
    }
    let queries = [base_query, query]
        .into_iter()
        .flatten()
        .filter(|q| !q.is_empty());
    for (i, q) in queries.enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::join;

    #[test]
    fn join_table() {
        let cases: &[(&str, Option<&str>, &str, &str)] = &[
            // (base path, base query, routed path and query, expected)
            ("/", None, "/", "/"),
            ("/", None, "/mcp", "/mcp"),
            (
                "/",
                None,
                "/message?sessionId=abc",
                "/message?sessionId=abc",
            ),
            ("/mcp", None, "/", "/mcp"),
            ("/mcp", None, "/?x=1", "/mcp?x=1"),
            ("/mcp/", None, "/", "/mcp/"),
            ("/mcp", None, "/sse", "/mcp/sse"),
            ("/mcp/", None, "/sse", "/mcp/sse"),
            ("/mcp", None, "/a/b/", "/mcp/a/b/"),
            ("/api/v1", None, "/mcp?x=1&y=2", "/api/v1/mcp?x=1&y=2"),
            ("/mcp", None, "", "/mcp"),
            ("", None, "", "/"),
            ("", None, "/x", "/x"),
            ("/mcp", None, "/?", "/mcp"),
            ("/mcp", Some("tenant=a"), "/", "/mcp?tenant=a"),
            ("/mcp", Some("tenant=a"), "/x?y=1", "/mcp/x?tenant=a&y=1"),
            ("/mcp", Some(""), "/x?y=1", "/mcp/x?y=1"),
            ("/mcp", None, "/%20a?q=%2F", "/mcp/%20a?q=%2F"),
        ];
        for &(base, base_query, routed, expected) in cases {
            assert_eq!(
                join(base, base_query, routed),
                expected,
                "join({base:?}, {base_query:?}, {routed:?})"
            );
        }
    }
}
