//! raw-stdio mode, the floor: the harness spawns the stdio MCP server itself (one process per
//! session, as smcp does) and talks newline-delimited JSON-RPC to it with no HTTP and no proxy.
//! A session's in-flight calls share its pipes: one writer task batches the queued lines, one
//! reader task hands each reply line to the call waiting for its id.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::stats::{CallError, Report};
use super::worker::{self, Caller, Schedule};
use super::{INITIALIZED, LoadConfig, PROTOCOL_VERSION, call_body, initialize_body};

/// The server to spawn.
#[derive(Debug, Clone)]
pub struct StdioTarget {
    /// Program and arguments.
    pub command: Vec<String>,
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Bytes>>>>;

/// One spawned server and its pipes.
struct Pipe {
    lines: mpsc::UnboundedSender<Vec<u8>>,
    pending: Pending,
}

/// Runs the load and returns the report (no target pid: the servers are the harness's own
/// children, reported as `children`).
pub async fn run(cfg: LoadConfig, target: StdioTarget) -> anyhow::Result<Report> {
    let Some((program, args)) = target.command.split_first() else {
        bail!("raw-stdio needs a command");
    };
    let cfg = Arc::new(cfg);
    let mut report = Report {
        label: cfg.label.clone(),
        mode: "raw-stdio".to_owned(),
        target: target.command.join(" "),
        sessions: cfg.sessions,
        concurrency: cfg.concurrency,
        rate: cfg.rate,
        warmup_s: cfg.warmup.as_secs_f64(),
        duration_s: cfg.duration.as_secs_f64(),
        ..Report::default()
    };
    let setup_started = Instant::now();
    let mut children = Vec::with_capacity(cfg.sessions);
    let mut pipes = Vec::with_capacity(cfg.sessions);
    for _ in 0..cfg.sessions {
        let (child, pipe) = spawn(program, args)?;
        children.push(child);
        pipes.push(Arc::new(pipe));
    }
    for pipe in &pipes {
        initialize(pipe, &cfg).await?;
    }
    report.setup_s = setup_started.elapsed().as_secs_f64();

    let schedule = Schedule::starting_now(cfg.warmup, cfg.duration);
    let sampler = tokio::spawn(worker::sample_cpu(Vec::new(), schedule));
    let mut workers = Vec::new();
    for (s, pipe) in pipes.iter().enumerate() {
        for c in 0..cfg.concurrency {
            let caller = StdioCaller {
                pipe: pipe.clone(),
                cfg: cfg.clone(),
            };
            let index = s * cfg.concurrency + c;
            let id_base = (index as u64 + 1) << 32;
            let pace = worker::Pace::of_worker(cfg.rate, index, cfg.sessions * cfg.concurrency);
            workers.push(tokio::spawn(worker::run(caller, schedule, id_base, pace)));
        }
    }
    let stats = worker::merge(workers).await?;
    let (_, client_cpu) = sampler.await.context("the CPU sampler failed")?;
    report.client_cpu_s = client_cpu;
    report.set_calls(&stats);
    let (count, rss) = crate::procfs::descendants_rss_kb(&[std::process::id()]);
    report.children = Some(count);
    report.children_rss_kb = Some(rss);
    drop(pipes);
    for mut child in children {
        // Closing stdin (the pipes above) ends a well-behaved server; make sure of it.
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    Ok(report)
}

fn spawn(program: &str, args: &[String]) -> anyhow::Result<(Child, Pipe)> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("spawning {program}"))?;
    let stdin = child.stdin.take().ok_or_else(|| anyhow!("no stdin pipe"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no stdout pipe"))?;
    let (lines, queue) = mpsc::unbounded_channel();
    let pending: Pending = Arc::default();
    tokio::spawn(write_lines(stdin, queue));
    tokio::spawn(read_replies(stdout, pending.clone()));
    Ok((child, Pipe { lines, pending }))
}

/// Writes queued lines, as many as are waiting in one write.
async fn write_lines(mut stdin: ChildStdin, mut queue: mpsc::UnboundedReceiver<Vec<u8>>) {
    let mut batch = Vec::with_capacity(64 * 1024);
    while let Some(line) = queue.recv().await {
        batch.clear();
        batch.extend_from_slice(&line);
        while let Ok(more) = queue.try_recv() {
            batch.extend_from_slice(&more);
        }
        if stdin.write_all(&batch).await.is_err() {
            return;
        }
    }
}

#[derive(Deserialize)]
struct IdOnly {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    method: Option<serde::de::IgnoredAny>,
}

/// Hands each reply line to the call waiting for its id.
async fn read_replies(stdout: ChildStdout, pending: Pending) {
    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Ok(IdOnly {
            id: Some(id),
            method: None,
        }) = serde_json::from_slice::<IdOnly>(&line)
        else {
            continue;
        };
        let waiter = pending.lock().ok().and_then(|mut p| p.remove(&id));
        if let Some(waiter) = waiter {
            let _ = waiter.send(Bytes::copy_from_slice(&line));
        }
    }
    // The server is gone: fail every waiting call at once.
    if let Ok(mut p) = pending.lock() {
        p.clear();
    }
}

/// Sends `body` (one line) and waits for the reply to `id`.
async fn exchange(pipe: &Pipe, id: u64, mut body: Vec<u8>) -> Result<Bytes, CallError> {
    let (tx, rx) = oneshot::channel();
    if let Ok(mut p) = pipe.pending.lock() {
        p.insert(id, tx);
    }
    body.push(b'\n');
    if pipe.lines.send(body).is_err() {
        return Err(CallError::new("closed", "the server's stdin is closed"));
    }
    rx.await
        .map_err(|_| CallError::new("closed", "the server exited"))
}

async fn initialize(pipe: &Pipe, cfg: &LoadConfig) -> anyhow::Result<()> {
    let reply = tokio::time::timeout(
        cfg.request_timeout,
        exchange(pipe, 0, initialize_body(PROTOCOL_VERSION)),
    )
    .await
    .map_err(|_| anyhow!("initialize timed out"))?
    .map_err(|e| anyhow!("initialize: {}", e.detail))?;
    let value: serde_json::Value = serde_json::from_slice(&reply)?;
    if value.get("result").is_none() {
        bail!("initialize failed: {value}");
    }
    let mut note = INITIALIZED.to_vec();
    note.push(b'\n');
    pipe.lines
        .send(note)
        .map_err(|_| anyhow!("the server's stdin is closed"))?;
    Ok(())
}

struct StdioCaller {
    pipe: Arc<Pipe>,
    cfg: Arc<LoadConfig>,
}

impl Caller for StdioCaller {
    async fn call(&mut self, id: u64) -> Result<(), CallError> {
        let body = call_body(&self.cfg, id);
        let reply =
            match tokio::time::timeout(self.cfg.request_timeout, exchange(&self.pipe, id, body))
                .await
            {
                Ok(reply) => reply?,
                Err(_) => {
                    if let Ok(mut p) = self.pipe.pending.lock() {
                        p.remove(&id);
                    }
                    return Err(CallError::new(
                        "timeout",
                        "no reply within the request timeout",
                    ));
                }
            };
        let value: serde_json::Value = serde_json::from_slice(&reply)
            .map_err(|e| CallError::new("bad_json", e.to_string()))?;
        if let Some(error) = value.get("error") {
            return Err(CallError::new("rpc_error", error.to_string()));
        }
        match value.get("result") {
            Some(result)
                if result.get("isError").and_then(serde_json::Value::as_bool) != Some(true) =>
            {
                Ok(())
            }
            _ => Err(CallError::new("tool_error", value.to_string())),
        }
    }
}
