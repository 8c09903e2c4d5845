//! Which scopes are asked for: the operator's exactly (a refusal is final), or the default ones,
//! which an IdP that allows only the API's scopes for `client_credentials` refuses with
//! `invalid_scope`: then one request without a scope, remembered for renewals.

use serde_json::json;

use super::idp::{FakeIdp, Resp};
use super::{basic, config_for, http, token_ok};
use crate::token_source::{TokenError, TokenSource};

/// An IdP that refuses any request naming `openid` (as Entra ID and Okta do for this grant).
async fn strict_idp() -> FakeIdp {
    FakeIdp::start(|req, n| {
        let form = req.form();
        match form.get("scope") {
            Some(scope) if scope.split(' ').any(|s| s == "openid") => Resp::json(
                400,
                &json!({"error": "invalid_scope", "error_description": "requested scope is not allowed"}),
            ),
            _ => token_ok(n, 60),
        }
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn refused_default_scopes_are_dropped_once_and_for_renewals() {
    let idp = strict_idp().await;
    let mut config = config_for(&idp, basic("s"));
    config.default_scopes = vec!["openid".into()];
    let source = TokenSource::new(config, http());
    source.token().await.unwrap();
    let forms: Vec<_> = idp.requests_to("/token").iter().map(|r| r.form()).collect();
    assert_eq!(forms.len(), 2);
    assert_eq!(forms[0]["scope"], "openid");
    assert!(!forms[1].contains_key("scope"), "{:?}", forms[1]);
    // The renewal asks without a scope straight away.
    tokio::time::advance(std::time::Duration::from_secs(61)).await;
    source.token().await.unwrap();
    let forms: Vec<_> = idp.requests_to("/token").iter().map(|r| r.form()).collect();
    assert_eq!(forms.len(), 3);
    assert!(!forms[2].contains_key("scope"));
}

#[tokio::test]
async fn the_operators_scopes_are_never_dropped() {
    let idp = strict_idp().await;
    let mut config = config_for(&idp, basic("s"));
    config.scopes = Some(vec!["openid".into()]);
    config.default_scopes = vec!["openid".into()];
    let error = TokenSource::new(config, http()).token().await.unwrap_err();
    assert!(
        matches!(&error, TokenError::Rejected { error, .. } if error == "invalid_scope"),
        "{error:?}"
    );
    assert_eq!(idp.requests_to("/token").len(), 1);
}

#[tokio::test]
async fn an_auth0_style_access_denied_for_the_default_scopes_is_retried_without_them() {
    let idp = FakeIdp::start(|req, n| match req.form().get("scope") {
        Some(_) => Resp::json(
            403,
            &json!({"error": "access_denied", "error_description": "Client has not been granted scopes: openid"}),
        ),
        None => token_ok(n, 60),
    })
    .await;
    let mut config = config_for(&idp, basic("s"));
    config.default_scopes = vec!["openid".into()];
    TokenSource::new(config, http()).token().await.unwrap();
    assert_eq!(idp.requests_to("/token").len(), 2);
}
