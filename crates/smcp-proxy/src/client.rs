//! smcp-client: lets software that knows nothing about OAuth use an OIDC-protected smcp-server.
//!
//! Three ways to run it, all sharing one [`Upstream`] (the server connection: pooled HTTP/1.1
//! and HTTP/2, system roots plus `--server-ca-file`, the bearer token from a
//! client-credentials [`TokenSource`](smcp_auth::token_source::TokenSource), one refresh and
//! replay after a `401`, one scope step-up and replay after a `403` `insufficient_scope`):
//!
//! - HTTP mode ([`HttpProxy`], the default): a local listener (`127.0.0.1:8081`) forwarding
//!   every request to `--server-url` with the path appended, streamed both ways, with its own
//!   `/health` and `/metrics`;
//! - stdio mode ([`StdioBridge`]): a stdio MCP server for desktop hosts, bridging
//!   newline-delimited JSON-RPC to Streamable HTTP (or legacy SSE), re-initializing
//!   transparently when the server forgets the session;
//! - [`check`]: fetch a token, show what the server will see, and call the server once.
//!
//! Configuration ([`ClientConfig`]) comes from flags and environment variables with the Go
//! client's names ([`options`]). Logs go to stderr only: stdout belongs to the stdio bridge.
//!
//! Metrics: `smcp_client_requests_total{status}`, `smcp_client_request_duration_seconds`,
//! `smcp_client_token_refreshes_total{reason}` (a `401` from the server),
//! `smcp_client_step_ups_total{outcome}` (a `403` asking for more scopes), plus the token
//! source's `smcp_client_token_fetches_total{outcome}` and the forwarder's
//! `smcp_upstream_errors_total{backend="server",kind}`.

pub mod check;
mod config;
mod credentials;
mod http_mode;
pub mod options;
mod replay;
mod reply;
pub mod stdio;
mod upstream;

pub use config::{
    ClientConfig, ClientConfigError, ListenConfig, OidcClientConfig, ResourceChoice, ServerTarget,
    StdioTransport, TokenEndpointConfig,
};
pub use credentials::{BuildError, ClientTokens, DEFAULT_SCOPE, client_tokens, idp_http_client};
pub use http_mode::HttpProxy;
pub use stdio::StdioBridge;
pub use upstream::{PathBase, RequestHead, Upstream, UpstreamError};
