//! The issuer's HTTP side: discovery documents and the JWKS, with counters and an outage
//! switch, served by hyper on the test's own runtime (so paused-time tests stay
//! deterministic: no other thread races the clock).

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::Discovery;
use super::keys::SigningKey;

/// State shared between the [`TestIssuer`](super::TestIssuer) handle and the server.
pub(super) struct Shared {
    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub(super) base: String,
    /// Issuer path (`""` or `/realms/x`).
    pub(super) path: String,
    /// The `issuer` value the discovery document advertises.
    pub(super) advertised_issuer: String,
    pub(super) discovery: Discovery,
    pub(super) keys: Mutex<Vec<SigningKey>>,
    /// JWKs published as-is after the keys (unusable or odd keys for negative tests).
    pub(super) raw_jwks: Mutex<Vec<Value>>,
    pub(super) cache_control: Mutex<Option<String>>,
    pub(super) down: AtomicBool,
    pub(super) jwks_fetches: watch::Sender<usize>,
    pub(super) discovery_fetches: AtomicUsize,
}

impl Shared {
    pub(super) fn jwks_path(&self) -> String {
        format!("{}/jwks", self.path)
    }

    pub(super) fn keys(&self) -> MutexGuard<'_, Vec<SigningKey>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn raw_jwks(&self) -> MutexGuard<'_, Vec<Value>> {
        self.raw_jwks.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn cache_control(&self) -> MutexGuard<'_, Option<String>> {
        self.cache_control.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Accepts connections until the task is aborted; dropping the task drops every connection.
pub(super) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = Arc::clone(&shared);
                connections.spawn(async move {
                    let service = service_fn(move |request| {
                        let shared = Arc::clone(&shared);
                        async move { Ok::<_, Infallible>(handle(&shared, &request)) }
                    });
                    // A client hanging up mid-request is not an issuer failure.
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

fn handle(shared: &Shared, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    let is_jwks = path == shared.jwks_path();
    if is_jwks {
        shared.jwks_fetches.send_modify(|count| *count += 1);
    }
    if shared.down.load(Ordering::Acquire) {
        return respond(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"error": "down"}),
            None,
        );
    }
    if is_jwks {
        let mut keys: Vec<Value> = shared.keys().iter().map(SigningKey::jwk).collect();
        keys.extend(shared.raw_jwks().iter().cloned());
        let cache_control = shared.cache_control().clone();
        return respond(
            StatusCode::OK,
            &json!({ "keys": keys }),
            cache_control.as_deref(),
        );
    }
    let openid = format!("{}/.well-known/openid-configuration", shared.path);
    let oauth = format!("/.well-known/oauth-authorization-server{}", shared.path);
    let serves_metadata = match shared.discovery {
        Discovery::OpenId => path == openid,
        Discovery::OAuth => path == oauth,
        Discovery::Off => false,
    };
    if serves_metadata {
        shared.discovery_fetches.fetch_add(1, Ordering::AcqRel);
        let doc = json!({
            "issuer": shared.advertised_issuer,
            "jwks_uri": format!("{}{}", shared.base, shared.jwks_path()),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256", "EdDSA"],
        });
        return respond(StatusCode::OK, &doc, None);
    }
    respond(StatusCode::NOT_FOUND, &json!({"error": "not_found"}), None)
}

fn respond(status: StatusCode, body: &Value, cache_control: Option<&str>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    if let Some(value) = cache_control.and_then(|v| hyper::header::HeaderValue::from_str(v).ok()) {
        headers.insert(hyper::header::CACHE_CONTROL, value);
    }
    response
}
