//! The connection pool of a plain-HTTP backend: HTTP/1.1 keep-alive connections, kept per
//! thread.
//!
//! An `http://` backend (a sidecar, a service on the cluster network) needs nothing but
//! HTTP/1.1 keep-alive to one address. hyper-util's pooled client pays on every request for a
//! generality this does not use: a pool keyed by scheme and authority behind a lock, a clone of
//! the connector, boxed futures. On the http-8x16 load of `docs/benchmarks.md` this pool
//! forwards a request for about 1.5 us less CPU. HTTPS backends keep hyper-util's client, which
//! also negotiates HTTP/2.
//!
//! Each connection is a hyper `client::conn::http1` connection whose I/O runs in a task of
//! its own, on the thread that opened it. Idle connections wait in that thread's list, the
//! most recently used first, so a quiet period lets the older ones age out. A request takes an
//! idle connection or opens a new one; the connection goes back to the list when its response
//! body has been read to the end ([`Lease::release`]). A response dropped before its end
//! closes its connection: HTTP/1.1 has no way to abandon a response and keep the connection.
//!
//! A backend may close an idle connection at any moment (Node's HTTP server does after 5 s).
//! A request that hyper hands back unsent because its connection turned out to be closing is
//! sent again on another connection, as hyper-util's client does; a request that was written
//! is never sent twice, since it may not be idempotent. A reaper task per thread closes
//! connections idle for longer than [`IDLE_TIMEOUT`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use thread_local::ThreadLocal;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::bodies::RequestBody;

/// How long a connection may stay idle before the reaper closes it (hyper-util's default).
pub(super) const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// How often the reaper looks for expired idle connections.
const REAP_INTERVAL: Duration = Duration::from_secs(15);
/// Idle connections kept per thread at most; the oldest are closed past it.
const MAX_IDLE_PER_THREAD: usize = 1024;

/// The pool of one plain-HTTP backend.
pub(super) struct Http1Pool {
    /// The host to connect to: a name, or an IP address without brackets.
    host: String,
    port: u16,
    per_thread: ThreadLocal<Arc<IdleList>>,
}

/// Why the pool produced no response.
#[derive(Debug)]
pub(super) enum PoolError {
    /// Opening a connection failed.
    Connect(std::io::Error),
    /// The connection failed, before or after the request was written.
    Http(hyper::Error),
}

impl Http1Pool {
    /// A pool for the backend at `host` (no brackets around an IPv6 address) and `port`.
    pub(super) fn new(host: String, port: u16) -> Self {
        Self {
            host,
            port,
            per_thread: ThreadLocal::new(),
        }
    }

    /// Sends `request` (origin-form URI, `Host` set) on an idle connection or a new one.
    ///
    /// The returned [`Lease`] must be released once the response body has been read to its
    /// end, to give the connection back; dropping it unreleased closes the connection.
    pub(super) async fn send(
        &self,
        mut request: Request<RequestBody>,
    ) -> Result<(Response<Incoming>, Lease), PoolError> {
        let list = self.per_thread.get_or(|| Arc::new(IdleList::default()));
        loop {
            // Every retry consumes an idle connection; a new connection is never retried.
            let (mut sender, reused) = match list.take() {
                Some(sender) => (sender, true),
                None => (self.connect(list).await?, false),
            };
            if let Err(error) = sender.ready().await {
                if reused {
                    continue;
                }
                return Err(PoolError::Http(error));
            }
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let lease = Lease {
                        sender: Some(sender),
                        list: Arc::clone(list),
                    };
                    return Ok((response, lease));
                }
                Err(mut error) => match error.take_message() {
                    Some(unsent) if reused => {
                        tracing::debug!(error = %error.error(), "pooled connection was closing; sending on another");
                        request = unsent;
                    }
                    _ => return Err(PoolError::Http(error.into_error())),
                },
            }
        }
    }

    /// Opens a connection and starts its I/O task on the current runtime.
    async fn connect(&self, list: &Arc<IdleList>) -> Result<SendRequest<RequestBody>, PoolError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(PoolError::Connect)?;
        // MCP traffic is many small messages: never wait on Nagle.
        let _ = tcp.set_nodelay(true);
        let (sender, connection) = http1::Builder::new()
            // Small messages: one flattened write is cheaper than a vectored-write queue.
            .writev(false)
            .handshake(TokioIo::new(tcp))
            .await
            .map_err(PoolError::Http)?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "upstream connection ended with an error");
            }
        });
        if !list.reaper_started.swap(true, Ordering::Relaxed) {
            tokio::spawn(reap(Arc::downgrade(list)));
        }
        Ok(sender)
    }
}

impl std::fmt::Debug for Http1Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http1Pool")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// A connection lent to one request, given back by [`Lease::release`].
pub(super) struct Lease {
    sender: Option<SendRequest<RequestBody>>,
    list: Arc<IdleList>,
}

impl Lease {
    /// Gives the connection back to its thread's idle list: call once the response body has
    /// been read to its end. Later calls do nothing.
    pub(super) fn release(&mut self) {
        if let Some(sender) = self.sender.take() {
            self.list.put(sender);
        }
    }
}

/// One thread's idle connections, most recently used first.
#[derive(Default)]
struct IdleList {
    // Locked only by the thread owning the list and its reaper (a task on the same thread),
    // so never contended; a lock rather than a `RefCell` keeps the list `Sync` for `Arc`.
    idle: Mutex<VecDeque<Idle>>,
    reaper_started: AtomicBool,
}

struct Idle {
    sender: SendRequest<RequestBody>,
    since: Instant,
}

impl IdleList {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Idle>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The most recently used connection that is not known to be closed.
    fn take(&self) -> Option<SendRequest<RequestBody>> {
        let mut idle = self.lock();
        while let Some(entry) = idle.pop_front() {
            if !entry.sender.is_closed() {
                return Some(entry.sender);
            }
        }
        None
    }

    fn put(&self, sender: SendRequest<RequestBody>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.lock();
        idle.push_front(Idle {
            sender,
            since: Instant::now(),
        });
        idle.truncate(MAX_IDLE_PER_THREAD);
    }

    /// Closes the connections idle since before `now - IDLE_TIMEOUT`, and the closed ones.
    fn drop_expired(&self, now: Instant) {
        self.lock()
            .retain(|entry| !entry.sender.is_closed() && now - entry.since < IDLE_TIMEOUT);
    }
}

/// Closes expired idle connections of one thread's list until the pool is gone.
async fn reap(list: Weak<IdleList>) {
    let mut ticks = tokio::time::interval(REAP_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(list) = list.upgrade() else {
            return;
        };
        list.drop_expired(Instant::now());
    }
}

#[cfg(test)]
impl Http1Pool {
    /// How many idle connections the calling thread's list holds.
    pub(super) fn idle_on_this_thread(&self) -> usize {
        self.per_thread.get().map_or(0, |list| list.lock().len())
    }
}
