//! Streamable HTTP mode: each session is opened with `initialize` (the `Mcp-Session-Id` and
//! protocol version it returns go on every later request) and `notifications/initialized`;
//! then each of its in-flight slots has its own keep-alive HTTP/1.1 connection and POSTs
//! `tools/call` in a loop. Replies may be JSON or SSE (the reply event is found by id).

mod conn;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, Uri};
use smcp_auth::token_source::DpopKey;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::stats::{CallError, Report};
use super::worker::{self, Caller, Schedule};
use super::{INITIALIZED, LoadConfig, PROTOCOL_VERSION, call_body, initialize_body};
use conn::{Conn, Reply};

/// Where and how to call.
#[derive(Debug, Clone)]
pub struct HttpTarget {
    /// The MCP endpoint, e.g. `http://127.0.0.1:8080/v1/echo/mcp` (plain HTTP, loopback).
    pub url: Uri,
    /// A bearer token sent on every request.
    pub token: Option<String>,
    /// Send `token` as a DPoP-bound token, with a proof per request.
    pub dpop: Option<DpopSigner>,
}

/// The DPoP key of a load run and how many proofs to make before it.
#[derive(Debug, Clone)]
pub struct DpopSigner {
    key: DpopKey,
    prepared: usize,
}

impl DpopSigner {
    /// A signer with the key in `pem` (PKCS#8, P-256 or Ed25519) that makes `prepared` proofs
    /// up front.
    ///
    /// # Errors
    /// When `pem` is not such a key.
    pub fn new(pem: &[u8], prepared: usize) -> anyhow::Result<Self> {
        Ok(DpopSigner {
            key: DpopKey::from_pem(pem)?,
            prepared,
        })
    }
}

/// Proofs for one endpoint: made before the run while they last, then one per request.
struct Proofs {
    key: DpopKey,
    url: url::Url,
    token: String,
    prepared: Vec<HeaderValue>,
    next: AtomicUsize,
}

impl Proofs {
    fn for_request(&self, method: &Method) -> anyhow::Result<HeaderValue> {
        if *method == Method::POST {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if let Some(proof) = self.prepared.get(i) {
                return Ok(proof.clone());
            }
        }
        let proof = self
            .key
            .proof(method.as_str(), &self.url, Some(&self.token), None);
        Ok(HeaderValue::from_str(&proof)?)
    }
}

/// What every request of one session carries.
struct SessionHeaders {
    session_id: Option<HeaderValue>,
    protocol_version: HeaderValue,
}

/// Shared request facts.
struct Endpoint {
    addr: String,
    host: HeaderValue,
    path: String,
    authorization: Option<HeaderValue>,
    dpop: Option<Proofs>,
}

/// Runs the load and returns the report.
pub async fn run(cfg: LoadConfig, target: HttpTarget) -> anyhow::Result<Report> {
    let endpoint = Arc::new(endpoint(&target)?);
    let cfg = Arc::new(cfg);
    let mut report = Report {
        label: cfg.label.clone(),
        mode: "http".to_owned(),
        target: target.url.to_string(),
        sessions: cfg.sessions,
        concurrency: cfg.concurrency,
        rate: cfg.rate,
        warmup_s: cfg.warmup.as_secs_f64(),
        duration_s: cfg.duration.as_secs_f64(),
        ..Report::default()
    };
    report.rss_before_kb = worker::rss_now(&cfg.pids);

    let setup_started = Instant::now();
    // Connections first (each used once, so the server has allocated its buffers), then the
    // sessions over them: the two memory readings tell a connection's cost from a session's.
    let conns = open_connections(&cfg, &endpoint).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    report.rss_conns_kb = worker::rss_now(&cfg.pids);
    let sessions = open_sessions(&cfg, &endpoint, conns).await?;
    report.setup_s = setup_started.elapsed().as_secs_f64();
    // Let the target settle (children finish starting, buffers are returned) before reading.
    tokio::time::sleep(Duration::from_millis(200)).await;
    report.rss_open_kb = worker::rss_now(&cfg.pids);

    let schedule = Schedule::starting_now(cfg.warmup, cfg.duration);
    let sampler = tokio::spawn(worker::sample_cpu(cfg.pids.clone(), schedule));
    let anon_sampler = tokio::spawn(worker::sample_anon_peak(cfg.pids.clone(), schedule));
    let mut workers = Vec::new();
    let mut session_ids = Vec::new();
    for (s, (headers, conns)) in sessions.into_iter().enumerate() {
        let headers = Arc::new(headers);
        session_ids.push(headers.session_id.clone());
        for (c, conn) in conns.into_iter().enumerate() {
            let caller = HttpCaller {
                conn,
                endpoint: endpoint.clone(),
                headers: headers.clone(),
                cfg: cfg.clone(),
            };
            let index = s * cfg.concurrency + c;
            let id_base = (index as u64 + 1) << 32;
            let pace = worker::Pace::of_worker(cfg.rate, index, cfg.sessions * cfg.concurrency);
            workers.push(tokio::spawn(worker::run(caller, schedule, id_base, pace)));
        }
    }
    let stats = worker::merge(workers).await?;
    let (target_cpu, client_cpu) = sampler.await.context("the CPU sampler failed")?;
    report.client_cpu_s = client_cpu;
    report.set_calls(&stats);
    worker::finish_target(&mut report, &cfg.pids, target_cpu);
    report.rss_anon_peak_kb = anon_sampler.await.context("the memory sampler failed")?;
    close_sessions(&endpoint, session_ids).await;
    Ok(report)
}

fn endpoint(target: &HttpTarget) -> anyhow::Result<Endpoint> {
    let url = &target.url;
    if url.scheme_str() != Some("http") {
        bail!("only plain http:// URLs are supported (loopback benchmarks): {url}");
    }
    let authority = url
        .authority()
        .ok_or_else(|| anyhow!("URL without host: {url}"))?;
    let port = authority.port_u16().unwrap_or(80);
    let path = url
        .path_and_query()
        .map_or("/".to_owned(), |p| p.as_str().to_owned());
    let scheme = if target.dpop.is_some() {
        "DPoP"
    } else {
        "Bearer"
    };
    let authorization = match &target.token {
        Some(token) => Some(HeaderValue::from_str(&format!("{scheme} {token}"))?),
        None => None,
    };
    let dpop = match (&target.dpop, &target.token) {
        (Some(signer), Some(token)) => {
            let url = url::Url::parse(&url.to_string())?;
            let prepared = (0..signer.prepared)
                .map(|_| HeaderValue::from_str(&signer.key.proof("POST", &url, Some(token), None)))
                .collect::<Result<Vec<_>, _>>()?;
            Some(Proofs {
                key: signer.key.clone(),
                url,
                token: token.clone(),
                prepared,
                next: AtomicUsize::new(0),
            })
        }
        (Some(_), None) => bail!("--dpop-key needs --token"),
        (None, _) => None,
    };
    Ok(Endpoint {
        addr: format!("{}:{port}", authority.host()),
        host: HeaderValue::from_str(authority.as_str())?,
        path,
        authorization,
        dpop,
    })
}

/// Opens the connections of every session, a bounded number of sessions at a time, and sends
/// one `GET` (answer ignored) on each so the server has allocated its per-connection buffers.
async fn open_connections(
    cfg: &Arc<LoadConfig>,
    endpoint: &Arc<Endpoint>,
) -> anyhow::Result<Vec<Vec<Conn>>> {
    let gate = Arc::new(Semaphore::new(cfg.open_parallelism.max(1)));
    let mut tasks = Vec::with_capacity(cfg.sessions);
    for _ in 0..cfg.sessions {
        let gate = gate.clone();
        let cfg = cfg.clone();
        let endpoint = endpoint.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let mut conns = Vec::with_capacity(cfg.concurrency);
            for _ in 0..cfg.concurrency.max(1) {
                let mut conn = Conn::connect(&endpoint.addr).await?;
                let probe = request(&endpoint, None, Method::GET, Bytes::new())?;
                let _ = tokio::time::timeout(cfg.request_timeout, conn.send(probe)).await;
                if conn.is_broken() {
                    conn = Conn::connect(&endpoint.addr).await?;
                }
                conns.push(conn);
            }
            anyhow::Ok(conns)
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await.context("connection task failed")??);
    }
    Ok(out)
}

/// Opens every session over its connections, a bounded number at a time.
async fn open_sessions(
    cfg: &Arc<LoadConfig>,
    endpoint: &Arc<Endpoint>,
    conns: Vec<Vec<Conn>>,
) -> anyhow::Result<Vec<(SessionHeaders, Vec<Conn>)>> {
    let gate = Arc::new(Semaphore::new(cfg.open_parallelism.max(1)));
    let mut tasks = Vec::with_capacity(cfg.sessions);
    for mut conns in conns {
        let gate = gate.clone();
        let cfg = cfg.clone();
        let endpoint = endpoint.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let headers = tokio::time::timeout(
                cfg.request_timeout * 2,
                open_session(&endpoint, &mut conns[0]),
            )
            .await
            .map_err(|_| anyhow!("opening a session timed out"))??;
            anyhow::Ok((headers, conns))
        }));
    }
    let mut sessions = Vec::with_capacity(tasks.len());
    for (i, task) in tasks.into_iter().enumerate() {
        let session = task
            .await
            .context("session task failed")?
            .with_context(|| format!("opening session {i}"))?;
        sessions.push(session);
    }
    Ok(sessions)
}

/// `initialize` and `notifications/initialized` on `first`.
async fn open_session(endpoint: &Endpoint, first: &mut Conn) -> anyhow::Result<SessionHeaders> {
    let init = request(
        endpoint,
        None,
        Method::POST,
        initialize_body(PROTOCOL_VERSION).into(),
    )?;
    let reply = first
        .send(init)
        .await
        .map_err(|e| anyhow!("initialize: {}", e.detail))?;
    if reply.status != StatusCode::OK {
        bail!(
            "initialize answered {}: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
    }
    let session_id = reply.session_id.clone();
    let result = reply
        .find_response(0)
        .map_err(|e| anyhow!("initialize: {}", e.detail))?;
    let version = result
        .get("result")
        .and_then(|r| r.get("protocolVersion"))
        .and_then(|v| v.as_str())
        .unwrap_or(PROTOCOL_VERSION)
        .to_owned();
    let headers = SessionHeaders {
        session_id,
        protocol_version: HeaderValue::from_str(&version)?,
    };
    let note = request(
        endpoint,
        Some(&headers),
        Method::POST,
        Bytes::from_static(INITIALIZED),
    )?;
    let reply = first
        .send(note)
        .await
        .map_err(|e| anyhow!("notifications/initialized: {}", e.detail))?;
    if !reply.status.is_success() {
        bail!("notifications/initialized answered {}", reply.status);
    }
    Ok(headers)
}

/// Ends each session with `DELETE` (best effort, bounded), so servers stop their children.
async fn close_sessions(endpoint: &Arc<Endpoint>, ids: Vec<Option<HeaderValue>>) {
    let gate = Arc::new(Semaphore::new(32));
    let mut tasks = Vec::new();
    for id in ids.into_iter().flatten() {
        let gate = gate.clone();
        let endpoint = endpoint.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            let headers = SessionHeaders {
                session_id: Some(id),
                protocol_version: HeaderValue::from_static(PROTOCOL_VERSION),
            };
            let Ok(req) = request(&endpoint, Some(&headers), Method::DELETE, Bytes::new()) else {
                return;
            };
            if let Ok(mut conn) = Conn::connect(&endpoint.addr).await {
                let _ = tokio::time::timeout(Duration::from_secs(5), conn.send(req)).await;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

fn request(
    endpoint: &Endpoint,
    session: Option<&SessionHeaders>,
    method: Method,
    body: Bytes,
) -> anyhow::Result<http::Request<http_body_util::Full<Bytes>>> {
    let mut builder = http::Request::builder()
        .method(method.clone())
        .uri(endpoint.path.as_str())
        .header(http::header::HOST, endpoint.host.clone())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json, text/event-stream");
    if let Some(session) = session {
        builder = builder.header("mcp-protocol-version", session.protocol_version.clone());
        if let Some(id) = &session.session_id {
            builder = builder.header("mcp-session-id", id.clone());
        }
    }
    if let Some(auth) = &endpoint.authorization {
        builder = builder.header(http::header::AUTHORIZATION, auth.clone());
    }
    if let Some(proofs) = &endpoint.dpop {
        builder = builder.header("dpop", proofs.for_request(&method)?);
    }
    Ok(builder.body(http_body_util::Full::new(body))?)
}

struct HttpCaller {
    conn: Conn,
    endpoint: Arc<Endpoint>,
    headers: Arc<SessionHeaders>,
    cfg: Arc<LoadConfig>,
}

impl HttpCaller {
    async fn call_once(&mut self, id: u64) -> Result<(), CallError> {
        let body = Bytes::from(call_body(&self.cfg, id));
        let req = request(&self.endpoint, Some(&self.headers), Method::POST, body)
            .map_err(|e| CallError::new("request", e.to_string()))?;
        let reply = match tokio::time::timeout(self.cfg.request_timeout, self.conn.send(req)).await
        {
            Ok(reply) => reply?,
            Err(_) => {
                // The connection may still carry the late answer: start afresh.
                self.conn.mark_broken();
                return Err(CallError::new(
                    "timeout",
                    "no reply within the request timeout",
                ));
            }
        };
        check_call_reply(&reply, id)
    }
}

impl Caller for HttpCaller {
    async fn call(&mut self, id: u64) -> Result<(), CallError> {
        if self.conn.is_broken() {
            self.conn = Conn::connect(&self.endpoint.addr)
                .await
                .map_err(|e| CallError::new("connect", e.to_string()))?;
        }
        self.call_once(id).await
    }
}

/// A `tools/call` reply is a success when it is 200 with a JSON-RPC result that is not a tool
/// error.
fn check_call_reply(reply: &Reply, id: u64) -> Result<(), CallError> {
    if reply.status != StatusCode::OK {
        return Err(CallError::new(
            format!("status_{}", reply.status.as_u16()),
            String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)]).into_owned(),
        ));
    }
    let message = reply.find_response(id)?;
    if let Some(error) = message.get("error") {
        return Err(CallError::new("rpc_error", error.to_string()));
    }
    let result = message
        .get("result")
        .ok_or_else(|| CallError::new("no_result", message.to_string()))?;
    if result.get("isError").and_then(serde_json::Value::as_bool) == Some(true) {
        return Err(CallError::new("tool_error", result.to_string()));
    }
    Ok(())
}
