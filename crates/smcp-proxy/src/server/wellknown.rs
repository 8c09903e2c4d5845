//! RFC 9728 protected-resource metadata, served only when `auth.mode` is `oidc`.
//!
//! - `/.well-known/oauth-protected-resource/<backend path>` describes that protected backend:
//!   `resource` is its public URL (the audience a client should ask its IdP for, RFC 8707),
//!   `scopes_supported` is `oidc.scopes_supported` plus the backend's `auth.required_scopes`
//!   and the scopes its policy rules name (what a step-up may ask for).
//!   Deeper paths (`/<backend path>/mcp`) resolve to the backend that serves them, so clients
//!   that derive the metadata URL from their endpoint URL find it too.
//! - `/.well-known/oauth-protected-resource` describes the server as a whole (`/api/models`),
//!   or the backend mounted at `/`.
//!
//! Every document names the configured issuers as `authorization_servers` and
//! `bearer_methods_supported: ["header"]`. With `server.public_url` set, its path prefix may
//! appear after the well-known prefix (RFC 9728 inserts the well-known part after the host).
//!
//! While oidc is on, smcp answers every `/.well-known/` path itself (404 for the others), so a
//! backend at `/` cannot shadow them and they never need a token. With `auth.mode: none`
//! nothing here answers and such paths are routed like any other.

use http::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use smcp_transport::body::Body;
use smcp_transport::reply::ProxyError;

use super::app::App;
use super::auth::{METADATA_PREFIX, Refusal};
use super::reply;

/// Whether smcp answers `path` here: a `/.well-known/` path while oidc is on.
pub(crate) fn serves(app: &App, path: &str) -> bool {
    app.auth().is_some() && path.starts_with("/.well-known/")
}

/// Answers `request` when it is for a `/.well-known/` path and oidc is on; `None` sends it on.
pub(crate) fn answer<B>(app: &App, request: &Request<B>, scheme: &str) -> Option<Response<Body>> {
    let auth = app.auth()?;
    let path = request.uri().path();
    if !serves(app, path) {
        return None;
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Some(reply::error(&ProxyError::MethodNotAllowed {
            allow: "GET, HEAD",
        }));
    }
    let Some(rest) = path
        .strip_prefix(METADATA_PREFIX)
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
    else {
        return Some(not_found());
    };
    let Some(base) = auth.base_for(request, scheme) else {
        return Some(Refusal::NoHost.response(None));
    };
    let rest = strip_prefix_segment(rest, auth.public_prefix()).unwrap_or(rest);
    let target = match rest.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    };

    let mut scopes: Vec<String> = auth.scopes_supported().to_vec();
    let mut document = json!({
        "authorization_servers": auth.issuers(),
        "bearer_methods_supported": ["header"],
    });
    let backend = app
        .routes()
        .lookup(target)
        .map(|route| route.value().clone());
    match backend {
        Some(entry) if entry.auth.is_some() => {
            let required = entry.auth.iter().flat_map(|auth| auth.required_scopes());
            let by_rules = entry
                .policy
                .iter()
                .flat_map(|policy| policy.policy.scopes());
            for scope in required.map(String::as_str).chain(by_rules) {
                if !scopes.iter().any(|known| known == scope) {
                    scopes.push(scope.to_owned());
                }
            }
            document["resource"] = json!(base.resource(&entry.path));
            document["resource_name"] = json!(entry.name);
        }
        _ if target == "/" => {
            document["resource"] = json!(base.resource("/"));
        }
        // Unknown, or a backend that is public on purpose: nothing to describe.
        _ => return Some(not_found()),
    }
    if !scopes.is_empty() {
        document["scopes_supported"] = Value::from(scopes);
    }
    Some(reply::json_response(StatusCode::OK, &document))
}

/// `path` without the leading `prefix` segment(s), when it starts with them.
fn strip_prefix_segment<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    if prefix.is_empty() {
        return None;
    }
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

fn not_found() -> Response<Body> {
    reply::error(&ProxyError::NotFound(
        "no protected-resource metadata at this path".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::strip_prefix_segment;

    #[test]
    fn public_prefix_is_stripped_by_whole_segments() {
        assert_eq!(strip_prefix_segment("/gw/v1/x", "/gw"), Some("/v1/x"));
        assert_eq!(strip_prefix_segment("/gw", "/gw"), Some(""));
        assert_eq!(strip_prefix_segment("/gwx/v1", "/gw"), None);
        assert_eq!(strip_prefix_segment("/v1/x", ""), None);
    }
}
