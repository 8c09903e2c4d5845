//! The one rule for request paths: only paths already in normal form are routed.
//!
//! Routing matches raw bytes (see [`RouteTable`](crate::RouteTable)), and the backend gets
//! those bytes unchanged. That is only safe if the backend cannot read the path as a
//! *different* path: a WHATWG URL parser (Node's `new URL`, Hono, Next.js, Deno, Bun) turns
//! `\` into `/` and `%2e` into `.` and then resolves `..`; other servers percent-decode first
//! (`..%2F`, `%70rivate`), drop `;params` (`..;/`, `private;x`), collapse `//`, or decode
//! twice (`%252e`). Any of these would let `/public/..\private` pass routing and auth as
//! `/public` and be served as `/private`. Rewriting the path into "what the backend will make of it" would need to know
//! every backend's rules, so smcp refuses instead: [`normalise_or_refuse`] accepts a path
//! only when no such reading can change its segments, and the server answers 400 otherwise.
//!
//! # The rule
//!
//! A request path (the part before `?`; the query is not a path and is not checked) is
//! routed only if all of these hold, else it is refused:
//!
//! 1. every byte is printable ASCII (`!` to `~`) other than `#`: no control characters,
//!    spaces, raw non-ASCII bytes (non-ASCII must be percent-encoded) or fragment;
//! 2. it has no `\` and no `;` (path parameters, which Tomcat-style servers drop);
//! 3. every `%` starts an escape of two hex digits (any case), and no escape encodes
//!    `/`, `\`, `%`, `;`, a control character (`%00`-`%1F`, `%7F`), an unreserved character
//!    (`A`-`Z`, `a`-`z`, `0`-`9`, `-`, `.`, `_`, `~`: RFC 3986 says these are the same
//!    decoded, so `%2e` is `.` and `%70rivate` is `private`), or bytes that are not valid
//!    UTF-8 (`%C0%AE`, an overlong `.`, is refused);
//! 4. no segment is `.` or `..`;
//! 5. no segment is empty, except a trailing one (`/a/` is fine, `/a//b` is not).
//!
//! A path that does not start with `/` (`*`, for `OPTIONS *`) is not judged here: no route
//! matches it.

use std::fmt;

/// Why a path is not in normal form. [`reason`](PathRefusal::reason) is a fixed short name
/// (safe as a log field or metric label); `Display` is a sentence for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRefusal {
    /// A control character, space or raw non-ASCII byte.
    Unprintable,
    /// A `#`, which ends a URL's path (HTTP clients never send a fragment).
    Fragment,
    /// A `\`, which WHATWG parsers read as `/`.
    Backslash,
    /// A `;`, whose path parameters some servers drop before routing.
    Semicolon,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// An escape of `/`, `\`, `%`, `;` or a control character.
    EncodedDelimiter,
    /// An escape of an unreserved character (letters, digits, `-`, `.`, `_`, `~`).
    EncodedUnreserved,
    /// Escapes that do not decode to valid UTF-8 (overlong forms among them).
    InvalidUtf8,
    /// A `.` or `..` segment (also with `;` parameters).
    DotSegment,
    /// An empty segment before the last (`//`).
    EmptySegment,
}

impl PathRefusal {
    /// A fixed short name for logs and metrics.
    pub fn reason(self) -> &'static str {
        match self {
            PathRefusal::Unprintable => "unprintable",
            PathRefusal::Fragment => "fragment",
            PathRefusal::Backslash => "backslash",
            PathRefusal::Semicolon => "semicolon",
            PathRefusal::BadEscape => "bad_escape",
            PathRefusal::EncodedDelimiter => "encoded_delimiter",
            PathRefusal::EncodedUnreserved => "encoded_unreserved",
            PathRefusal::InvalidUtf8 => "invalid_utf8",
            PathRefusal::DotSegment => "dot_segment",
            PathRefusal::EmptySegment => "empty_segment",
        }
    }
}

impl fmt::Display for PathRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathRefusal::Unprintable => {
                "the path may contain only printable ASCII (percent-encode the rest)"
            }
            PathRefusal::Fragment => "the path may not contain '#'",
            PathRefusal::Backslash => "the path may not contain '\\'",
            PathRefusal::Semicolon => "the path may not contain ';'",
            PathRefusal::BadEscape => "the path has a '%' that is not followed by two hex digits",
            PathRefusal::EncodedDelimiter => {
                "the path may not percent-encode '/', '\\', '%', ';' or control characters"
            }
            PathRefusal::EncodedUnreserved => {
                "the path may not percent-encode letters, digits, '-', '.', '_' or '~'"
            }
            PathRefusal::InvalidUtf8 => "the path's percent-escapes are not valid UTF-8",
            PathRefusal::DotSegment => "paths with '.' or '..' segments are not accepted",
            PathRefusal::EmptySegment => "paths with empty segments ('//') are not accepted",
        })
    }
}

impl std::error::Error for PathRefusal {}

/// Checks `path_and_query` against [the rule](self): `Ok` with it unchanged when its path is
/// in normal form (forward it as it is), else why not. Only the part before the first `?` is
/// checked. Linear in the length of the path; never allocates.
///
/// ```
/// use smcp_router::{PathRefusal, normalise_or_refuse};
///
/// assert_eq!(normalise_or_refuse("/v1/public/mcp?x=..%2F"), Ok("/v1/public/mcp?x=..%2F"));
/// assert_eq!(normalise_or_refuse("/v1/public/..\\private"), Err(PathRefusal::Backslash));
/// assert_eq!(normalise_or_refuse("/v1/public/..%2Fprivate"), Err(PathRefusal::EncodedDelimiter));
/// assert_eq!(normalise_or_refuse("/v1/public/%2e%2e/private"), Err(PathRefusal::EncodedUnreserved));
/// assert_eq!(normalise_or_refuse("/v1/public/../private"), Err(PathRefusal::DotSegment));
/// ```
pub fn normalise_or_refuse(path_and_query: &str) -> Result<&str, PathRefusal> {
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(path, _)| path);
    let Some(rest) = path.strip_prefix('/') else {
        return Ok(path_and_query);
    };
    check_bytes(path.as_bytes())?;
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if segment.is_empty() && !last {
            return Err(PathRefusal::EmptySegment);
        }
        if segment == "." || segment == ".." {
            return Err(PathRefusal::DotSegment);
        }
    }
    Ok(path_and_query)
}

/// Rules 1 to 3: the bytes and the escapes, decoded as UTF-8 on the fly.
fn check_bytes(path: &[u8]) -> Result<(), PathRefusal> {
    // The decoded bytes of a run of escapes must be valid UTF-8: `pending` continuation bytes
    // are still owed by the last lead byte, `low..=high` bounds the next one (tighter than
    // 0x80..=0xBF right after some lead bytes, which is what excludes overlong forms,
    // surrogates and code points past U+10FFFF).
    let mut pending = 0u8;
    let (mut low, mut high) = (0x80u8, 0xBFu8);
    let mut index = 0;
    while index < path.len() {
        let byte = path[index];
        if !(0x21..=0x7E).contains(&byte) {
            return Err(PathRefusal::Unprintable);
        }
        if byte == b'\\' {
            return Err(PathRefusal::Backslash);
        }
        if byte == b'#' {
            return Err(PathRefusal::Fragment);
        }
        if byte == b';' {
            return Err(PathRefusal::Semicolon);
        }
        if byte != b'%' {
            if pending > 0 {
                return Err(PathRefusal::InvalidUtf8);
            }
            index += 1;
            continue;
        }
        let decoded = match (path.get(index + 1), path.get(index + 2)) {
            (Some(&high_digit), Some(&low_digit)) => match (hex(high_digit), hex(low_digit)) {
                (Some(h), Some(l)) => (h << 4) | l,
                _ => return Err(PathRefusal::BadEscape),
            },
            _ => return Err(PathRefusal::BadEscape),
        };
        index += 3;
        if pending > 0 {
            if !(low..=high).contains(&decoded) {
                return Err(PathRefusal::InvalidUtf8);
            }
            pending -= 1;
            (low, high) = (0x80, 0xBF);
            continue;
        }
        (pending, low, high) = match decoded {
            b'/' | b'\\' | b'%' | b';' | 0x00..=0x1F | 0x7F => {
                return Err(PathRefusal::EncodedDelimiter);
            }
            b'-' | b'.' | b'_' | b'~' | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' => {
                return Err(PathRefusal::EncodedUnreserved);
            }
            0x00..=0x7F => (0, 0x80, 0xBF),
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF),
            0xED => (2, 0x80, 0x9F),
            0xE1..=0xEF => (2, 0x80, 0xBF),
            0xF0 => (3, 0x90, 0xBF),
            0xF4 => (3, 0x80, 0x8F),
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            _ => return Err(PathRefusal::InvalidUtf8),
        };
    }
    if pending > 0 {
        return Err(PathRefusal::InvalidUtf8);
    }
    Ok(())
}

fn hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{PathRefusal, normalise_or_refuse};

    /// Every trick of the class, each with the refusal it gets.
    #[test]
    fn tricks_are_refused() {
        use PathRefusal::{
            Backslash, BadEscape, DotSegment, EmptySegment, EncodedDelimiter, EncodedUnreserved,
            Fragment, InvalidUtf8, Semicolon, Unprintable,
        };
        let cases: &[(&str, PathRefusal)] = &[
            ("/v1/public/..\\private", Backslash),
            ("/v1/public\\..\\private", Backslash),
            ("/v1/public/%5C..%5Cprivate", EncodedDelimiter),
            ("/v1/public/%5c", EncodedDelimiter),
            ("/v1/public/..%2Fprivate", EncodedDelimiter),
            ("/v1/public/..%2fprivate", EncodedDelimiter),
            ("/v1/public/a%2Fb", EncodedDelimiter),
            ("/v1/public/%252e%252e/private", EncodedDelimiter),
            ("/v1/public/%00", EncodedDelimiter),
            ("/v1/public/a%0a", EncodedDelimiter),
            ("/v1/public/a%7F", EncodedDelimiter),
            ("/v1/public/a%3bb", EncodedDelimiter),
            ("/v1/public/%2e%2e%2fprivate", EncodedUnreserved),
            ("/v1/public/%2E%2E/private", EncodedUnreserved),
            ("/v1/public/.%2E/private", EncodedUnreserved),
            ("/v1/public/%2e/private", EncodedUnreserved),
            ("/v1/%70rivate", EncodedUnreserved),
            ("/v1/%50rivate", EncodedUnreserved),
            ("/v1/a%7e", EncodedUnreserved),
            ("/v1/public/../private", DotSegment),
            ("/v1/public/./x", DotSegment),
            ("/..", DotSegment),
            ("/.", DotSegment),
            ("/v1/public/..", DotSegment),
            ("/v1/public/../", DotSegment),
            ("/v1/public/..;/private", Semicolon),
            ("/v1/public/..;jsessionid=1/private", Semicolon),
            ("/v1/private;x/data", Semicolon),
            ("/v1/public//private", EmptySegment),
            ("//v1/public", EmptySegment),
            ("/v1/public/%", BadEscape),
            ("/v1/public/%2", BadEscape),
            ("/v1/public/%zz", BadEscape),
            ("/v1/public/%%32%65", BadEscape),
            ("/v1/public/%u002e", BadEscape),
            ("/v1/public/%c0%ae%c0%ae/private", InvalidUtf8),
            ("/v1/public/%C0%AF", InvalidUtf8),
            ("/v1/public/%e0%80%ae", InvalidUtf8),
            ("/v1/public/%c3", InvalidUtf8),
            ("/v1/public/%c3x", InvalidUtf8),
            ("/v1/public/%c3%41", InvalidUtf8),
            ("/v1/public/%80", InvalidUtf8),
            ("/v1/public/%ed%a0%80", InvalidUtf8),
            ("/v1/public/%f4%90%80%80", InvalidUtf8),
            ("/v1/public/%ff", InvalidUtf8),
            ("/v1/public/a#/../../private", Fragment),
            ("/v1/public/a b", Unprintable),
            ("/v1/public/a\tb", Unprintable),
            ("/v1/public/\u{e9}", Unprintable),
            ("/v1/public/\u{ff0e}\u{ff0e}", Unprintable),
        ];
        for (path, refusal) in cases {
            assert_eq!(normalise_or_refuse(path), Err(*refusal), "{path}");
            assert!(!refusal.to_string().is_empty());
            assert!(!refusal.reason().is_empty());
        }
    }

    #[test]
    fn normal_paths_pass_unchanged() {
        for path in [
            "/",
            "/v1/memory",
            "/v1/memory/",
            "/v1/memory/mcp",
            "/v1/a.b/c",
            "/v1/...",
            "/v1/.well-known",
            "/v1/..x/x..",
            "/v1/a%20b",
            "/v1/%c3%a9",
            "/v1/%E2%82%AC",
            "/v1/%f0%9f%98%80",
            "/v1/%3F%23%40",
            "/v1/x?next=../..%2F%5C\\;",
            "/v1/x?",
            "*",
            "",
        ] {
            assert_eq!(normalise_or_refuse(path), Ok(path), "{path}");
        }
    }
}
