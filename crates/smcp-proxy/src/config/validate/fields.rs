//! Small typed readers shared by the validation of every section.
//!
//! Each reader takes an optional file value and a default, records a problem against the
//! key when the value is wrong, and still returns something (the default) so that
//! validation carries on and reports every problem in one go.

use std::time::Duration;

use url::Url;

use crate::config::error::Report;
use crate::config::scalar::Scalar;

/// A duration; `positive` refuses zero.
pub(super) fn duration(
    report: &mut Report,
    key: &str,
    value: Option<&Scalar>,
    default: Duration,
    positive: bool,
) -> Duration {
    let Some(value) = value else {
        return default;
    };
    match value.to_duration() {
        Ok(d) if positive && d.is_zero() => {
            report.error(key, "must be greater than zero");
            default
        }
        Ok(d) => d,
        Err(message) => {
            report.error(key, message);
            default
        }
    }
}

/// A boolean.
pub(super) fn boolean(
    report: &mut Report,
    key: &str,
    value: Option<&Scalar>,
    default: bool,
) -> bool {
    match value.map(Scalar::to_bool) {
        None => default,
        Some(Ok(b)) => b,
        Some(Err(message)) => {
            report.error(key, message);
            default
        }
    }
}

/// A whole number of at least `min`.
pub(super) fn whole(
    report: &mut Report,
    key: &str,
    value: Option<&Scalar>,
    default: u64,
    min: u64,
) -> u64 {
    at_least(report, key, value.map(Scalar::to_u64), default, min)
}

/// A byte size (integer or "4MiB") of at least `min`.
pub(super) fn size(
    report: &mut Report,
    key: &str,
    value: Option<&Scalar>,
    default: u64,
    min: u64,
) -> u64 {
    at_least(report, key, value.map(Scalar::to_size), default, min)
}

fn at_least(
    report: &mut Report,
    key: &str,
    value: Option<Result<u64, String>>,
    default: u64,
    min: u64,
) -> u64 {
    match value {
        None => default,
        Some(Ok(n)) if n < min => {
            report.error(key, format!("must be at least {min} (got {n})"));
            default
        }
        Some(Ok(n)) => n,
        Some(Err(message)) => {
            report.error(key, message);
            default
        }
    }
}

/// What an http(s) URL may carry besides scheme, host and path.
#[derive(Debug, Clone, Copy)]
pub(super) struct UrlRules {
    pub(super) query: bool,
    pub(super) userinfo: bool,
}

/// An absolute http or https URL with a host and no fragment.
pub(super) fn http_url(text: &str, rules: UrlRules) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|err| format!("invalid URL {text:?}: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("must be an http or https URL (got {text:?})"));
    }
    if url.host().is_none() {
        return Err(format!("must name a host (got {text:?})"));
    }
    if url.fragment().is_some() {
        return Err(format!("must not have a fragment (got {text:?})"));
    }
    if !rules.query && url.query().is_some() {
        return Err(format!("must not have a query (got {text:?})"));
    }
    if !rules.userinfo && (!url.username().is_empty() || url.password().is_some()) {
        return Err(format!(
            "must not contain a user name or password (got {text:?})"
        ));
    }
    Ok(url)
}

/// A required string: missing or blank is an error.
pub(super) fn required<'a>(
    report: &mut Report,
    key: &str,
    value: Option<&'a String>,
) -> Option<&'a str> {
    match value.map(|v| v.trim()) {
        Some(v) if !v.is_empty() => Some(v),
        Some(_) => {
            report.error(key, "must not be empty");
            None
        }
        None => {
            report.error(key, "is required");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{UrlRules, http_url};

    #[test]
    fn urls() {
        let strict = UrlRules {
            query: false,
            userinfo: false,
        };
        assert!(http_url("https://a.example/x", strict).is_ok());
        assert!(http_url("http://127.0.0.1:9000", strict).is_ok());
        let cases = [
            ("not a url", "invalid URL"),
            ("/relative", "invalid URL"),
            ("ftp://a.example", "http or https"),
            ("unix:/run/x.sock", "http or https"),
            ("https://a.example/#top", "fragment"),
            ("https://a.example/?a=1", "query"),
            ("https://u:p@a.example/", "user name or password"),
        ];
        for (text, needle) in cases {
            let err = http_url(text, strict).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
        let lax = UrlRules {
            query: true,
            userinfo: true,
        };
        assert!(http_url("https://u:p@a.example/?a=1", lax).is_ok());
    }
}
