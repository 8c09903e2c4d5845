//! Validation and normalisation of one configured prefix.
//!
//! A normalised prefix is either the root `"/"` or `"/seg(/seg)*"` with every segment
//! non-empty and neither `.` nor `..`. That shape is what lets lookup treat "ends at a `/` or
//! at the end of the path" as "ends at a segment boundary".

use crate::error::RouteTableError;

/// Checks `prefix` (entry `index` of the input list) and returns its normalised form, a slice
/// of the input: the prefix without its one trailing slash, or `"/"` for the root.
pub(crate) fn normalize(index: usize, prefix: &str) -> Result<&str, RouteTableError> {
    let err = |make: fn(usize, String) -> RouteTableError| Err(make(index, prefix.to_owned()));
    if !prefix.starts_with('/') {
        return err(|index, prefix| RouteTableError::NotAbsolute { index, prefix });
    }
    if prefix.contains(['?', '#']) {
        return err(|index, prefix| RouteTableError::QueryOrFragment { index, prefix });
    }
    if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return err(|index, prefix| RouteTableError::InvalidChar { index, prefix });
    }
    if prefix == "/" {
        return Ok(prefix);
    }
    // Only one trailing slash is forgiven: "/a//" still has an empty segment, and "//" is not
    // a spelling of the root.
    let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
    for segment in trimmed[1..].split('/') {
        match segment {
            "" => return err(|index, prefix| RouteTableError::EmptySegment { index, prefix }),
            "." | ".." => {
                return err(|index, prefix| RouteTableError::DotSegment { index, prefix });
            }
            _ => {}
        }
    }
    Ok(trimmed)
}

#[cfg(test)]
mod tests {
    use super::normalize;
    use crate::error::RouteTableError;

    #[test]
    fn accepts_and_normalises() {
        let cases = [
            ("/", "/"),
            ("/a", "/a"),
            ("/a/", "/a"),
            ("/v1/opus", "/v1/opus"),
            ("/v1/opus/", "/v1/opus"),
            ("/a.b/..c/.d", "/a.b/..c/.d"),
            ("/%2e%2e", "/%2e%2e"),
            ("/caf\u{e9}", "/caf\u{e9}"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize(0, input), Ok(expected), "input {input:?}");
        }
    }

    #[test]
    fn rejects_each_kind() {
        let not_absolute = |prefix: &str| RouteTableError::NotAbsolute {
            index: 3,
            prefix: prefix.to_owned(),
        };
        let query = |prefix: &str| RouteTableError::QueryOrFragment {
            index: 3,
            prefix: prefix.to_owned(),
        };
        let invalid = |prefix: &str| RouteTableError::InvalidChar {
            index: 3,
            prefix: prefix.to_owned(),
        };
        let empty = |prefix: &str| RouteTableError::EmptySegment {
            index: 3,
            prefix: prefix.to_owned(),
        };
        let dot = |prefix: &str| RouteTableError::DotSegment {
            index: 3,
            prefix: prefix.to_owned(),
        };
        let cases = [
            ("", not_absolute("")),
            ("a", not_absolute("a")),
            ("v1/opus/", not_absolute("v1/opus/")),
            ("/a?b=1", query("/a?b=1")),
            ("/a#frag", query("/a#frag")),
            ("/?", query("/?")),
            ("/a b", invalid("/a b")),
            ("/a\n", invalid("/a\n")),
            ("/a\t/b", invalid("/a\t/b")),
            ("//", empty("//")),
            ("//a", empty("//a")),
            ("/a//b", empty("/a//b")),
            ("/a//", empty("/a//")),
            ("/.", dot("/.")),
            ("/..", dot("/..")),
            ("/a/./b", dot("/a/./b")),
            ("/a/../b", dot("/a/../b")),
            ("/a/../", dot("/a/../")),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize(3, input), Err(expected), "input {input:?}");
        }
    }
}
