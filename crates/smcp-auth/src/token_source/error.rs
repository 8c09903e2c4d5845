//! Why a client-credentials token could not be obtained.
//!
//! Errors are `Clone` because one failed refresh is handed to every caller that waited on it
//! (single flight). They carry the IdP's own `error` and `error_description` when it sent them,
//! so an operator reads "invalid_client: client authentication failed" instead of "HTTP 401".
//! No variant ever holds the client secret, an assertion or a token.

use thiserror::Error;

/// Why [`TokenSource`](super::TokenSource) has no token to give.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token endpoint answered with an OAuth error response (RFC 6749 §5.2).
    #[error("the token endpoint refused the request: {error}{}{} (HTTP {status})",
        description.as_deref().map(|d| format!(": {d}")).unwrap_or_default(),
        uri.as_deref().map(|u| format!(" (see {u})")).unwrap_or_default())]
    Rejected {
        /// The HTTP status (400 or 401 usually).
        status: u16,
        /// The OAuth `error` code, e.g. `invalid_client`, `invalid_scope`, `invalid_target`.
        error: String,
        /// The IdP's `error_description`, when it sent one.
        description: Option<String>,
        /// The IdP's `error_uri`, when it sent one.
        uri: Option<String>,
    },
    /// The token endpoint answered with an error status and no OAuth error body.
    #[error("the token endpoint answered HTTP {status} without an OAuth error")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// The IdP could not be reached (connection refused, DNS, TLS).
    #[error("cannot reach the identity provider at {url}: {detail}")]
    Network {
        /// The URL that was being fetched (never carries credentials).
        url: String,
        /// The cause chain.
        detail: String,
    },
    /// The IdP did not answer within the request timeout.
    #[error("the identity provider at {url} did not answer in time")]
    Timeout {
        /// The URL that was being fetched.
        url: String,
    },
    /// A 2xx answer that is not a usable token response (bad JSON, no `access_token`, a token
    /// type other than `Bearer`).
    #[error("the token endpoint's answer is not usable: {0}")]
    InvalidResponse(String),
    /// The token endpoint could not be found (issuer metadata, protected-resource metadata).
    #[error("cannot find the token endpoint: {detail}")]
    Discovery {
        /// What was tried and what went wrong.
        detail: String,
        /// Worth retrying (a network failure or 5xx), as opposed to a wrong configuration.
        transient: bool,
    },
    /// The `private_key_jwt` client assertion could not be signed.
    #[error("cannot sign the client assertion: {0}")]
    Assertion(String),
}

impl TokenError {
    /// The OAuth `error` code the IdP sent, if any (`invalid_client`, `invalid_scope`, ...).
    pub fn oauth_error(&self) -> Option<&str> {
        match self {
            TokenError::Rejected { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Whether trying again later may help: network failures, timeouts, 5xx and 429 answers,
    /// and the OAuth codes `temporarily_unavailable` and `slow_down`. A wrong secret or scope
    /// is not retried: it would only lock the client out faster.
    pub fn is_transient(&self) -> bool {
        match self {
            TokenError::Network { .. } | TokenError::Timeout { .. } => true,
            TokenError::Status { status } => *status >= 500 || *status == 429,
            TokenError::Rejected { status, error, .. } => {
                *status >= 500
                    || *status == 429
                    || error == "temporarily_unavailable"
                    || error == "slow_down"
            }
            TokenError::Discovery { transient, .. } => *transient,
            TokenError::InvalidResponse(_) | TokenError::Assertion(_) => false,
        }
    }

    /// A stable snake_case name for the `outcome` metric label and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            TokenError::Rejected { .. } => "rejected",
            TokenError::Status { .. } => "http_status",
            TokenError::Network { .. } => "network_error",
            TokenError::Timeout { .. } => "timeout",
            TokenError::InvalidResponse(_) => "invalid_response",
            TokenError::Discovery { .. } => "discovery",
            TokenError::Assertion(_) => "assertion",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TokenError;

    #[test]
    fn messages_name_the_idp_error() {
        let e = TokenError::Rejected {
            status: 401,
            error: "invalid_client".into(),
            description: Some("client authentication failed".into()),
            uri: None,
        };
        assert_eq!(
            e.to_string(),
            "the token endpoint refused the request: invalid_client: client authentication \
             failed (HTTP 401)"
        );
        assert_eq!(e.oauth_error(), Some("invalid_client"));
        assert!(!e.is_transient());
        let busy = TokenError::Rejected {
            status: 400,
            error: "temporarily_unavailable".into(),
            description: None,
            uri: Some("https://idp/help".into()),
        };
        assert!(busy.is_transient());
        assert!(busy.to_string().contains("(see https://idp/help)"));
        assert!(TokenError::Status { status: 503 }.is_transient());
        assert!(!TokenError::Status { status: 404 }.is_transient());
        assert!(TokenError::Status { status: 429 }.is_transient());
    }
}
