//! Loopback: pick a free port, wait until one accepts connections, and one raw HTTP/1.1
//! exchange on a new connection (for tests of the binary, which speak to it without a client).

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

/// A port on 127.0.0.1 that was free a moment ago (bound to `:0`, read, released).
///
/// Prefer letting the server bind `:0` itself and report its port (the Node peers do, see
/// `spawn_node_server`): between this call and the server's bind another process may take the
/// port. Use this only for programs that cannot report the port they bound.
///
/// # Panics
/// If no loopback port can be bound at all.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("cannot read the bound address: {e}"))
        .port()
}

/// Polls `127.0.0.1:port` every 20 ms until a TCP connect succeeds, for at most `timeout`.
/// Returns whether it became reachable. For servers that print no readiness line.
pub async fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    tokio::time::timeout(timeout, async {
        loop {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .is_ok()
}

/// The body of a `GET url` as text (no environment proxy): a `/metrics` page, say.
///
/// # Panics
/// When the request or the body fails.
pub async fn get_text(url: &str) -> String {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("reqwest client")
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("GET {url} body: {e}"))
}

/// One HTTP/1.1 GET of `path` on a new connection to `address`, the whole response as text
/// (`Connection: close`; reads wait at most `bound`).
pub fn raw_get(address: &str, path: &str, bound: Duration) -> String {
    raw_exchange(
        address,
        &format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"),
        bound,
    )
}

/// One HTTP/1.1 JSON POST of `body` to `path` (as a Streamable HTTP client sends it), the whole
/// response as text.
pub fn raw_post(address: &str, path: &str, body: &str, bound: Duration) -> String {
    raw_exchange(
        address,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
        bound,
    )
}

fn raw_exchange(address: &str, request: &str, bound: Duration) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(bound)).expect("timeout");
    stream.write_all(request.as_bytes()).expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    response
}
