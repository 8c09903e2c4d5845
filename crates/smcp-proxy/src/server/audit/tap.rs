//! Watching a backend's response for the outcome of each audited call, without changing a byte
//! of it or holding it back.
//!
//! Frames are passed on as they come; a copy of what is needed is inspected beside them. A JSON
//! body is copied up to [`MAX_INSPECTED`] and read when it ends (one response, or a batch of
//! them); an SSE body is decoded event by event, and a call's record is written as soon as the
//! event with its response goes by. Once every call has its record, nothing more is inspected.
//! A body that ends first leaves its remaining calls `no_response`; one dropped before its end
//! (the client went away) `cancelled`; one too large to inspect, or an SSE stream that cannot be
//! decoded, `unknown`.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body::{Body as HttpBody, Frame, SizeHint};
use serde::Deserialize;
use smcp_transport::body::{self, Body, BoxError};
use smcp_transport::jsonrpc::{self, Message};
use smcp_transport::sse::Decoder;

use super::{Exchange, Outcome};

/// The most of a JSON body, or of one SSE event, copied to find outcomes in: 1 MiB. A larger
/// reply still passes whole; its outcome is `unknown`.
pub(super) const MAX_INSPECTED: usize = 1024 * 1024;

/// `exchange`'s calls answered by `response`, recorded as the response passes.
pub(super) fn watch(exchange: Exchange, response: Response<Body>) -> Response<Body> {
    let status = response.status();
    if status == StatusCode::ACCEPTED {
        // The answers come elsewhere (a legacy SSE session's stream).
        for call in &exchange.calls {
            exchange.write(call, &Outcome::ended("accepted", status));
        }
        return response;
    }
    // Any other status is read the same way: an error answer (the backend's, or smcp's own
    // for a stdio backend) is a JSON-RPC error with the request's id and code.
    let is_sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().starts_with("text/event-stream"));
    let reading = if is_sse {
        Reading::Sse(Decoder::with_max_event_bytes(MAX_INSPECTED))
    } else {
        Reading::Json(Vec::new())
    };
    let (parts, inner) = response.into_parts();
    let pending = exchange.calls.len();
    let watcher = Watcher {
        exchange,
        written: vec![false; pending],
        pending,
        status,
        reading,
    };
    Response::from_parts(
        parts,
        body::boxed(Watched {
            inner,
            watcher: Some(watcher),
        }),
    )
}

enum Reading {
    /// The body so far (a JSON reply is read when it ends).
    Json(Vec<u8>),
    Sse(Decoder),
    /// Too large, or not decodable: nothing more is inspected.
    GaveUp,
}

struct Watcher {
    exchange: Exchange,
    /// Which calls have their record.
    written: Vec<bool>,
    pending: usize,
    status: StatusCode,
    reading: Reading,
}

impl Watcher {
    fn feed(&mut self, data: &Bytes) {
        if self.pending == 0 {
            return;
        }
        match &mut self.reading {
            Reading::Json(copy) => {
                if copy.len() + data.len() > MAX_INSPECTED {
                    self.reading = Reading::GaveUp;
                } else {
                    copy.extend_from_slice(data);
                }
            }
            Reading::Sse(decoder) => match decoder.feed(data) {
                Ok(events) => {
                    for event in events {
                        if let Ok(message) = jsonrpc::parse(event.data) {
                            self.answered(&message);
                        }
                    }
                }
                Err(_) => self.reading = Reading::GaveUp,
            },
            Reading::GaveUp => {}
        }
    }

    /// Writes the record of the call `message` answers, if it is a response to one.
    fn answered(&mut self, message: &Message) {
        if !message.is_response() {
            return;
        }
        let Some(id) = message.id() else {
            return;
        };
        let found = self
            .exchange
            .calls
            .iter()
            .enumerate()
            .find(|(i, call)| !self.written[*i] && call.request_id.as_ref() == Some(id));
        let Some((index, call)) = found else {
            return;
        };
        let outcome = outcome_of(message, self.status, call.method == "tools/call");
        self.exchange.write(call, &outcome);
        self.written[index] = true;
        self.pending -= 1;
    }

    /// The body ended (`ended`) or was dropped before: records every call still waiting.
    fn finish(mut self, ended: bool) {
        if self.pending == 0 {
            return;
        }
        // Whether the body was too large (or undecodable) to find every answer in.
        let gave_up = matches!(self.reading, Reading::GaveUp);
        if ended && let Reading::Json(copy) = std::mem::replace(&mut self.reading, Reading::GaveUp)
        {
            for message in messages(copy) {
                self.answered(&message);
            }
        }
        let kind = match (ended, gave_up) {
            (false, _) => "cancelled",
            (true, true) => "unknown",
            (true, false) => "no_response",
        };
        let outcome = Outcome::ended(kind, self.status);
        for (call, written) in self.exchange.calls.iter().zip(&self.written) {
            if !written {
                self.exchange.write(call, &outcome);
            }
        }
    }
}

/// The messages of a JSON body: one, or a batch.
fn messages(copy: Vec<u8>) -> Vec<Message> {
    let bytes = Bytes::from(copy);
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        jsonrpc::parse_batch(bytes)
            .map(|elements| elements.into_iter().flatten().collect())
            .unwrap_or_default()
    } else {
        jsonrpc::parse(bytes).into_iter().collect()
    }
}

/// `result` (with a tool result's `isError`) or `error` (with its code).
///
/// Read without a second full parse where it can be: the envelope already says error or
/// result, and a result without the text `"isError"` has none.
fn outcome_of(message: &Message, status: StatusCode, is_tool_call: bool) -> Outcome {
    #[derive(Deserialize)]
    struct ErrorReply {
        error: Option<ErrorPart>,
    }
    #[derive(Deserialize)]
    struct ErrorPart {
        code: Option<i64>,
    }
    #[derive(Deserialize)]
    struct ResultReply {
        result: Option<ResultPart>,
    }
    #[derive(Deserialize)]
    struct ResultPart {
        #[serde(rename = "isError")]
        is_error: Option<bool>,
    }
    let bytes = message.bytes();
    if message.is_error_response() {
        let code = serde_json::from_slice::<ErrorReply>(bytes)
            .ok()
            .and_then(|reply| reply.error)
            .and_then(|error| error.code);
        return Outcome {
            kind: "error",
            status: status.as_u16(),
            error_code: code,
            is_error: None,
        };
    }
    let is_error = is_tool_call.then(|| {
        memchr::memmem::find(bytes, b"\"isError\"").is_some()
            && serde_json::from_slice::<ResultReply>(bytes)
                .ok()
                .and_then(|reply| reply.result)
                .and_then(|result| result.is_error)
                .unwrap_or(false)
    });
    Outcome {
        kind: "result",
        status: status.as_u16(),
        error_code: None,
        is_error,
    }
}

/// The response body, passed on unchanged, with a [`Watcher`] beside it.
struct Watched {
    inner: Body,
    watcher: Option<Watcher>,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(watcher)) = (frame.data_ref(), self.watcher.as_mut()) {
                    watcher.feed(data);
                }
                // hyper stops polling a body that says it has ended (a full body after its one
                // frame): that is its end, not a drop.
                if self.inner.is_end_stream()
                    && let Some(watcher) = self.watcher.take()
                {
                    watcher.finish(true);
                }
            }
            Poll::Ready(None) => {
                if let Some(watcher) = self.watcher.take() {
                    watcher.finish(true);
                }
            }
            // A broken body: the client gets the break, the calls what is known.
            Poll::Ready(Some(Err(_))) => {
                if let Some(watcher) = self.watcher.take() {
                    watcher.finish(false);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        // Dropped before its end: the client went away (or the server stopped). A body with
        // nothing left to send ended, though it was never polled to its end.
        if let Some(watcher) = self.watcher.take() {
            watcher.finish(self.inner.is_end_stream());
        }
    }
}
