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
//! non-blocking channel sends, never across an `.await`. A message for a request is not sent
//! under the lock: [`Routes::route`] hands it back as a [`Delivery`] and the reader awaits
//! room on the request's stream (bounded in bytes), which is how a slow client ends up
//! pausing the reading of the child's stdout.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use metrics::Counter;

use crate::budget::{self, TrySendError};
use crate::jsonrpc::{Kind, Message, ProgressToken, RequestId};

/// One request in flight.
pub(crate) struct Pending {
    pub(crate) tx: budget::Sender<Message>,
    pub(crate) token: Option<ProgressToken>,
}

/// A message on its way to a request's stream, to be sent outside the table's lock.
pub(crate) struct Delivery {
    pub(crate) tx: budget::Sender<Message>,
    pub(crate) msg: Message,
    /// When the stream is gone, the message is unsolicited instead (it was only routed to
    /// the request for being the one in flight).
    pub(crate) fallback: bool,
}

/// The routing state of one connection.
pub(crate) struct Table {
    pub(crate) pending: HashMap<RequestId, Pending>,
    pub(crate) by_token: HashMap<ProgressToken, RequestId>,
    /// `None` once the connection is closed (dropping it ends the receiver's stream).
    pub(crate) unsolicited: Option<budget::Sender<Message>>,
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
        unsolicited: budget::Sender<Message>,
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

    /// Routes one message from the child. A message for a request comes back as a
    /// [`Delivery`] for the caller to send (and, if that fails and the delivery says so, to
    /// pass to [`Routes::unsolicited`]).
    pub(crate) fn route(&self, msg: Message) -> Option<Delivery> {
        let table = self.lock();
        match msg.kind() {
            Kind::Response => {
                let mut table = table;
                match msg.id().and_then(|id| table.remove(id)) {
                    // The stream may have been dropped: the answer is then discarded.
                    Some(pending) => Some(Delivery {
                        tx: pending.tx,
                        msg,
                        fallback: false,
                    }),
                    None => {
                        drop(table);
                        self.drops.unknown_id.increment(1);
                        tracing::warn!(
                            backend = %self.backend,
                            session = %self.session,
                            id = ?msg.id(),
                            "response from child for no request in flight: dropped"
                        );
                        None
                    }
                }
            }
            _ if msg.method() == Some("notifications/progress") => {
                let target = msg
                    .progress_token()
                    .and_then(|token| table.by_token.get(token))
                    .and_then(|id| table.pending.get(id))
                    .map(|pending| pending.tx.clone());
                drop(table);
                match target {
                    // Progress for a request whose reader is gone has nowhere to go.
                    Some(tx) => Some(Delivery {
                        tx,
                        msg,
                        fallback: false,
                    }),
                    None => {
                        self.unsolicited(msg);
                        None
                    }
                }
            }
            _ => {
                let only = if table.pending.len() == 1 {
                    table.pending.values().next().map(|p| p.tx.clone())
                } else {
                    None
                };
                drop(table);
                match only {
                    Some(tx) => Some(Delivery {
                        tx,
                        msg,
                        fallback: true,
                    }),
                    None => {
                        self.unsolicited(msg);
                        None
                    }
                }
            }
        }
    }

    /// Queues a message that belongs to no request; dropped (counted, logged) when the
    /// unsolicited channel is full.
    pub(crate) fn unsolicited(&self, msg: Message) {
        let table = self.lock();
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
            // Small and final: it must arrive even when the stream's budget is spent.
            let _ = p.tx.force_send(Message::error(Some(&id), code, message));
        }
    }
}
