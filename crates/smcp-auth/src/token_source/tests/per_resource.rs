//! One token per protected resource ([`ResourceTokens`]) against a fake server that is its own
//! IdP: resources found from path-inserted metadata and shared by every URL under them, URLs
//! without metadata on the fallback, metadata for another resource refused, the resource bound,
//! and the default scopes taken from the resource's `scopes_supported`.

use std::sync::Arc;

use serde_json::json;
use url::Url;

use super::idp::{FakeIdp, Resp};
use super::{basic, http};
use crate::token_source::{
    EndpointSource, MAX_RESOURCES, ResourceTokens, TokenSource, TokenSourceConfig,
};

const META: &str = "/.well-known/oauth-protected-resource";

/// A server with protected resources at `/v1/<name>` for every name in `names` ("*": any
/// name), metadata for deeper paths too (as smcp-server resolves them), `/v1/liar` claiming
/// another host's resource, and a token endpoint issuing `tok-<n>`.
async fn server(names: &'static [&'static str], scopes: &'static [&'static str]) -> FakeIdp {
    let base = Arc::new(std::sync::OnceLock::<String>::new());
    let inner = Arc::clone(&base);
    let idp = FakeIdp::start(move |req, n| {
        let base = inner.get().cloned().unwrap_or_default();
        if req.path == "/token" {
            return Resp::json(
                200,
                &json!({"access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": 300}),
            );
        }
        let Some(rest) = req.path.strip_prefix(&format!("{META}/v1/")) else {
            return Resp::json(404, &json!({}));
        };
        let name = rest.split('/').next().unwrap_or_default();
        let resource = match name {
            "liar" => "https://elsewhere.example/v1/liar".to_owned(),
            _ if names.contains(&"*") || names.contains(&name) => format!("{base}/v1/{name}"),
            _ => return Resp::json(404, &json!({})),
        };
        Resp::json(
            200,
            &json!({"resource": resource, "authorization_servers": [base], "scopes_supported": scopes}),
        )
    })
    .await;
    base.set(idp.base.clone()).unwrap();
    idp
}

fn tokens(idp: &FakeIdp, scopes: Option<Vec<String>>) -> ResourceTokens {
    let mut config = TokenSourceConfig::new(
        EndpointSource::TokenUrl(Url::parse(&idp.url("/token")).unwrap()),
        "c",
        basic("s"),
    );
    config.scopes = scopes;
    config.default_scopes = vec!["openid".into()];
    ResourceTokens::new(config, http(), Url::parse(&idp.url("/")).unwrap())
}

fn url(idp: &FakeIdp, path: &str) -> Url {
    Url::parse(&idp.url(path)).unwrap()
}

fn resource_of(source: &TokenSource) -> String {
    source.config().resource.clone().unwrap_or_default()
}

#[tokio::test]
async fn each_resource_gets_its_own_token_and_urls_under_it_share_it() {
    let idp = server(&["a", "b"], &["mcp:tools"]).await;
    let tokens = tokens(&idp, None);
    let a = tokens.for_url(&url(&idp, "/v1/a/mcp?x=1")).await;
    assert_eq!(resource_of(&a), idp.url("/v1/a"));
    let a_again = tokens.for_url(&url(&idp, "/v1/a/message")).await;
    assert_eq!(resource_of(&a_again), idp.url("/v1/a"));
    let b = tokens.for_url(&url(&idp, "/v1/b")).await;
    assert_eq!(resource_of(&b), idp.url("/v1/b"));
    // One lookup per resource: /v1/a/message was covered by what /v1/a/mcp found.
    let lookups: Vec<String> = idp
        .paths()
        .into_iter()
        .filter(|p| p.starts_with(META))
        .collect();
    assert_eq!(
        lookups,
        [format!("{META}/v1/a/mcp"), format!("{META}/v1/b")]
    );
    // The sources are shared (one cache per resource): both /v1/a sources hand out one token.
    let first = a.token().await.unwrap();
    let second = a_again.token().await.unwrap();
    assert_eq!(first.secret(), second.secret());
    b.token().await.unwrap();
    let forms: Vec<_> = idp.requests_to("/token").iter().map(|r| r.form()).collect();
    assert_eq!(forms.len(), 2);
    assert_eq!(forms[0]["resource"], idp.url("/v1/a"));
    assert_eq!(forms[1]["resource"], idp.url("/v1/b"));
    // Nobody chose scopes: the resource's scopes_supported, not the default `openid`.
    assert_eq!(forms[0]["scope"], "mcp:tools");
    assert_eq!(tokens.resources(), 3, "a, b and the fallback");
}

#[tokio::test]
async fn urls_without_metadata_or_with_anothers_use_the_fallback_and_are_remembered() {
    let idp = server(&["a"], &[]).await;
    let tokens = tokens(&idp, Some(vec!["mine".into()]));
    let none = tokens.for_url(&url(&idp, "/plain")).await;
    assert_eq!(resource_of(&none), idp.url("/"));
    let liar = tokens.for_url(&url(&idp, "/v1/liar")).await;
    assert_eq!(
        resource_of(&liar),
        idp.url("/"),
        "metadata for another host is refused"
    );
    tokens.for_url(&url(&idp, "/plain")).await;
    let lookups = idp
        .paths()
        .iter()
        .filter(|p| p.starts_with(&format!("{META}/plain")))
        .count();
    assert_eq!(
        lookups, 1,
        "a path without metadata is not looked up again at once"
    );
    // The operator's scopes are never replaced by a resource's.
    let a = tokens.for_url(&url(&idp, "/v1/a")).await;
    a.token().await.unwrap();
    assert_eq!(idp.requests_to("/token")[0].form()["scope"], "mine");
}

#[tokio::test]
async fn resources_are_bounded() {
    let idp = server(&["*"], &[]).await;
    let tokens = tokens(&idp, None);
    for i in 0..MAX_RESOURCES + 5 {
        tokens.for_url(&url(&idp, &format!("/v1/r{i}"))).await;
    }
    assert_eq!(tokens.resources(), MAX_RESOURCES);
    let over = tokens.for_url(&url(&idp, "/v1/one-too-many")).await;
    assert_eq!(
        resource_of(&over),
        idp.url("/"),
        "beyond the bound: the fallback"
    );
    let early = tokens.for_url(&url(&idp, "/v1/r0/mcp")).await;
    assert_eq!(
        resource_of(&early),
        idp.url("/v1/r0"),
        "known ones keep theirs"
    );
}
