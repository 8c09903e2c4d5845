//! The externally visible base URL of smcp-server, and the URLs derived from it: each backend's
//! resource identifier (RFC 8707, accepted as a token audience) and the RFC 9728 metadata URL
//! that describes it.
//!
//! The base comes from `server.public_url` when configured. Otherwise it is rebuilt from the
//! request (the listener's scheme and the `Host` header, or `:authority` on HTTP/2), which is
//! right for direct access but lets the client choose the host: behind a reverse proxy, or
//! whenever tokens of other services share the IdP, `server.public_url` must be set.

use http::uri::Authority;
use http::{HeaderMap, Uri, header};
use url::Url;

/// Where RFC 9728 protected-resource metadata lives (RFC 9728 §3).
pub(crate) const METADATA_PREFIX: &str = "/.well-known/oauth-protected-resource";

/// A public base URL, split into origin (`scheme://host[:port]`) and path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PublicBase {
    origin: String,
    /// Empty, or a path without trailing slash (`/gateway`) when `server.public_url` has one.
    prefix: String,
}

impl PublicBase {
    /// The base `server.public_url` names.
    pub(crate) fn from_config(url: &Url) -> Self {
        PublicBase {
            origin: url.origin().ascii_serialization(),
            prefix: url.path().trim_end_matches('/').to_owned(),
        }
    }

    /// The base as the client addressed this server: the listener's `scheme` and the `Host`
    /// header (or the request URI's authority). `None` when there is no usable host (missing,
    /// unparsable, or carrying userinfo).
    pub(crate) fn from_request(scheme: &str, headers: &HeaderMap, uri: &Uri) -> Option<Self> {
        let authority: Authority = match headers.get(header::HOST) {
            Some(host) => host.to_str().ok()?.parse().ok()?,
            None => uri.authority()?.clone(),
        };
        if authority.as_str().contains('@') {
            return None;
        }
        let url = Url::parse(&format!("{scheme}://{authority}/")).ok()?;
        url.host()?;
        Some(PublicBase {
            origin: url.origin().ascii_serialization(),
            prefix: String::new(),
        })
    }

    /// The public path prefix (empty or `/something`).
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The public URL of the endpoint at `path` (a backend path, or `/` for the server as a
    /// whole): `https://proxy.example.com/v1/memory`.
    pub(crate) fn resource(&self, path: &str) -> String {
        if path == "/" {
            format!("{}{}/", self.origin, self.prefix)
        } else {
            format!("{}{}{}", self.origin, self.prefix, path)
        }
    }

    /// The public URL of a request for `request_path` (what a DPoP proof's `htu` names): the
    /// origin, the public prefix unless the path carries it already, and the path.
    pub(crate) fn url_of(&self, request_path: &str) -> String {
        let carries_prefix = !self.prefix.is_empty()
            && request_path
                .strip_prefix(&self.prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        if carries_prefix || self.prefix.is_empty() {
            format!("{}{request_path}", self.origin)
        } else {
            format!("{}{}{request_path}", self.origin, self.prefix)
        }
    }

    /// The RFC 9728 metadata URL of the resource at `path`: the well-known prefix inserted
    /// between the origin and the resource's path (a root resource has no suffix).
    pub(crate) fn metadata_url(&self, path: &str) -> String {
        let path = if path == "/" { "" } else { path };
        format!("{}{METADATA_PREFIX}{}{path}", self.origin, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue, Uri, header};

    use super::PublicBase;

    fn with_host(host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        headers
    }

    #[test]
    fn from_config_keeps_a_path_prefix() {
        let base = PublicBase::from_config(&"https://proxy.example.com/gw/".parse().unwrap());
        assert_eq!(
            base.resource("/v1/memory"),
            "https://proxy.example.com/gw/v1/memory"
        );
        assert_eq!(
            base.metadata_url("/v1/memory"),
            "https://proxy.example.com/.well-known/oauth-protected-resource/gw/v1/memory"
        );
        assert_eq!(base.resource("/"), "https://proxy.example.com/gw/");
        assert_eq!(base.prefix(), "/gw");

        let plain = PublicBase::from_config(&"https://proxy.example.com".parse().unwrap());
        assert_eq!(plain.resource("/"), "https://proxy.example.com/");
        assert_eq!(
            plain.metadata_url("/"),
            "https://proxy.example.com/.well-known/oauth-protected-resource"
        );
        assert_eq!(plain.prefix(), "");
    }

    #[test]
    fn from_request_uses_scheme_and_host() {
        let uri = Uri::from_static("/v1/x");
        let base = PublicBase::from_request("http", &with_host("127.0.0.1:8080"), &uri).unwrap();
        assert_eq!(base.resource("/v1/x"), "http://127.0.0.1:8080/v1/x");
        assert_eq!(
            base.metadata_url("/v1/x"),
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource/v1/x"
        );
        // Default ports and host case are normalised the way clients compute their resource.
        let base =
            PublicBase::from_request("https", &with_host("Proxy.Example:443"), &uri).unwrap();
        assert_eq!(base.resource("/a"), "https://proxy.example/a");
        // HTTP/2: no Host, the URI carries the authority.
        let h2 = Uri::from_static("https://proxy.example:8443/a");
        let base = PublicBase::from_request("https", &HeaderMap::new(), &h2).unwrap();
        assert_eq!(base.resource("/a"), "https://proxy.example:8443/a");
    }

    #[test]
    fn from_request_refuses_unusable_hosts() {
        let uri = Uri::from_static("/");
        for host in ["", "user@evil.example", "a b", "evil\".example", "[::1"] {
            assert_eq!(
                PublicBase::from_request("http", &with_host(host), &uri),
                None,
                "{host:?}"
            );
        }
        assert_eq!(
            PublicBase::from_request("http", &HeaderMap::new(), &uri),
            None
        );
    }
}
