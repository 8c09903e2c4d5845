//! HTTP mode: a local HTTP proxy that adds the client's bearer token.
//!
//! Applications talk to `http://127.0.0.1:8081/<path>` as if it were the server; every request
//! except smcp-client's own `/health` and metrics path is forwarded to `--server-url` with the
//! path (and query) appended, its body and the response streamed (SSE event by event). A
//! failure to get a token or to reach the server is answered `502` (`504` for a server that
//! sends no headers in time) with a JSON-RPC error body saying which, carrying the request's id
//! when the body was a JSON-RPC request.

mod listener;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use metrics_exporter_prometheus::PrometheusHandle;
use smcp_transport::body::{self, Body};
use smcp_transport::reply::ProxyError;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::config::{ClientConfig, ListenConfig};
use super::credentials::BuildError;
use super::replay::RequestBody;
use super::reply;
use super::upstream::{PathBase, RequestHead, Upstream, UpstreamError};

/// smcp-client's HTTP mode, ready to serve.
pub struct HttpProxy {
    app: Arc<ProxyApp>,
    tls: Option<TlsAcceptor>,
}

pub(crate) struct ProxyApp {
    upstream: Upstream,
    listen: ListenConfig,
    prometheus: Option<PrometheusHandle>,
}

impl HttpProxy {
    /// Builds the forwarder, token source and TLS acceptor from `config`. Binds nothing and
    /// fetches no token yet.
    pub fn new(config: &ClientConfig) -> Result<Self, BuildError> {
        let upstream = Upstream::new(config, PathBase::ServerUrl)?;
        let tls = match &config.listen.tls {
            Some((cert, key)) => Some(crate::tls::acceptor_from_pem_files(cert, key)?),
            None => None,
        };
        let prometheus = config
            .listen
            .metrics_path
            .as_ref()
            .and_then(|_| crate::telemetry::prometheus_handle());
        if prometheus.is_some() {
            describe_metrics();
        }
        Ok(HttpProxy {
            app: Arc::new(ProxyApp {
                upstream,
                listen: config.listen.clone(),
                prometheus,
            }),
            tls,
        })
    }

    /// The server connection (for `check`-style calls and tests).
    pub fn upstream(&self) -> &Upstream {
        &self.app.upstream
    }

    /// Whether the listener serves TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves on `listener` until `shutdown` resolves, then lets in-flight requests finish for
    /// up to `--shutdown-timeout`.
    pub async fn run(self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        listener::serve(self.app, listener, self.tls, shutdown).await;
    }
}

/// Help texts for smcp-client's own metrics.
fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "smcp_client_requests_total",
        "Requests answered by smcp-client's HTTP mode, by HTTP status (registered codes; `other` for the rest)"
    );
    describe_histogram!(
        "smcp_client_request_duration_seconds",
        Unit::Seconds,
        "Time from request to response headers (streams are not timed to their end)"
    );
    describe_counter!(
        "smcp_client_token_fetches_total",
        "Token requests to the identity provider, by outcome (success or the failure kind)"
    );
    describe_histogram!(
        "smcp_client_token_fetch_duration_seconds",
        Unit::Seconds,
        "Duration of token requests (discovery included on the first)"
    );
    describe_counter!(
        "smcp_client_token_refreshes_total",
        "Tokens replaced because the server refused them, by reason"
    );
    describe_counter!(
        "smcp_client_step_ups_total",
        "Scope step-ups after a 403 insufficient_scope, by outcome (succeeded, still_forbidden, refused_by_idp, idp_unavailable)"
    );
    describe_gauge!(
        "smcp_client_token_resources",
        "Protected resources with a token of their own (at most 64)"
    );
    describe_gauge!(
        "smcp_client_unscoped_paths",
        "Remembered paths whose server names no protected resource of their own (at most 1,024)"
    );
    describe_counter!(
        "smcp_client_resource_lookups_total",
        "Protected-resource metadata lookups for a URL called, by outcome (found, origin, none, over_limit)"
    );
}

impl ProxyApp {
    pub(crate) fn listen(&self) -> &ListenConfig {
        &self.listen
    }

    /// Answers one request: ops endpoints, else forwarding.
    pub(crate) async fn handle(
        &self,
        request: Request<Incoming>,
        remote: SocketAddr,
        scheme: &'static str,
    ) -> Response<Body> {
        let started = Instant::now();
        let response = match self.ops(&request) {
            Some(response) => response,
            None => self.forward(request, remote, scheme).await,
        };
        let status = response.status();
        metrics::counter!("smcp_client_requests_total", "status" => status_label(status))
            .increment(1);
        metrics::histogram!("smcp_client_request_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        response
    }

    fn ops(&self, request: &Request<Incoming>) -> Option<Response<Body>> {
        let path = request.uri().path();
        let is_metrics = self.listen.metrics_path.as_deref() == Some(path);
        if path != "/health" && !is_metrics {
            return None;
        }
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return Some(reply::error(
                None,
                &ProxyError::MethodNotAllowed { allow: "GET, HEAD" },
            ));
        }
        if !is_metrics {
            return Some(reply::ok(
                "application/json",
                r#"{"status":"ok"}"#.to_owned(),
            ));
        }
        Some(match &self.prometheus {
            Some(handle) => reply::ok("text/plain; version=0.0.4; charset=utf-8", handle.render()),
            None => reply::error(None, &ProxyError::MetricsUnavailable),
        })
    }

    async fn forward(
        &self,
        request: Request<Incoming>,
        remote: SocketAddr,
        scheme: &'static str,
    ) -> Response<Body> {
        let (parts, incoming) = request.into_parts();
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned());
        let head = RequestHead {
            method: parts.method,
            headers: parts.headers,
            client_addr: remote.ip(),
            client_scheme: scheme,
        };
        let server = self.upstream.server_url();
        let mut body =
            match RequestBody::read(body::boxed(incoming), self.upstream.replay_limit()).await {
                Ok(body) => body,
                Err(error) => {
                    let error = UpstreamError::Body(error.to_string());
                    return reply::error(None, &error.proxy_error(server));
                }
            };
        let id = body.kept().and_then(|bytes| reply::request_id(bytes));
        match self
            .upstream
            .send_body(&head, &path_and_query, &mut body)
            .await
        {
            Ok(response) => response,
            Err(error) => {
                tracing::warn!(path = %parts.uri.path(), %error, "request not forwarded");
                reply::error(id.as_ref(), &error.proxy_error(server))
            }
        }
    }
}

/// The `status` label of `status`: a registered status code, or `other`. The status is the
/// upstream server's to choose (any of 100 to 999), so unregistered codes share one series.
fn status_label(status: StatusCode) -> String {
    if status.canonical_reason().is_none() {
        return "other".to_owned();
    }
    status.as_str().to_owned()
}

#[cfg(test)]
mod status_label_tests {
    use super::{StatusCode, status_label};

    #[test]
    fn unregistered_statuses_share_one_label() {
        assert_eq!(status_label(StatusCode::OK), "200");
        assert_eq!(status_label(StatusCode::BAD_GATEWAY), "502");
        let odd = StatusCode::from_u16(599).unwrap_or(StatusCode::OK);
        assert_eq!(status_label(odd), "other");
        let odd = StatusCode::from_u16(999).unwrap_or(StatusCode::OK);
        assert_eq!(status_label(odd), "other");
    }
}
