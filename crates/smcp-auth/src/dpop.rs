//! DPoP (RFC 9449) on the resource-server side: sender-constrained access tokens.
//!
//! A DPoP-bound token carries `cnf.jkt`, the SHA-256 thumbprint (RFC 7638) of a key only the
//! client holds; each request comes with `Authorization: DPoP <token>` and a `DPoP` header, a
//! fresh JWT signed with that key (the *proof*). A stolen token is useless without the key,
//! and a captured proof is useless for another request, URL or, after a minute, at all.
//!
//! [`DpopVerifier::verify`] checks one proof (RFC 9449 §4.3): a compact JWS with
//! `typ: dpop+jwt`, an allowed asymmetric `alg`, and a public `jwk` in its header (no private
//! members) whose signature verifies; claims `jti` (unique: a bounded replay cache), `htm`
//! equal to the request method, `htu` equal to the request URL as the client addressed it
//! (scheme and host case-insensitive, default ports, no query or fragment), `iat` within
//! [`DpopConfig::max_age`] in the past and [`DpopConfig::future_skew`] in the future, and
//! `ath` the hash of the access token it comes with. It returns the proof key's thumbprint,
//! which [`check_binding`] compares with the validated token's `cnf.jkt`. Order matters to
//! the caller: validate the token first, then the proof, so only holders of a valid token can
//! write into the replay cache.
//!
//! Server nonces (RFC 9449 §9, [`DpopConfig::nonces`]): the resource hands out a `DPoP-Nonce`
//! and a proof must carry a current one, which limits pre-computed proofs to the nonce's life.
//! Nonces are stateless: the time window (one minute) and an HMAC of it under a secret made at
//! startup, so a nonce is valid in its window and the next, and costs no memory. Replicas each
//! make their own secret: behind a load balancer, a client may be asked for a new nonce when it
//! lands on another replica (smcp-client follows one such request per call).
//!
//! Not here: the HTTP side (which header, which URL, which challenge): that is the server's.
//!
//! Metrics: `smcp_dpop_proofs_total{outcome}` (`accepted` or a [`DpopError::kind`]),
//! `smcp_dpop_replay_entries` (the replay cache's size).

mod proof;
mod replay;
#[cfg(test)]
mod tests;

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use url::Url;

pub use proof::thumbprint;
use replay::ReplayCache;

/// The proof's request header (RFC 9449 §4.1), lowercase.
pub const PROOF_HEADER: &str = "dpop";

/// The server nonce's response header (RFC 9449 §8, §9), lowercase.
pub const NONCE_HEADER: &str = "dpop-nonce";

/// Whether a resource accepts or demands DPoP-bound tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DpopMode {
    /// Bearer tokens only (a DPoP-bound token presented as Bearer is still refused).
    #[default]
    Off,
    /// Bearer tokens and DPoP-bound tokens with their proofs.
    Optional,
    /// DPoP-bound tokens with their proofs only.
    Required,
}

impl std::str::FromStr for DpopMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(DpopMode::Off),
            "optional" => Ok(DpopMode::Optional),
            "required" => Ok(DpopMode::Required),
            other => Err(format!("must be off, optional or required (got {other:?})")),
        }
    }
}

/// How proofs are checked.
#[derive(Debug, Clone)]
pub struct DpopConfig {
    /// Signature algorithms a proof may use (asymmetric only).
    pub algorithms: Vec<Algorithm>,
    /// Oldest accepted proof (`iat` this far in the past).
    pub max_age: Duration,
    /// Newest accepted proof (`iat` this far in the future: the client's clock may be ahead).
    pub future_skew: Duration,
    /// Most proofs remembered for replay detection. A full cache refuses new proofs
    /// ([`DpopError::ReplayCacheFull`]) rather than forget one that could still be replayed.
    pub replay_capacity: usize,
    /// Demand a server nonce in every proof ([`DpopVerifier::nonce`] hands them out).
    pub nonces: bool,
}

impl Default for DpopConfig {
    /// ES256, ES384, RS256, PS256 and EdDSA; proofs up to 60 s old and 5 s ahead; one million
    /// remembered proofs (about 50 MiB, enough for 15,000 proofs per second).
    fn default() -> Self {
        DpopConfig {
            algorithms: vec![
                Algorithm::ES256,
                Algorithm::ES384,
                Algorithm::RS256,
                Algorithm::PS256,
                Algorithm::EdDSA,
            ],
            max_age: Duration::from_secs(60),
            future_skew: Duration::from_secs(5),
            replay_capacity: 1_000_000,
            nonces: false,
        }
    }
}

/// Why a proof, or a token's binding to it, was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    /// Not a compact JWS with a JSON header and claims, or a required claim is missing or has
    /// the wrong type.
    #[error("the DPoP proof is malformed: {0}")]
    Malformed(&'static str),
    /// The header's `typ` is not `dpop+jwt`.
    #[error("the DPoP proof's typ is not dpop+jwt")]
    Type,
    /// The header's `alg` is not an allowed asymmetric algorithm.
    #[error("the DPoP proof's algorithm is not allowed")]
    Algorithm,
    /// The header's `jwk` is missing, private, or not a usable public key for `alg`.
    #[error("the DPoP proof's key is unusable: {0}")]
    Key(&'static str),
    /// The signature does not verify with the header's key.
    #[error("the DPoP proof's signature does not verify")]
    Signature,
    /// `htm` is not the request's method.
    #[error("the DPoP proof is for another HTTP method")]
    Method,
    /// `htu` is not the request's URL.
    #[error("the DPoP proof is for another URL")]
    Url,
    /// `iat` is too old or too far in the future.
    #[error("the DPoP proof is too old or from the future")]
    Time,
    /// This `jti` was seen before.
    #[error("the DPoP proof was used before")]
    Replayed,
    /// `ath` is missing or is not the hash of the access token.
    #[error("the DPoP proof is for another access token")]
    TokenHash,
    /// The replay cache is full: no proof can be accepted until old ones expire.
    #[error("too many DPoP proofs to remember; try again shortly")]
    ReplayCacheFull,
    /// A DPoP proof came with a token that is not DPoP-bound (no `cnf.jkt`).
    #[error("the access token is not DPoP-bound")]
    UnboundToken,
    /// The token is bound to another key than the proof's.
    #[error("the access token is bound to another key")]
    KeyMismatch,
    /// A DPoP-bound token was presented as a Bearer token.
    #[error("a DPoP-bound access token must be sent with the DPoP scheme and a proof")]
    BoundTokenAsBearer,
    /// `Authorization: DPoP` without a `DPoP` header, or with several.
    #[error("exactly one DPoP proof header is required with the DPoP scheme")]
    MissingProof,
    /// Server nonces are on and the proof has none, or an expired or foreign one.
    #[error("the DPoP proof must carry the server's current nonce")]
    UseNonce,
}

impl DpopError {
    /// A short stable name, for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            DpopError::Malformed(_) => "malformed",
            DpopError::Type => "type",
            DpopError::Algorithm => "algorithm",
            DpopError::Key(_) => "key",
            DpopError::Signature => "signature",
            DpopError::Method => "method",
            DpopError::Url => "url",
            DpopError::Time => "time",
            DpopError::Replayed => "replayed",
            DpopError::TokenHash => "token_hash",
            DpopError::ReplayCacheFull => "replay_cache_full",
            DpopError::UnboundToken => "unbound_token",
            DpopError::KeyMismatch => "key_mismatch",
            DpopError::BoundTokenAsBearer => "bound_token_as_bearer",
            DpopError::MissingProof => "missing_proof",
            DpopError::UseNonce => "use_nonce",
        }
    }

    /// A stable name for a server's refusal metrics: [`kind`](Self::kind) with a `dpop_`
    /// prefix, so it cannot be mistaken for a bearer token's reason.
    pub fn reason(&self) -> &'static str {
        match self {
            DpopError::Malformed(_) => "dpop_malformed",
            DpopError::Type => "dpop_type",
            DpopError::Algorithm => "dpop_algorithm",
            DpopError::Key(_) => "dpop_key",
            DpopError::Signature => "dpop_signature",
            DpopError::Method => "dpop_method",
            DpopError::Url => "dpop_url",
            DpopError::Time => "dpop_time",
            DpopError::Replayed => "dpop_replayed",
            DpopError::TokenHash => "dpop_token_hash",
            DpopError::ReplayCacheFull => "dpop_replay_cache_full",
            DpopError::UnboundToken => "dpop_unbound_token",
            DpopError::KeyMismatch => "dpop_key_mismatch",
            DpopError::BoundTokenAsBearer => "dpop_bound_token_as_bearer",
            DpopError::MissingProof => "dpop_missing_proof",
            DpopError::UseNonce => "dpop_use_nonce",
        }
    }

    /// A fixed description for a client (the [`Display`](std::fmt::Display) text without the
    /// detail, so it can be a `&'static str`).
    pub fn description(&self) -> &'static str {
        match self {
            DpopError::Malformed(_) => "the DPoP proof is malformed",
            DpopError::Type => "the DPoP proof's typ is not dpop+jwt",
            DpopError::Algorithm => "the DPoP proof's algorithm is not allowed",
            DpopError::Key(_) => "the DPoP proof's key is unusable",
            DpopError::Signature => "the DPoP proof's signature does not verify",
            DpopError::Method => "the DPoP proof is for another HTTP method",
            DpopError::Url => "the DPoP proof is for another URL",
            DpopError::Time => "the DPoP proof is too old or from the future",
            DpopError::Replayed => "the DPoP proof was used before",
            DpopError::TokenHash => "the DPoP proof is for another access token",
            DpopError::ReplayCacheFull => "too many DPoP proofs to remember; try again shortly",
            DpopError::UnboundToken => "the access token is not DPoP-bound",
            DpopError::KeyMismatch => "the access token is bound to another key",
            DpopError::BoundTokenAsBearer => {
                "a DPoP-bound access token must be sent with the DPoP scheme and a proof"
            }
            DpopError::MissingProof => {
                "exactly one DPoP proof header is required with the DPoP scheme"
            }
            DpopError::UseNonce => "the DPoP proof must carry the server's current nonce",
        }
    }

    /// The RFC 9449 §7.1 error code: `invalid_dpop_proof` for the proof itself,
    /// `invalid_token` for the token's binding.
    pub fn oauth_error(&self) -> &'static str {
        match self {
            DpopError::UnboundToken | DpopError::KeyMismatch | DpopError::BoundTokenAsBearer => {
                "invalid_token"
            }
            DpopError::UseNonce => "use_dpop_nonce",
            _ => "invalid_dpop_proof",
        }
    }

    /// Whether the refusal is the server's state, not the request (answer 503, not 401).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, DpopError::ReplayCacheFull)
    }
}

/// One request's proof and what it must match.
#[derive(Debug, Clone, Copy)]
pub struct ProofInput<'a> {
    /// The `DPoP` header's value.
    pub proof: &'a str,
    /// The request method.
    pub method: &'a str,
    /// The request URL as the client addressed it (its public URL); query and fragment are
    /// ignored.
    pub url: &'a Url,
    /// The access token that came with the proof.
    pub access_token: &'a str,
}

/// Checks DPoP proofs and remembers them; cheap to share (`Arc`) across connections.
pub struct DpopVerifier {
    config: DpopConfig,
    replay: Mutex<ReplayCache>,
    /// How long an accepted proof is remembered: as long as any proof could still be
    /// accepted (one window for all, so entries expire in the order they came).
    remember_for: Duration,
    /// The HMAC key of server nonces (random per verifier).
    nonce_key: aws_lc_rs::hmac::Key,
}

impl std::fmt::Debug for DpopVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopVerifier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl DpopVerifier {
    /// A verifier with an empty replay cache.
    pub fn new(config: DpopConfig) -> Self {
        let capacity = config.replay_capacity;
        let mut secret = [0u8; 32];
        // Without OS entropy the key is all zeros: nonces are then predictable, which only
        // weakens the limit on pre-computed proofs, never the proof or binding checks.
        let _ =
            aws_lc_rs::rand::SecureRandom::fill(&aws_lc_rs::rand::SystemRandom::new(), &mut secret);
        DpopVerifier {
            remember_for: config.max_age + config.future_skew + Duration::from_secs(1),
            config,
            replay: Mutex::new(ReplayCache::new(capacity)),
            nonce_key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret),
        }
    }

    /// The nonce to hand out now (`DPoP-Nonce`), when server nonces are on.
    pub fn nonce(&self) -> Option<String> {
        self.config
            .nonces
            .then(|| self.nonce_for(window_of(unix_now())))
    }

    /// The nonce of time window `window`: the window and 16 bytes of its HMAC, base64url.
    fn nonce_for(&self, window: u64) -> String {
        let tag = aws_lc_rs::hmac::sign(&self.nonce_key, &window.to_be_bytes());
        let mut bytes = window.to_be_bytes().to_vec();
        bytes.extend_from_slice(&tag.as_ref()[..16]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Whether `nonce` is this verifier's, of the current window or the one before.
    fn nonce_is_current(&self, nonce: &str, now_unix: u64) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        let Some(window) = bytes
            .get(..8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
        else {
            return false;
        };
        let now = window_of(now_unix);
        (window == now || window.saturating_add(1) == now) && self.nonce_for(window) == nonce
    }

    /// The allowed algorithms, space-separated: the `algs` of a `WWW-Authenticate: DPoP`
    /// challenge.
    pub fn algorithms(&self) -> String {
        self.config
            .algorithms
            .iter()
            .map(|alg| format!("{alg:?}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Verifies `input` now; returns the proof key's thumbprint (base64url, RFC 7638).
    ///
    /// # Errors
    /// Why the proof is refused ([`DpopError`]).
    pub fn verify(&self, input: &ProofInput<'_>) -> Result<String, DpopError> {
        self.verify_at(input, unix_now())
    }

    /// Verifies `input` as if the wall clock said `now_unix` (tests, benchmarks).
    ///
    /// # Errors
    /// As [`verify`](Self::verify).
    pub fn verify_at(&self, input: &ProofInput<'_>, now_unix: u64) -> Result<String, DpopError> {
        let result = self.check(input, now_unix);
        let outcome = match &result {
            Ok(_) => "accepted",
            Err(error) => error.kind(),
        };
        metrics::counter!("smcp_dpop_proofs_total", "outcome" => outcome).increment(1);
        result
    }

    fn check(&self, input: &ProofInput<'_>, now_unix: u64) -> Result<String, DpopError> {
        let proof = proof::verify_signature(input.proof, &self.config.algorithms)?;
        if proof.htm != input.method {
            return Err(DpopError::Method);
        }
        if !same_url(&proof.htu, input.url) {
            return Err(DpopError::Url);
        }
        let oldest = now_unix.saturating_sub(self.config.max_age.as_secs());
        let newest = now_unix.saturating_add(self.config.future_skew.as_secs());
        if proof.iat < oldest || proof.iat > newest {
            return Err(DpopError::Time);
        }
        if proof.ath.as_deref() != Some(access_token_hash(input.access_token).as_str()) {
            return Err(DpopError::TokenHash);
        }
        if self.config.nonces
            && !proof
                .nonce
                .as_deref()
                .is_some_and(|nonce| self.nonce_is_current(nonce, now_unix))
        {
            return Err(DpopError::UseNonce);
        }
        let key = replay::key(&proof.thumbprint, &proof.jti);
        let mut replay = self.replay.lock().unwrap_or_else(|p| p.into_inner());
        replay.insert(key, Instant::now(), self.remember_for)?;
        metrics::gauge!("smcp_dpop_replay_entries").set(replay.len() as f64);
        Ok(proof.thumbprint)
    }
}

/// How long one server nonce window lasts (a nonce is good for its window and the next).
const NONCE_WINDOW_SECS: u64 = 60;

fn window_of(unix: u64) -> u64 {
    unix / NONCE_WINDOW_SECS
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `ath`: the base64url SHA-256 of the access token's ASCII (RFC 9449 §4.2).
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// Checks a validated token's DPoP binding: `proof_key` is the thumbprint of the request's
/// proof (`None`: the token came as Bearer, without a proof).
///
/// # Errors
/// [`DpopError::BoundTokenAsBearer`] for a bound token without a proof,
/// [`DpopError::UnboundToken`] for a proof with an unbound token, [`DpopError::KeyMismatch`]
/// when the token is bound to another key.
pub fn check_binding(
    claims: &Map<String, Value>,
    proof_key: Option<&str>,
) -> Result<(), DpopError> {
    let bound = claims
        .get("cnf")
        .and_then(|cnf| cnf.get("jkt"))
        .and_then(Value::as_str);
    match (bound, proof_key) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(DpopError::BoundTokenAsBearer),
        (None, Some(_)) => Err(DpopError::UnboundToken),
        (Some(bound), Some(key)) if bound == key => Ok(()),
        (Some(_), Some(_)) => Err(DpopError::KeyMismatch),
    }
}

/// `htu` (as the client wrote it) names `url`: same scheme, host and port (case and default
/// ports aside) and the same path; query and fragment ignored (RFC 9449 §4.3).
fn same_url(htu: &str, url: &Url) -> bool {
    let Ok(htu) = Url::parse(htu) else {
        return false;
    };
    htu.scheme() == url.scheme()
        && htu.host_str() == url.host_str()
        && htu.port_or_known_default() == url.port_or_known_default()
        && htu.path() == url.path()
}
