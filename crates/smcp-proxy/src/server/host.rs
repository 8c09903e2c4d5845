//! The `Host` check: which host names a request may be addressed to.
//!
//! Browsers send no `Origin` on same-origin GETs, so a DNS-rebinding page (a name the attacker
//! controls, re-pointed at smcp's address) could read `/api/models`, `/metrics` or `/ready`,
//! and with `auth.mode: none` call the backends. The page's requests carry the attacker's
//! name in `Host`; refusing names smcp does not serve closes that door. Accepted, always:
//! - IP addresses (any): a browser sends one only for a page whose origin is that address,
//!   which no DNS answer can produce; load balancers' health checks and Kubernetes probes
//!   send the pod's IP;
//! - `localhost` (any port): it resolves to loopback, never to the attacker;
//! - the host of `server.public_url` (any port);
//! - every entry of `server.allowed_hosts` (`name`, `name:port`, `*.name`, or `*` for any).
//!
//! When the check applies: always when `server.allowed_hosts` is set; otherwise only with
//! `auth.mode: none`, where nothing else stands between a rebinding page and the backends
//! (with `oidc`, backends need a token and a deployment behind a load balancer keeps working
//! unconfigured). Others get 421 Misdirected Request with a JSON-RPC error body, a log line
//! and `smcp_rejected_requests_total{reason="host"}`.
//!
//! Independently of that, a request naming its host ambiguously is refused with 400: two
//! `Host` headers, or a `Host` that disagrees with the request target's authority (an HTTP/2
//! `:authority` or an absolute-form HTTP/1.1 target); the authority is the host otherwise.

use std::net::IpAddr;

use http::{Request, Response, header};
use smcp_transport::body::Body;
use smcp_transport::reply::ProxyError;

use super::dispatch::reject;
use super::reply;
use crate::config::{AllowedHost, AuthMode, ServerConfig};

/// The `Host` rules of one server.
#[derive(Debug)]
pub(crate) struct HostPolicy {
    /// Whether names outside the accepted set are refused.
    enforced: bool,
    /// The host of `server.public_url`, lower case.
    public_host: Option<String>,
    allowed: Vec<AllowedHost>,
}

impl HostPolicy {
    /// The rules `server` and the auth mode ask for.
    pub(crate) fn new(server: &ServerConfig, auth: AuthMode) -> Self {
        let any = server.allowed_hosts.contains(&AllowedHost::Any);
        let enforced = !any && (!server.allowed_hosts.is_empty() || auth == AuthMode::None);
        Self {
            enforced,
            public_host: server
                .public_url
                .as_ref()
                .and_then(url::Url::host_str)
                .map(|host| unbracket(host).to_ascii_lowercase()),
            allowed: server.allowed_hosts.clone(),
        }
    }

    /// Whether names are checked at all (for the startup log).
    pub(crate) fn is_enforced(&self) -> bool {
        self.enforced
    }

    /// Checks the host `request` is addressed to (`scheme` gives the default port): `None`
    /// when it may pass, else the refusal.
    pub(crate) fn refusal<B>(&self, request: &Request<B>, scheme: &str) -> Option<Response<Body>> {
        self.check(request, scheme).err().map(|refused| *refused)
    }

    fn check<B>(&self, request: &Request<B>, scheme: &str) -> Result<(), Box<Response<Body>>> {
        let mut hosts = request.headers().get_all(header::HOST).iter();
        let header = hosts.next();
        if hosts.next().is_some() {
            return Err(ambiguous("a request carries two Host headers"));
        }
        let header = match header.map(|value| value.to_str()) {
            None => None,
            Some(Ok(text)) => Some(text),
            Some(Err(_)) => return Err(ambiguous("the Host header is not valid text")),
        };
        let authority = request.uri().authority().map(http::uri::Authority::as_str);
        let named = match (authority, header) {
            (Some(authority), Some(header)) if !authority.eq_ignore_ascii_case(header) => {
                return Err(ambiguous(
                    "the Host header and the request target name different hosts",
                ));
            }
            (Some(host), _) | (None, Some(host)) => host,
            // HTTP/1.0 without Host: no browser sends that, and there is nothing to check.
            (None, None) => return Ok(()),
        };
        if !self.enforced {
            return Ok(());
        }
        let Some((name, port)) = split_host(named, scheme) else {
            return Err(ambiguous("the Host header is not a host name"));
        };
        if self.accepts(&name, port) {
            return Ok(());
        }
        reject("host");
        tracing::warn!(
            host = %super::observe::truncate(named, 128),
            "refused a request for a host smcp does not serve (DNS rebinding?); add it to server.allowed_hosts if it is yours"
        );
        Err(Box::new(reply::error(&ProxyError::MisdirectedHost)))
    }

    /// Whether `name` (lower case, unbracketed) on `port` is accepted.
    fn accepts(&self, name: &str, port: u16) -> bool {
        if name.parse::<IpAddr>().is_ok() || name == "localhost" {
            return true;
        }
        if self.public_host.as_deref() == Some(name) {
            return true;
        }
        self.allowed.iter().any(|allowed| match allowed {
            AllowedHost::Any => true,
            AllowedHost::Host {
                name: allowed,
                subdomains,
                port: allowed_port,
            } => {
                let name_matches = if *subdomains {
                    name.strip_suffix(allowed.as_str())
                        .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
                } else {
                    name == allowed
                };
                name_matches && allowed_port.is_none_or(|p| p == port)
            }
        })
    }
}

/// 400 for a request whose host is ambiguous or malformed.
fn ambiguous(why: &str) -> Box<Response<Body>> {
    reject("host_ambiguous");
    tracing::info!(why, "refused a request with an ambiguous Host");
    Box::new(reply::error(&ProxyError::Malformed(why.to_owned().into())))
}

/// `host[:port]` (IPv6 in brackets) as a lower-case name without brackets or a trailing dot,
/// and the port (the scheme's default when none is written). `None` when malformed.
fn split_host(text: &str, scheme: &str) -> Option<(String, u16)> {
    let default_port = if scheme == "https" { 443 } else { 80 };
    let (name, port) = if let Some(inner) = text.strip_prefix('[') {
        let (v6, after) = inner.split_once(']')?;
        v6.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        (v6, port)
    } else {
        match text.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (text, None),
        }
    };
    let port = match port {
        None => default_port,
        Some(port) => port.parse().ok()?,
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':'));
    valid.then(|| (name.to_ascii_lowercase(), port))
}

fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AllowedHost;
    use http::StatusCode;

    fn server(allowed: Vec<AllowedHost>, public_url: Option<&str>) -> ServerConfig {
        let mut config = crate::config::Config::from_yaml_str("").unwrap().server;
        config.allowed_hosts = allowed;
        config.public_url = public_url.map(|u| url::Url::parse(u).unwrap());
        config
    }

    fn request(host: Option<&str>) -> Request<()> {
        let mut builder = Request::builder().uri("/health");
        if let Some(host) = host {
            builder = builder.header(header::HOST, host);
        }
        builder.body(()).unwrap()
    }

    fn status(policy: &HostPolicy, host: Option<&str>) -> Option<StatusCode> {
        policy
            .check(&request(host), "http")
            .err()
            .map(|response| response.status())
    }

    #[test]
    fn auth_none_accepts_loopback_addresses_and_the_public_host_only() {
        let policy = HostPolicy::new(
            &server(vec![], Some("https://mcp.example.com/base")),
            AuthMode::None,
        );
        assert!(policy.is_enforced());
        for ok in [
            None,
            Some("127.0.0.1:8080"),
            Some("127.9.9.9"),
            Some("[::1]:8080"),
            Some("localhost"),
            Some("LOCALHOST:3000"),
            Some("localhost."),
            Some("10.1.2.3:8080"),
            Some("mcp.example.com"),
            Some("MCP.example.com:8443"),
        ] {
            assert_eq!(status(&policy, ok), None, "{ok:?}");
        }
        for refused in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "mcp.example.com.evil.example",
            "127.0.0.1.nip.io",
        ] {
            assert_eq!(
                status(&policy, Some(refused)),
                Some(StatusCode::MISDIRECTED_REQUEST),
                "{refused}"
            );
        }
        assert_eq!(status(&policy, Some("a b")), Some(StatusCode::BAD_REQUEST));
    }

    #[test]
    fn allowed_hosts_apply_with_oidc_and_match_ports_and_subdomains() {
        let h = |name: &str, subdomains, port| AllowedHost::Host {
            name: name.into(),
            subdomains,
            port,
        };
        let policy = HostPolicy::new(
            &server(
                vec![
                    h("mcp.internal", false, Some(8080)),
                    h("example.com", true, None),
                ],
                None,
            ),
            AuthMode::Oidc,
        );
        assert!(policy.is_enforced());
        assert_eq!(status(&policy, Some("mcp.internal:8080")), None);
        assert_eq!(status(&policy, Some("a.example.com")), None);
        assert_eq!(status(&policy, Some("a.b.example.com:1")), None);
        for refused in [
            "mcp.internal",
            "mcp.internal:8081",
            "example.com",
            "xexample.com",
        ] {
            assert_eq!(
                status(&policy, Some(refused)),
                Some(StatusCode::MISDIRECTED_REQUEST),
                "{refused}"
            );
        }
        // Without allowed_hosts, oidc leaves names alone; `*` turns the check off.
        let open = HostPolicy::new(&server(vec![], None), AuthMode::Oidc);
        assert!(!open.is_enforced());
        assert_eq!(status(&open, Some("anything.example")), None);
        let any = HostPolicy::new(&server(vec![AllowedHost::Any], None), AuthMode::None);
        assert_eq!(status(&any, Some("anything.example")), None);
    }

    #[test]
    fn ambiguous_hosts_are_refused_even_when_names_are_not_checked() {
        let policy = HostPolicy::new(&server(vec![AllowedHost::Any], None), AuthMode::None);
        let two = Request::builder()
            .uri("/health")
            .header(header::HOST, "127.0.0.1")
            .header(header::HOST, "evil.example")
            .body(())
            .unwrap();
        let refused = policy.check(&two, "http").unwrap_err();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let disagreeing = Request::builder()
            .uri("http://127.0.0.1/health")
            .header(header::HOST, "evil.example")
            .body(())
            .unwrap();
        assert_eq!(
            policy.check(&disagreeing, "http").unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
        // An HTTP/2 request names its host in :authority only.
        let h2 = Request::builder()
            .uri("http://127.0.0.1:8080/health")
            .body(())
            .unwrap();
        assert!(policy.check(&h2, "http").is_ok());
        let strict = HostPolicy::new(&server(vec![], None), AuthMode::None);
        let rebinding = Request::builder()
            .uri("http://evil.example/health")
            .body(())
            .unwrap();
        assert_eq!(
            strict.check(&rebinding, "http").unwrap_err().status(),
            StatusCode::MISDIRECTED_REQUEST
        );
    }
}
