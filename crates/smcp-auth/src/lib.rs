//! OIDC bearer-token validation and client-credentials token sources for smcp.
//!
//! The server side validates access tokens against the configured issuers' JWKS; the client
//! side obtains machine-to-machine tokens. This crate does no HTTP serving and knows nothing
//! about MCP, routing or transports.
//!
//! Server side, in short: build a [`Validator`] from a [`ValidatorConfig`] and a shared
//! `reqwest::Client`, call [`Validator::start`] once inside the runtime (keys are fetched in
//! the background with backoff; startup never waits for the IdP), and call
//! [`Validator::validate`] per request with the bare token, the public URL of the called
//! endpoint and that endpoint's [`ClaimRules`]. Map the [`AuthError`] once at the edge with
//! [`AuthError::class`] (401/403/503), [`AuthError::oauth_error`] and
//! [`AuthError::description`]; use [`Principal::key`] to bind sessions.
//!
//! Metrics: `smcp_auth_validations_total{outcome,reason}`,
//! `smcp_auth_validation_duration_seconds{outcome}`, `smcp_jwks_fetches_total{issuer,outcome}`.

mod cache;
mod claims;
mod config;
mod discovery;
pub mod dpop;
mod error;
mod fetch;
mod jwks;
mod keys;
mod principal;
mod token;
pub mod token_source;
mod validator;

pub use claims::{ClaimRule, ClaimRuleError, ClaimRules};
pub use config::{
    ConfigError, IssuerConfig, ValidatorConfig, check_issuer, check_jwks_uri, is_secure_url,
};
pub use error::{AuthError, ClaimProblem, ErrorClass};
pub use principal::Principal;
pub use validator::Validator;
