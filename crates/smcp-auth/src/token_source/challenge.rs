//! The `Bearer` challenge of a protected resource's `WWW-Authenticate` (RFC 9110 §11.6.1,
//! RFC 6750 §3, RFC 9728 §5.1).
//!
//! Two callers read it: MCP discovery (a `401`'s `resource_metadata` and `scope`) and scope
//! step-up (a `403` with `error="insufficient_scope"` and the `scope` the call needs). The
//! header comes from a server the client trusts only so far, and a step-up makes the client
//! ask its IdP for what it names, so the parser is strict wherever leniency would mean
//! guessing: an unterminated quoted string or a parameter given twice in the Bearer challenge
//! (which of two `scope`s is meant?) makes the whole header unusable, and so does a header
//! longer than [`MAX_CHALLENGE_LEN`] in all or with more than [`MAX_PARAMS`] parameters in the
//! Bearer challenge. It is lenient where nothing is ambiguous: scheme names and parameter
//! names in any case, other schemes (and their `token68`) before or after the Bearer one,
//! several challenges in one header value or spread over several headers, missing commas
//! between parameters. The first Bearer challenge counts.

use super::scope::parse_scope;

/// Longest `WWW-Authenticate` (all of its header values together) that is read at all. Real
/// challenges are a few hundred bytes; a longer one is not worth the work or the risk.
pub(crate) const MAX_CHALLENGE_LEN: usize = 8 * 1024;

/// Most parameters one Bearer challenge may have (RFC 6750 and RFC 9728 define five).
pub(crate) const MAX_PARAMS: usize = 32;

/// Most `WWW-Authenticate` header values looked at.
const MAX_HEADER_VALUES: usize = 16;

/// The parameters of a `WWW-Authenticate: Bearer ...` challenge (RFC 6750 §3, RFC 9728 §5.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BearerChallenge {
    /// `resource_metadata`: the protected-resource metadata URL.
    pub resource_metadata: Option<String>,
    /// `scope`: the scopes the resource asks for.
    pub scope: Option<String>,
    /// `error`, e.g. `invalid_token` or `insufficient_scope`.
    pub error: Option<String>,
    /// `error_description`.
    pub error_description: Option<String>,
}

impl BearerChallenge {
    /// Parses the Bearer challenge of one `WWW-Authenticate` value; `None` when it has none or
    /// cannot be read unambiguously (see the module docs).
    pub fn parse(value: &str) -> Option<BearerChallenge> {
        Self::parse_all([value])
    }

    /// The first Bearer challenge of several `WWW-Authenticate` values (a response may send
    /// the header more than once), in order; `None` as for [`parse`](Self::parse).
    pub fn parse_all<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<BearerChallenge> {
        let mut total = 0usize;
        for (index, value) in values.into_iter().enumerate() {
            total = total.saturating_add(value.len());
            if index >= MAX_HEADER_VALUES || total > MAX_CHALLENGE_LEN {
                return None;
            }
            match scan(value) {
                Scan::Bearer(challenge) => return Some(challenge),
                Scan::Invalid => return None,
                Scan::NoBearer => {}
            }
        }
        None
    }

    /// The scopes an `insufficient_scope` challenge asks for: `Some` only when `error` is
    /// `insufficient_scope` and `scope` is a non-empty, well-formed scope list (RFC 6749
    /// §3.3, at most [`MAX_SCOPES`](super::MAX_SCOPES) scopes), without duplicates.
    pub fn insufficient_scope(&self) -> Option<Vec<String>> {
        if self.error.as_deref() != Some("insufficient_scope") {
            return None;
        }
        parse_scope(self.scope.as_deref()?).filter(|scopes| !scopes.is_empty())
    }
}

/// What one header value holds.
enum Scan {
    Bearer(BearerChallenge),
    NoBearer,
    Invalid,
}

/// Reads one `WWW-Authenticate` value up to the end of its first Bearer challenge.
fn scan(value: &str) -> Scan {
    // The Bearer challenge being read, and the (lowercased) names of its parameters so far.
    let mut bearer: Option<(BearerChallenge, Vec<String>)> = None;
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        let (token, after) = split_token(rest);
        if token.is_empty() {
            // A `=` where a name should be: nothing sensible follows.
            return Scan::Invalid;
        }
        let after_ws = after.trim_start_matches([' ', '\t']);
        if let Some(value) = after_ws.strip_prefix('=') {
            // An auth-param of the current challenge (or the `=` padding of a token68).
            let Some((param_value, next)) = parse_value(value.trim_start_matches([' ', '\t']))
            else {
                return Scan::Invalid;
            };
            if let Some((challenge, seen)) = bearer.as_mut() {
                let name = token.to_ascii_lowercase();
                if seen.contains(&name) || seen.len() >= MAX_PARAMS {
                    return Scan::Invalid;
                }
                assign(challenge, &name, param_value);
                seen.push(name);
            }
            rest = next;
        } else {
            // A new auth-scheme (or the token68 of the current one): it ends a Bearer
            // challenge; only the first Bearer challenge counts.
            if bearer.is_some() {
                break;
            }
            if token.eq_ignore_ascii_case("bearer") {
                bearer = Some((BearerChallenge::default(), Vec::new()));
            }
            rest = after;
        }
    }
    match bearer {
        Some((challenge, _)) => Scan::Bearer(challenge),
        None => Scan::NoBearer,
    }
}

fn assign(challenge: &mut BearerChallenge, name: &str, value: String) {
    let slot = match name {
        "resource_metadata" => &mut challenge.resource_metadata,
        "scope" => &mut challenge.scope,
        "error" => &mut challenge.error,
        "error_description" => &mut challenge.error_description,
        _ => return,
    };
    *slot = Some(value);
}

/// Splits a leading token (up to whitespace, `=` or `,`).
fn split_token(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| c.is_ascii_whitespace() || c == '=' || c == ',')
        .unwrap_or(s.len());
    s.split_at(end)
}

/// Parses a token or quoted-string value, returning it and the rest; `None` for a quoted
/// string that never ends.
fn parse_value(s: &str) -> Option<(String, &str)> {
    let Some(quoted) = s.strip_prefix('"') else {
        let end = s.find([',', ' ', '\t']).unwrap_or(s.len());
        return Some((s[..end].to_owned(), &s[end..]));
    };
    let mut out = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '"' => return Some((out, &quoted[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{BearerChallenge, MAX_CHALLENGE_LEN, MAX_PARAMS};

    #[test]
    fn parses_bearer_challenges() {
        let c = BearerChallenge::parse(
            r#"Bearer resource_metadata="http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp", error="invalid_token", error_description="no \"token\", sorry""#,
        )
        .unwrap();
        assert_eq!(
            c.resource_metadata.as_deref(),
            Some("http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(c.error.as_deref(), Some("invalid_token"));
        assert_eq!(c.error_description.as_deref(), Some("no \"token\", sorry"));

        let c = BearerChallenge::parse(
            r#"Basic realm="x", Bearer scope="a b",resource_metadata=https://r/m, DPoP algs="ES256""#,
        )
        .unwrap();
        assert_eq!(c.scope.as_deref(), Some("a b"));
        assert_eq!(c.resource_metadata.as_deref(), Some("https://r/m"));

        assert_eq!(
            BearerChallenge::parse("bearer"),
            Some(BearerChallenge::default())
        );
        assert_eq!(BearerChallenge::parse(r#"Basic realm="x""#), None);
        assert_eq!(BearerChallenge::parse(""), None);
        assert_eq!(BearerChallenge::parse("=,=="), None);
    }

    #[test]
    fn reads_what_smcp_server_sends_for_a_step_up() {
        let c = BearerChallenge::parse(
            r#"Bearer resource_metadata="http://127.0.0.1:9/.well-known/oauth-protected-resource/v1/local", error="insufficient_scope", error_description="the token lacks a required scope", scope="mcp:admin mcp:tools""#,
        )
        .unwrap();
        assert_eq!(
            c.insufficient_scope(),
            Some(vec!["mcp:admin".to_owned(), "mcp:tools".to_owned()])
        );
    }

    #[test]
    fn several_challenges_and_several_headers() {
        // Another scheme first, its token68 included; case-insensitive names.
        let c = BearerChallenge::parse(
            r#"Negotiate YWJj+/==, BEARER Error=insufficient_scope, SCOPE="mcp:admin""#,
        )
        .unwrap();
        assert_eq!(c.insufficient_scope(), Some(vec!["mcp:admin".to_owned()]));
        // The Bearer challenge in the second header value.
        let c = BearerChallenge::parse_all([
            r#"Basic realm="a, b""#,
            r#"Bearer error="insufficient_scope", scope="x""#,
        ])
        .unwrap();
        assert_eq!(c.scope.as_deref(), Some("x"));
        // The first Bearer challenge counts; a later scheme ends it.
        let c = BearerChallenge::parse(r#"Bearer scope="first", Bearer scope="second""#).unwrap();
        assert_eq!(c.scope.as_deref(), Some("first"));
        let c =
            BearerChallenge::parse_all([r#"Bearer scope="one""#, r#"Bearer scope="two""#]).unwrap();
        assert_eq!(c.scope.as_deref(), Some("one"));
        // Missing commas between parameters are not ambiguous.
        let c = BearerChallenge::parse(r#"Bearer error="insufficient_scope" scope="s""#).unwrap();
        assert_eq!(c.insufficient_scope(), Some(vec!["s".to_owned()]));
        assert_eq!(BearerChallenge::parse_all([]), None);
    }

    #[test]
    fn challenges_without_a_usable_scope_ask_for_nothing() {
        for value in [
            r#"Bearer error="insufficient_scope""#,
            r#"Bearer error="insufficient_scope", scope="""#,
            r#"Bearer error="insufficient_scope", scope="  ""#,
            r#"Bearer error="invalid_token", scope="mcp:admin""#,
            r#"Bearer scope="mcp:admin""#,
            // Not a scope-token: a quote or backslash inside (RFC 6749 §3.3).
            r#"Bearer error="insufficient_scope", scope="a\"b""#,
            r#"Bearer error="insufficient_scope", scope="a\\b""#,
            // The error code is case-sensitive (RFC 6750 §3.1).
            r#"Bearer error="Insufficient_Scope", scope="x""#,
        ] {
            let challenge = BearerChallenge::parse(value);
            assert_eq!(
                challenge.and_then(|c| c.insufficient_scope()),
                None,
                "{value}"
            );
        }
    }

    #[test]
    fn hostile_headers_are_not_read() {
        // Unbalanced quotes: where the value ends is anyone's guess.
        for value in [
            r#"Bearer error="insufficient_scope", scope="mcp:admin"#,
            r#"Bearer scope="a\"#,
            r#"Bearer error="insufficient_scope", scope="x", error_description="unterminated"#,
            r#"Basic realm="open, Bearer error="insufficient_scope", scope="x""#,
        ] {
            assert_eq!(BearerChallenge::parse(value), None, "{value}");
        }
        // A parameter twice, in any case: ambiguous.
        for value in [
            r#"Bearer error="insufficient_scope", scope="a", scope="b""#,
            r#"Bearer error="insufficient_scope", scope="a", SCOPE="a""#,
            r#"Bearer error="insufficient_scope", error="invalid_token", scope="a""#,
            r#"Bearer realm="x", realm="y", error="insufficient_scope", scope="a""#,
        ] {
            assert_eq!(BearerChallenge::parse(value), None, "{value}");
        }
        // Duplicates in another scheme are not ours to judge.
        let c = BearerChallenge::parse(
            r#"Basic realm="a", realm="b", Bearer error="insufficient_scope", scope="x""#,
        )
        .unwrap();
        assert_eq!(c.scope.as_deref(), Some("x"));

        // Huge: one value over the bound, or many values adding up to it.
        let huge = format!(
            r#"Bearer error="insufficient_scope", scope="{}""#,
            "a".repeat(MAX_CHALLENGE_LEN)
        );
        assert_eq!(BearerChallenge::parse(&huge), None);
        let padding = format!(r#"Basic realm="{}""#, "p".repeat(1000));
        let mut values = vec![padding.as_str(); MAX_CHALLENGE_LEN / 1000 + 1];
        values.push(r#"Bearer error="insufficient_scope", scope="x""#);
        assert_eq!(BearerChallenge::parse_all(values), None);
        let many: Vec<&str> = std::iter::repeat_n("Basic", 17)
            .chain([r#"Bearer scope="x""#])
            .collect();
        assert_eq!(BearerChallenge::parse_all(many), None);

        // Too many parameters.
        let params: Vec<String> = (0..=MAX_PARAMS).map(|i| format!("p{i}=v")).collect();
        let value = format!("Bearer {}", params.join(", "));
        assert_eq!(BearerChallenge::parse(&value), None);
        let params: Vec<String> = (0..MAX_PARAMS).map(|i| format!("p{i}=v")).collect();
        let value = format!("Bearer {}", params.join(", "));
        assert_eq!(
            BearerChallenge::parse(&value),
            Some(BearerChallenge::default())
        );

        // A huge scope list within the length bound: more scopes than a step-up asks for.
        let scopes: Vec<String> = (0..200).map(|i| format!("s{i}")).collect();
        let value = format!(
            r#"Bearer error="insufficient_scope", scope="{}""#,
            scopes.join(" ")
        );
        let c = BearerChallenge::parse(&value).unwrap();
        assert_eq!(c.insufficient_scope(), None);
    }

    #[test]
    fn odd_but_harmless_input_ends() {
        // Whatever the bytes, the parser ends and never panics (each step eats input).
        for value in [
            "Bearer ,,,,",
            "Bearer =",
            "Bearer a=",
            "Bearer a==",
            "Bearer a=\"\\",
            "\"",
            ",",
            "Bearer \t scope \t = \t \"x\"",
            "Bearer scope=x=y",
            "Bearer é=ü",
        ] {
            let _ = BearerChallenge::parse(value);
        }
        let c = BearerChallenge::parse("Bearer \t scope \t = \t \"x\"").unwrap();
        assert_eq!(c.scope.as_deref(), Some("x"));
    }
}
