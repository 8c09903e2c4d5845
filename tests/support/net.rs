//! Loopback ports: pick a free one, wait until one accepts connections.

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
