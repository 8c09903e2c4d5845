//! A streamed `text/event-stream` response body fed by a channel.
//!
//! Producers push already-encoded SSE events into an `mpsc` channel; the body yields them as
//! they come (nothing is buffered whole) and writes a `: keepalive` comment whenever the stream
//! has been quiet for the keepalive period, so intermediaries and clients do not time it out.
//! The body ends when every sender is gone, or when its stop token (if any) is cancelled.
//! Dropping the body (the client went away) closes the channel, which producers observe.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::stdio_backend::session::activity::ActivityGuard;
use crate::stdio_backend::session::stream::SinkRx;

/// The response body of one SSE stream.
pub(crate) struct SseBody {
    rx: SinkRx,
    keepalive: Option<(Duration, Pin<Box<Sleep>>)>,
    stop: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    _activity: Option<ActivityGuard>,
}

impl SseBody {
    /// A body yielding what `rx` receives, with a keepalive comment after every `keepalive`
    /// of silence (never when zero), ending early when `stop` is cancelled. `activity` is held
    /// for as long as the body lives, so an open stream keeps its session from idling.
    pub(crate) fn new(
        rx: SinkRx,
        keepalive: Duration,
        stop: Option<CancellationToken>,
        activity: Option<ActivityGuard>,
    ) -> Self {
        SseBody {
            rx,
            keepalive: (!keepalive.is_zero())
                .then(|| (keepalive, Box::pin(tokio::time::sleep(keepalive)))),
            stop: stop.map(|token| Box::pin(token.cancelled_owned())),
            _activity: activity,
        }
    }

    fn rearm(&mut self) {
        if let Some((period, sleep)) = &mut self.keepalive {
            sleep.as_mut().reset(Instant::now() + *period);
        }
    }
}

impl HttpBody for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if let Some(stop) = &mut this.stop
            && stop.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(None);
        }
        match this.rx.poll_recv(cx) {
            Poll::Ready(Some(event)) => {
                this.rearm();
                Poll::Ready(Some(Ok(Frame::data(event))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let fired = match &mut this.keepalive {
                    Some((_, sleep)) => sleep.as_mut().poll(cx).is_ready(),
                    None => false,
                };
                if fired {
                    this.rearm();
                    Poll::Ready(Some(Ok(Frame::data(crate::sse::KEEPALIVE))))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stdio_backend::session::stream::sink;
    use http_body_util::BodyExt as _;

    async fn next(body: &mut SseBody) -> Option<Bytes> {
        body.frame().await.map(|f| f.unwrap().into_data().unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn yields_events_then_keepalives_then_ends() {
        let (tx, rx) = sink();
        let mut body = SseBody::new(rx, Duration::from_secs(15), None, None);
        tx.send(Bytes::from("data: a\n\n")).await.unwrap();
        assert_eq!(next(&mut body).await.unwrap(), Bytes::from("data: a\n\n"));
        let before = Instant::now();
        assert_eq!(next(&mut body).await.unwrap(), crate::sse::KEEPALIVE);
        assert_eq!(Instant::now() - before, Duration::from_secs(15));
        drop(tx);
        assert_eq!(next(&mut body).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_stop_token_ends_the_body() {
        let (tx, rx) = sink();
        let stop = CancellationToken::new();
        let mut body = SseBody::new(rx, Duration::ZERO, Some(stop.clone()), None);
        stop.cancel();
        assert_eq!(next(&mut body).await, None);
        drop(body);
        assert!(
            tx.is_closed(),
            "dropping the body closes the channel for producers"
        );
    }
}
