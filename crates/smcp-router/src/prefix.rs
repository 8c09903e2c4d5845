//! Validation and normalisation of one configured prefix.
//!
//! A normalised prefix is either the root `"/"` or `"/seg(/seg)*"` with every segment
//! non-empty and neither `.` nor `..`. That shape is what lets lookup treat "ends at a `/` or
//! at the end of the path" as "ends at a segment boundary".

use std::fmt;

use crate::error::RouteTableError;
use crate::normal::{PathRefusal, normalise_or_refuse};

/// Why a configured prefix is refused, without its position in a list: the one rule both
/// [`RouteTable::new`](crate::RouteTable::new) and the configuration layer apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrefixRefusal {
    /// Empty or not starting with `/`.
    NotAbsolute,
    /// Contains `?` or `#`.
    QueryOrFragment,
    /// Contains whitespace or a control character.
    InvalidChar,
    /// Has an empty segment (`//`) other than the one trailing slash.
    EmptySegment,
    /// Has a `.` or `..` segment.
    DotSegment,
    /// Not in the request-path normal form of [`normalise_or_refuse`]: requests that could
    /// match it are answered 400 before routing, so the route could never be used.
    NotNormalForm(PathRefusal),
}

impl fmt::Display for PrefixRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrefixRefusal::NotAbsolute => f.write_str("must start with \"/\""),
            PrefixRefusal::QueryOrFragment => f.write_str("must not contain \"?\" or \"#\""),
            PrefixRefusal::InvalidChar => {
                f.write_str("must not contain whitespace or control characters")
            }
            PrefixRefusal::EmptySegment => f.write_str("must not contain an empty segment \"//\""),
            PrefixRefusal::DotSegment => f.write_str("must not contain \".\" or \"..\" segments"),
            PrefixRefusal::NotNormalForm(why) => write!(
                f,
                "is not in request-path normal form, so no request could match it: {why}"
            ),
        }
    }
}

impl std::error::Error for PrefixRefusal {}

/// Checks one route prefix and returns its normalised form, a slice of the input: the prefix
/// without its one trailing slash, or `"/"` for the root. This is the only copy of the rule.
///
/// ```
/// use smcp_router::{PrefixRefusal, normalize_prefix};
///
/// assert_eq!(normalize_prefix("/v1/opus/"), Ok("/v1/opus"));
/// assert!(matches!(normalize_prefix("/a;b"), Err(PrefixRefusal::NotNormalForm(_))));
/// ```
pub fn normalize_prefix(prefix: &str) -> Result<&str, PrefixRefusal> {
    if !prefix.starts_with('/') {
        return Err(PrefixRefusal::NotAbsolute);
    }
    if prefix.contains(['?', '#']) {
        return Err(PrefixRefusal::QueryOrFragment);
    }
    if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(PrefixRefusal::InvalidChar);
    }
    if prefix == "/" {
        return Ok(prefix);
    }
    // Only one trailing slash is forgiven: "/a//" still has an empty segment, and "//" is not
    // a spelling of the root.
    let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
    for segment in trimmed[1..].split('/') {
        match segment {
            "" => return Err(PrefixRefusal::EmptySegment),
            "." | ".." => return Err(PrefixRefusal::DotSegment),
            _ => {}
        }
    }
    normalise_or_refuse(trimmed).map_err(PrefixRefusal::NotNormalForm)?;
    Ok(trimmed)
}

/// [`normalize_prefix`] for entry `index` of the input list of a route table.
pub(crate) fn normalize(index: usize, prefix: &str) -> Result<&str, RouteTableError> {
    normalize_prefix(prefix).map_err(|refusal| {
        let prefix = prefix.to_owned();
        match refusal {
            PrefixRefusal::NotAbsolute => RouteTableError::NotAbsolute { index, prefix },
            PrefixRefusal::QueryOrFragment => RouteTableError::QueryOrFragment { index, prefix },
            PrefixRefusal::InvalidChar => RouteTableError::InvalidChar { index, prefix },
            PrefixRefusal::EmptySegment => RouteTableError::EmptySegment { index, prefix },
            PrefixRefusal::DotSegment => RouteTableError::DotSegment { index, prefix },
            PrefixRefusal::NotNormalForm(refusal) => RouteTableError::NotNormalForm {
                index,
                prefix,
                refusal,
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::normalize;
    use crate::error::RouteTableError;
    use crate::normal::PathRefusal;

    #[test]
    fn accepts_and_normalises() {
        let cases = [
            ("/", "/"),
            ("/a", "/a"),
            ("/a/", "/a"),
            ("/v1/opus", "/v1/opus"),
            ("/v1/opus/", "/v1/opus"),
            ("/a.b/..c/.d", "/a.b/..c/.d"),
            ("/caf%C3%A9", "/caf%C3%A9"),
            ("/a%20b/", "/a%20b"),
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
        let not_normal = |prefix: &str, refusal| RouteTableError::NotNormalForm {
            index: 3,
            prefix: prefix.to_owned(),
            refusal,
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
            (
                "/%2e%2e",
                not_normal("/%2e%2e", PathRefusal::EncodedUnreserved),
            ),
            (
                "/caf\u{e9}",
                not_normal("/caf\u{e9}", PathRefusal::Unprintable),
            ),
            ("/a;b", not_normal("/a;b", PathRefusal::Semicolon)),
            ("/a\\b", not_normal("/a\\b", PathRefusal::Backslash)),
            (
                "/a%2Fb/",
                not_normal("/a%2Fb/", PathRefusal::EncodedDelimiter),
            ),
            ("/a%zz", not_normal("/a%zz", PathRefusal::BadEscape)),
            ("/a%C0%AE", not_normal("/a%C0%AE", PathRefusal::InvalidUtf8)),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize(3, input), Err(expected), "input {input:?}");
        }
    }
}
