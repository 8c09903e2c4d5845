//! Operations endpoints answered by smcp-server itself.
//!
//! - `/health`: liveness. 200 while the process can answer at all.
//! - `/ready`: smcp's own readiness. 200 once the configuration is loaded and the listener
//!   answers (it is answering this request), the OIDC signing keys are loaded (`auth.mode:
//!   oidc`), and while not draining; else 503. The body names each backend's state, but a
//!   backend that is down does not make smcp unready: every replica behind a balancer shares
//!   the backends, so one dead backend would take every replica (and every healthy backend
//!   with it) out of service at once. `/ready?backend=ID` (repeatable; `backend=*` for all)
//!   also requires those backends to be up, for deployments with one backend that want the
//!   probe to follow it.
//! - `/metrics` (path configurable, can be disabled): Prometheus text.
//! - `/api/models`: the backend listing in the shape of Anthropic's models list, plus each
//!   backend's `path` and `transport`. Never a URL (it may carry credentials), a command line or
//!   an environment.

use http::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use smcp_transport::body::Body;
use smcp_transport::reply::ProxyError;

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
        return Some(reply::error(&ProxyError::MethodNotAllowed {
            allow: "GET, HEAD",
        }));
    }
    Some(endpoint(app, request.uri().query()))
}

fn health(_app: &App, _query: Option<&str>) -> Response<Body> {
    reply::json_response(StatusCode::OK, &json!({ "status": "ok" }))
}

fn ready(app: &App, query: Option<&str>) -> Response<Body> {
    let required = match RequiredBackends::parse(app, query) {
        Ok(required) => required,
        Err(unknown) => {
            return reply::error(&ProxyError::NotFound(
                format!("/ready: no backend with id {unknown:?}").into(),
            ));
        }
    };
    let mut backends = serde_json::Map::new();
    let mut required_up = true;
    for entry in app.backends() {
        let up = entry.is_ready();
        if required.includes(&entry.id) {
            required_up &= up;
        }
        backends.insert(entry.id.to_string(), Value::Bool(up));
    }
    let auth_ready = app.auth().map(|auth| auth.is_ready());
    let (status, word) = if app.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else if auth_ready != Some(false) && required_up {
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

/// The backends a `/ready?backend=ID` probe asks to be up on top of smcp's own readiness.
enum RequiredBackends<'q> {
    None,
    All,
    Ids(Vec<std::borrow::Cow<'q, str>>),
}

impl<'q> RequiredBackends<'q> {
    /// Reads every `backend` parameter of `query`; other parameters are ignored. An id no
    /// backend has is returned as the error, so a typo in a probe fails loudly instead of
    /// passing forever.
    fn parse(app: &App, query: Option<&'q str>) -> Result<Self, String> {
        let mut ids = Vec::new();
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if key != "backend" {
                continue;
            }
            if value == "*" {
                return Ok(Self::All);
            }
            if !app.backends().iter().any(|entry| *entry.id == *value) {
                return Err(value.into_owned());
            }
            ids.push(value);
        }
        Ok(if ids.is_empty() {
            Self::None
        } else {
            Self::Ids(ids)
        })
    }

    fn includes(&self, id: &str) -> bool {
        match self {
            Self::None => false,
            Self::All => true,
            Self::Ids(ids) => ids.iter().any(|wanted| wanted == id),
        }
    }
}

fn metrics(app: &App, _query: Option<&str>) -> Response<Body> {
    match app.prometheus() {
        Some(handle) => {
            app.in_flight.publish();
            reply::text_response(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                handle.render(),
            )
        }
        None => reply::error(&ProxyError::MetricsUnavailable),
    }
}

fn models(app: &App, _query: Option<&str>) -> Response<Body> {
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
