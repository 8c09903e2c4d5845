//! Scope step-up against a fake IdP that grants what it is asked for, except `mcp:root`
//! (`invalid_scope`), and `mcp:tools` by default when asked for nothing: the union is what
//! gets requested, the wider token is the one handed out and renewed, concurrent step-ups
//! make one request, and a refusal is not asked again for the same token.

use std::time::Duration;

use serde_json::json;

use super::idp::{FakeIdp, Req, Resp};
use super::{basic, config_for, http};
use crate::token_source::{StepUp, TokenError, TokenSource};

/// `tok-<n>`, valid 60 s, with the requested scope as the granted one.
async fn scoped_idp() -> FakeIdp {
    FakeIdp::start(|req: &Req, n| {
        let form = req.form();
        let scope = form
            .get("scope")
            .cloned()
            .unwrap_or_else(|| "mcp:tools".to_owned());
        if scope.split(' ').any(|s| s == "mcp:root") {
            return Resp::json(
                400,
                &json!({"error": "invalid_scope", "error_description": "requested scope is not allowed"}),
            );
        }
        Resp::json(
            200,
            &json!({"access_token": format!("tok-{n}"), "token_type": "Bearer",
                    "expires_in": 60, "scope": scope}),
        )
    })
    .await
}

fn scopes(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn requested(idp: &FakeIdp) -> Vec<Option<String>> {
    idp.requests_to("/token")
        .iter()
        .map(|r| r.form().get("scope").cloned())
        .collect()
}

fn source(idp: &FakeIdp, configured: Option<&[&str]>) -> TokenSource {
    let mut config = config_for(idp, basic("s"));
    config.scopes = configured.map(scopes);
    config.ttl_delta = Duration::from_secs(10);
    TokenSource::new(config, http())
}

#[tokio::test(start_paused = true)]
async fn the_wider_token_is_used_and_renewed_with_the_wider_scopes() {
    let idp = scoped_idp().await;
    let source = source(&idp, Some(&["mcp:tools"]));
    let narrow = source.token().await.unwrap();
    assert_eq!(narrow.scope(), Some("mcp:tools"));

    let StepUp::Widened(wide) = source
        .step_up(&narrow, &scopes(&["mcp:admin"]))
        .await
        .unwrap()
    else {
        panic!("no step-up");
    };
    assert_eq!(wide.secret(), "tok-1");
    assert_eq!(wide.scope(), Some("mcp:tools mcp:admin"));
    // From now on the wider token, without another request.
    assert_eq!(source.token().await.unwrap().secret(), "tok-1");
    // A late step-up for the old token is answered with the new one.
    let StepUp::Widened(again) = source
        .step_up(&narrow, &scopes(&["mcp:admin"]))
        .await
        .unwrap()
    else {
        panic!("no step-up");
    };
    assert_eq!(again.secret(), "tok-1");
    assert_eq!(idp.requests_to("/token").len(), 2);

    // Renewed before expiry with the wider scopes, and after a 401 too.
    tokio::time::advance(Duration::from_secs(51)).await;
    let renewed = source.token().await.unwrap();
    assert_eq!(renewed.secret(), "tok-2");
    let replaced = source.refresh_rejected(&renewed).await.unwrap();
    assert_eq!(replaced.secret(), "tok-3");
    assert_eq!(
        requested(&idp),
        [
            Some("mcp:tools".to_owned()),
            Some("mcp:tools mcp:admin".to_owned()),
            Some("mcp:tools mcp:admin".to_owned()),
            Some("mcp:tools mcp:admin".to_owned()),
        ]
    );
}

#[tokio::test]
async fn concurrent_step_ups_make_one_request() {
    let idp = scoped_idp().await;
    let source = source(&idp, Some(&["mcp:tools"]));
    let narrow = source.token().await.unwrap();
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let source = source.clone();
            let narrow = narrow.clone();
            tokio::spawn(async move {
                match source.step_up(&narrow, &scopes(&["mcp:admin"])).await {
                    Ok(StepUp::Widened(token)) => token.secret().to_owned(),
                    other => panic!("{other:?}"),
                }
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), "tok-1");
    }
    assert_eq!(idp.requests_to("/token").len(), 2);
}

#[tokio::test]
async fn scopes_already_asked_for_are_not_asked_again() {
    let idp = scoped_idp().await;
    let source = source(&idp, Some(&["mcp:tools", "mcp:admin"]));
    let token = source.token().await.unwrap();
    for challenged in [&["mcp:admin"][..], &["mcp:tools", "mcp:admin"], &[]] {
        assert!(matches!(
            source.step_up(&token, &scopes(challenged)).await,
            Ok(StepUp::Unchanged)
        ));
    }
    assert_eq!(idp.requests_to("/token").len(), 1);
}

#[tokio::test]
async fn without_configured_scopes_the_granted_ones_are_kept() {
    let idp = scoped_idp().await;
    let source = source(&idp, None);
    let token = source.token().await.unwrap();
    assert_eq!(token.scope(), Some("mcp:tools"));
    assert!(matches!(
        source.step_up(&token, &scopes(&["mcp:admin"])).await,
        Ok(StepUp::Widened(_))
    ));
    assert_eq!(
        requested(&idp),
        [None, Some("mcp:tools mcp:admin".to_owned())]
    );
}

#[tokio::test(start_paused = true)]
async fn a_refusal_keeps_the_token_and_is_not_asked_again_until_renewal() {
    let idp = scoped_idp().await;
    let source = source(&idp, Some(&["mcp:tools"]));
    let narrow = source.token().await.unwrap();
    let refused = source
        .step_up(&narrow, &scopes(&["mcp:root"]))
        .await
        .unwrap_err();
    assert_eq!(refused.oauth_error(), Some("invalid_scope"));
    assert!(matches!(refused, TokenError::Rejected { status: 400, .. }));
    // The narrow token is still the one in use.
    assert_eq!(source.token().await.unwrap().secret(), "tok-0");
    // The same step-up again: the same answer, no request.
    assert_eq!(
        source
            .step_up(&narrow, &scopes(&["mcp:root"]))
            .await
            .unwrap_err(),
        refused
    );
    assert_eq!(idp.requests_to("/token").len(), 2);
    // Other scopes are another question.
    assert!(matches!(
        source.step_up(&narrow, &scopes(&["mcp:admin"])).await,
        Ok(StepUp::Widened(_))
    ));
    assert_eq!(idp.requests_to("/token").len(), 3);

    // Renewal of the (unchanged) scopes; a new token gets a new chance.
    tokio::time::advance(Duration::from_secs(51)).await;
    let renewed = source.token().await.unwrap();
    assert_eq!(renewed.scope(), Some("mcp:tools mcp:admin"));
    assert!(
        source
            .step_up(&renewed, &scopes(&["mcp:root"]))
            .await
            .is_err()
    );
    assert_eq!(
        requested(&idp),
        [
            Some("mcp:tools".to_owned()),
            Some("mcp:tools mcp:root".to_owned()),
            Some("mcp:tools mcp:admin".to_owned()),
            Some("mcp:tools mcp:admin".to_owned()),
            Some("mcp:tools mcp:admin mcp:root".to_owned()),
        ]
    );
}
