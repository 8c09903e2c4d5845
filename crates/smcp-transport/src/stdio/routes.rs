//! Where each message from the child goes.
//!
//! The table maps in-flight request ids to their streams and progress tokens to request ids.
//! Rules, in order:
//! - a response goes to the request with its id (and ends that stream); an unknown id is
//!   logged and dropped;
//! - `notifications/progress` goes to the request that declared its `progressToken`; an
//!   unknown token goes to the unsolicited channel;
//! - any other request or notification goes to the one request in flight when there is exactly
//!   one (and its stream is still read), otherwise to the unsolicited channel.
//!
//! The table sits under a `std::sync::Mutex` that is only ever held for map operations and
//! non-blocking channel sends, never across an `.await`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use metrics::Counter;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::jsonrpc::{Kind, Message, ProgressToken, RequestId};

/// One request in flight.
pub(crate) struct Pending {
    pub(crate) tx: mpsc::UnboundedSender<Message>,
    pub(crate) token: Option<ProgressToken>,
}

/// The routing state of one connection.
pub(crate) struct Table {
    pub(crate) pending: HashMap<RequestId, Pending>,
    pub(crate) by_token: HashMap<ProgressToken, RequestId>,
    /// `None` once the connection is closed (dropping it ends the receiver's stream).
    pub(crate) unsolicited: Option<mpsc::Sender<Message>>,
    /// No new requests or messages are accepted.
    pub(crate) closed: bool,
}

impl Table {
    /// Removes a request, and its progress token if the token still points at it.
    pub(crate) fn remove(&mut self, id: &RequestId) -> Option<Pending> {
        let pending = self.pending.remove(id)?;
        if let Some(token) = &pending.token
            && self.by_token.get(token) == Some(id)
        {
            self.by_token.remove(token);
        }
        Some(pending)
    }
}

/// Counters for messages that could not be delivered.
pub(crate) struct DropCounters {
    pub(crate) unknown_id: Counter,
    pub(crate) unsolicited_full: Counter,
}

/// The table plus the labels its log lines need.
pub(crate) struct Routes {
    table: Mutex<Table>,
    backend: std::sync::Arc<str>,
    session: std::sync::Arc<str>,
    drops: DropCounters,
}

impl Routes {
    pub(crate) fn new(
        unsolicited: mpsc::Sender<Message>,
        backend: std::sync::Arc<str>,
        session: std::sync::Arc<str>,
        drops: DropCounters,
    ) -> Self {
        Routes {
            table: Mutex::new(Table {
                pending: HashMap::new(),
                by_token: HashMap::new(),
                unsolicited: Some(unsolicited),
                closed: false,
            }),
            backend,
            session,
            drops,
        }
    }

    /// Locks the table. A panic elsewhere while holding it cannot leave it inconsistent in a
    /// way that matters more than losing the connection, so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Delivers one message from the child.
    pub(crate) fn route(&self, msg: Message) {
        let mut table = self.lock();
        let msg = match msg.kind() {
            Kind::Response => {
                match msg.id().and_then(|id| table.remove(id)) {
                    Some(pending) => {
                        drop(table);
                        // The stream may have been dropped: the answer is then discarded.
                        let _ = pending.tx.send(msg);
                    }
                    None => {
                        drop(table);
                        self.drops.unknown_id.increment(1);
                        tracing::warn!(
                            backend = %self.backend,
                            session = %self.session,
                            id = ?msg.id(),
                            "response from child for no request in flight: dropped"
                        );
                    }
                }
                return;
            }
            _ if msg.method() == Some("notifications/progress") => {
                let target = msg
                    .progress_token()
                    .and_then(|token| table.by_token.get(token))
                    .and_then(|id| table.pending.get(id));
                match target {
                    Some(pending) => {
                        // Progress for a request whose reader is gone has nowhere to go.
                        let _ = pending.tx.send(msg);
                        return;
                    }
                    None => msg,
                }
            }
            _ => {
                if table.pending.len() == 1
                    && let Some(pending) = table.pending.values().next()
                {
                    match pending.tx.send(msg) {
                        Ok(()) => return,
                        // Nobody reads that request's stream any more: it is unsolicited.
                        Err(mpsc::error::SendError(msg)) => msg,
                    }
                } else {
                    msg
                }
            }
        };
        let Some(unsolicited) = &table.unsolicited else {
            return;
        };
        match unsolicited.try_send(msg) {
            Ok(()) => {}
            Err(TrySendError::Full(msg)) => {
                drop(table);
                self.drops.unsolicited_full.increment(1);
                tracing::warn!(
                    backend = %self.backend,
                    session = %self.session,
                    method = ?msg.method(),
                    "unsolicited message from child dropped: channel full"
                );
            }
            Err(TrySendError::Closed(msg)) => {
                drop(table);
                tracing::debug!(
                    backend = %self.backend,
                    session = %self.session,
                    method = ?msg.method(),
                    "unsolicited message from child dropped: nobody listens"
                );
            }
        }
    }

    /// Closes the connection: no new requests, every request in flight gets an error response
    /// with `code` and `message`, and the unsolicited channel ends. Idempotent.
    pub(crate) fn close_all(&self, code: i64, message: &str) {
        let mut table = self.lock();
        table.closed = true;
        table.unsolicited = None;
        table.by_token.clear();
        let pending = std::mem::take(&mut table.pending);
        drop(table);
        for (id, p) in pending {
            let _ = p.tx.send(Message::error(Some(&id), code, message));
        }
    }
}
