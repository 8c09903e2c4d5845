//! Scope step-up on the way to the server: a `403` whose Bearer challenge says
//! `insufficient_scope` and names the scopes the call needs (what smcp-server's per-tool
//! policy answers) gets one wider token and one resend of the same request.
//!
//! The token comes from [`TokenSource::step_up`], which keeps the wider scopes for every later
//! token, so the next such call goes through at once. Everything else is passed on as the
//! server sent it: a `403` without a usable challenge, one asking for scopes this client
//! already requested, one whose request body was too large to keep (`--replay-body-limit`),
//! one the IdP would not widen the token for (logged at warn with the IdP's reason), and the
//! answer to the resend, whatever it is (so a server that keeps refusing cannot loop us).
//!
//! `smcp_client_step_ups_total{outcome}` counts each step-up that asked for a wider token:
//! `succeeded` (the resend was not refused), `still_forbidden` (it got a `403` again),
//! `refused_by_idp` (an OAuth refusal such as `invalid_scope`, or one remembered for the
//! current token), `idp_unavailable` (no answer from the IdP: network, timeout, 5xx).

use http::header::WWW_AUTHENTICATE;
use http::{HeaderMap, Response, StatusCode};
use smcp_auth::token_source::{AccessToken, BearerChallenge, StepUp, TokenError, TokenSource};
use smcp_transport::body::Body;

use super::{RequestBody, RequestHead, Upstream, UpstreamError};

/// The `outcome` labels of `smcp_client_step_ups_total`.
const SUCCEEDED: &str = "succeeded";
const STILL_FORBIDDEN: &str = "still_forbidden";
const REFUSED_BY_IDP: &str = "refused_by_idp";
const IDP_UNAVAILABLE: &str = "idp_unavailable";

impl Upstream {
    /// Passes `response` (the server's answer to a request sent with `token`) on, unless it
    /// is a step-up `403`: then one wider token and one resend, whose answer is passed on.
    pub(super) async fn follow_step_up(
        &self,
        tokens: &TokenSource,
        token: &AccessToken,
        response: Response<Body>,
        head: &RequestHead,
        path_and_query: &str,
        body: &mut RequestBody,
    ) -> Result<Response<Body>, UpstreamError> {
        if response.status() != StatusCode::FORBIDDEN {
            return Ok(response);
        }
        let Some(challenged) = challenged_scopes(response.headers()) else {
            return Ok(response);
        };
        let scopes = challenged.join(" ");
        if body.kept().is_none() {
            tracing::warn!(
                %scopes,
                "the server asks for more scopes, and the request body was too large to send \
                 again (--replay-body-limit): passing the 403 on"
            );
            return Ok(response);
        }
        let wider = match tokens.step_up(token, &challenged).await {
            Ok(StepUp::Widened(wider)) => wider,
            Ok(StepUp::Unchanged) => {
                tracing::debug!(
                    %scopes,
                    "the server asks for scopes this client already requested: passing the 403 on"
                );
                return Ok(response);
            }
            Err(error) => {
                let outcome = refusal_outcome(&error);
                count(outcome);
                tracing::warn!(
                    %scopes,
                    %error,
                    "the server asks for more scopes and the identity provider does not grant \
                     them: passing the server's 403 on"
                );
                return Ok(response);
            }
        };
        // The 403 is answered by the resend; its connection goes back or is closed.
        drop(response);
        tracing::info!(%scopes, "stepped up to a token with the scopes the server asks for; sending the request again");
        let resent = self
            .forward(head, path_and_query, body.take(), Some((tokens, &wider)))
            .await?;
        if resent.status() == StatusCode::FORBIDDEN {
            count(STILL_FORBIDDEN);
            tracing::warn!(%scopes, "the server still refuses the request with the wider token: passing its 403 on");
        } else {
            count(SUCCEEDED);
        }
        Ok(resent)
    }
}

/// The scopes a `403`'s headers ask for: the first Bearer challenge of its
/// `WWW-Authenticate` headers, when it says `insufficient_scope` and has a `scope`.
fn challenged_scopes(headers: &HeaderMap) -> Option<Vec<String>> {
    let values = headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|value| value.to_str().ok());
    BearerChallenge::parse_all(values)?.insufficient_scope()
}

/// `refused_by_idp` for an answer from the IdP that says no, `idp_unavailable` when there was
/// no usable answer (worth trying again with the next challenge).
fn refusal_outcome(error: &TokenError) -> &'static str {
    match error {
        TokenError::Rejected { .. } | TokenError::Status { .. } if !error.is_transient() => {
            REFUSED_BY_IDP
        }
        _ => IDP_UNAVAILABLE,
    }
}

fn count(outcome: &'static str) {
    metrics::counter!("smcp_client_step_ups_total", "outcome" => outcome).increment(1);
}

#[cfg(test)]
mod tests {
    use http::header::WWW_AUTHENTICATE;
    use http::{HeaderMap, HeaderValue};
    use smcp_auth::token_source::TokenError;

    use super::{IDP_UNAVAILABLE, REFUSED_BY_IDP, challenged_scopes, refusal_outcome};

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(WWW_AUTHENTICATE, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn the_bearer_challenge_of_any_header_counts() {
        assert_eq!(
            challenged_scopes(&headers(&[
                r#"Basic realm="mcp""#,
                r#"Bearer error="insufficient_scope", scope="mcp:admin", resource_metadata="https://h/m""#,
            ])),
            Some(vec!["mcp:admin".to_owned()])
        );
        assert_eq!(challenged_scopes(&headers(&[])), None);
        assert_eq!(
            challenged_scopes(&headers(&[r#"Bearer error="insufficient_scope""#])),
            None
        );
        assert_eq!(
            challenged_scopes(&headers(&[r#"Bearer error="invalid_token", scope="x""#])),
            None
        );
        // A value that is not visible ASCII is skipped, not misread.
        let mut odd = HeaderMap::new();
        odd.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_bytes(b"Bearer scope=\"\xff\"").unwrap(),
        );
        odd.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer error="insufficient_scope", scope="y""#),
        );
        assert_eq!(challenged_scopes(&odd), Some(vec!["y".to_owned()]));
    }

    #[test]
    fn idp_refusals_and_failures_are_told_apart() {
        let refused = TokenError::Rejected {
            status: 400,
            error: "invalid_scope".into(),
            description: None,
            uri: None,
        };
        assert_eq!(refusal_outcome(&refused), REFUSED_BY_IDP);
        assert_eq!(
            refusal_outcome(&TokenError::Status { status: 400 }),
            REFUSED_BY_IDP
        );
        assert_eq!(
            refusal_outcome(&TokenError::Status { status: 503 }),
            IDP_UNAVAILABLE
        );
        assert_eq!(
            refusal_outcome(&TokenError::Timeout { url: "u".into() }),
            IDP_UNAVAILABLE
        );
    }
}
