//! The three ways to the token endpoint: OpenID discovery with the RFC 8414 fallback, refused
//! metadata (another issuer, no document, an insecure endpoint), and MCP discovery from the
//! resource's challenge or its well-known metadata.

use std::sync::Arc;

use serde_json::json;
use url::Url;

use super::idp::{FakeIdp, Resp};
use super::{basic, http, token_ok};
use crate::token_source::{
    ChallengeProbe, EndpointSource, TokenError, TokenSource, TokenSourceConfig,
};

/// An IdP serving metadata for its own issuer at the given paths (`{issuer}` is replaced).
async fn metadata_idp(paths: &'static [&'static str], issuer_path: &'static str) -> FakeIdp {
    let base = Arc::new(std::sync::OnceLock::<String>::new());
    let inner = Arc::clone(&base);
    let idp = FakeIdp::start(move |req, n| {
        let base = inner.get().cloned().unwrap_or_default();
        if paths.contains(&req.path.as_str()) {
            return Resp::json(
                200,
                &json!({"issuer": format!("{base}{issuer_path}"), "token_endpoint": format!("{base}/oauth2/token")}),
            );
        }
        match req.path.as_str() {
            "/oauth2/token" => token_ok(n, 300),
            _ => Resp::json(404, &json!({"error": "not_found"})),
        }
    })
    .await;
    base.set(idp.base.clone()).unwrap();
    idp
}

fn issuer_source(issuer: String) -> TokenSource {
    TokenSource::new(
        TokenSourceConfig::new(EndpointSource::Issuer(issuer), "c", basic("s")),
        http(),
    )
}

#[tokio::test]
async fn issuer_discovery_prefers_openid_and_falls_back_to_rfc8414() {
    let oidc = metadata_idp(&["/realms/x/.well-known/openid-configuration"], "/realms/x").await;
    let source = issuer_source(oidc.url("/realms/x"));
    source.token().await.unwrap();
    assert_eq!(
        oidc.paths(),
        [
            "/realms/x/.well-known/openid-configuration",
            "/oauth2/token"
        ]
    );
    let info = source.endpoint().unwrap();
    assert_eq!(info.token_endpoint.as_str(), oidc.url("/oauth2/token"));
    assert_eq!(info.issuer.as_deref(), Some(oidc.url("/realms/x").as_str()));

    let oauth = metadata_idp(
        &["/.well-known/oauth-authorization-server/realms/x"],
        "/realms/x",
    )
    .await;
    let source = issuer_source(oauth.url("/realms/x/"));
    source.token().await.unwrap();
    assert_eq!(
        oauth.paths(),
        [
            "/realms/x/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server/realms/x",
            "/oauth2/token"
        ]
    );
}

#[tokio::test]
async fn issuer_discovery_refuses_a_document_for_another_issuer() {
    let idp = metadata_idp(&["/.well-known/openid-configuration"], "/elsewhere").await;
    let error = issuer_source(idp.base.clone()).token().await.unwrap_err();
    assert!(
        matches!(&error, TokenError::Discovery { detail, transient: false } if detail.contains("names issuer")),
        "{error}"
    );
    assert!(idp.requests_to("/oauth2/token").is_empty());

    let nothing = FakeIdp::start(|_, _| Resp::json(404, &json!({}))).await;
    let error = issuer_source(nothing.base.clone())
        .token()
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("no authorization-server metadata"),
        "{error}"
    );
    assert!(!error.is_transient());
}

#[tokio::test]
async fn insecure_token_endpoints_are_refused() {
    let source = TokenSource::new(
        TokenSourceConfig::new(
            EndpointSource::TokenUrl(Url::parse("http://idp.example.com/token").unwrap()),
            "c",
            basic("s"),
        ),
        http(),
    );
    let error = source.token().await.unwrap_err();
    assert!(error.to_string().contains("must be https"), "{error}");
}

/// A server that is its own protected resource and authorization server: PRM at the given
/// path, RFC 8414 metadata at the root, tokens at `/token`.
async fn mcp_idp(prm_path: &'static str, resource_path: &'static str) -> FakeIdp {
    let base = Arc::new(std::sync::OnceLock::<String>::new());
    let inner = Arc::clone(&base);
    let idp = FakeIdp::start(move |req, n| {
        let base = inner.get().cloned().unwrap_or_default();
        if req.path == prm_path {
            return Resp::json(
                200,
                &json!({
                    "resource": format!("{base}{resource_path}"),
                    "authorization_servers": [format!("{base}/as")],
                    "scopes_supported": ["mcp:all"],
                }),
            );
        }
        match req.path.as_str() {
            "/.well-known/oauth-authorization-server/as" => Resp::json(
                200,
                &json!({"issuer": format!("{base}/as"), "token_endpoint": format!("{base}/token")}),
            ),
            "/token" => token_ok(n, 300),
            _ => Resp::json(404, &json!({})),
        }
    })
    .await;
    base.set(idp.base.clone()).unwrap();
    idp
}

fn probe_answering(value: Option<String>) -> ChallengeProbe {
    Arc::new(move || {
        let value = value.clone();
        Box::pin(async move { value })
    })
}

#[tokio::test]
async fn mcp_discovery_follows_the_challenge_to_the_token_endpoint() {
    let idp = mcp_idp("/custom/prm.json", "/mcp").await;
    let challenge = format!(
        r#"Bearer error="invalid_token", resource_metadata="{}", scope="mcp:read mcp:tools""#,
        idp.url("/custom/prm.json")
    );
    let source = TokenSource::new(
        TokenSourceConfig::new(
            EndpointSource::Resource {
                url: Url::parse(&idp.url("/mcp")).unwrap(),
                probe: Some(probe_answering(Some(challenge))),
            },
            "c",
            basic("s"),
        ),
        http(),
    );
    source.token().await.unwrap();
    assert_eq!(
        idp.paths(),
        [
            "/custom/prm.json",
            "/.well-known/oauth-authorization-server/as",
            "/token"
        ]
    );
    // No configured scopes: the challenge's scope wins over scopes_supported.
    assert_eq!(
        idp.requests_to("/token")[0].form()["scope"],
        "mcp:read mcp:tools"
    );
    let info = source.endpoint().unwrap();
    assert_eq!(info.protected_resource.unwrap().resource, idp.url("/mcp"));
}

#[tokio::test]
async fn mcp_discovery_without_a_challenge_uses_the_well_known_location() {
    let idp = mcp_idp("/.well-known/oauth-protected-resource/mcp", "/mcp").await;
    let mut config = TokenSourceConfig::new(
        EndpointSource::Resource {
            url: Url::parse(&idp.url("/mcp")).unwrap(),
            probe: Some(probe_answering(None)),
        },
        "c",
        basic("s"),
    );
    config.resource = Some(idp.url("/mcp"));
    let source = TokenSource::new(config, http());
    source.token().await.unwrap();
    let form = idp.requests_to("/token")[0].form();
    assert_eq!(form["scope"], "mcp:all");
    assert_eq!(form["resource"], idp.url("/mcp"));
}

#[tokio::test]
async fn mcp_discovery_refuses_metadata_for_another_resource() {
    let idp = mcp_idp("/.well-known/oauth-protected-resource/mcp", "/other").await;
    let source = TokenSource::new(
        TokenSourceConfig::new(
            EndpointSource::Resource {
                url: Url::parse(&idp.url("/mcp")).unwrap(),
                probe: None,
            },
            "c",
            basic("s"),
        ),
        http(),
    );
    let error = source.token().await.unwrap_err();
    assert!(error.to_string().contains("is for"), "{error}");
    assert!(idp.requests_to("/token").is_empty());
}
