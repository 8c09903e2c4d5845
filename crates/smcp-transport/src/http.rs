//! The HTTP backend: forwards requests to a remote MCP server (Streamable HTTP or legacy
//! HTTP+SSE) and streams its responses back.
//!
//! One [`HttpBackend`] per configured `transport: http` backend holds its connection pools
//! (HTTP/1.1 for `http://`, HTTP/2 or HTTP/1.1 by ALPN for `https://`; see `client`).
//! [`HttpBackend::forward`] applies the header rules (hop-by-hop headers dropped both ways, the
//! client's `Authorization`, `DPoP` and identity headers removed, `Host` set to the backend's own
//! authority, `X-Forwarded-*` overwritten, identity headers set), joins the routed path onto
//! the backend URL's path, and sends the request with its body streamed. The backend's
//! response, whatever its status, comes back with its body streamed frame by frame, so SSE
//! events reach the client as they are sent.
//!
//! The backend's `timeout` bounds connecting and waiting for the response headers only, never
//! the body: an SSE stream may rightly stay open for many minutes.
//!
//! What this module does not do: authenticate, route, or build error responses. A failure is
//! a [`ForwardError`] that the proxy turns into a JSON-RPC error body once, at its edge.

mod bodies;
mod client;
mod client_addr;
mod endpoint;
mod error;
mod headers;
mod path;
mod pool;
pub mod sessions;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::header::CONTENT_LENGTH;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, Uri, Version};

use self::bodies::{RequestBody, ResponseBody};
use self::client::Clients;
pub use self::client::TrustedCas;
pub use self::client_addr::ClientAddr;
use self::endpoint::{EndpointBody, EndpointPolicy, EndpointRewrite, is_event_stream};
pub use self::endpoint::{EndpointObserver, LegacySession, legacy_session};
pub use self::error::{ForwardError, HttpBackendError};
use crate::body::{self, Body};

/// Everything needed to build an [`HttpBackend`], taken from one backend's configuration.
#[derive(Debug, Clone)]
pub struct HttpBackendOptions {
    /// The backend's configured id: the `backend` label of logs and metrics.
    pub backend_id: Arc<str>,
    /// The backend's URL (`http` or `https`). Its path is the base every routed path is joined
    /// onto, and its query, if any, is sent with every request.
    pub url: url::Url,
    /// Bounds connecting plus waiting for the response headers (not the body).
    pub timeout: Duration,
    /// A PEM file of extra trusted CA certificates, in addition to the system roots, read by
    /// [`HttpBackend::new`]. Ignored when `trusted_cas` is set.
    pub ca_file: Option<PathBuf>,
    /// Extra trusted CA certificates already loaded ([`TrustedCas::load`], as smcp's config
    /// validation does): the file is not read again.
    pub trusted_cas: Option<TrustedCas>,
}

/// What the proxy knows about one request that the backend must not take from the client.
#[derive(Debug, Clone)]
pub struct ForwardContext {
    /// The path (and `?query`) after routing, starting with `/`; joined onto the URL's path.
    pub upstream_path_and_query: String,
    /// `Some(prefix)` when routing stripped the public prefix `prefix` from the path. Legacy
    /// SSE `endpoint` events in the response are then rewritten to carry it (see
    /// [`HttpBackend::forward`]).
    pub public_prefix: Option<Arc<str>>,
    /// The client's IP address, sent as `X-Forwarded-For`.
    pub client_addr: ClientAddr,
    /// The scheme the client used, `"http"` or `"https"`, sent as `X-Forwarded-Proto`.
    pub client_scheme: &'static str,
    /// The `Host` (or `:authority`) the client used, sent as `X-Forwarded-Host`.
    pub client_host: Option<HeaderValue>,
    /// Identity header names the proxy owns (e.g. `x-subject`, `x-email`): always removed
    /// from the client's request, so a client cannot claim an identity.
    pub strip_headers: Arc<[HeaderName]>,
    /// Headers the proxy sets after authentication (the identity hand-off), inserted after
    /// stripping and replacing any header of the same name.
    pub set_headers: HeaderMap,
    /// Told the session named by the first legacy SSE `endpoint` event of an SSE response,
    /// and when that stream ends (see [`EndpointObserver`]). `None` skips the scan unless
    /// `public_prefix` asks for the rewrite.
    pub endpoint_observer: Option<Arc<dyn EndpointObserver>>,
}

/// A remote MCP server reached over HTTP(S).
///
/// Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct HttpBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    id: Arc<str>,
    /// The backend URL as configured: the origin legacy SSE endpoints must stay on.
    url: url::Url,
    /// The backend's scheme and authority, parsed once: every upstream URI starts with them.
    scheme: Scheme,
    authority: Authority,
    /// The backend's authority (`host[:port]`), sent as `Host`.
    host: HeaderValue,
    /// The URL's path, the base of every upstream path.
    base_path: String,
    /// The URL's query, sent with every request.
    base_query: Option<String>,
    timeout: Duration,
    clients: Clients,
}

impl HttpBackend {
    /// Builds the backend and its client. Reads the CA file (and, for `https`, the system
    /// roots) here, once: nothing on the request path touches the file system.
    pub fn new(opts: HttpBackendOptions) -> Result<Self, HttpBackendError> {
        let url = &opts.url;
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return Err(HttpBackendError::UnsupportedScheme {
                scheme: scheme.to_owned(),
            });
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(HttpBackendError::CredentialsInUrl);
        }
        let host = url.host_str().ok_or(HttpBackendError::MissingHost)?;
        // What a socket connects to: the host without the brackets of an IPv6 address.
        let connect_host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        // `port()` is None for the scheme's default port, which Host then leaves out too.
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let base_path = url.path().to_owned();
        // Check once that the URL makes a valid request target, so `forward` cannot fail on it.
        Uri::try_from(format!("{scheme}://{authority}{base_path}"))
            .map_err(|e| HttpBackendError::InvalidUrl(e.into()))?;
        let host = HeaderValue::try_from(authority.as_str())
            .map_err(|e| HttpBackendError::InvalidUrl(e.into()))?;
        let authority =
            Authority::try_from(authority).map_err(|e| HttpBackendError::InvalidUrl(e.into()))?;
        let scheme =
            Scheme::try_from(scheme).map_err(|e| HttpBackendError::InvalidUrl(e.into()))?;
        // Loaded CAs were checked already; a file is read (and checked) here, also for a plain
        // URL, so that a broken file fails now rather than when the URL becomes https.
        let cas = match (&opts.trusted_cas, &opts.ca_file) {
            (Some(cas), _) => Some(cas.clone()),
            (None, Some(path)) => Some(TrustedCas::load(path)?),
            (None, None) => None,
        };
        let clients = if scheme == Scheme::HTTPS {
            client::tls(opts.timeout, cas.as_ref())?
        } else {
            let port = url.port_or_known_default().unwrap_or(80);
            client::plain(connect_host, port)
        };
        Ok(Self {
            inner: Arc::new(Inner {
                id: opts.backend_id,
                url: opts.url.clone(),
                scheme,
                authority,
                host,
                base_path,
                base_query: url.query().map(str::to_owned),
                timeout: opts.timeout,
                clients,
            }),
        })
    }

    /// The backend's id, as given in its options.
    pub fn id(&self) -> &Arc<str> {
        &self.inner.id
    }

    /// Forwards `req` to the backend and returns its response, body still streaming.
    ///
    /// The request's own URI is ignored: the upstream target is the backend URL joined with
    /// `ctx.upstream_path_and_query` (a routed path of exactly `/` maps to the URL's path as
    /// it is). Headers are rewritten as described in the module docs; the request goes out as
    /// HTTP/1.1 or, when the backend negotiates it over TLS, HTTP/2, whatever version the
    /// client used.
    ///
    /// The response's status, headers (less hop-by-hop ones) and body pass through unchanged,
    /// with one exception: in an SSE stream the data of `event: endpoint` events must resolve
    /// to the backend's own origin (else the stream ends with an error, kind `endpoint`) and
    /// is sent on path-absolute; when `ctx.public_prefix` is set it is put into the public
    /// path space (the URL's base path removed if it starts with it, the public prefix put in
    /// front). When
    /// `ctx.endpoint_observer` is set and the response is an SSE stream, the session named
    /// by its first endpoint event is reported to it, and the end of the stream after that.
    ///
    /// Errors (refused connection, DNS or TLS failure, no headers within the timeout, broken
    /// HTTP) are logged, counted in `smcp_upstream_errors_total{backend,kind}` and returned; a
    /// failing request body (the client's: over its size limit, or the client gone) is returned
    /// as [`ForwardError::Body`] without counting it against the backend; 4xx and 5xx
    /// responses are not errors. A backend stream that breaks later is logged and counted with kind `body`.
    pub async fn forward(
        &self,
        req: Request<Body>,
        ctx: ForwardContext,
    ) -> Result<Response<Body>, ForwardError> {
        // Boxed where it is made: the state of a forward (the pooled send, its timeout, the
        // response wrappers) is some kilobytes, and every future that awaits it inline grows
        // by that much and copies it again when it is itself created, once per level (see
        // `docs/benchmarks.md`, "future sizes").
        let result = Box::pin(self.forward_inner(req, &ctx)).await;
        match &result {
            // The client's own body failed (over the size limit, or the client went away):
            // not the backend's fault, so not an upstream error.
            Err(e @ ForwardError::Body { .. }) => {
                tracing::debug!(backend = %self.inner.id, error = %e, "request body failed while forwarding");
            }
            Err(e) => record_error(&self.inner.id, e.kind(), e),
            Ok(_) => {}
        }
        result
    }

    async fn forward_inner(
        &self,
        req: Request<Body>,
        ctx: &ForwardContext,
    ) -> Result<Response<Body>, ForwardError> {
        let inner = &*self.inner;
        let (mut parts, body) = req.into_parts();
        parts.uri = self.upstream_uri(&ctx.upstream_path_and_query)?;
        // The client's version says nothing about the backend connection; hyper picks
        // HTTP/1.1 or HTTP/2 per connection (and refuses an HTTP/2 request on HTTP/1.1).
        parts.version = Version::HTTP_11;
        // Extensions carry the proxy's per-request state (claims, upgrade handles): not the
        // backend's business.
        parts.extensions = http::Extensions::new();
        headers::prepare_request(&mut parts.headers, ctx, &inner.host);
        let (body, body_failure) = RequestBody::new(body);
        let upstream_req = Request::from_parts(parts, body);

        let (response, lease) =
            match tokio::time::timeout(inner.timeout, inner.clients.send(upstream_req)).await {
                Err(_elapsed) => {
                    return Err(ForwardError::Timeout {
                        after: inner.timeout,
                    });
                }
                Ok(Err(e)) => {
                    return Err(ForwardError::from_client(
                        &e,
                        inner.timeout,
                        body_failure.get(),
                    ));
                }
                Ok(Ok(response)) => response,
            };

        let (mut parts, incoming) = response.into_parts();
        headers::remove_hop_by_hop(&mut parts.headers);
        let watched = ResponseBody::new(incoming, Arc::clone(&inner.id), lease);
        let body = if is_event_stream(&parts.headers) {
            // Every SSE stream is scanned: a legacy `endpoint` event is checked and put into
            // the public path space whatever the route (see `endpoint`), and may change length.
            parts.headers.remove(CONTENT_LENGTH);
            let rewrite = ctx
                .public_prefix
                .as_deref()
                .map(|prefix| EndpointRewrite::new(&inner.base_path, prefix));
            let policy =
                EndpointPolicy::new(self.stream_url(&ctx.upstream_path_and_query), rewrite);
            body::boxed(EndpointBody::new(
                watched,
                Arc::clone(&inner.id),
                policy,
                ctx.endpoint_observer.clone(),
            ))
        } else {
            body::boxed(watched)
        };
        Ok(Response::from_parts(parts, body))
    }

    /// The backend URL a stream for `path_and_query` (as routed) was requested from: what
    /// relative endpoint URIs resolve against.
    fn stream_url(&self, path_and_query: &str) -> url::Url {
        let inner = &*self.inner;
        let joined = path::join(
            &inner.base_path,
            inner.base_query.as_deref(),
            path_and_query,
        );
        // A routed path starting with `//` would join as another host: keep the origin.
        match inner.url.join(&joined) {
            Ok(url) if url.origin() == inner.url.origin() => url,
            _ => inner.url.clone(),
        }
    }

    /// The URI for `path_and_query` (as routed) on this backend: absolute for hyper-util's
    /// client, origin-form (as written on the wire) for the plain-HTTP pool.
    fn upstream_uri(&self, path_and_query: &str) -> Result<Uri, ForwardError> {
        let inner = &*self.inner;
        let joined = path::join(
            &inner.base_path,
            inner.base_query.as_deref(),
            path_and_query,
        );
        // Scheme and authority were parsed at startup; only the path is parsed here, and it
        // comes from an already-parsed request URI, so this fails only on a caller bug.
        let invalid = |e: &dyn std::fmt::Display| ForwardError::Protocol {
            detail: format!("invalid upstream path {path_and_query:?}: {e}"),
        };
        let path_and_query = PathAndQuery::try_from(joined).map_err(|e| invalid(&e))?;
        let mut parts = http::uri::Parts::default();
        if inner.clients.wants_absolute_uri() {
            parts.scheme = Some(inner.scheme.clone());
            parts.authority = Some(inner.authority.clone());
        }
        parts.path_and_query = Some(path_and_query);
        Uri::from_parts(parts).map_err(|e| invalid(&e))
    }
}

#[cfg(test)]
impl HttpBackend {
    /// How many idle pooled connections the calling thread holds (plain HTTP only).
    fn idle_connections_on_this_thread(&self) -> usize {
        match &self.inner.clients {
            client::Clients::Plain(pool) => pool.idle_on_this_thread(),
            client::Clients::Tls(_) => 0,
        }
    }
}

/// Logs and counts one upstream failure of `backend`.
fn record_error(backend: &Arc<str>, kind: &'static str, error: &dyn std::fmt::Display) {
    tracing::warn!(backend = %backend, kind, error = %error, "upstream request failed");
    metrics::counter!(
        "smcp_upstream_errors_total",
        "backend" => Arc::clone(backend),
        "kind" => kind
    )
    .increment(1);
}
