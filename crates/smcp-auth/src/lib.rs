//! OIDC bearer-token validation and client-credentials token sources for smcp.
//!
//! The server side validates access tokens against the configured issuers' JWKS; the client
//! side obtains machine-to-machine tokens. This crate does no HTTP serving and knows nothing
//! about MCP, routing or transports.
