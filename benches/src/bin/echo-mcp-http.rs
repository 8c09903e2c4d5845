//! `echo-mcp-http`: the fast echo MCP server (see `smcp_benches::echo`) behind a minimal
//! Streamable HTTP endpoint, the loopback HTTP backend of the comparison.
//!
//! Any path accepts `POST` of one JSON-RPC message: `initialize` starts a session (a fresh
//! `Mcp-Session-Id`), requests get a JSON reply, notifications and responses `202`. `DELETE`
//! ends a session (`200`), `GET` (no server stream) gets `405`. Prints `listening on ADDR` once
//! bound; runs until killed.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use clap::Parser;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use smcp_benches::echo::{self, Outcome};
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(about = "A fast echo MCP server over Streamable HTTP (JSON replies)")]
struct Cli {
    /// Address to bind (loopback).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

static SESSIONS: AtomicU64 = AtomicU64::new(1);

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status: StatusCode, body: Bytes| {
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = status;
        response
    };
    match *req.method() {
        Method::POST => {}
        Method::DELETE => return Ok(reply(StatusCode::OK, Bytes::new())),
        _ => return Ok(reply(StatusCode::METHOD_NOT_ALLOWED, Bytes::new())),
    }
    let Ok(body) = req.into_body().collect().await else {
        return Ok(reply(StatusCode::BAD_REQUEST, Bytes::new()));
    };
    let body = body.to_bytes();
    let mut out = Vec::with_capacity(256);
    let outcome = echo::answer(body.trim_ascii(), &mut out);
    if outcome == Outcome::Nothing {
        return Ok(reply(StatusCode::ACCEPTED, Bytes::new()));
    }
    let mut response = reply(StatusCode::OK, Bytes::from(out));
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if outcome == Outcome::Initialized {
        let id = format!(
            "{:08x}{:016x}",
            std::process::id(),
            SESSIONS.fetch_add(1, Ordering::Relaxed)
        );
        if let Ok(value) = HeaderValue::from_str(&id) {
            headers.insert("mcp-session-id", value);
        }
    }
    Ok(response)
}

async fn serve(listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service_fn(handle))
                .await;
        });
    }
}

fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let runtime = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(async {
        let listener = TcpListener::bind(cli.listen).await?;
        println!("listening on {}", listener.local_addr()?);
        serve(listener).await
    })
}
