//! Operations endpoints answered by smcp-server itself.
//!
//! - `/health`: liveness. 200 while the process can answer at all.
//! - `/ready`: readiness. 503 until every backend can serve (stdio command found, HTTP backend
//!   reachable), until the OIDC signing keys are loaded (`auth.mode: oidc`), and while
//!   draining; the body says which backend (and whether `auth`) is not ready.
//! - `/metrics` (path configurable, can be disabled): Prometheus text.
//! - `/api/models`: the backend listing in the shape of Anthropic's models list, plus each
//!   backend's `path` and `transport`. Never a URL (it may carry credentials), a command line or
//!   an environment.

use http::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use smcp_transport::body::Body;

use super::app::App;
use super::reply;

/// Answers `request` when it is for an operations endpoint; `None` sends it on to routing.
pub(crate) fn answer<B>(app: &App, request: &Request<B>) -> Option<Response<Body>> {
    let path = request.uri().path();
    let endpoint = match path {
        "/health" => health,
        "/ready" => ready,
        "/api/models" => models,
        _ if app.metrics_path() == Some(path) => metrics,
        _ => return None,
    };
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Some(reply::method_not_allowed("GET, HEAD"));
    }
    Some(endpoint(app))
}

fn health(_app: &App) -> Response<Body> {
    reply::json_response(StatusCode::OK, &json!({ "status": "ok" }))
}

fn ready(app: &App) -> Response<Body> {
    let mut backends = serde_json::Map::new();
    let mut all_ready = true;
    for entry in app.backends() {
        let ready = entry.is_ready();
        all_ready &= ready;
        backends.insert(entry.id.to_string(), Value::Bool(ready));
    }
    let auth_ready = app.auth().map(|auth| auth.is_ready());
    all_ready &= auth_ready != Some(false);
    let draining = app.is_draining();
    let (status, word) = if draining {
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else if all_ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    let mut body = json!({ "status": word, "backends": backends });
    if let Some(ready) = auth_ready {
        body["auth"] = Value::Bool(ready);
    }
    reply::json_response(status, &body)
}

fn metrics(app: &App) -> Response<Body> {
    match app.prometheus() {
        Some(handle) => {
            app.in_flight.publish();
            reply::text_response(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                handle.render(),
            )
        }
        None => reply::jsonrpc_error(
            StatusCode::SERVICE_UNAVAILABLE,
            reply::SERVER_ERROR,
            "metrics are unavailable: another metrics recorder owns this process",
        ),
    }
}

fn models(app: &App) -> Response<Body> {
    let created_at = humantime::format_rfc3339_seconds(app.started_at()).to_string();
    let data: Vec<Value> = app
        .backends()
        .iter()
        .map(|entry| {
            let mut item = json!({
                "type": "model",
                "id": &*entry.id,
                "display_name": entry.name,
                "created_at": created_at,
                "path": &*entry.path,
                "transport": entry.kind().as_str(),
            });
            if let Some(model) = &entry.model {
                item["model"] = json!(model);
            }
            if let Some(max_tokens) = entry.max_tokens {
                item["max_tokens"] = json!(max_tokens);
            }
            item
        })
        .collect();
    let first_id = data
        .first()
        .map(|item| item["id"].clone())
        .unwrap_or(Value::Null);
    let last_id = data
        .last()
        .map(|item| item["id"].clone())
        .unwrap_or(Value::Null);
    reply::json_response(
        StatusCode::OK,
        &json!({ "data": data, "has_more": false, "first_id": first_id, "last_id": last_id }),
    )
}
