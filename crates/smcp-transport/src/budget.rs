//! Channels bounded by bytes, not by item count.
//!
//! MCP messages range from a few bytes to `max_line_bytes` (16 MiB by default), so a channel
//! bounded by its number of items bounds nothing. Here every item costs its size plus a fixed
//! overhead, taken from a [`Budget`] (a semaphore of bytes) before the item is queued and given
//! back when the receiver takes it. A sender waits while the budget is spent: that wait is the
//! backpressure that ends, at the far end, in smcp no longer reading a child's stdout. One
//! budget can be shared by several channels, so a whole group (every request of one child)
//! is bounded together. An item larger than the whole budget waits until the budget is
//! untouched and then takes all of it, so one big message still passes, alone.
//!
//! A channel can be *broken* from either end: its receiver ends at once, its queued items stop
//! counting against the budget, and later sends fail. A sender that gives up on a stalled
//! reader breaks it that way ([`Sender::send_within`]).
//!
//! Cost matters here: the stdio path makes one channel per request and sends through it once
//! or twice, so making, sending and breaking are plain atomics and one uncontended lock (no
//! cancellation tree, no timer), and only a sender that must wait builds waiting machinery.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use tokio::sync::{Notify, Semaphore, mpsc};

use crate::jsonrpc::Message;

/// What each queued item costs on top of its bytes, so empty items are not free.
const ITEM_OVERHEAD: usize = 64;

/// What an item weighs.
pub(crate) trait Weight {
    /// Its size in bytes.
    fn weight(&self) -> usize;
}

impl Weight for Bytes {
    fn weight(&self) -> usize {
        self.len()
    }
}

impl Weight for Message {
    fn weight(&self) -> usize {
        self.bytes().len()
    }
}

/// A number of bytes that queued items may hold together. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub(crate) struct Budget {
    permits: Arc<Semaphore>,
    max: u32,
}

impl Budget {
    /// A budget of `max_bytes` (at least one item's overhead, at most `u32::MAX`).
    pub(crate) fn new(max_bytes: usize) -> Self {
        let max = u32::try_from(max_bytes.max(ITEM_OVERHEAD)).unwrap_or(u32::MAX);
        Budget {
            permits: Arc::new(Semaphore::new(max as usize)),
            max,
        }
    }

    fn cost(&self, weight: usize) -> u32 {
        u32::try_from(weight.saturating_add(ITEM_OVERHEAD))
            .unwrap_or(u32::MAX)
            .min(self.max)
    }

    /// How many bytes are free now (for tests and debugging).
    #[cfg(test)]
    pub(crate) fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

/// The accounting one channel shares between its ends.
struct State {
    /// Bytes taken from the budget by items still queued.
    outstanding: u64,
    /// False once the channel is broken or its receiver is gone.
    open: bool,
}

struct Shared {
    budget: Budget,
    state: Mutex<State>,
    /// Set once, when the channel is broken; read without the lock on every send and poll.
    broken: AtomicBool,
    /// The receiver's task, woken when the channel is broken so that it ends at once.
    receiver: AtomicWaker,
    /// Senders waiting for room (or for the end), woken when the channel is broken.
    waiting_senders: Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }

    /// Closes the channel and gives back what its queued items held.
    fn break_off(&self) {
        let mut state = self.lock();
        if state.open {
            state.open = false;
            let held = std::mem::take(&mut state.outstanding);
            drop(state);
            self.budget
                .permits
                .add_permits(usize::try_from(held).unwrap_or(usize::MAX));
        }
        self.broken.store(true, Ordering::Release);
        self.receiver.wake();
        self.waiting_senders.notify_waiters();
    }

    /// Resolves once the channel is broken. The waiter is registered before the flag is
    /// read, so a break between the two is not missed.
    async fn broken(&self) {
        let notified = self.waiting_senders.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.is_broken() {
            return;
        }
        notified.await;
    }
}

/// Why [`Sender::send_within`] did not queue an item.
#[derive(Debug)]
pub(crate) enum SendError<T> {
    /// The receiver is gone or the channel was broken.
    Closed(T),
    /// The budget stayed spent for the whole limit; the channel is now broken.
    Stalled(T),
}

/// Why [`Sender::try_send`] did not queue an item.
#[derive(Debug)]
pub(crate) enum TrySendError<T> {
    /// The budget is spent.
    Full(T),
    /// The receiver is gone or the channel was broken.
    Closed(T),
}

/// The sending end; clones share the channel.
pub(crate) struct Sender<T> {
    tx: mpsc::UnboundedSender<(T, u32)>,
    shared: Arc<Shared>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            tx: self.tx.clone(),
            shared: self.shared.clone(),
        }
    }
}

/// The receiving end. Dropping it breaks the channel.
pub(crate) struct Receiver<T> {
    rx: mpsc::UnboundedReceiver<(T, u32)>,
    shared: Arc<Shared>,
}

/// A channel with its own budget of `max_bytes`.
pub(crate) fn channel<T>(max_bytes: usize) -> (Sender<T>, Receiver<T>) {
    channel_in(&Budget::new(max_bytes))
}

/// A channel drawing on `budget`, which other channels may share.
pub(crate) fn channel_in<T>(budget: &Budget) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        budget: budget.clone(),
        state: Mutex::new(State {
            outstanding: 0,
            open: true,
        }),
        broken: AtomicBool::new(false),
        receiver: AtomicWaker::new(),
        waiting_senders: Notify::new(),
    });
    (
        Sender {
            tx,
            shared: shared.clone(),
        },
        Receiver { rx, shared },
    )
}

impl<T: Weight> Sender<T> {
    /// Queues `item`, waiting as long as it takes for room. Fails (giving the item back) when
    /// the receiver is gone or the channel is broken.
    pub(crate) async fn send(&self, item: T) -> Result<(), T> {
        match self.send_inner(item, None).await {
            Ok(()) => Ok(()),
            Err(SendError::Closed(item) | SendError::Stalled(item)) => Err(item),
        }
    }

    /// Like [`send`](Self::send), but when no room frees up within `limit` the channel is
    /// broken (its receiver ends) and the item comes back as [`SendError::Stalled`].
    pub(crate) async fn send_within(&self, item: T, limit: Duration) -> Result<(), SendError<T>> {
        self.send_inner(item, Some(limit)).await
    }

    /// Queues `item` if the budget has room for it now.
    pub(crate) fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        if self.is_closed() {
            return Err(TrySendError::Closed(item));
        }
        let cost = self.shared.budget.cost(item.weight());
        match self.shared.budget.permits.try_acquire_many(cost) {
            Ok(permit) => permit.forget(),
            Err(_) => return Err(TrySendError::Full(item)),
        }
        self.commit(item, cost).map_err(TrySendError::Closed)
    }

    async fn send_inner(&self, item: T, limit: Option<Duration>) -> Result<(), SendError<T>> {
        if self.is_closed() {
            return Err(SendError::Closed(item));
        }
        let cost = self.shared.budget.cost(item.weight());
        // The common case, room right now: no waiting machinery.
        if let Ok(permit) = self.shared.budget.permits.try_acquire_many(cost) {
            permit.forget();
            return self.commit(item, cost).map_err(SendError::Closed);
        }
        let acquire = self.shared.budget.permits.acquire_many(cost);
        let stall = async {
            match limit {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        let permit = tokio::select! {
            permit = acquire => permit,
            () = self.shared.broken() => return Err(SendError::Closed(item)),
            () = self.tx.closed() => return Err(SendError::Closed(item)),
            () = stall => {
                self.shared.break_off();
                return Err(SendError::Stalled(item));
            }
        };
        // The semaphore is never closed, so this is always a permit.
        let Ok(permit) = permit else {
            return Err(SendError::Closed(item));
        };
        permit.forget();
        self.commit(item, cost).map_err(SendError::Closed)
    }

    /// Queues an item whose `cost` was taken from the budget, or gives both back.
    fn commit(&self, item: T, cost: u32) -> Result<(), T> {
        let mut state = self.shared.lock();
        if !state.open {
            drop(state);
            self.shared.budget.permits.add_permits(cost as usize);
            return Err(item);
        }
        match self.tx.send((item, cost)) {
            Ok(()) => {
                state.outstanding += u64::from(cost);
                Ok(())
            }
            Err(mpsc::error::SendError((item, _))) => {
                drop(state);
                self.shared.budget.permits.add_permits(cost as usize);
                Err(item)
            }
        }
    }
}

impl<T> Sender<T> {
    /// Queues `item` without taking from the budget: for what is already held elsewhere (a
    /// replay from the replay buffer) or small and final (a synthesized error response).
    pub(crate) fn force_send(&self, item: T) -> Result<(), T> {
        if !self.shared.lock().open {
            return Err(item);
        }
        self.tx.send((item, 0)).map_err(|e| e.0.0)
    }

    /// True once the receiver is gone or the channel is broken.
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed() || self.shared.is_broken()
    }

    /// Resolves once the receiver is gone or the channel is broken.
    pub(crate) async fn closed(&self) {
        tokio::select! {
            () = self.tx.closed() => {}
            () = self.shared.broken() => {}
        }
    }
}

impl<T> Receiver<T> {
    /// The next item; `None` once every sender is gone or the channel is broken.
    pub(crate) async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next item (see [`recv`](Self::recv)).
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // Register before reading the flag, so a break in between still wakes this task.
        self.shared.receiver.register(cx.waker());
        if self.shared.is_broken() {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some((item, cost))) => {
                let mut state = self.shared.lock();
                if state.open && cost > 0 {
                    state.outstanding -= u64::from(cost);
                    drop(state);
                    self.shared.budget.permits.add_permits(cost as usize);
                }
                Poll::Ready(Some(item))
            }
            other => other.map(|_| None),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.break_off();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(n: usize) -> Bytes {
        Bytes::from(vec![b'x'; n])
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_budget_makes_senders_wait_until_the_receiver_takes() {
        let (tx, mut rx) = channel::<Bytes>(1000);
        tx.send(b(600)).await.unwrap();
        // 664 + 664 > 1000: the second waits.
        let second = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(b(600)).await.map_err(|_| ()) }
        });
        tokio::task::yield_now().await;
        assert!(!second.is_finished());
        assert_eq!(rx.recv().await.unwrap().len(), 600);
        second.await.unwrap().unwrap();
        assert_eq!(rx.recv().await.unwrap().len(), 600);
    }

    #[tokio::test(start_paused = true)]
    async fn an_item_bigger_than_the_budget_passes_alone() {
        let (tx, mut rx) = channel::<Bytes>(1000);
        tx.send(b(5000)).await.unwrap();
        assert_eq!(rx.recv().await.unwrap().len(), 5000);
        tx.send(b(5000)).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_reader_breaks_the_channel_and_gives_the_budget_back() {
        let budget = Budget::new(1000);
        let (tx, mut rx) = channel_in::<Bytes>(&budget);
        tx.send(b(900)).await.unwrap();
        assert_eq!(budget.available(), 1000 - 964);
        let got = tx.send_within(b(900), Duration::from_secs(30)).await;
        assert!(matches!(got, Err(SendError::Stalled(_))));
        assert_eq!(budget.available(), 1000, "the queued item no longer counts");
        assert!(rx.recv().await.is_none(), "the receiver ends at once");
        assert!(tx.is_closed());
        assert!(tx.send(b(1)).await.is_err());
        tx.closed().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_shared_budget_bounds_every_channel_together() {
        let budget = Budget::new(1000);
        let (a, _ra) = channel_in::<Bytes>(&budget);
        let (b2, mut rb) = channel_in::<Bytes>(&budget);
        a.send(b(900)).await.unwrap();
        assert!(
            b2.send_within(b(100), Duration::from_secs(1))
                .await
                .is_err(),
            "the other channel's items use the budget up"
        );
        assert!(rb.recv().await.is_none());
        drop(_ra);
        assert_eq!(
            budget.available(),
            1000,
            "a dropped receiver gives its share back"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_sender_waiting_for_room_fails_when_the_receiver_goes() {
        let (tx, rx) = channel::<Bytes>(100);
        tx.send(b(50)).await.unwrap();
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(b(50)).await.is_err() }
        });
        tokio::task::yield_now().await;
        drop(rx);
        assert!(waiting.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn forced_items_take_nothing_from_the_budget() {
        let budget = Budget::new(1000);
        let (tx, mut rx) = channel_in::<Bytes>(&budget);
        tx.force_send(b(5000)).unwrap();
        assert_eq!(budget.available(), 1000);
        assert_eq!(rx.recv().await.unwrap().len(), 5000);
        assert_eq!(budget.available(), 1000);
    }
}
