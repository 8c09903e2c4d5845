//! Typed reading of option values, collecting problems that name the value's source.

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::ClientConfigError;
use crate::client::options::{Origin, Sources};

/// Reads options from [`Sources`] and remembers what was wrong with them.
pub(super) struct Problems<'s, 'e> {
    sources: &'s Sources<'e>,
    problems: Vec<String>,
    warnings: Vec<String>,
}

impl<'s, 'e> Problems<'s, 'e> {
    pub(super) fn new(sources: &'s Sources<'e>) -> Self {
        Problems {
            sources,
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub(super) fn sources(&self) -> &'s Sources<'e> {
        self.sources
    }

    /// Records a problem with option `name`, prefixed with where its value came from.
    pub(super) fn problem(&mut self, name: &str, message: &str) {
        let origin = match self.sources.get(name) {
            Some((_, Origin::Default)) | None => format!("--{name}"),
            Some((_, origin)) => origin.to_string(),
        };
        self.problems.push(format!("{origin}: {message}"));
    }

    pub(super) fn warn(&mut self, message: String) {
        self.warnings.push(message);
    }

    /// The warnings, or every problem as an error.
    pub(super) fn finish(self) -> Result<Vec<String>, ClientConfigError> {
        if self.problems.is_empty() {
            Ok(self.warnings)
        } else {
            Err(ClientConfigError {
                problems: self.problems,
            })
        }
    }

    /// The trimmed value, `None` when unset or blank.
    pub(super) fn string(&mut self, name: &str) -> Option<String> {
        self.sources
            .get(name)
            .map(|(value, _)| value.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub(super) fn path(&mut self, name: &str) -> Option<PathBuf> {
        self.string(name).map(PathBuf::from)
    }

    /// An absolute `http`/`https` URL without credentials or fragment.
    pub(super) fn url(&mut self, name: &str, required: bool) -> Option<Url> {
        let Some(text) = self.string(name) else {
            if required {
                self.problem(name, "is required");
            }
            return None;
        };
        match check_url(&text) {
            Ok(url) => Some(url),
            Err(problem) => {
                self.problem(name, &problem);
                None
            }
        }
    }

    pub(super) fn port(&mut self, name: &str) -> Option<u16> {
        let text = self.string(name)?;
        match text.parse::<u16>() {
            Ok(port) => Some(port),
            Err(_) => {
                self.problem(
                    name,
                    &format!("must be a port number 0-65535 (got {text:?})"),
                );
                None
            }
        }
    }

    /// A duration such as `30s`, `5m0s` (Go's format) or `1h 30m`.
    pub(super) fn duration(&mut self, name: &str) -> Option<Duration> {
        let text = self.string(name)?;
        match humantime::parse_duration(&text) {
            Ok(duration) => Some(duration),
            Err(error) => {
                self.problem(
                    name,
                    &format!("must be a duration such as 30s or 5m ({error}, got {text:?})"),
                );
                None
            }
        }
    }

    /// A whole number of at least 1.
    pub(super) fn count(&mut self, name: &str) -> Option<usize> {
        let text = self.string(name)?;
        match text.trim().parse::<usize>() {
            Ok(count) if count >= 1 => Some(count),
            _ => {
                self.problem(
                    name,
                    &format!("must be a whole number of at least 1 (got {text:?})"),
                );
                None
            }
        }
    }

    /// A size such as `1MiB`, `512 KiB`, `64KB` or a number of bytes.
    pub(super) fn size(&mut self, name: &str) -> Option<usize> {
        let text = self.string(name)?;
        match parse_size(&text) {
            Some(size) => Some(size),
            None => {
                self.problem(
                    name,
                    &format!("must be a size such as 1MiB or 65536 (got {text:?})"),
                );
                None
            }
        }
    }

    /// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
    pub(super) fn switch(&mut self, name: &str) -> Option<bool> {
        let text = self.string(name)?;
        match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(true),
            "false" | "0" | "no" | "off" => Some(false),
            _ => {
                self.problem(name, &format!("must be true or false (got {text:?})"));
                None
            }
        }
    }
}

/// Parses a URL the client may send requests to.
pub(super) fn check_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("is not a URL ({e}): {text:?}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!("must be an http or https URL (got {text:?})"));
    }
    if url.host().is_none() {
        return Err("has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a #fragment".into());
    }
    Ok(url)
}

/// `https`, or `http` to a loopback host: credentials are sent to these URLs. The rule is
/// `smcp-auth`'s ([`smcp_auth::is_secure_url`]), the same the token sources apply.
pub(super) fn check_secure_url(text: &str) -> Result<(), String> {
    let url = check_url(text)?;
    if smcp_auth::is_secure_url(&url) {
        Ok(())
    } else {
        Err(format!(
            "must be https (plain http only for localhost): credentials are sent there (got {text:?})"
        ))
    }
}

/// Scopes separated by commas (Go's format) or spaces (OAuth's), without duplicates.
pub(super) fn scopes(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for scope in text.split([',', ' ', '\t']).map(str::trim) {
        if !scope.is_empty() && !out.iter().any(|s| s == scope) {
            out.push(scope.to_owned());
        }
    }
    out
}

fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number.parse().ok()?;
    // The same units as smcp-server's sizes: KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024.
    let factor: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::{check_secure_url, check_url, parse_size, scopes};

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1MiB"), Some(1 << 20));
        assert_eq!(parse_size("64 kb"), Some(64_000));
        assert_eq!(parse_size("64KiB"), Some(64 << 10));
        assert_eq!(parse_size("1m"), None);
        assert_eq!(parse_size("1000"), Some(1000));
        assert_eq!(parse_size("0"), Some(0));
        assert_eq!(parse_size("1.5MiB"), None);
        assert_eq!(parse_size("MiB"), None);
        assert_eq!(parse_size("99999999999999999999G"), None);
    }

    #[test]
    fn scope_lists() {
        assert_eq!(
            scopes("openid,profile, email"),
            ["openid", "profile", "email"]
        );
        assert_eq!(scopes("a b  a"), ["a", "b"]);
        assert!(scopes(" , ").is_empty());
    }

    #[test]
    fn urls() {
        assert!(check_url("https://mcp.example.com/v1/memory").is_ok());
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("http://u:p@x").is_err());
        assert!(check_url("http://x/#f").is_err());
        assert!(check_url("x").is_err());
        assert!(check_secure_url("http://127.0.0.1:8080").is_ok());
        assert!(check_secure_url("http://localhost").is_ok());
        assert!(check_secure_url("http://LOCALHOST:8080").is_ok());
        assert!(check_secure_url("http://127.9.9.9").is_ok());
        assert!(check_secure_url("http://[::1]:1").is_ok());
        assert!(check_secure_url("http://localhost.example").is_err());
        assert!(check_secure_url("https://idp").is_ok());
        assert!(check_secure_url("http://idp.example.com").is_err());
    }

    #[test]
    fn go_style_durations_parse() {
        for (text, secs) in [("5m0s", 300), ("30s", 30), ("1h2m3s", 3723), ("10m", 600)] {
            assert_eq!(
                humantime::parse_duration(text).unwrap().as_secs(),
                secs,
                "{text}"
            );
        }
    }
}
