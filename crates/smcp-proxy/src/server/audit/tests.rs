//! The records an exchange writes, field by field, read back from a file sink.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use smcp_transport::body::{self, Body};
use smcp_transport::http::ClientAddr;
use smcp_transport::reply::ProxyError;
use smcp_transport::request_body::RequestBody;
use smcp_transport::session::SessionOwner;

use super::AuditTrail;
use crate::config::{AuditConfig, AuditSinkConfig};
use crate::server::auth::Caller;
use crate::server::backend::BackendEntry;
use crate::server::build;
use crate::server::seam::AtSeam;

const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.secret-token.signature";

struct Trail {
    trail: AuditTrail,
    /// A backend `tools` (never called: records are written at the seam and from replies).
    entry: Arc<BackendEntry>,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Trail {
    fn new(arguments_digest: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let config = AuditConfig {
            sink: AuditSinkConfig::File(path.clone()),
            arguments_digest,
            queue: 64,
        };
        Self {
            trail: AuditTrail::start(&config).unwrap(),
            entry: backend_entry(),
            path,
            _dir: dir,
        }
    }

    /// Every record written so far.
    fn records(&self) -> Vec<Value> {
        assert!(self.trail.sink().flush(Duration::from_secs(10)));
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        assert!(!text.contains(TOKEN), "a record holds the token: {text}");
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// The exchange of a POST of `body` by `caller`, in session `session`.
    fn exchange(&self, body: &str, caller: &Caller, session: Option<&str>) -> super::Exchange {
        let mut request = Request::post("/mcp")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .header("mcp-protocol-version", "2025-06-18");
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        let (head, ()) = request.body(()).unwrap().into_parts();
        let body = RequestBody::from_bytes(Bytes::from(body.to_owned()));
        self.trail.exchange(&AtSeam {
            request_id: "req-1",
            entry: &self.entry,
            head: &head,
            query: None,
            scheme: "http",
            body: &body,
            caller,
            client: &ClientAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))),
        })
    }
}

/// The entry of a stdio backend `tools`, built as `smcp-server check` builds it (nothing runs).
fn backend_entry() -> Arc<BackendEntry> {
    let yaml = "mcp:\n  backends:\n    - id: tools\n      transport: stdio\n      path: /mcp\n      stdio:\n        command: cat\n";
    let env = std::collections::BTreeMap::<String, String>::new();
    let loaded =
        crate::config::load_str(yaml, crate::config::Format::Yaml, &Default::default(), &env)
            .unwrap();
    let (app, _) = build::build(&loaded.config, build::Purpose::Check).unwrap();
    Arc::clone(&app.backends[0])
}

fn caller() -> Caller {
    let claims = json!({ "iss": "https://idp.test", "sub": "alice", "azp": "agent-7" });
    let Value::Object(claims) = claims else {
        unreachable!()
    };
    Caller {
        owner: SessionOwner::from_principal("https://idp.test", "alice"),
        set_headers: http::HeaderMap::new(),
        principal: Some(smcp_auth::Principal {
            issuer: "https://idp.test".into(),
            subject: "alice".into(),
            email: None,
            scopes: vec!["mcp:read".into()],
            claims: Arc::new(claims),
            expires_at: SystemTime::now(),
        }),
    }
}

fn json_response(status: StatusCode, body: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body::full(body.to_owned()))
        .unwrap()
}

async fn drain(response: Response<Body>) -> Bytes {
    response.into_body().collect().await.unwrap().to_bytes()
}

const CALL: &str = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"message":"private words"}}}"#;

#[test]
fn a_refused_call_is_recorded_with_who_where_what_and_why() {
    let trail = Trail::new(false);
    let mut exchange = trail.exchange(CALL, &caller(), Some("session-secret"));
    exchange.decide(0, "step_up", Some(2));
    let refusal = ProxyError::RateLimited {
        retry_after_secs: 3,
        limit: "600/min per caller".into(),
    };
    exchange.refused(&refusal);

    let records = trail.records();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record["request_id"], "req-1");
    assert_eq!(record["jsonrpc_id"], 7);
    assert_eq!(
        record["principal"],
        json!({ "iss": "https://idp.test", "sub": "alice", "client_id": "agent-7" })
    );
    assert_eq!(record["client"], "10.0.0.7");
    assert_eq!(record["backend"], "tools");
    assert_eq!(record["protocol_version"], "2025-06-18");
    assert_eq!(record["method"], "tools/call");
    assert_eq!(record["tool"], "echo");
    assert_eq!(record["decision"], "step_up");
    assert_eq!(record["rule"], 2);
    assert_eq!(record["outcome"], "denied");
    assert_eq!(record["status"], 429);
    assert_eq!(record["error_code"], refusal.code());
    // The session is followable but not in clear; the arguments are not there at all.
    let session = record["session"].as_str().unwrap();
    assert_eq!(session.len(), 16);
    assert!(session.bytes().all(|b| b.is_ascii_hexdigit()));
    let text = record.to_string();
    assert!(!text.contains("session-secret"));
    assert!(!text.contains("private words"));
    assert!(record.get("arguments").is_none());
    assert!(record["time"].as_str().unwrap().ends_with('Z'));
    assert!(record["duration_ms"].as_f64().unwrap() >= 0.0);
}

#[test]
fn the_arguments_digest_is_the_sha256_of_the_arguments_as_sent() {
    use sha2::{Digest, Sha256};
    let trail = Trail::new(true);
    let exchange = trail.exchange(CALL, &caller(), None);
    exchange.refused(&ProxyError::NoRoute);
    let record = &trail.records()[0];
    let raw = r#"{"message":"private words"}"#;
    let expected: String = Sha256::digest(raw.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        record["arguments"],
        json!({ "sha256": expected, "bytes": raw.len() })
    );
    assert!(!record.to_string().contains("private words"));
    assert!(record.get("session").is_none());
}

#[tokio::test]
async fn a_json_batch_reply_gives_each_call_its_outcome_whatever_the_order() {
    let trail = Trail::new(false);
    let batch = r#"[
        {"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}},
        {"jsonrpc":"2.0","method":"notifications/progress","params":{}},
        {"jsonrpc":"2.0","id":"two","method":"tools/call","params":{"name":"b"}},
        {"jsonrpc":"2.0","id":3,"method":"prompts/get","params":{"name":"p"}},
        {"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"file:///x"}}
    ]"#;
    let exchange = trail.exchange(batch, &caller(), None);
    // Out of order; id 4 is never answered.
    let reply = r#"[
        {"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"Unknown prompt: p"}},
        {"jsonrpc":"2.0","id":"two","result":{"content":[],"isError":true}},
        {"jsonrpc":"2.0","id":1,"result":{"content":[]}}
    ]"#;
    let response = exchange.watch(json_response(StatusCode::OK, reply));
    assert_eq!(drain(response).await, Bytes::from(reply), "bytes unchanged");

    let records = trail.records();
    let by_id = |id: Value| {
        records
            .iter()
            .find(|record| record["jsonrpc_id"] == id)
            .unwrap_or_else(|| panic!("no record for {id}"))
    };
    let first = by_id(json!(1));
    assert_eq!(
        (&first["outcome"], &first["is_error"]),
        (&json!("result"), &json!(false))
    );
    assert_eq!(first["tool"], "a");
    let second = by_id(json!("two"));
    assert_eq!(
        (&second["outcome"], &second["is_error"]),
        (&json!("result"), &json!(true))
    );
    let third = by_id(json!(3));
    assert_eq!(
        (&third["outcome"], &third["error_code"]),
        (&json!("error"), &json!(-32602))
    );
    assert_eq!(third["prompt"], "p");
    let fourth = by_id(json!(4));
    assert_eq!(fourth["outcome"], "no_response");
    assert_eq!(fourth["resource"], "file:///x");
    assert_eq!(
        records.len(),
        4,
        "one record per request, none for the notification"
    );
}

#[tokio::test]
async fn an_sse_reply_records_the_call_when_its_event_passes() {
    let trail = Trail::new(false);
    let exchange = trail.exchange(CALL, &caller(), None);
    let events = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n\
                  event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[]}}\n\n";
    let response = Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(body::full(events))
        .unwrap();
    let response = exchange.watch(response);
    assert_eq!(drain(response).await, Bytes::from(events));
    let records = trail.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["outcome"], "result");
    assert_eq!(records[0]["status"], 200);
}

#[tokio::test]
async fn a_reply_dropped_unread_is_cancelled_and_a_202_is_accepted() {
    let trail = Trail::new(false);
    let response = Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(body::boxed(Hanging { sent: false }))
        .unwrap();
    let mut response = trail.exchange(CALL, &caller(), None).watch(response);
    let frame = response.body_mut().frame().await.unwrap().unwrap();
    assert_eq!(
        frame.into_data().unwrap(),
        Bytes::from_static(b": keep-alive\n\n")
    );
    // The client goes away with the stream still open.
    drop(response);

    let accepted = trail
        .exchange(CALL, &caller(), None)
        .watch(json_response(StatusCode::ACCEPTED, ""));
    drop(accepted);

    let records = trail.records();
    let outcomes: Vec<_> = records.iter().map(|r| r["outcome"].clone()).collect();
    assert_eq!(outcomes, [json!("cancelled"), json!("accepted")]);
    assert_eq!(records[1]["status"], 202);
}

/// An SSE stream that sends a comment and then nothing, forever.
struct Hanging {
    sent: bool,
}

impl http_body::Body for Hanging {
    type Data = Bytes;
    type Error = body::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, body::BoxError>>> {
        if self.sent {
            return std::task::Poll::Pending;
        }
        self.sent = true;
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(
            b": keep-alive\n\n",
        )))))
    }
}

#[test]
fn names_a_stranger_chose_are_cut_to_a_bound() {
    let trail = Trail::new(false);
    let long = "x".repeat(10_000);
    let id = "i".repeat(10_000);
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":"{id}","method":"tools/call","params":{{"name":"{long}"}}}}"#
    );
    trail
        .exchange(&body, &caller(), None)
        .refused(&ProxyError::NoRoute);
    let record = &trail.records()[0];
    let tool = record["tool"].as_str().unwrap();
    assert_eq!(tool.chars().count(), super::MAX_NAME_CHARS + 1);
    assert!(tool.ends_with('…'));
    assert!(record["jsonrpc_id"].as_str().unwrap().len() < 300);
}

#[test]
fn an_auth_refusal_is_recorded_without_a_principal() {
    let trail = Trail::new(false);
    let (head, ()) = Request::post("/mcp")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(())
        .unwrap()
        .into_parts();
    trail.trail.auth_refused(
        "req-9",
        &Arc::from("tools"),
        &head.headers,
        &ClientAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        StatusCode::UNAUTHORIZED,
    );
    let record = &trail.records()[0];
    assert_eq!(record["decision"], "unauthenticated");
    assert_eq!(record["outcome"], "denied");
    assert_eq!(record["status"], 401);
    assert!(record.get("principal").is_none());
    assert!(record.get("method").is_none());
}

#[tokio::test]
async fn a_reply_too_large_to_read_passes_whole_and_is_unknown() {
    let trail = Trail::new(false);
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":7,"result":{{"content":[{{"type":"text","text":"{}"}}]}}}}"#,
        "x".repeat(super::tap::MAX_INSPECTED)
    );
    let response = trail
        .exchange(CALL, &caller(), None)
        .watch(json_response(StatusCode::OK, &big));
    assert_eq!(drain(response).await.len(), big.len());
    let records = trail.records();
    assert_eq!(records[0]["outcome"], "unknown");
}

#[test]
fn names_that_need_escaping_come_back_as_sent() {
    let trail = Trail::new(false);
    let body = r#"{"jsonrpc":"2.0","id":"a\"b","method":"tools/call","params":{"name":"say \"hi\"\n\\ \u0001 ünï"}}"#;
    trail
        .exchange(body, &caller(), None)
        .refused(&ProxyError::NoRoute);
    let record = &trail.records()[0];
    assert_eq!(record["tool"], "say \"hi\"\n\\ \u{1} ünï");
    assert_eq!(record["jsonrpc_id"], "a\"b");
    assert_eq!(record["status"], 404);
}
