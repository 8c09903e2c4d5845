//! Scope lists (RFC 6749 §3.3): reading a space-separated `scope` value someone else sent, and
//! the union a scope step-up asks the IdP for.
//!
//! Order is kept (the configured scopes first, then the new ones, as the operator would write
//! them) and duplicates are dropped, so the `scope` parameter of a token request stays stable
//! and short however often a step-up happens.

/// Most scopes read from one `scope` value. A resource that asks for more is not asking for
/// anything an IdP would grant in one token.
pub const MAX_SCOPES: usize = 64;

/// Longest scope-token read (IdP scopes are short names or URIs).
const MAX_SCOPE_LEN: usize = 256;

/// The scopes of a space-separated `scope` value, without duplicates, in order; `None` when a
/// scope has a character RFC 6749 §3.3 does not allow (space, `"`, `\`, controls, non-ASCII),
/// is longer than 256 bytes, or there are more than [`MAX_SCOPES`]. An empty value is an
/// empty list.
pub fn parse_scope(value: &str) -> Option<Vec<String>> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in value.split(' ').filter(|s| !s.is_empty()) {
        if scope.len() > MAX_SCOPE_LEN || !scope.bytes().all(is_scope_char) {
            return None;
        }
        if !scopes.iter().any(|s| s == scope) {
            if scopes.len() == MAX_SCOPES {
                return None;
            }
            scopes.push(scope.to_owned());
        }
    }
    Some(scopes)
}

/// `%x21 / %x23-5B / %x5D-7E`.
fn is_scope_char(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e)
}

/// `base` followed by the scopes of `extra` it lacks; duplicates dropped, order kept.
pub fn scope_union(base: &[String], extra: &[String]) -> Vec<String> {
    let mut union: Vec<String> = Vec::with_capacity(base.len() + extra.len());
    for scope in base.iter().chain(extra) {
        if !union.contains(scope) {
            union.push(scope.clone());
        }
    }
    union
}

/// Whether every scope of `wanted` is in `have`.
pub(crate) fn covers(have: &[String], wanted: &[String]) -> bool {
    wanted.iter().all(|scope| have.contains(scope))
}

#[cfg(test)]
mod tests {
    use super::{MAX_SCOPES, covers, parse_scope, scope_union};

    fn list(scopes: &[&str]) -> Vec<String> {
        scopes.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn union_keeps_order_and_drops_duplicates() {
        assert_eq!(
            scope_union(&list(&["mcp:tools"]), &list(&["mcp:admin"])),
            list(&["mcp:tools", "mcp:admin"])
        );
        assert_eq!(
            scope_union(
                &list(&["a", "b", "a"]),
                &list(&["c", "b", "c", "urn:x:y/z"])
            ),
            list(&["a", "b", "c", "urn:x:y/z"])
        );
        assert_eq!(scope_union(&[], &list(&["x"])), list(&["x"]));
        assert_eq!(scope_union(&list(&["x"]), &[]), list(&["x"]));
        assert!(scope_union(&[], &[]).is_empty());
        // Scopes are case-sensitive (RFC 6749 §3.3).
        assert_eq!(
            scope_union(&list(&["Admin"]), &list(&["admin"])),
            list(&["Admin", "admin"])
        );
    }

    #[test]
    fn covering() {
        let have = list(&["mcp:tools", "mcp:admin"]);
        assert!(covers(&have, &list(&["mcp:admin"])));
        assert!(covers(&have, &[]));
        assert!(!covers(&have, &list(&["mcp:admin", "mcp:root"])));
        assert!(!covers(&[], &list(&["mcp:tools"])));
    }

    #[test]
    fn parsing_scope_values() {
        assert_eq!(
            parse_scope("mcp:admin  mcp:tools mcp:admin"),
            Some(list(&["mcp:admin", "mcp:tools"]))
        );
        assert_eq!(parse_scope(""), Some(Vec::new()));
        assert_eq!(parse_scope("   "), Some(Vec::new()));
        assert_eq!(
            parse_scope("https://graph.example/.default !#$"),
            Some(list(&["https://graph.example/.default", "!#$"]))
        );
        for bad in ["a\"b", "a\\b", "a\tb", "ü", "a\u{7f}", "a\nb"] {
            assert_eq!(parse_scope(bad), None, "{bad:?}");
        }
        assert_eq!(parse_scope(&"x".repeat(257)), None);
        assert!(parse_scope(&"x".repeat(256)).is_some());
        let many: Vec<String> = (0..=MAX_SCOPES).map(|i| format!("s{i}")).collect();
        assert_eq!(parse_scope(&many.join(" ")), None);
        assert_eq!(
            parse_scope(&many[..MAX_SCOPES].join(" ")).map(|s| s.len()),
            Some(MAX_SCOPES)
        );
        // Repeats do not count against the bound.
        assert_eq!(
            parse_scope(&vec!["same"; 1000].join(" ")),
            Some(list(&["same"]))
        );
    }
}
