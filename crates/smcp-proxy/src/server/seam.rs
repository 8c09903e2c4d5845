//! What the MCP-aware stages (audit, policy, rate limits) see of a request at the seam between
//! authentication and the backend call: one borrowed view, so that each stage reads the same
//! facts and none re-derives them.

use http::request::Parts;
use smcp_transport::http::ClientAddr;
use smcp_transport::request_body::RequestBody;

use super::auth::Caller;
use super::backend::BackendEntry;

/// A routed, authenticated request whose body has been read, before the backend call.
pub(crate) struct AtSeam<'a> {
    /// The `X-Request-Id` smcp answers with.
    pub(crate) request_id: &'a str,
    /// The backend the route leads to.
    pub(crate) entry: &'a BackendEntry,
    /// The request head (method, headers).
    pub(crate) head: &'a Parts,
    /// The query of the request path, if any (legacy SSE `sessionId`).
    pub(crate) query: Option<&'a str>,
    /// `http` or `https`, as the client connected.
    pub(crate) scheme: &'a str,
    /// The body, read whole; `body.envelope()` is its JSON-RPC envelope.
    pub(crate) body: &'a RequestBody,
    /// Who is calling (anonymous on an unprotected backend).
    pub(crate) caller: &'a Caller,
    /// The address the connection came from (printed once per connection).
    pub(crate) client: &'a ClientAddr,
}
