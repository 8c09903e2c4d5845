//! A hostile client at the front door: invented methods and paths against `/metrics`, stalled
//! HTTP/2 prefaces, connection floods over `server.max_connections`, foreign `Host` names,
//! chunked bodies over `server.max_request_body` or cut off, and what a chunked body that is
//! read once looks like to the backend. Everything runs against the real server
//! in-process on `127.0.0.1:0`; waits are bounded guards, never timings.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns fail the test with a message"
)]

use std::time::Duration;

use smcp_e2e::SmcpServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const GUARD: Duration = Duration::from_secs(30);
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn config(server_extra: &str, backends: &str) -> String {
    format!(
        "server:\n  host: \"127.0.0.1\"\n  port: 0\n  shutdown_timeout: \"2s\"\n{server_extra}mcp:\n  backends:\n{backends}"
    )
}

/// Sends raw bytes and reads the whole answer (the server closes: `Connection: close`).
async fn raw(smcp: &SmcpServer, request: &[u8]) -> String {
    let mut tcp = TcpStream::connect(smcp.addr()).await.expect("connect");
    tcp.write_all(request).await.expect("write");
    let mut out = Vec::new();
    let read = tokio::time::timeout(GUARD, async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    });
    read.await.expect("no answer");
    String::from_utf8_lossy(&out).into_owned()
}

async fn metrics(client: &reqwest::Client, smcp: &SmcpServer) -> String {
    let response = client
        .get(smcp.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    response.text().await.expect("metrics body")
}

fn series(text: &str, name: &str) -> Vec<String> {
    text.lines()
        .filter(|line| {
            line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
        })
        .map(|line| {
            line.rsplit_once(' ')
                .map_or(line, |(series, _)| series)
                .to_owned()
        })
        .collect()
}

fn value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_methods_and_paths_mint_no_metric_series() {
    let smcp = SmcpServer::start(&config("", "    []\n")).await;
    let client = reqwest::Client::new();
    let before = series(&metrics(&client, &smcp).await, "smcp_requests_total");
    for i in 0..500u32 {
        let method = format!("X{}{}", "M".repeat(usize::try_from(i % 50).unwrap_or(0)), i);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let path = format!(
            "/random/{i}/{}",
            "p".repeat(usize::try_from(i).unwrap_or(0))
        );
        let _ = client.request(method, smcp.url(&path)).send().await;
    }
    let text = metrics(&client, &smcp).await;
    let after = series(&text, "smcp_requests_total");
    // At most the `other` row was added for the classes these requests got.
    let new: Vec<&String> = after.iter().filter(|s| !before.contains(s)).collect();
    assert!(new.len() <= 5, "{new:#?}");
    for series in &after {
        let method = series
            .split("method=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or("");
        assert!(
            [
                "GET", "POST", "DELETE", "OPTIONS", "HEAD", "PUT", "PATCH", "CONNECT", "TRACE",
                "other"
            ]
            .contains(&method),
            "{series}"
        );
    }
    assert!(text.len() < 64 * 1024, "/metrics is {} bytes", text.len());
    smcp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_h2c_prefaces_are_closed_and_max_connections_is_honoured() {
    let extra = "  read_timeout: \"500ms\"\n  max_connections: 50\n";
    let smcp = SmcpServer::start(&config(extra, "    []\n")).await;
    let mut stalled = Vec::new();
    for i in 0..50 {
        let mut tcp = TcpStream::connect(smcp.addr()).await.expect("connect");
        let sent = if i % 2 == 0 {
            &H2_PREFACE[..10]
        } else {
            H2_PREFACE
        };
        tcp.write_all(sent).await.expect("write");
        stalled.push(tcp);
    }
    // The 51st is closed at once, without a word.
    let mut over = TcpStream::connect(smcp.addr()).await.expect("connect");
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(GUARD, over.read(&mut buf))
        .await
        .expect("the connection over the limit was held");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    // Every stalled connection is closed by the server after read_timeout.
    for tcp in &mut stalled {
        let closed = tokio::time::timeout(GUARD, async {
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        });
        closed
            .await
            .expect("a stalled HTTP/2 preface was held open");
    }
    // /health answers again, and the metrics say what happened.
    let client = reqwest::Client::new();
    let health = client
        .get(smcp.url("/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    let text = metrics(&client, &smcp).await;
    assert!(
        value(&text, "smcp_connections_refused_total") >= 1.0,
        "{text}"
    );
    assert!(
        value(&text, "smcp_connections_timed_out_total") >= 50.0,
        "{text}"
    );
    assert!(value(&text, "smcp_connections_open") >= 1.0, "{text}");
    smcp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_and_doubled_hosts_are_refused() {
    let smcp = SmcpServer::start(&config(
        "  allowed_hosts: [\"mcp.example.com\"]\n",
        "    []\n",
    ))
    .await;
    let rebinding = raw(
        &smcp,
        b"GET /api/models HTTP/1.1\r\nHost: evil.example:8080\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(rebinding.starts_with("HTTP/1.1 421"), "{rebinding}");
    assert!(rebinding.contains("\"jsonrpc\""), "{rebinding}");
    for ok in ["127.0.0.1", "localhost:9", "mcp.example.com"] {
        let answer = raw(
            &smcp,
            format!("GET /health HTTP/1.1\r\nHost: {ok}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{ok}: {answer}");
    }
    let doubled = raw(
        &smcp,
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(doubled.starts_with("HTTP/1.1 400"), "{doubled}");
    smcp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_over_the_limit_is_a_413_that_says_so() {
    // A backend that reads whatever it gets and never answers.
    let backend = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let backend_addr = backend.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = backend.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    let backends = format!(
        "    - id: h\n      transport: http\n      url: \"http://{backend_addr}\"\n      path: /v1/h\n      timeout: \"20s\"\n"
    );
    let smcp = SmcpServer::start(&config("  max_request_body: 1024\n", &backends)).await;
    let chunk = "x".repeat(4096);
    let request = format!(
        "POST /v1/h/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    let answer = raw(&smcp, request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("Payload Too Large: the request body exceeds the limit of 1024 bytes"),
        "{answer}"
    );
    let client = reqwest::Client::new();
    let text = metrics(&client, &smcp).await;
    assert!(
        !text.contains("smcp_upstream_errors_total{backend=\"h\",kind=\"body\"}"),
        "{text}"
    );
    assert!(
        text.contains("smcp_rejected_requests_total{reason=\"body_too_large\"}"),
        "{text}"
    );
    smcp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_body_over_the_limit_is_a_413_that_says_so() {
    // The stdio backend reads the message itself (once), bounded by server.max_request_body;
    // no child is started for a message it never reads to the end.
    let backends = "    - id: s\n      transport: stdio\n      path: /v1/s\n      stdio:\n        command: cat\n";
    let smcp = SmcpServer::start(&config("  max_request_body: 1024\n", backends)).await;
    let chunk = "x".repeat(4096);
    let request = format!(
        "POST /v1/s/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    let answer = raw(&smcp, request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("the request body exceeds the limit of 1024 bytes"),
        "{answer}"
    );
    assert!(answer.contains("\"jsonrpc\":\"2.0\""), "{answer}");
    let client = reqwest::Client::new();
    let text = metrics(&client, &smcp).await;
    assert!(
        text.contains("smcp_rejected_requests_total{reason=\"body_too_large\"}"),
        "{text}"
    );
    smcp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_is_read_once_and_reaches_an_http_backend_whole_and_unchanged() {
    // smcp reads a routed request's body whole (the seam where MCP-aware stages see its
    // JSON-RPC envelope) and forwards those bytes: a chunked batch arrives at the backend
    // byte for byte, now with its length declared. A body that breaks off is the client's
    // failure (400 that says so), and nothing reaches the backend.
    let backend = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let backend_addr = backend.local_addr().expect("addr");
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = backend.accept().await {
            let seen = seen_tx.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // Head, then exactly Content-Length bytes of body.
                loop {
                    let n = match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).into_owned();
                    let Some((head, body)) = text.split_once("\r\n\r\n") else {
                        continue;
                    };
                    let length = head
                        .lines()
                        .find_map(|line| {
                            let (name, value) = line.split_once(':')?;
                            name.eq_ignore_ascii_case("content-length")
                                .then(|| value.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        let _ = seen.send(text.clone());
                        let reply = "[]";
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                            reply.len()
                        );
                        let _ = tcp.write_all(answer.as_bytes()).await;
                        return;
                    }
                }
            });
        }
    });
    let backends = format!(
        "    - id: h\n      transport: http\n      url: \"http://{backend_addr}\"\n      path: /v1/h\n"
    );
    let smcp = SmcpServer::start(&config("  max_request_body: 1024\n", &backends)).await;

    let batch = [
        r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","#,
        r#""params":{"name":"echo","arguments":{"text":"h\u00e9"}}}, "#,
        r#" {"jsonrpc":"2.0","method":"notifications/progress"}]"#,
    ];
    let mut chunked = String::new();
    for piece in batch {
        chunked.push_str(&format!("{:x}\r\n{piece}\r\n", piece.len()));
    }
    chunked.push_str("0\r\n\r\n");
    let request = format!(
        "POST /v1/h/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{chunked}"
    );
    let answer = raw(&smcp, request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let seen = tokio::time::timeout(GUARD, seen_rx.recv())
        .await
        .expect("the backend got the request")
        .expect("a request");
    let (head, body) = seen.split_once("\r\n\r\n").expect("head and body");
    assert_eq!(body, batch.concat(), "the bytes are forwarded unchanged");
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains(&format!("content-length: {}", batch.concat().len())),
        "{head}"
    );
    assert!(!head.contains("transfer-encoding"), "{head}");

    // A chunked body cut off before its end: the client's failure, not the backend's.
    let broken = "POST /v1/h/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n40\r\n{\"jsonrpc\":\"2.0\"";
    let mut tcp = TcpStream::connect(smcp.addr()).await.expect("connect");
    tcp.write_all(broken.as_bytes()).await.expect("write");
    tcp.shutdown().await.expect("half-close");
    let mut out = Vec::new();
    tokio::time::timeout(GUARD, tcp.read_to_end(&mut out))
        .await
        .expect("an answer")
        .expect("read");
    let answer = String::from_utf8_lossy(&out);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"jsonrpc\":\"2.0\""), "{answer}");
    assert!(
        answer.contains("the request body could not be read"),
        "{answer}"
    );
    assert!(
        !answer.contains("unreachable"),
        "a broken client body is never a backend failure: {answer}"
    );
    let client = reqwest::Client::new();
    let text = metrics(&client, &smcp).await;
    assert!(
        text.contains("smcp_rejected_requests_total{reason=\"body_unreadable\"}"),
        "{text}"
    );
    assert!(
        seen_rx.try_recv().is_err(),
        "nothing of the broken body reached the backend"
    );
    smcp.stop().await;
}
