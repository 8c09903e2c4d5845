//! The connection to the smcp server: forwarding with the client's own bearer token, one
//! refresh and replay after a `401`.
//!
//! Forwarding is the transport crate's [`HttpBackend`] (pooled hyper client, TLS with system
//! roots plus `--server-ca-file`, hop-by-hop headers dropped, `Host` set to the server's,
//! `--server-timeout` on connecting and response headers only), so bodies stream both ways.
//! In `auth-mode oidc` every request carries `Authorization: Bearer <token>` from the
//! [`TokenSource`], replacing whatever the application sent. In `none` the application's own
//! `Authorization`, if any, passes through.
//!
//! On a `401` the token is replaced (once for all concurrent requests that saw the same token,
//! see [`TokenSource::refresh_rejected`]) and the request sent again, when its body was small
//! enough to keep ([`RequestBody`]). On a `403` that asks for more scopes, the token is stepped
//! up and the request sent again, once ([`step_up`]).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use smcp_auth::token_source::{AccessToken, ChallengeProbe, TokenError, TokenSource, dpop_nonce};
use smcp_transport::body::{self, Body, BoxError};
use smcp_transport::http::{
    ClientAddr, ForwardContext, ForwardError, HttpBackend, HttpBackendOptions,
};
use smcp_transport::reply::ProxyError;
use url::Url;

use super::config::ClientConfig;
use super::credentials::{self, BuildError, ClientTokens};
use super::replay::RequestBody;

mod step_up;

/// What went wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No access token could be obtained.
    #[error("no access token: {0}")]
    Token(#[from] TokenError),
    /// The server could not be reached, or failed before answering.
    #[error(transparent)]
    Forward(#[from] ForwardError),
    /// The application's request body failed while it was being read.
    #[error("the request body failed: {0}")]
    Body(String),
}

impl UpstreamError {
    /// The HTTP status smcp-client answers with: 502 (token unavailable, server unreachable),
    /// 504 (server too slow), 413/400 (the application's body).
    pub fn status(&self) -> StatusCode {
        match self {
            UpstreamError::Token(_) => StatusCode::BAD_GATEWAY,
            UpstreamError::Forward(error) => error.status(),
            UpstreamError::Body(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// This failure in the terms of the one error mapping ([`ProxyError::respond`] decides
    /// the answer): the same status as [`status`](Self::status), with [`message`](Self::message).
    pub fn proxy_error(&self, server: &Url) -> ProxyError {
        match self {
            UpstreamError::Token(_) => ProxyError::TokenUnavailable(self.message(server)),
            UpstreamError::Forward(ForwardError::Timeout { .. }) => {
                ProxyError::UpstreamTimeout(self.message(server))
            }
            UpstreamError::Forward(ForwardError::Body {
                too_large: true, ..
            }) => ProxyError::PayloadTooLarge { limit: None },
            UpstreamError::Forward(ForwardError::Body { .. }) | UpstreamError::Body(_) => {
                ProxyError::BodyUnreadable
            }
            UpstreamError::Forward(_) => ProxyError::UpstreamUnreachable(self.message(server)),
        }
    }

    /// A message for the application saying which side failed (never a token or secret).
    pub fn message(&self, server: &Url) -> String {
        match self {
            UpstreamError::Token(error) => {
                format!("smcp-client could not obtain an access token for the server: {error}")
            }
            UpstreamError::Forward(ForwardError::Timeout { after, .. }) => format!(
                "the server at {} sent no response within {after:?}",
                origin(server)
            ),
            UpstreamError::Forward(ForwardError::Body {
                too_large: true, ..
            }) => "the request body is too large".to_owned(),
            UpstreamError::Forward(ForwardError::Body { .. }) | UpstreamError::Body(_) => {
                "the request body could not be read".to_owned()
            }
            UpstreamError::Forward(error) => format!(
                "smcp-client cannot reach the server at {} ({}: {error})",
                origin(server),
                error.kind()
            ),
        }
    }
}

fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// How paths given to [`Upstream::send`] are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathBase {
    /// Appended to the server URL's path (HTTP mode: `/x` goes to `<server-url>/x`, `/` to the
    /// server URL itself).
    ServerUrl,
    /// Absolute paths on the server's origin (stdio mode, which follows URLs the server
    /// gives, such as a legacy SSE endpoint).
    Origin,
}

/// The request line and headers of something to send; the body travels separately.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// Method.
    pub method: Method,
    /// Headers to send (hop-by-hop ones are dropped; `Authorization` is replaced in oidc mode).
    pub headers: HeaderMap,
    /// The application's address, sent as `X-Forwarded-For`.
    pub client_addr: IpAddr,
    /// `http` or `https`: how the application reached smcp-client.
    pub client_scheme: &'static str,
}

impl RequestHead {
    /// A request smcp-client makes on its own behalf (stdio mode, probes, check).
    pub fn own(method: Method) -> Self {
        RequestHead {
            method,
            headers: HeaderMap::new(),
            client_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            client_scheme: "http",
        }
    }
}

/// The server connection; cheap to clone.
#[derive(Clone)]
pub struct Upstream {
    inner: Arc<Inner>,
}

struct Inner {
    backend: HttpBackend,
    tokens: Option<ClientTokens>,
    replay_limit: usize,
    base: PathBase,
    server_url: Url,
    /// The server's last `DPoP-Nonce` (RFC 9449 §9), put in later proofs.
    dpop_nonce: std::sync::Mutex<Option<String>>,
}

impl Upstream {
    /// Builds the forwarder, the IdP client and the token source. Reads CA files now; fetches
    /// nothing until the first request.
    pub fn new(config: &ClientConfig, base: PathBase) -> Result<Self, BuildError> {
        let server_url = config.server.url.clone();
        let backend_url = match base {
            PathBase::ServerUrl => server_url.clone(),
            PathBase::Origin => {
                let mut origin = server_url.clone();
                origin.set_path("/");
                origin.set_query(None);
                origin
            }
        };
        let backend = HttpBackend::new(HttpBackendOptions {
            backend_id: Arc::from("server"),
            url: backend_url,
            timeout: config.server.timeout,
            ca_file: None,
            trusted_cas: config.server.trusted_cas.clone(),
        })?;
        let probe = challenge_probe(backend.clone(), base, &server_url);
        let tokens = if config.oidc.is_some() {
            let http = credentials::idp_http_client(config)?;
            credentials::client_tokens(config, http, Some(probe))
        } else {
            None
        };
        Ok(Upstream {
            inner: Arc::new(Inner {
                backend,
                tokens,
                replay_limit: config.server.replay_body_limit,
                base,
                server_url,
                dpop_nonce: std::sync::Mutex::new(None),
            }),
        })
    }

    /// The server URL.
    pub fn server_url(&self) -> &Url {
        &self.inner.server_url
    }

    /// Request bodies up to this many bytes are kept for a replay.
    pub fn replay_limit(&self) -> usize {
        self.inner.replay_limit
    }

    /// The token source for requests to the server URL itself (`None` in auth mode `none`).
    pub async fn endpoint_tokens(&self) -> Option<TokenSource> {
        let tokens = self.inner.tokens.as_ref()?;
        Some(tokens.for_url(&self.inner.server_url).await)
    }

    /// The URL a request for `path_and_query` (in this upstream's [`PathBase`]) goes to,
    /// without its query: what its protected resource is looked up for.
    fn request_url(&self, path_and_query: &str) -> Url {
        join_request_url(&self.inner.server_url, self.inner.base, path_and_query)
    }

    /// The path to send for the server URL itself, in this upstream's [`PathBase`].
    pub fn endpoint_path(&self) -> String {
        endpoint_path(self.inner.base, &self.inner.server_url)
    }

    /// Sends a request with a whole body in memory (replayable after a `401`).
    pub async fn send_bytes(
        &self,
        head: &RequestHead,
        path_and_query: &str,
        body: Bytes,
    ) -> Result<Response<Body>, UpstreamError> {
        self.send_body(head, path_and_query, &mut RequestBody::Kept(body))
            .await
    }

    /// Sends a request whose body is still streaming: read into memory up to the replay limit,
    /// streamed beyond it.
    pub async fn send_streaming(
        &self,
        head: &RequestHead,
        path_and_query: &str,
        body: Body,
    ) -> Result<Response<Body>, UpstreamError> {
        let mut body = RequestBody::read(body, self.inner.replay_limit)
            .await
            .map_err(|e: BoxError| UpstreamError::Body(e.to_string()))?;
        self.send_body(head, path_and_query, &mut body).await
    }

    /// Sends `body` (already read as far as it will be kept): refreshing the token and
    /// replaying once on a `401`, stepping up and replaying once on a `403` that asks for more
    /// scopes, when the body allows.
    pub(crate) async fn send_body(
        &self,
        head: &RequestHead,
        path_and_query: &str,
        body: &mut RequestBody,
    ) -> Result<Response<Body>, UpstreamError> {
        let Some(tokens) = &self.inner.tokens else {
            return self.forward(head, path_and_query, body.take(), None).await;
        };
        let tokens = tokens.for_url(&self.request_url(path_and_query)).await;
        let token = tokens.token().await?;
        let (response, token) = self
            .send_refreshing(&tokens, token, head, path_and_query, body)
            .await?;
        self.follow_step_up(&tokens, &token, response, head, path_and_query, body)
            .await
    }

    /// Sends with `token`; on a `401` replaces the token and sends again when the body was
    /// kept. Returns the response and the token it answers.
    async fn send_refreshing(
        &self,
        tokens: &TokenSource,
        token: AccessToken,
        head: &RequestHead,
        path_and_query: &str,
        body: &mut RequestBody,
    ) -> Result<(Response<Body>, AccessToken), UpstreamError> {
        let mut response = self
            .forward(head, path_and_query, body.take(), Some((tokens, &token)))
            .await?;
        if response.status() == StatusCode::UNAUTHORIZED
            && token.is_dpop_bound()
            && body.kept().is_some()
            && asks_for_dpop_nonce(response.headers())
        {
            // RFC 9449 §9: the server wants its nonce in the proof (remembered by forward);
            // the same token, once more.
            tracing::debug!("the server asks for a DPoP nonce; sending the request again with it");
            drop(response);
            response = self
                .forward(head, path_and_query, body.take(), Some((tokens, &token)))
                .await?;
        }
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok((response, token));
        }
        metrics::counter!("smcp_client_token_refreshes_total", "reason" => "unauthorized")
            .increment(1);
        if body.kept().is_none() {
            tracing::warn!(
                "the server refused the token, and the request body was too large to send again \
                 (--replay-body-limit): passing the 401 on; later requests get a new token"
            );
            if let Err(error) = tokens.refresh_rejected(&token).await {
                tracing::warn!(%error, "cannot replace the refused token");
            }
            return Ok((response, token));
        }
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned();
        drop(response);
        tracing::info!(challenge = %challenge, "the server refused the access token; refreshing it and retrying once");
        let fresh = tokens.refresh_rejected(&token).await?;
        let response = self
            .forward(head, path_and_query, body.take(), Some((tokens, &fresh)))
            .await?;
        Ok((response, fresh))
    }

    /// Sends one request: with `token` from `tokens` (and, for a DPoP-bound token, a fresh
    /// proof for this method and URL), or the application's own credentials in auth mode
    /// none. Remembers a `DPoP-Nonce` the server sends.
    async fn forward(
        &self,
        head: &RequestHead,
        path_and_query: &str,
        body: Body,
        token: Option<(&TokenSource, &AccessToken)>,
    ) -> Result<Response<Body>, UpstreamError> {
        let mut set_headers = HeaderMap::new();
        match token {
            Some((tokens, token)) => {
                let value = HeaderValue::try_from(token.authorization()).map_err(|_| {
                    TokenError::InvalidResponse("the token is not a valid header".into())
                })?;
                set_headers.insert(AUTHORIZATION, mark_sensitive(value));
                if token.is_dpop_bound()
                    && let Some(key) = &tokens.config().dpop
                {
                    let nonce = self.server_nonce();
                    let url = self.request_url(path_and_query);
                    let proof = key.proof(
                        head.method.as_str(),
                        &url,
                        Some(token.secret()),
                        nonce.as_deref(),
                    );
                    let value = HeaderValue::try_from(proof).map_err(|_| {
                        TokenError::InvalidResponse("the DPoP proof is not a valid header".into())
                    })?;
                    set_headers.insert(DPOP, mark_sensitive(value));
                }
            }
            None => {
                // auth-mode none: the application's own credentials (a DPoP proof included),
                // if any, pass through.
                if let Some(value) = head.headers.get(AUTHORIZATION) {
                    set_headers.insert(AUTHORIZATION, value.clone());
                }
                if let Some(value) = head.headers.get(DPOP) {
                    set_headers.insert(DPOP, value.clone());
                }
            }
        }
        let mut request = Request::new(body);
        *request.method_mut() = head.method.clone();
        *request.headers_mut() = head.headers.clone();
        let ctx = ForwardContext {
            upstream_path_and_query: path_and_query.to_owned(),
            // HTTP mode: legacy SSE endpoint URIs under the server URL's path come back
            // relative to it, so the application's POSTs are appended to it again.
            public_prefix: match self.inner.base {
                PathBase::ServerUrl if self.inner.server_url.path() != "/" => Some(Arc::from("")),
                _ => None,
            },
            client_addr: ClientAddr::new(head.client_addr),
            client_scheme: head.client_scheme,
            client_host: None,
            strip_headers: Arc::from([]),
            set_headers,
            endpoint_observer: None,
        };
        let response = self.inner.backend.forward(request, ctx).await?;
        if let Some(nonce) = dpop_nonce(response.headers()) {
            *self
                .inner
                .dpop_nonce
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(nonce);
        }
        Ok(response)
    }

    /// The server's last `DPoP-Nonce`, for the next proof.
    fn server_nonce(&self) -> Option<String> {
        self.inner
            .dpop_nonce
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The `DPoP` proof header.
const DPOP: http::HeaderName = http::HeaderName::from_static(smcp_auth::dpop::PROOF_HEADER);

/// A `401` asking for a DPoP nonce: a usable `DPoP-Nonce` header and `error="use_dpop_nonce"`.
fn asks_for_dpop_nonce(headers: &HeaderMap) -> bool {
    dpop_nonce(headers).is_some()
        && headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("use_dpop_nonce"))
}

fn mark_sensitive(mut value: HeaderValue) -> HeaderValue {
    value.set_sensitive(true);
    value
}

/// `path_and_query` on `server_url` as a backend built on `base` sends it, without the query.
fn join_request_url(server_url: &Url, base: PathBase, path_and_query: &str) -> Url {
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(path, _)| path);
    let mut url = server_url.clone();
    url.set_query(None);
    url.set_fragment(None);
    match base {
        PathBase::ServerUrl => {
            let joined = format!("{}{path}", url.path().trim_end_matches('/'));
            url.set_path(&joined);
        }
        PathBase::Origin => url.set_path(path),
    }
    url
}

/// The server URL as a path for a backend built on `base`.
fn endpoint_path(base: PathBase, server_url: &Url) -> String {
    match base {
        PathBase::ServerUrl => "/".to_owned(),
        PathBase::Origin => match server_url.query() {
            Some(query) => format!("{}?{query}", server_url.path()),
            None => server_url.path().to_owned(),
        },
    }
}

/// The body of the unauthenticated probe: an MCP `initialize`, which every MCP endpoint
/// answers (with a `401` and its challenge when it is protected).
const PROBE_INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":"smcp-client-probe","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"smcp-client","version":"0"}}}"#;

/// Asks the server for its `WWW-Authenticate` challenge: an unauthenticated `initialize`. A
/// server that accepts it after all (no auth) is sent a `DELETE` for the session it opened.
fn challenge_probe(backend: HttpBackend, base: PathBase, server_url: &Url) -> ChallengeProbe {
    let path = endpoint_path(base, server_url);
    Arc::new(move || {
        let backend = backend.clone();
        let path = path.clone();
        Box::pin(async move {
            let mut request = Request::new(body::full(PROBE_INITIALIZE));
            *request.method_mut() = Method::POST;
            let headers = request.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            headers.insert(
                ACCEPT,
                HeaderValue::from_static("application/json, text/event-stream"),
            );
            let response = match backend.forward(request, probe_context(&path)).await {
                Ok(response) => response,
                Err(error) => {
                    tracing::debug!(%error, "the discovery probe got no answer");
                    return None;
                }
            };
            let challenge = response
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            tracing::debug!(status = %response.status(), challenge = challenge.as_deref().unwrap_or("-"), "discovery probe answered");
            if response.status().is_success()
                && let Some(session) = response.headers().get(MCP_SESSION_ID).cloned()
            {
                // The server did not want a token after all: end the session we opened.
                drop(response);
                let mut delete = Request::new(body::empty());
                *delete.method_mut() = Method::DELETE;
                delete.headers_mut().insert(MCP_SESSION_ID, session);
                let _ = backend.forward(delete, probe_context(&path)).await;
            }
            challenge
        })
    })
}

/// The `Mcp-Session-Id` header.
pub(crate) const MCP_SESSION_ID: http::HeaderName = http::HeaderName::from_static("mcp-session-id");

fn probe_context(path: &str) -> ForwardContext {
    ForwardContext {
        upstream_path_and_query: path.to_owned(),
        public_prefix: None,
        client_addr: ClientAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        client_scheme: "http",
        client_host: None,
        strip_headers: Arc::from([]),
        set_headers: HeaderMap::new(),
        endpoint_observer: None,
    }
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::{PathBase, endpoint_path};

    #[test]
    fn request_urls_in_both_path_bases() {
        let url = |base: &str, path_base, path: &str| {
            let server = Url::parse(base).unwrap();
            super::join_request_url(&server, path_base, path).to_string()
        };
        assert_eq!(
            url("https://h/", PathBase::ServerUrl, "/v1/memory/mcp?x=1"),
            "https://h/v1/memory/mcp"
        );
        assert_eq!(
            url("https://h/base/", PathBase::ServerUrl, "/v1/a"),
            "https://h/base/v1/a"
        );
        assert_eq!(
            url(
                "https://h/v1/memory?t=1",
                PathBase::Origin,
                "/v1/memory/message?s=2"
            ),
            "https://h/v1/memory/message"
        );
    }

    #[test]
    fn endpoint_paths() {
        let url = Url::parse("https://h/v1/memory?tenant=a").unwrap();
        assert_eq!(endpoint_path(PathBase::ServerUrl, &url), "/");
        assert_eq!(endpoint_path(PathBase::Origin, &url), "/v1/memory?tenant=a");
        let root = Url::parse("https://h").unwrap();
        assert_eq!(endpoint_path(PathBase::Origin, &root), "/");
    }
}
