//! The one place that decides how smcp answers an error it raises itself, and the one builder
//! of the JSON answers smcp gives itself: smcp-server's and smcp-client's (through their
//! `reply` modules) and this crate's stdio backends alike.
//!
//! [`ProxyError`] names every such error; [`ProxyError::respond`] is the single function that
//! decides its status, JSON-RPC code, message and headers (`Allow`, `Retry-After`,
//! `WWW-Authenticate`), in the spirit of a single rescue point: a new error is a new variant
//! here, so two places can never answer the same failure differently (a 413 names itself,
//! never "the MCP backend is unreachable").
//!
//! Every such response has `Content-Type: application/json` and `Cache-Control: no-store` (an
//! error is about one request and must never be served from a cache); error bodies are
//! JSON-RPC (MCP clients parse error bodies as JSON-RPC), with the request's id when it is
//! known and `null` otherwise. Messages a backend sends are passed on as they are, never
//! through here. Messages are fixed texts or name only what the client sent or configured
//! limits: never a path on disk, an address, a token or an upstream's error text.

use std::borrow::Cow;

use ::http::{HeaderValue, Response, StatusCode, header};
use bytes::Bytes;

use crate::body::{self, Body};
use crate::jsonrpc::{self, RequestId};

/// JSON-RPC error code of authentication and authorization refusals.
pub const AUTH_ERROR: i64 = -32001;
/// JSON-RPC error code of a request over a rate limit of the backend's policy.
pub const RATE_LIMITED: i64 = -32010;

/// How long a client is told to wait when a backend's session limit is reached (seconds).
const SESSIONS_RETRY_AFTER_SECS: u32 = 5;
/// How long a client is told to wait when a child is not reading its input (seconds).
const BUSY_RETRY_AFTER_SECS: u32 = 1;
/// How long a client is told to wait while smcp drains (seconds): another replica answers.
const DRAINING_RETRY_AFTER_SECS: u32 = 1;
/// How long a client is told to wait while no token signing keys are loaded (seconds).
const KEYS_RETRY_AFTER_SECS: u32 = 5;

/// An error smcp raises itself (as opposed to an answer of a backend, which passes unchanged).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ProxyError {
    /// 400: the request is malformed in a way smcp decides on; the text says how.
    Malformed(Cow<'static, str>),
    /// 400: a request that needs a session names none.
    SessionRequired,
    /// 400: an `MCP-Protocol-Version` this backend does not speak.
    UnsupportedVersion {
        /// The version the client sent.
        version: String,
        /// The versions that are spoken.
        supported: &'static [&'static str],
    },
    /// 400: the request body failed while being read (the client's stream broke).
    BodyUnreadable,
    /// 400: the request body is not UTF-8 (JSON must be).
    BodyNotUtf8,
    /// 400: the request body is not an acceptable JSON-RPC message; `code` is the JSON-RPC
    /// code the parser chose (parse error, invalid request).
    InvalidMessage {
        /// The JSON-RPC error code.
        code: i64,
        /// What is wrong with it.
        message: String,
    },
    /// 401 or 403 from the auth stage: `status`, a fixed `message`, the `data` object of the
    /// error body (OAuth error code, scopes, metadata URL) and the `WWW-Authenticate`
    /// challenge, when one fits.
    Auth {
        /// 401 or 403.
        status: StatusCode,
        /// A fixed description (never a claim value or the token).
        message: &'static str,
        /// The JSON-RPC error's `data`.
        data: serde_json::Value,
        /// The `WWW-Authenticate` header value.
        challenge: Option<HeaderValue>,
    },
    /// 403: the `Origin` is not allowed.
    OriginRefused,
    /// 404: no backend is configured at this path.
    NoRoute,
    /// 404: the backend serves no MCP endpoint at this path.
    NoEndpoint,
    /// 404: a local resource that does not exist; the text says which.
    NotFound(Cow<'static, str>),
    /// 404: a session id that is unknown, ended, or someone else's (never told apart).
    UnknownSession,
    /// 405 with `Allow`.
    MethodNotAllowed {
        /// The methods the path answers.
        allow: &'static str,
    },
    /// 406: the client accepts none of the types the endpoint answers with.
    NotAcceptable {
        /// What it must accept.
        needed: &'static str,
    },
    /// 406: the backend answers with a stream, which the client does not accept.
    StreamNotAccepted,
    /// 413: the request body is over the limit of `limit` bytes (when the limit is known
    /// where the body failed).
    PayloadTooLarge {
        /// The limit (server.max_request_body).
        limit: Option<u64>,
    },
    /// 421: the `Host` names a host this server does not answer for.
    MisdirectedHost,
    /// 429 with `Retry-After`: the caller's own session limit is reached and all its sessions
    /// are busy.
    TooManySessions,
    /// 503 with `Retry-After`: smcp is draining (shutting down) and starts nothing new.
    Draining,
    /// 503 with `Retry-After`: the backend's session limit is reached.
    SessionsFull,
    /// 503 with `Retry-After`: the child is not reading its input and its queue is full.
    BackendBusy,
    /// 503 with `Retry-After`: no token signing keys could be loaded yet.
    KeysUnavailable {
        /// A fixed description.
        message: &'static str,
    },
    /// 503: another metrics recorder owns the process.
    MetricsUnavailable,
    /// 502: the HTTP backend could not be reached or broke the exchange.
    BackendUnreachable,
    /// 504: the HTTP backend did not answer within its timeout.
    BackendTimeout,
    /// 502: the stdio backend failed; the text says how (a fixed text).
    BadGateway(Cow<'static, str>),
    /// 200 with a JSON-RPC error: what a server answers for a tool, prompt, resource or method
    /// that does not exist, given for one a policy hides (the caller cannot tell the two apart).
    Unknown {
        /// The JSON-RPC error code (`-32602` for a tool or prompt, `-32002` for a resource,
        /// `-32601` for a method).
        code: i64,
        /// The message, in the form servers use (`Unknown tool: x`).
        message: String,
    },
    /// 429: a rate limit of the backend's policy is reached.
    RateLimited {
        /// Whole seconds until a request would be allowed (at least 1), sent as `Retry-After`.
        retry_after_secs: u64,
        /// Which limit, as the operator wrote it (`600/min per caller`).
        limit: String,
    },
    /// 502 (smcp-client): no access token could be obtained for the server; the text says
    /// why (the identity provider's error, never a secret).
    TokenUnavailable(String),
    /// 502 (smcp-client): smcp-server could not be reached; the text names it.
    UpstreamUnreachable(String),
    /// 504 (smcp-client): smcp-server sent no response in time; the text names it.
    UpstreamTimeout(String),
}

impl ProxyError {
    /// The answer to a request body that could not be read whole within `limit` bytes: 413
    /// naming the limit, or 400 when the body broke off.
    pub fn body_read(error: crate::body::ReadError, limit: u64) -> Self {
        match error {
            crate::body::ReadError::TooLarge => Self::PayloadTooLarge { limit: Some(limit) },
            crate::body::ReadError::Failed => Self::BodyUnreadable,
        }
    }

    /// The answer to this error for request `id` (`null` when unknown): status, JSON-RPC
    /// code, message and headers are decided here and nowhere else.
    pub fn respond(&self, id: Option<&RequestId>) -> Response<Body> {
        let (status, code, message) = self.decide();
        let mut response = match self {
            Self::Auth { data, .. } => auth_refusal(status, id, code, &message, data),
            _ => jsonrpc_error(status, id, code, &message),
        };
        let headers = response.headers_mut();
        match self {
            Self::MethodNotAllowed { allow } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            Self::TooManySessions | Self::SessionsFull => {
                headers.insert(header::RETRY_AFTER, SESSIONS_RETRY_AFTER_SECS.into());
            }
            Self::BackendBusy => {
                headers.insert(header::RETRY_AFTER, BUSY_RETRY_AFTER_SECS.into());
            }
            Self::Draining => {
                headers.insert(header::RETRY_AFTER, DRAINING_RETRY_AFTER_SECS.into());
            }
            Self::KeysUnavailable { .. } => {
                headers.insert(header::RETRY_AFTER, KEYS_RETRY_AFTER_SECS.into());
            }
            Self::RateLimited {
                retry_after_secs, ..
            } => {
                headers.insert(header::RETRY_AFTER, (*retry_after_secs).into());
            }
            Self::Auth {
                challenge: Some(challenge),
                ..
            } => {
                headers.insert(header::WWW_AUTHENTICATE, challenge.clone());
            }
            _ => {}
        }
        response
    }

    /// The HTTP status [`respond`](Self::respond) answers with.
    pub fn status(&self) -> StatusCode {
        self.decide().0
    }

    /// The JSON-RPC error code of the answer (also for answers sent as a JSON-RPC message
    /// rather than an HTTP response, as smcp-client's stdio mode does).
    pub fn code(&self) -> i64 {
        self.decide().1
    }

    /// The JSON-RPC error message of the answer.
    pub fn message(&self) -> Cow<'_, str> {
        self.decide().2
    }

    /// Status, JSON-RPC code and message.
    fn decide(&self) -> (StatusCode, i64, Cow<'_, str>) {
        use jsonrpc::{INTERNAL_ERROR, INVALID_REQUEST, PARSE_ERROR, SERVER_ERROR};
        match self {
            Self::Malformed(message) => (StatusCode::BAD_REQUEST, INVALID_REQUEST, message.clone()),
            Self::SessionRequired => (
                StatusCode::BAD_REQUEST,
                SERVER_ERROR,
                "Bad Request: Mcp-Session-Id header is required (send initialize first to start a session)".into(),
            ),
            Self::UnsupportedVersion { version, supported } => (
                StatusCode::BAD_REQUEST,
                SERVER_ERROR,
                format!(
                    "Bad Request: unsupported MCP-Protocol-Version {version:?} (supported: {})",
                    supported.join(", ")
                )
                .into(),
            ),
            Self::BodyUnreadable => (
                StatusCode::BAD_REQUEST,
                INVALID_REQUEST,
                "Bad Request: the request body could not be read".into(),
            ),
            Self::BodyNotUtf8 => (
                StatusCode::BAD_REQUEST,
                PARSE_ERROR,
                "Parse error: the request body is not valid UTF-8".into(),
            ),
            Self::InvalidMessage { code, message } => {
                (StatusCode::BAD_REQUEST, *code, message.as_str().into())
            }
            Self::Unknown { code, message } => (StatusCode::OK, *code, message.as_str().into()),
            Self::Auth {
                status, message, ..
            } => (*status, AUTH_ERROR, (*message).into()),
            Self::OriginRefused => (
                StatusCode::FORBIDDEN,
                INVALID_REQUEST,
                "Origin is not allowed".into(),
            ),
            Self::NoRoute => (
                StatusCode::NOT_FOUND,
                INVALID_REQUEST,
                "no MCP backend is configured at this path".into(),
            ),
            Self::NoEndpoint => (
                StatusCode::NOT_FOUND,
                SERVER_ERROR,
                "Not Found: no MCP endpoint at this path".into(),
            ),
            Self::NotFound(message) => (StatusCode::NOT_FOUND, INVALID_REQUEST, message.clone()),
            Self::UnknownSession => (
                StatusCode::NOT_FOUND,
                SERVER_ERROR,
                "Session not found: it ended or never existed; start a new one with initialize"
                    .into(),
            ),
            Self::MethodNotAllowed { .. } => (
                StatusCode::METHOD_NOT_ALLOWED,
                INVALID_REQUEST,
                "Method Not Allowed".into(),
            ),
            Self::NotAcceptable { needed } => (
                StatusCode::NOT_ACCEPTABLE,
                SERVER_ERROR,
                format!("Not Acceptable: the client must accept {needed}").into(),
            ),
            Self::StreamNotAccepted => (
                StatusCode::NOT_ACCEPTABLE,
                SERVER_ERROR,
                "Not Acceptable: the backend answers this request with a stream of messages; \
                 the client must accept text/event-stream"
                    .into(),
            ),
            Self::PayloadTooLarge { limit: Some(limit) } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                INVALID_REQUEST,
                format!(
                    "Payload Too Large: the request body exceeds the limit of {limit} bytes \
                     (server.max_request_body)"
                )
                .into(),
            ),
            Self::PayloadTooLarge { limit: None } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                INVALID_REQUEST,
                "Payload Too Large: the request body is over the limit".into(),
            ),
            Self::MisdirectedHost => (
                StatusCode::MISDIRECTED_REQUEST,
                INVALID_REQUEST,
                "this host name is not served here; see server.allowed_hosts".into(),
            ),
            Self::TooManySessions => (
                StatusCode::TOO_MANY_REQUESTS,
                SERVER_ERROR,
                "Too Many Requests: this caller has too many busy sessions on this backend; end one (DELETE) or retry later".into(),
            ),
            Self::RateLimited {
                retry_after_secs,
                limit,
            } => (
                StatusCode::TOO_MANY_REQUESTS,
                RATE_LIMITED,
                format!(
                    "Too Many Requests: the rate limit {limit} is reached; retry after {retry_after_secs} s"
                )
                .into(),
            ),
            Self::Draining => (
                StatusCode::SERVICE_UNAVAILABLE,
                SERVER_ERROR,
                "Service Unavailable: smcp is shutting down".into(),
            ),
            Self::SessionsFull => (
                StatusCode::SERVICE_UNAVAILABLE,
                SERVER_ERROR,
                "Service Unavailable: too many sessions on this backend, retry later".into(),
            ),
            Self::BackendBusy => (
                StatusCode::SERVICE_UNAVAILABLE,
                SERVER_ERROR,
                "Service Unavailable: the backend is not reading its input, retry later".into(),
            ),
            Self::KeysUnavailable { message } => {
                (StatusCode::SERVICE_UNAVAILABLE, SERVER_ERROR, (*message).into())
            }
            Self::MetricsUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                SERVER_ERROR,
                "metrics are unavailable: another metrics recorder owns this process".into(),
            ),
            Self::BackendUnreachable => (
                StatusCode::BAD_GATEWAY,
                SERVER_ERROR,
                "the MCP backend is unreachable".into(),
            ),
            Self::BackendTimeout => (
                StatusCode::GATEWAY_TIMEOUT,
                SERVER_ERROR,
                "the MCP backend did not answer in time".into(),
            ),
            Self::BadGateway(message) => (StatusCode::BAD_GATEWAY, INTERNAL_ERROR, message.clone()),
            Self::TokenUnavailable(message) | Self::UpstreamUnreachable(message) => {
                (StatusCode::BAD_GATEWAY, SERVER_ERROR, message.as_str().into())
            }
            Self::UpstreamTimeout(message) => {
                (StatusCode::GATEWAY_TIMEOUT, SERVER_ERROR, message.as_str().into())
            }
        }
    }
}

/// An auth refusal's body carries `data` (the OAuth error code and where the metadata is).
fn auth_refusal(
    status: StatusCode,
    id: Option<&RequestId>,
    code: i64,
    message: &str,
    data: &serde_json::Value,
) -> Response<Body> {
    // The id as it was sent (a number or a string): its JSON text parsed back.
    let id = id
        .and_then(|id| serde_json::from_str::<serde_json::Value>(&id.to_json()).ok())
        .unwrap_or(serde_json::Value::Null);
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code, "message": message, "data": data },
    });
    let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
    json_bytes(status, bytes)
}

/// `status` with `bytes` as a JSON body.
pub fn json_bytes(status: StatusCode, bytes: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(body::full(bytes));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `status` with a JSON-RPC error body for request `id` (`null` when unknown). Prefer
/// [`ProxyError::respond`]: this is its body builder.
pub fn jsonrpc_error(
    status: StatusCode,
    id: Option<&RequestId>,
    code: i64,
    message: &str,
) -> Response<Body> {
    json_bytes(status, jsonrpc::error_response(id, code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_json(response: Response<Body>) -> serde_json::Value {
        use http_body_util::BodyExt;
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    /// One of each variant, with the status each must answer with.
    fn every_error() -> Vec<(ProxyError, u16)> {
        vec![
            (
                ProxyError::Malformed("send at most one Host header".into()),
                400,
            ),
            (ProxyError::SessionRequired, 400),
            (
                ProxyError::UnsupportedVersion {
                    version: "1999-01-01".into(),
                    supported: &["2025-06-18"],
                },
                400,
            ),
            (ProxyError::BodyUnreadable, 400),
            (ProxyError::BodyNotUtf8, 400),
            (
                ProxyError::InvalidMessage {
                    code: jsonrpc::PARSE_ERROR,
                    message: "Parse error".into(),
                },
                400,
            ),
            (
                ProxyError::Auth {
                    status: StatusCode::UNAUTHORIZED,
                    message: "a token is required",
                    data: serde_json::json!({"oauth_error": null}),
                    challenge: Some(HeaderValue::from_static("Bearer")),
                },
                401,
            ),
            (ProxyError::OriginRefused, 403),
            (ProxyError::NoRoute, 404),
            (ProxyError::NoEndpoint, 404),
            (ProxyError::NotFound("nothing here".into()), 404),
            (ProxyError::UnknownSession, 404),
            (ProxyError::MethodNotAllowed { allow: "GET" }, 405),
            (
                ProxyError::NotAcceptable {
                    needed: "text/event-stream",
                },
                406,
            ),
            (ProxyError::StreamNotAccepted, 406),
            (ProxyError::PayloadTooLarge { limit: Some(10) }, 413),
            (ProxyError::PayloadTooLarge { limit: None }, 413),
            (ProxyError::MisdirectedHost, 421),
            (ProxyError::TooManySessions, 429),
            (
                ProxyError::RateLimited {
                    retry_after_secs: 7,
                    limit: "10/min per caller".into(),
                },
                429,
            ),
            (ProxyError::Draining, 503),
            (ProxyError::SessionsFull, 503),
            (ProxyError::BackendBusy, 503),
            (
                ProxyError::KeysUnavailable {
                    message: "no keys yet",
                },
                503,
            ),
            (ProxyError::MetricsUnavailable, 503),
            (ProxyError::BackendUnreachable, 502),
            (ProxyError::BackendTimeout, 504),
            (ProxyError::BadGateway("Bad Gateway: it exited".into()), 502),
            (ProxyError::TokenUnavailable("no token".into()), 502),
            (ProxyError::UpstreamUnreachable("cannot reach".into()), 502),
            (ProxyError::UpstreamTimeout("no answer".into()), 504),
            (
                ProxyError::Unknown {
                    code: jsonrpc::INVALID_PARAMS,
                    message: "Unknown tool: x".into(),
                },
                200,
            ),
        ]
    }

    #[tokio::test]
    async fn every_error_is_an_uncached_json_rpc_error_with_its_status_code_and_message() {
        for (error, status) in every_error() {
            let response = error.respond(Some(&RequestId::Number(7)));
            assert_eq!(response.status().as_u16(), status, "{error:?}");
            assert_eq!(error.status().as_u16(), status, "{error:?}");
            assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
            assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
            let body = body_json(response).await;
            assert_eq!(body["jsonrpc"], "2.0");
            assert_eq!(body["error"]["code"], error.code(), "{error:?}");
            assert_eq!(body["error"]["message"], *error.message(), "{error:?}");
            assert!(!error.message().is_empty());
            // Every error names the request it answers, auth refusals included (a step-up
            // challenge must, so that the client knows which call to retry).
            assert_eq!(body["id"], serde_json::json!(7), "{error:?}");
        }
    }

    #[test]
    fn retry_after_allow_and_challenge_come_with_the_errors_that_need_them() {
        for (error, _) in every_error() {
            let response = error.respond(None);
            let headers = response.headers();
            let retry = headers
                .get(header::RETRY_AFTER)
                .map(|v| v.to_str().unwrap());
            let expected = match error {
                ProxyError::TooManySessions | ProxyError::SessionsFull => Some("5"),
                ProxyError::KeysUnavailable { .. } => Some("5"),
                ProxyError::BackendBusy | ProxyError::Draining => Some("1"),
                ProxyError::RateLimited { .. } => Some("7"),
                _ => None,
            };
            assert_eq!(retry, expected, "{error:?}");
            assert_eq!(
                headers.contains_key(header::ALLOW),
                matches!(error, ProxyError::MethodNotAllowed { .. }),
                "{error:?}"
            );
            assert_eq!(
                headers.contains_key(header::WWW_AUTHENTICATE),
                matches!(error, ProxyError::Auth { .. }),
                "{error:?}"
            );
        }
    }

    #[test]
    fn a_413_names_itself_and_its_limit() {
        let error = ProxyError::PayloadTooLarge { limit: Some(1024) };
        assert!(
            error
                .message()
                .contains("the request body exceeds the limit of 1024 bytes"),
            "{}",
            error.message()
        );
        assert!(!error.message().contains("unreachable"));
    }
}
