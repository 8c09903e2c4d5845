//! Name patterns: `*` matches any run of characters (none included), everything else matches
//! itself. `get-*` matches `get-sum` and `get-`; `*-admin` matches `user-admin`; `*` matches
//! every name. No other wildcard exists, so a tool name with `?` or `[` in it needs no escaping.

use std::fmt;

/// A compiled name pattern.
///
/// Invariant: `parts` has one more element than the pattern has `*`s; the name must start with
/// the first part, end with the last, and contain the others in order between them.
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    text: String,
    parts: Vec<String>,
}

impl Glob {
    /// Compiles `pattern`.
    pub fn new(pattern: &str) -> Self {
        Self {
            text: pattern.to_owned(),
            parts: pattern.split('*').map(str::to_owned).collect(),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        let (first, rest) = match self.parts.split_first() {
            Some(split) => split,
            None => return name.is_empty(),
        };
        let Some(mut remaining) = name.strip_prefix(first.as_str()) else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            // No `*`: the whole name must equal the pattern.
            return remaining.is_empty();
        };
        for part in middle {
            match remaining.find(part.as_str()) {
                Some(at) => remaining = &remaining[at + part.len()..],
                None => return false,
            }
        }
        remaining.len() >= last.len() && remaining.ends_with(last.as_str())
    }
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn stars_match_any_run_and_the_rest_matches_itself() {
        let cases = [
            ("echo", "echo", true),
            ("echo", "echo2", false),
            ("echo", "ech", false),
            ("get-*", "get-sum", true),
            ("get-*", "get-", true),
            ("get-*", "forget-sum", false),
            ("*-admin", "user-admin", true),
            ("*-admin", "-admin", true),
            ("*-admin", "admin", false),
            ("*", "", true),
            ("*", "anything", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "acb", false),
            ("ab*ba", "aba", false),
            ("file:///public/*", "file:///public/a/b.txt", true),
            ("file:///public/*", "file:///private/a", false),
            ("a?b", "a?b", true),
            ("a?b", "axb", false),
            ("", "", true),
            ("", "x", false),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(
                Glob::new(pattern).matches(name),
                expected,
                "{pattern} ~ {name}"
            );
        }
    }
}
