//! The auth stage of smcp-server's request path (`auth.mode: oidc`).
//!
//! Requests to a protected backend (effective mode oidc: `auth.mode: oidc` and the backend's
//! `auth.mode` is `inherit`) and to `/api/models` must carry `Authorization: Bearer <token>`.
//! The token is checked by the [`smcp_auth::Validator`] for the resource being called (the
//! backend's public URL, see [`PublicBase`]) with the backend's extra claim rules and scopes;
//! refusals are answered by [`Refusal::response`]. What a validated token gives the rest of the
//! path is a [`Caller`]: the session owner (issuer and subject), and for HTTP backends the
//! identity headers smcp sets (`X-Subject`, `X-Email`, names and on/off per backend). A `sub`
//! or `email` that cannot be a header value (control or non-ASCII characters) is refused with
//! 403 rather than forwarded without an identity the backend may rely on. The token
//! itself goes no further: the HTTP forwarder removes `Authorization`, and nothing is ever
//! added to stdio JSON-RPC messages.
//!
//! DPoP (RFC 9449, `oidc.dpop` and per backend `auth.dpop`): with `optional` or `required`,
//! `Authorization: DPoP <token>` with one `DPoP` proof header is accepted; the token is
//! validated first, then the proof for this request's method and public URL (the
//! [`DpopVerifier`] of the server, one replay cache for all backends), then the token's
//! `cnf.jkt` against the proof's key. `required` refuses Bearer tokens; in every mode a
//! DPoP-bound token presented as Bearer is refused (it would make DPoP pointless).
//!
//! Never logged: the token, the `Authorization` header, claim values. Metrics:
//! `smcp_auth_outcomes_total{backend,outcome,reason}` here (including refusals the validator
//! never sees, such as a token in the query string), plus the validator's own
//! `smcp_auth_validations_total`, `smcp_auth_validation_duration_seconds` and
//! `smcp_jwks_fetches_total{issuer,outcome}`.

mod challenge;
mod public_base;
mod setup;

use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, header};
use smcp_auth::dpop::{self, DpopError, DpopMode, DpopVerifier, ProofInput};
use smcp_auth::{AuthError, ClaimRules, Principal, Validator};
use smcp_transport::body::Body;
use smcp_transport::owner::SessionOwner;

pub(crate) use challenge::{DpopChallenge, Refusal, insufficient_scope};
pub(crate) use public_base::{METADATA_PREFIX, PublicBase};
pub(crate) use setup::{SetupError, backend_auth, server_auth};

/// Server-wide auth state: the validator and what protected-resource metadata advertises.
pub(crate) struct ServerAuth {
    validator: Validator,
    /// From `server.public_url`; `None` means "from each request's scheme and Host".
    public_base: Option<PublicBase>,
    /// `oidc.scopes_supported`.
    scopes_supported: Vec<String>,
    /// `oidc.dpop`: the mode of `/api/models` and of backends that inherit it.
    dpop_mode: DpopMode,
    /// Checks DPoP proofs for every backend (one replay cache).
    dpop: DpopVerifier,
    /// The verifier's algorithms, for challenges.
    dpop_algs: String,
}

/// The auth policy of one protected backend.
pub(crate) struct BackendAuth {
    server: Arc<ServerAuth>,
    /// `auth.required_claims` and `auth.required_scopes` of the backend, checked on top of
    /// the global rules.
    rules: ClaimRules,
    /// Identity headers to set, `None` when `identity_headers.enabled` is false.
    identity: Option<IdentityNames>,
    /// `auth.dpop`, else `oidc.dpop`.
    dpop: DpopMode,
}

struct IdentityNames {
    subject: HeaderName,
    email: HeaderName,
}

/// Who is calling, as the backends need to know it.
pub(crate) struct Caller {
    /// The owner of the sessions this request may use or create.
    pub(crate) owner: SessionOwner,
    /// Identity headers for an HTTP backend (empty for unprotected backends).
    pub(crate) set_headers: HeaderMap,
    /// What the validated token proves (scopes, claims), for the policy stage; `None` on an
    /// unprotected backend.
    pub(crate) principal: Option<Principal>,
}

impl Caller {
    /// The caller of an unprotected backend.
    pub(crate) fn anonymous() -> Self {
        Caller {
            owner: SessionOwner::anonymous(),
            set_headers: HeaderMap::new(),
            principal: None,
        }
    }
}

/// The resource path `/api/models` is checked for: the server as a whole.
const SERVER_RESOURCE_PATH: &str = "/";

impl ServerAuth {
    /// Whether every issuer's signing keys have been loaded (readiness).
    pub(crate) fn is_ready(&self) -> bool {
        self.validator.is_ready()
    }

    /// The configured issuers (`authorization_servers` in metadata).
    pub(crate) fn issuers(&self) -> Vec<String> {
        self.validator.issuers().map(str::to_owned).collect()
    }

    /// `oidc.scopes_supported`.
    pub(crate) fn scopes_supported(&self) -> &[String] {
        &self.scopes_supported
    }

    /// The public base for this request: `server.public_url`, else the request's own.
    pub(crate) fn base_for<B>(&self, request: &Request<B>, scheme: &str) -> Option<PublicBase> {
        match &self.public_base {
            Some(base) => Some(base.clone()),
            None => PublicBase::from_request(scheme, request.headers(), request.uri()),
        }
    }

    /// The path prefix of `server.public_url` (empty when none).
    pub(crate) fn public_prefix(&self) -> &str {
        self.public_base.as_ref().map_or("", PublicBase::prefix)
    }

    /// Checks the request's access token (and, with DPoP, its proof) for the resource at
    /// `path` with `rules` and, when `identity` names headers, turns the principal into them;
    /// counts the outcome under `backend`.
    #[allow(
        clippy::too_many_arguments,
        reason = "the one place every per-resource auth input meets; a struct would only rename them"
    )]
    async fn check<B>(
        &self,
        request: &Request<B>,
        scheme: &str,
        path: &str,
        rules: &ClaimRules,
        identity: Option<&IdentityNames>,
        dpop_mode: DpopMode,
        backend: &str,
    ) -> Result<(Principal, HeaderMap), Response<Body>> {
        let Some(base) = self.base_for(request, scheme) else {
            count(backend, Err(&Refusal::NoHost));
            return Err(Refusal::NoHost.response(None));
        };
        let resource = base.resource(path);
        let result = match credentials(request.headers(), request.uri().query(), dpop_mode) {
            Ok((presented, token)) => self
                .validator
                .validate(token, Some(&resource), rules)
                .await
                .map_err(Refusal::Token)
                .and_then(|principal| {
                    self.check_dpop(request, &base, presented, token, &principal)?;
                    let headers = identity_headers(identity, &principal)?;
                    Ok((principal, headers))
                }),
            Err(refusal) => Err(refusal),
        };
        count(backend, result.as_ref().map(|_| ()));
        result.map_err(|refusal| {
            log_refusal(backend, &refusal);
            let nonce = (dpop_mode != DpopMode::Off)
                .then(|| self.dpop.nonce())
                .flatten();
            let dpop = DpopChallenge {
                mode: dpop_mode,
                algs: &self.dpop_algs,
                nonce: nonce.as_deref(),
            };
            refusal.response_with(Some(&base.metadata_url(path)), Some(dpop))
        })
    }

    /// The DPoP part of a validated token: its proof (for the DPoP scheme) and its binding.
    fn check_dpop<B>(
        &self,
        request: &Request<B>,
        base: &PublicBase,
        presented: Presented,
        token: &str,
        principal: &Principal,
    ) -> Result<(), Refusal> {
        let proof_key = match presented {
            Presented::Bearer => None,
            Presented::Dpop => {
                let mut proofs = request.headers().get_all(DPOP).iter();
                let (Some(proof), None) = (proofs.next(), proofs.next()) else {
                    return Err(Refusal::Dpop(DpopError::MissingProof));
                };
                let proof = proof
                    .to_str()
                    .map_err(|_| Refusal::Dpop(DpopError::Malformed("not text")))?;
                let url = url::Url::parse(&base.url_of(request.uri().path()))
                    .map_err(|_| Refusal::NoHost)?;
                let input = ProofInput {
                    proof,
                    method: request.method().as_str(),
                    url: &url,
                    access_token: token,
                };
                Some(self.dpop.verify(&input).map_err(Refusal::Dpop)?)
            }
        };
        dpop::check_binding(&principal.claims, proof_key.as_deref()).map_err(Refusal::Dpop)
    }
}

impl BackendAuth {
    /// The backend's required scopes (advertised in its metadata).
    pub(crate) fn required_scopes(&self) -> &[String] {
        self.rules.required_scopes()
    }
}

/// The auth stage for a backend request: `Ok` with the caller, or the refusal to send.
/// `policy` is `None` for unprotected backends (the caller is anonymous).
pub(crate) async fn authorize<B>(
    policy: Option<&BackendAuth>,
    request: &Request<B>,
    scheme: &str,
    path: &str,
    backend: &str,
) -> Result<Caller, Response<Body>> {
    let Some(policy) = policy else {
        return Ok(Caller::anonymous());
    };
    let (principal, set_headers) = policy
        .server
        .check(
            request,
            scheme,
            path,
            &policy.rules,
            policy.identity.as_ref(),
            policy.dpop,
            backend,
        )
        .await?;
    Ok(Caller {
        owner: SessionOwner::from_principal(&principal.issuer, &principal.subject),
        set_headers,
        principal: Some(principal),
    })
}

/// The protected-resource metadata URL of the backend at `path` for this request (for a
/// challenge raised after authentication, such as a policy's step-up).
pub(crate) fn metadata_url<B>(
    policy: &BackendAuth,
    request: &Request<B>,
    scheme: &str,
    path: &str,
) -> Option<String> {
    policy
        .server
        .base_for(request, scheme)
        .map(|base| base.metadata_url(path))
}

/// The auth stage for `/api/models` (the global rules only, the server's root resource).
pub(crate) async fn authorize_listing<B>(
    auth: Option<&ServerAuth>,
    request: &Request<B>,
    scheme: &str,
) -> Result<(), Response<Body>> {
    match auth {
        None => Ok(()),
        Some(auth) => auth
            .check(
                request,
                scheme,
                SERVER_RESOURCE_PATH,
                &ClaimRules::new(),
                None,
                auth.dpop_mode,
                "",
            )
            .await
            .map(|_| ()),
    }
}

/// The `DPoP` proof header (RFC 9449 §4.1).
const DPOP: HeaderName = HeaderName::from_static(dpop::PROOF_HEADER);

/// How the access token was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presented {
    Bearer,
    Dpop,
}

/// The access token of a request and its scheme, as `mode` allows: exactly one
/// `Authorization` header (`Bearer`, or `DPoP` unless DPoP is off; `required` refuses
/// `Bearer`) and no `access_token` in the query. An empty token is left to the validator (it
/// says "missing").
fn credentials<'a>(
    headers: &'a HeaderMap,
    query: Option<&str>,
    mode: DpopMode,
) -> Result<(Presented, &'a str), Refusal> {
    if query.is_some_and(|q| form_urlencoded_has(q, "access_token")) {
        return Err(Refusal::TokenInQuery);
    }
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Refusal::Token(AuthError::Missing));
    };
    if values.next().is_some() {
        return Err(Refusal::SeveralHeaders);
    }
    let value = value
        .to_str()
        .map_err(|_| Refusal::Token(AuthError::Malformed))?
        .trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    let presented = if scheme.eq_ignore_ascii_case("bearer") {
        Presented::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") && mode != DpopMode::Off {
        Presented::Dpop
    } else {
        return Err(Refusal::NotBearer);
    };
    if presented == Presented::Bearer && mode == DpopMode::Required {
        return Err(Refusal::DpopRequired);
    }
    Ok((presented, token.trim()))
}

fn form_urlencoded_has(query: &str, name: &str) -> bool {
    url::form_urlencoded::parse(query.as_bytes()).any(|(key, _)| key == name)
}

/// The identity headers for `principal` (none when `names` is `None`). A claim that is not a
/// valid header value (control characters, non-ASCII) is refused, never mangled or left out:
/// a backend that trusts the header must not see a request without it (and, for `email`,
/// then fall back to something else).
fn identity_headers(
    names: Option<&IdentityNames>,
    principal: &Principal,
) -> Result<HeaderMap, Refusal> {
    let mut headers = HeaderMap::new();
    let Some(names) = names else {
        return Ok(headers);
    };
    let claims = [
        ("sub", &names.subject, Some(principal.subject.as_str())),
        ("email", &names.email, principal.email.as_deref()),
    ];
    for (claim, name, value) in claims {
        let Some(value) = value else { continue };
        let value = header_safe(value).ok_or_else(|| {
            tracing::warn!(claim, header = %name, "identity claim is not a valid header value");
            Refusal::IdentityNotHeaderSafe
        })?;
        headers.insert(name.clone(), value);
    }
    Ok(headers)
}

/// `value` as a header value that every upstream reads back as the same string: printable
/// ASCII and inner spaces only. `http` would also take non-ASCII bytes (read as Latin-1 by
/// many servers, so `é` becomes `Ã©`) and outer spaces (trimmed by every parser, so ` alice`
/// becomes `alice`, another principal).
fn header_safe(value: &str) -> Option<HeaderValue> {
    let printable = value.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    let trimmed = !value.starts_with(' ') && !value.ends_with(' ');
    if !(printable && trimmed) {
        return None;
    }
    HeaderValue::from_str(value).ok()
}

fn count(backend: &str, result: Result<(), &Refusal>) {
    let (outcome, reason) = match result {
        Ok(()) => ("accepted", "valid"),
        Err(refusal) => ("rejected", refusal.reason()),
    };
    metrics::counter!(
        "smcp_auth_outcomes_total",
        "backend" => backend.to_owned(),
        "outcome" => outcome,
        "reason" => reason,
    )
    .increment(1);
}

fn log_refusal(backend: &str, refusal: &Refusal) {
    match refusal {
        // Claim names come from the configuration; values are never logged.
        Refusal::Token(AuthError::Claims { claim, problem }) => {
            tracing::info!(backend, claim = %claim, problem = %problem, "request refused: claim rule not met");
        }
        Refusal::Token(AuthError::InsufficientScope { needed }) => {
            tracing::info!(backend, needed = %needed.join(" "), "request refused: insufficient scope");
        }
        Refusal::Token(AuthError::KeysUnavailable) => {
            tracing::warn!(
                backend,
                "request refused: the issuer's signing keys are not loaded yet"
            );
        }
        other => tracing::debug!(backend, reason = other.reason(), "request refused"),
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue, header};
    use smcp_auth::AuthError;

    use super::{DpopMode, Presented, Refusal, credentials};

    fn auth(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn identity_values_must_read_back_the_same() {
        for good in ["alice", "alice@example.com", "a b", "auth0|123"] {
            assert!(super::header_safe(good).is_some(), "{good:?}");
        }
        for bad in [" alice", "alice ", "\u{e9}mile", "a\nb", "a\tb", "a\u{7f}"] {
            assert!(super::header_safe(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn credential_rules() {
        let bearer = |headers: &[&str], query| {
            credentials(&auth(headers), query, DpopMode::Off).map(|(_, token)| token.to_owned())
        };
        assert_eq!(bearer(&["Bearer abc"], None), Ok("abc".to_owned()));
        assert_eq!(bearer(&["bearer   abc "], None), Ok("abc".to_owned()));
        assert_eq!(bearer(&["Bearer"], None), Ok("".to_owned()));
        assert_eq!(bearer(&[], None), Err(Refusal::Token(AuthError::Missing)));
        assert_eq!(
            bearer(&["Basic dXNlcjpwdw=="], None),
            Err(Refusal::NotBearer)
        );
        assert_eq!(
            bearer(&["Bearer a", "Bearer b"], None),
            Err(Refusal::SeveralHeaders)
        );
        assert_eq!(
            bearer(&["Bearer abc"], Some("x=1&access_token=abc")),
            Err(Refusal::TokenInQuery)
        );
        assert_eq!(
            bearer(&[], Some("access%5Ftoken=abc")),
            Err(Refusal::TokenInQuery)
        );
        assert_eq!(
            bearer(&["Bearer abc"], Some("sessionId=1&token=2")),
            Ok("abc".to_owned())
        );
        // DPoP: not a scheme while off; both while optional; only DPoP while required.
        assert_eq!(bearer(&["DPoP abc"], None), Err(Refusal::NotBearer));
        let with = |value: &str, mode| {
            credentials(&auth(&[value]), None, mode).map(|(how, token)| (how, token.to_owned()))
        };
        assert_eq!(
            with("dpop abc", DpopMode::Optional),
            Ok((Presented::Dpop, "abc".to_owned()))
        );
        assert_eq!(
            with("Bearer abc", DpopMode::Optional),
            Ok((Presented::Bearer, "abc".to_owned()))
        );
        assert_eq!(
            with("Bearer abc", DpopMode::Required),
            Err(Refusal::DpopRequired)
        );
        assert_eq!(
            with("DPoP abc", DpopMode::Required),
            Ok((Presented::Dpop, "abc".to_owned()))
        );
    }
}
