//! Validation of `server:`.

use std::net::IpAddr;
use std::time::Duration;

use super::fields::{UrlRules, duration, http_url, size, whole};
use crate::config::error::Report;
use crate::config::file::FileServer;
use crate::config::model::ServerConfig;

/// Default listen address: loopback. The Go project bound 0.0.0.0 with auth off.
pub(super) const DEFAULT_HOST: &str = "127.0.0.1";
const DEFAULT_PORT: u16 = 8080;
const DEFAULT_MAX_REQUEST_BODY: u64 = 4 * 1024 * 1024;
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
    use super::{host, origin};

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
