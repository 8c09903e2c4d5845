//! Validation of `server:`.

use std::net::IpAddr;
use std::time::Duration;

use super::fields::{UrlRules, duration, http_url, size, whole};
use crate::config::error::Report;
use crate::config::file::FileServer;
use crate::config::model::{AllowedHost, ServerConfig};

/// Default listen address: loopback. The Go project bound 0.0.0.0 with auth off.
pub(super) const DEFAULT_HOST: &str = "127.0.0.1";
const DEFAULT_PORT: u16 = 8080;
const DEFAULT_MAX_REQUEST_BODY: u64 = 4 * 1024 * 1024;
/// Room for many clients, well under the usual hard open-file limits.
const DEFAULT_MAX_CONNECTIONS: u64 = 10_000;
/// More accept loops than this only adds threads that fight over the same cores.
const MAX_WORKERS: usize = 256;

pub(super) fn server(report: &mut Report, file: &FileServer) -> ServerConfig {
    let host = match &file.host {
        None => DEFAULT_HOST.to_owned(),
        Some(text) => match host(text) {
            Ok(host) => host,
            Err(message) => {
                report.error("server.host", message);
                DEFAULT_HOST.to_owned()
            }
        },
    };
    let port = match file.port.as_ref().map(|p| p.to_port()) {
        None => DEFAULT_PORT,
        Some(Ok(port)) => port,
        Some(Err(message)) => {
            report.error("server.port", message);
            DEFAULT_PORT
        }
    };
    let secs = Duration::from_secs;
    let public_url = file.public_url.as_ref().and_then(|text| {
        let rules = UrlRules {
            query: false,
            userinfo: false,
        };
        http_url(text, rules)
            .map_err(|message| report.error("server.public_url", message))
            .ok()
    });
    let allowed_origins = file
        .allowed_origins
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, text)| {
            origin(text)
                .map_err(|message| report.error(format!("server.allowed_origins[{i}]"), message))
                .ok()
        })
        .collect();
    let allowed_hosts = file
        .allowed_hosts
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, text)| {
            allowed_host(text)
                .map_err(|message| report.error(format!("server.allowed_hosts[{i}]"), message))
                .ok()
        })
        .collect();
    ServerConfig {
        host,
        port,
        read_timeout: duration(
            report,
            "server.read_timeout",
            file.read_timeout.as_ref(),
            secs(30),
            true,
        ),
        write_timeout: duration(
            report,
            "server.write_timeout",
            file.write_timeout.as_ref(),
            secs(30),
            true,
        ),
        shutdown_timeout: duration(
            report,
            "server.shutdown_timeout",
            file.shutdown_timeout.as_ref(),
            secs(10),
            false,
        ),
        public_url,
        allowed_origins,
        max_request_body: size(
            report,
            "server.max_request_body",
            file.max_request_body.as_ref(),
            DEFAULT_MAX_REQUEST_BODY,
            1,
        ),
        max_connections: usize::try_from(whole(
            report,
            "server.max_connections",
            file.max_connections.as_ref(),
            DEFAULT_MAX_CONNECTIONS,
            1,
        ))
        .unwrap_or(usize::MAX),
        allowed_hosts,
        session_idle_timeout: duration(
            report,
            "server.session_idle_timeout",
            file.session_idle_timeout.as_ref(),
            secs(30 * 60),
            true,
        ),
        sse_keepalive: duration(
            report,
            "server.sse_keepalive",
            file.sse_keepalive.as_ref(),
            secs(15),
            true,
        ),
        workers: usize::try_from(whole(report, "server.workers", file.workers.as_ref(), 0, 0))
            .unwrap_or(usize::MAX)
            .min(MAX_WORKERS),
    }
}

/// An IP address (brackets around IPv6 are removed) or a DNS host name.
fn host(text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    let unbracketed = trimmed
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(trimmed);
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if !trimmed.is_empty() && trimmed.len() <= 253 && trimmed.split('.').all(valid_label) {
        return Ok(trimmed.to_owned());
    }
    Err(format!(
        "must be an IP address or a host name, without scheme or port (got {text:?})"
    ))
}

/// One `server.allowed_hosts` entry: `*`, or `[*.]host[:port]` where host is a DNS name, an
/// IPv4 address or a bracketed IPv6 address.
fn allowed_host(text: &str) -> Result<AllowedHost, String> {
    let trimmed = text.trim();
    if trimmed == "*" {
        return Ok(AllowedHost::Any);
    }
    let bad = |why: &str| {
        format!(
            "{why}: write a host name with an optional port and an optional leading \"*.\" (\"mcp.example.com\", \"*.example.com:8443\"), or \"*\" for any host (got {text:?})"
        )
    };
    let (subdomains, rest) = match trimmed.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    // `[v6]:port`, `[v6]`, `name:port`, `name`.
    let (name, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (v6, after) = inner.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| bad("junk after ']'"))?,
            ),
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad("not an IPv6 address inside '[...]'"));
        }
        (v6, port)
    } else {
        match rest.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (rest, None),
        }
    };
    let port = port
        .map(|p| p.parse::<u16>().map_err(|_| bad("not a port number")))
        .transpose()?;
    let name = host(name).map_err(|_| bad("not a host name"))?;
    if subdomains && name.parse::<IpAddr>().is_ok() {
        return Err(bad("\"*.\" goes before a DNS name, not an address"));
    }
    Ok(AllowedHost::Host {
        name: name.to_ascii_lowercase(),
        subdomains,
        port,
    })
}

/// A browser origin: `scheme://host[:port]` with http or https, nothing else.
fn origin(text: &str) -> Result<url::Origin, String> {
    let rules = UrlRules {
        query: false,
        userinfo: false,
    };
    let url = http_url(text, rules).map_err(|message| {
        format!("{message}; an origin looks like \"https://app.example.com\"")
    })?;
    if url.path() != "/" {
        return Err(format!(
            "an origin has no path: write \"{}\" (got {text:?})",
            url.origin().ascii_serialization()
        ));
    }
    Ok(url.origin())
}

#[cfg(test)]
mod tests {
    use super::{allowed_host, host, origin};
    use crate::config::model::AllowedHost;

    #[test]
    fn allowed_hosts() {
        let h = |name: &str, subdomains, port| AllowedHost::Host {
            name: name.into(),
            subdomains,
            port,
        };
        let cases = [
            ("*", AllowedHost::Any),
            ("MCP.Example.com", h("mcp.example.com", false, None)),
            (
                "mcp.example.com:8443",
                h("mcp.example.com", false, Some(8443)),
            ),
            ("*.example.com", h("example.com", true, None)),
            ("*.example.com:443", h("example.com", true, Some(443))),
            ("10.0.0.5:8080", h("10.0.0.5", false, Some(8080))),
            ("[::1]:8080", h("::1", false, Some(8080))),
            ("[fd00::5]", h("fd00::5", false, None)),
        ];
        for (input, expected) in cases {
            assert_eq!(allowed_host(input), Ok(expected), "{input}");
        }
        for bad in [
            "",
            "http://x",
            "x:99999",
            "x:",
            "*.",
            "**.x",
            "a*.example.com",
            "*.10.0.0.1",
            "[::1",
            "[nope]:80",
            "a b",
            "x/y",
        ] {
            assert!(allowed_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hosts() {
        let cases = [
            ("127.0.0.1", "127.0.0.1"),
            ("0.0.0.0", "0.0.0.0"),
            ("::1", "::1"),
            ("[::1]", "::1"),
            ("localhost", "localhost"),
            ("proxy-1.internal.example", "proxy-1.internal.example"),
        ];
        for (input, expected) in cases {
            assert_eq!(host(input).as_deref(), Ok(expected), "{input}");
        }
        for bad in [
            "",
            "http://x",
            "x:8080",
            "a b",
            "-a.example",
            "a..b",
            "[::1",
        ] {
            assert!(host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn origins() {
        let ok = origin("https://app.example.com").unwrap();
        assert_eq!(ok.ascii_serialization(), "https://app.example.com");
        assert_eq!(
            origin("http://localhost:3000/")
                .unwrap()
                .ascii_serialization(),
            "http://localhost:3000"
        );
        for (bad, needle) in [
            ("https://app.example.com/x", "has no path"),
            ("app.example.com", "invalid URL"),
            ("chrome-extension://abc", "http or https"),
            ("*", "invalid URL"),
        ] {
            let err = origin(bad).unwrap_err();
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }
}
