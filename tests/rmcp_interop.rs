//! Interop with the official Rust MCP SDK, rmcp 3.11, through smcp-server.
//!
//! - An rmcp client (Streamable HTTP on reqwest) reaches server-everything through smcp-server,
//!   once as a stdio backend and once as an HTTP backend with `strip_path`: handshake, tool
//!   list, `echo` and `get-sum`, then the client closes and its `DELETE` ends the session.
//!   Each runs twice: rmcp's default `initialize` lifecycle, and its `Auto` lifecycle, whose
//!   `server/discover` probe is refused so that it falls back to `initialize`.
//! - An rmcp server (two tools, `add` and `echo`, served by rmcp's `StreamableHttpService` on
//!   hyper) sits behind smcp-server as an HTTP backend and is driven through the proxy by the
//!   Python SDK, the TypeScript SDK and rmcp clients in both lifecycle modes (legacy
//!   `initialize` with a session, and `server/discover` with the stateless 2026-07-28 protocol).
//!
//! Everything listens on 127.0.0.1:0; readiness is the listener being bound (in-process
//! servers) or the peer's ready line (Node); every step runs under a deadline.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns fail the test with a message"
)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{HeaderMap, Request};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    ContentBlock, ErrorCode, ErrorData, Implementation, InitializeRequestParams, InitializeResult,
    JsonObject, ListToolsResult, PaginatedRequestParams, ProtocolVersion, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{
    ClientLifecycleMode, ClientServiceExt, RoleClient, RoleServer, ServerHandler, ServiceError,
    ServiceExt,
};
use serde_json::{Value, json};
use smcp_e2e::expect::{driver_args, http_trace};
use smcp_e2e::procs::{assert_no_children, new_marker, processes_with_marker};
use smcp_e2e::yaml::{http_backend, server_config, stdio_backend};
use smcp_e2e::{
    HttpMode, SmcpServer, ensure_peers_installed, everything_stdio, run_py_client, run_ts_client,
    spawn_everything_http,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Deadline for one protocol step (a handshake, a call, a close).
const STEP: Duration = Duration::from_secs(30);

/// Runs `future` under [`STEP`], failing the test with `what` when it takes longer.
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {STEP:?}"))
}

// ---------------------------------------------------------------------------------------------
// smcp-server configuration
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// The rmcp client
// ---------------------------------------------------------------------------------------------

type RmcpClient = RunningService<RoleClient, ClientConfig>;

fn client_config() -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("smcp-e2e-rmcp-client", "1.0.0"),
    )
}

/// rmcp's Streamable HTTP transport on a reqwest client that never uses an environment proxy.
fn rmcp_transport(url: &str) -> StreamableHttpClientTransport<reqwest::Client> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("reqwest client");
    StreamableHttpClientTransport::with_client(
        http,
        StreamableHttpClientTransportConfig::with_uri(url.to_owned()),
    )
}

/// Connects with rmcp's default lifecycle (`initialize`, as `ServiceExt::serve` does).
async fn connect(url: &str) -> RmcpClient {
    within(
        "rmcp initialize",
        client_config().serve(rmcp_transport(url)),
    )
    .await
    .unwrap_or_else(|e| panic!("rmcp client could not initialize through {url}: {e}"))
}

/// Connects with an explicit lifecycle mode (`server/discover` probing).
async fn connect_with(url: &str, lifecycle: ClientLifecycleMode) -> RmcpClient {
    within(
        "rmcp connect",
        client_config().serve_with_lifecycle(rmcp_transport(url), lifecycle),
    )
    .await
    .unwrap_or_else(|e| panic!("rmcp client could not connect through {url}: {e}"))
}

/// rmcp's probing lifecycle: `server/discover` first, `initialize` when the server is legacy.
fn auto_mode() -> ClientLifecycleMode {
    ClientLifecycleMode::Auto {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        legacy_version: None,
    }
}

fn arguments(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        other => panic!("tool arguments must be an object, got {other}"),
    }
}

async fn call(client: &RmcpClient, tool: &'static str, args: Value) -> CallToolResult {
    let params = CallToolRequestParams::new(tool).with_arguments(arguments(args));
    within(tool, client.call_tool(params))
        .await
        .unwrap_or_else(|e| panic!("tools/call {tool} failed: {e}"))
}

/// The text blocks of a tool result, joined; fails the test if the tool reported an error.
fn text_of(result: &CallToolResult) -> String {
    assert_ne!(result.is_error, Some(true), "tool error: {result:?}");
    result
        .content
        .iter()
        .filter_map(ContentBlock::as_text)
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

async fn tool_names(client: &RmcpClient) -> Vec<String> {
    let tools = within("tools/list", client.list_all_tools())
        .await
        .unwrap_or_else(|e| panic!("tools/list failed: {e}"));
    tools.into_iter().map(|t| t.name.into_owned()).collect()
}

/// The negotiated protocol version and server name the client holds after its handshake.
fn peer_summary(client: &RmcpClient) -> (String, Option<String>) {
    let info = client.peer_info().expect("peer info after the handshake");
    let name = info.server_info.as_ref().map(|i| i.name.clone());
    (info.protocol_version.as_str().to_owned(), name)
}

/// Closes the client and waits until its transport has finished, i.e. sent `DELETE` for a
/// session (rmcp deletes the session before `close` returns).
async fn close(mut client: RmcpClient) {
    within("rmcp close", client.close())
        .await
        .expect("client task");
}

// ---------------------------------------------------------------------------------------------
// smcp-server's Prometheus page
// ---------------------------------------------------------------------------------------------

async fn metrics_page(smcp: &SmcpServer) -> String {
    let response = within(
        "GET /metrics",
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client")
            .get(smcp.url("/metrics"))
            .send(),
    )
    .await
    .expect("metrics");
    assert_eq!(response.status(), 200);
    response.text().await.expect("metrics text")
}

/// The value of the sample `name{labels...}` (labels in any order), if the page has it.
/// Metrics are process-wide, so each test uses backend ids of its own.
fn metric(page: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    page.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix('{')?;
        let (label_text, value) = rest.split_once("} ")?;
        let all = labels.iter().all(|(k, v)| {
            label_text
                .split(',')
                .any(|pair| pair == format!("{k}=\"{v}\""))
        });
        let count = label_text.split(',').count();
        (all && count == labels.len())
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

// ---------------------------------------------------------------------------------------------
// 1 and 2: rmcp client -> smcp-server -> server-everything
// ---------------------------------------------------------------------------------------------

/// The calls every server-everything test makes: handshake facts, tools, `echo`, `get-sum`.
async fn exercise_everything(client: &RmcpClient) {
    let (version, name) = peer_summary(client);
    // rmcp asks for 2026-07-28 in `initialize`; server-everything answers with its newest.
    assert_eq!(version, "2025-11-25");
    assert_eq!(name.as_deref(), Some("mcp-servers/everything"));
    let tools = tool_names(client).await;
    for tool in ["echo", "get-sum", "trigger-long-running-operation"] {
        assert!(tools.iter().any(|t| t == tool), "{tool} missing: {tools:?}");
    }
    let echo = call(client, "echo", json!({"message": "hello from rmcp"})).await;
    assert_eq!(text_of(&echo), "Echo: hello from rmcp");
    let sum = call(client, "get-sum", json!({"a": 2, "b": 3})).await;
    assert_eq!(text_of(&sum), "The sum of 2 and 3 is 5.");
}

/// Both rmcp lifecycles against server-everything at `url`, one session each, closed (and so
/// deleted) before the next: the default `initialize`, then `Auto`, whose `server/discover`
/// probe server-everything refuses with a JSON-RPC error (HTTP 400) so rmcp falls back to
/// `initialize`. With a stdio backend's `marker`, also checks that each session has exactly
/// one child and that closing the session stops it.
async fn both_lifecycles(url: &str, marker: Option<&str>) {
    for auto in [false, true] {
        let client = if auto {
            connect_with(url, auto_mode()).await
        } else {
            connect(url).await
        };
        exercise_everything(&client).await;
        if let Some(marker) = marker {
            let children = processes_with_marker(marker);
            assert_eq!(children.len(), 1, "one child per session: {children:?}");
        }
        close(client).await;
        if let Some(marker) = marker {
            assert_no_children(marker).await;
        }
    }
}

/// What smcp-server counted for `backend` after [`both_lifecycles`]: the refused probe, and
/// both sessions' DELETEs answered with 2xx.
fn assert_two_sessions_deleted(page: &str, backend: &str) {
    let count = |method: &str, class: &str| {
        let labels = [
            ("backend", backend),
            ("method", method),
            ("status_class", class),
        ];
        metric(page, "smcp_requests_total", &labels)
    };
    assert_eq!(count("DELETE", "2xx"), Some(2.0), "{page}");
    assert_eq!(
        count("POST", "4xx"),
        Some(1.0),
        "the discover probe: {page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_client_to_stdio_server_everything() {
    ensure_peers_installed();
    let marker = new_marker();
    let backend = "rmcp_stdio_everything";
    let smcp = SmcpServer::start(&server_config(&[stdio_backend(
        backend,
        "/v1/everything",
        &everything_stdio(),
        &marker,
    )]))
    .await;

    both_lifecycles(&smcp.url("/v1/everything"), Some(&marker)).await;

    // Each client's DELETE reached smcp-server, which ended its session and stopped its child;
    // the refused probe never started one.
    let page = metrics_page(&smcp).await;
    assert_two_sessions_deleted(&page, backend);
    let ended = [("backend", backend), ("reason", "delete")];
    let ended = metric(&page, "smcp_sessions_ended_total", &ended);
    assert_eq!(ended, Some(2.0), "{page}");
    let spawned = [("backend", backend), ("outcome", "ok")];
    let spawned = metric(&page, "smcp_child_spawns_total", &spawned);
    assert_eq!(spawned, Some(2.0), "{page}");
    within("smcp stop", smcp.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_client_to_http_server_everything_with_strip_path() {
    let (everything, port) = spawn_everything_http(HttpMode::StreamableHttp).await;
    let backend = "rmcp_http_everything";
    let upstream = format!("http://127.0.0.1:{port}/mcp");
    let yaml = server_config(&[http_backend(backend, "/v1/everything", &upstream)]);
    let smcp = SmcpServer::start(&yaml).await;

    both_lifecycles(&smcp.url("/v1/everything"), None).await;

    // The DELETEs went through the proxy and server-everything accepted them.
    assert_two_sessions_deleted(&metrics_page(&smcp).await, backend);
    within("smcp stop", smcp.stop()).await;
    drop(everything);
}

// ---------------------------------------------------------------------------------------------
// 3: an rmcp server behind smcp-server
// ---------------------------------------------------------------------------------------------

/// What the rmcp server saw, in arrival order.
#[derive(Debug, Default)]
struct Log {
    /// The `protocolVersion` each `initialize` asked for.
    initialize_versions: Vec<String>,
    /// Each tool call: `(tool, protocol version it ran under)` (per request for 2026-07-28,
    /// else the session's).
    calls: Vec<(String, Option<String>)>,
    /// Each HTTP request as it reached the server, i.e. as smcp-server forwarded it.
    requests: Vec<SeenRequest>,
}

#[derive(Debug, Clone)]
struct SeenRequest {
    method: String,
    path: String,
    headers: HeaderMap,
}

impl SeenRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn lock(log: &Mutex<Log>) -> MutexGuard<'_, Log> {
    log.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn expected_calls(expected: &[(&str, &str)]) -> Vec<(String, Option<String>)> {
    expected
        .iter()
        .map(|(tool, version)| ((*tool).to_owned(), Some((*version).to_owned())))
        .collect()
}

/// The tool server: `add` (numbers; text and structured result) and `echo` (the contract of
/// server-everything's, so the SDK drivers' `basic` scenario runs against it unchanged).
#[derive(Clone)]
struct Calculator {
    log: Arc<Mutex<Log>>,
}

fn tools() -> Vec<Tool> {
    let schema = |value: Value| Arc::new(arguments(value));
    vec![
        Tool::new(
            "add",
            "Adds two numbers",
            schema(json!({
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                "required": ["a", "b"],
            })),
        ),
        Tool::new(
            "echo",
            "Echoes back the input",
            schema(json!({
                "type": "object",
                "properties": {"message": {"type": "string"}},
                "required": ["message"],
            })),
        ),
    ]
}

impl ServerHandler for Calculator {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("smcp-e2e-rmcp-server", "1.0.0"))
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        let asked = request.protocol_version.as_str().to_owned();
        lock(&self.log).initialize_versions.push(asked);
        // The default `initialize`, as rmcp documents it for overrides.
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let version = context.protocol_version().map(|v| v.as_str().to_owned());
        lock(&self.log)
            .calls
            .push((request.name.to_string(), version));
        let args = request.arguments.unwrap_or_default();
        let result = match request.name.as_ref() {
            "add" => {
                let number = |key: &str| {
                    args.get(key).and_then(Value::as_f64).ok_or_else(|| {
                        ErrorData::invalid_params(format!("`{key}` must be a number"), None)
                    })
                };
                let (a, b) = (number("a")?, number("b")?);
                let text = ContentBlock::text(format!("{a} + {b} = {}", a + b));
                let mut result = CallToolResult::success(vec![text]);
                result.structured_content = Some(json!({"sum": a + b}));
                result
            }
            "echo" => {
                let message = args
                    .get("message")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ErrorData::invalid_params("`message` must be a string", None))?;
                CallToolResult::success(vec![ContentBlock::text(format!("Echo: {message}"))])
            }
            other => {
                return Err(ErrorData::invalid_params(
                    format!("unknown tool {other}"),
                    None,
                ));
            }
        };
        Ok(result.into())
    }
}

/// The rmcp server on 127.0.0.1:<port>, recording what it receives.
struct RmcpServer {
    addr: SocketAddr,
    log: Arc<Mutex<Log>>,
    service: StreamableHttpService<Calculator, LocalSessionManager>,
    accept: JoinHandle<()>,
}

impl RmcpServer {
    /// Binds first (so the server is ready when this returns), then serves every connection
    /// with rmcp's `StreamableHttpService` (default config: sessions for the handshake era,
    /// stateless 2026-07-28, loopback `Host` check) on hyper.
    async fn start() -> Self {
        let log = Arc::new(Mutex::new(Log::default()));
        let factory_log = Arc::clone(&log);
        let service = StreamableHttpService::new(
            move || {
                Ok(Calculator {
                    log: Arc::clone(&factory_log),
                })
            },
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (accept_service, accept_log) = (service.clone(), Arc::clone(&log));
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (service, log) = (accept_service.clone(), Arc::clone(&accept_log));
                let handler = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let service = service.clone();
                    lock(&log).requests.push(SeenRequest {
                        method: request.method().to_string(),
                        path: request.uri().path().to_owned(),
                        headers: request.headers().clone(),
                    });
                    async move { Ok::<_, Infallible>(service.handle(request).await) }
                });
                tokio::spawn(async move {
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), handler)
                        .await;
                });
            }
        });
        Self {
            addr,
            log,
            service,
            accept,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// Takes what was recorded so far.
    fn take(&self) -> Log {
        std::mem::take(&mut *lock(&self.log))
    }
}

impl Drop for RmcpServer {
    fn drop(&mut self) {
        // Ends every session and stream, then stops accepting.
        self.service.config.cancellation_token.cancel();
        self.accept.abort();
    }
}

fn is_2xx(status: &Value) -> bool {
    status.as_u64().is_some_and(|s| (200..300).contains(&s))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_server_behind_smcp_with_rmcp_python_and_typescript_clients() {
    let rmcp_server = RmcpServer::start().await;
    let backend = "rmcp_server";
    let smcp = SmcpServer::start(&server_config(&[http_backend(
        backend,
        "/v1/rmcp",
        &rmcp_server.url(),
    )]))
    .await;
    let url = smcp.url("/v1/rmcp");

    // rmcp client, default lifecycle: initialize, a session, DELETE at the end.
    let client = connect(&url).await;
    let (version, name) = peer_summary(&client);
    assert_eq!(version, "2025-11-25");
    assert_eq!(name.as_deref(), Some("smcp-e2e-rmcp-server"));
    let mut tools = tool_names(&client).await;
    tools.sort();
    assert_eq!(tools, ["add", "echo"]);
    let add = call(&client, "add", json!({"a": 2, "b": 3.5})).await;
    assert_eq!(text_of(&add), "2 + 3.5 = 5.5");
    assert_eq!(add.structured_content, Some(json!({"sum": 5.5})));
    let echo = call(&client, "echo", json!({"message": "through smcp"})).await;
    assert_eq!(text_of(&echo), "Echo: through smcp");
    // A JSON-RPC error from the backend reaches the client as such.
    let unknown = within(
        "unknown tool",
        client.call_tool(CallToolRequestParams::new("nope").with_arguments(JsonObject::new())),
    )
    .await;
    match unknown {
        Err(ServiceError::McpError(error)) => assert_eq!(error.code, ErrorCode::INVALID_PARAMS),
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
    close(client).await;

    let log = rmcp_server.take();
    // rmcp asks for its LATEST (2026-07-28, which has no handshake) in `initialize`; its own
    // server falls back to the newest version that has one.
    assert_eq!(log.initialize_versions, ["2026-07-28"]);
    assert_eq!(
        log.calls,
        expected_calls(&[
            ("add", "2025-11-25"),
            ("echo", "2025-11-25"),
            ("nope", "2025-11-25")
        ])
    );
    // What rmcp's client sent, as the backend received it through the proxy: the prefix
    // stripped, no version header on `initialize`, then the session id and the negotiated
    // version on every request, the standalone GET stream, and a DELETE at the end.
    let requests = &log.requests;
    assert!(requests.iter().all(|r| r.path == "/mcp"), "{requests:?}");
    let initialize = &requests[0];
    assert_eq!(initialize.method, "POST");
    assert_eq!(initialize.header("mcp-session-id"), None);
    assert_eq!(initialize.header("mcp-protocol-version"), None);
    let session = requests[1]
        .header("mcp-session-id")
        .expect("a session id after initialize")
        .to_owned();
    for request in &requests[1..] {
        assert_eq!(
            request.header("mcp-session-id"),
            Some(session.as_str()),
            "{request:?}"
        );
        assert_eq!(
            request.header("mcp-protocol-version"),
            Some("2025-11-25"),
            "{request:?}"
        );
    }
    assert!(requests.iter().any(|r| r.method == "GET"), "{requests:?}");
    assert_eq!(requests.last().map(|r| r.method.as_str()), Some("DELETE"));

    // rmcp client, discover lifecycle: no session, 2026-07-28 on every request, with the
    // SEP-2243 `Mcp-Method` / `Mcp-Name` headers forwarded by the proxy.
    let client = connect_with(
        &url,
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    )
    .await;
    assert_eq!(peer_summary(&client).0, "2026-07-28");
    let add = call(&client, "add", json!({"a": 40, "b": 2})).await;
    assert_eq!(text_of(&add), "40 + 2 = 42");
    close(client).await;
    let log = rmcp_server.take();
    assert!(log.initialize_versions.is_empty());
    assert_eq!(log.calls, expected_calls(&[("add", "2026-07-28")]));
    let requests = &log.requests;
    let methods: Vec<Option<&str>> = requests.iter().map(|r| r.header("mcp-method")).collect();
    assert_eq!(methods, [Some("server/discover"), Some("tools/call")]);
    assert!(requests.iter().all(|r| r.method == "POST"
        && r.header("mcp-session-id").is_none()
        && r.header("mcp-protocol-version") == Some("2026-07-28")));
    assert_eq!(requests[1].header("mcp-name"), Some("add"));

    // The Python SDK (auto mode) probes server/discover, which rmcp answers: it then speaks the
    // stateless 2026-07-28 protocol to it through the proxy.
    let py = run_py_client(driver_args(&url, "streamable", "basic")).await;
    assert_eq!(py["ok"], true, "{py}");
    assert_eq!(py["protocol_version"], "2026-07-28", "{py}");
    assert_eq!(py["server_info"]["name"], "smcp-e2e-rmcp-server", "{py}");
    assert_eq!(py["tools"], json!(["add", "echo"]));
    assert_eq!(py["echo"], "Echo: hello from py_client");
    assert_eq!(py["session_id"], Value::Null, "{py}");
    let trace = http_trace(&py);
    assert_eq!(trace[0]["rpc"], "server/discover", "{py}");
    assert_eq!(trace[0]["status"], 200, "{py}");
    let log = rmcp_server.take();
    assert!(log.initialize_versions.is_empty());
    assert_eq!(log.calls, expected_calls(&[("echo", "2026-07-28")]));

    // The TypeScript SDK: initialize, a session, the GET stream, DELETE.
    let ts = run_ts_client(driver_args(&url, "streamable", "basic")).await;
    assert_eq!(ts["ok"], true, "{ts}");
    assert_eq!(ts["protocol_version"], "2025-11-25", "{ts}");
    assert_eq!(ts["server_info"]["name"], "smcp-e2e-rmcp-server", "{ts}");
    assert_eq!(ts["tools"], json!(["add", "echo"]));
    assert_eq!(ts["echo"], "Echo: hello from ts_client");
    let trace = http_trace(&ts);
    assert!(
        trace
            .iter()
            .any(|e| e["method"] == "GET" && e["status"] == 200),
        "{ts}"
    );
    assert!(
        trace
            .iter()
            .any(|e| e["method"] == "DELETE" && is_2xx(&e["status"])),
        "{ts}"
    );
    let log = rmcp_server.take();
    assert_eq!(log.initialize_versions, ["2025-11-25"]);
    assert_eq!(log.calls, expected_calls(&[("echo", "2025-11-25")]));

    within("smcp stop", smcp.stop()).await;
    drop(rmcp_server);
}
