//! Filtering `*/list` replies to what the caller may use or may step up to.
//!
//! A `tools/list`, `prompts/list`, `resources/list` or `resources/templates/list` request on a
//! backend with a policy gets a [`ListFilter`]; the backend's reply then passes through it,
//! JSON or SSE, each page of a paginated list on its own. A `GET` stream gets one too
//! ([`ListFilter::for_stream`]) that filters every list reply on it by its shape: a legacy SSE
//! session's replies arrive there, not in the answer to their POST (202). Only the one JSON-RPC response whose
//! id is the request's is changed, and in it only the entries of the list: an entry stays when
//! the policy would allow a call of it or ask for a step-up (an agent must see a tool to ask
//! for it), and goes when it is hidden (`deny`, `default: deny`) or refused on claims. An entry
//! without its name (or URI) is dropped: it cannot be judged. Everything else in the reply,
//! `nextCursor` included, stays as the backend sent it; a list reply is re-serialised, and
//! an SSE reply re-encoded event by event (a chunk that is only a comment, such as a
//! keep-alive, becomes smcp's own keep-alive comment).
//!
//! A JSON reply is read whole, up to [`MAX_LIST_REPLY`]; a larger one becomes a 502 rather than
//! passing unfiltered. A broken SSE stream (an event over the same bound) ends the stream at
//! that point, for the same reason: nothing unfiltered is ever passed on.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Response, header};
use http_body_util::BodyExt as _;
use serde_json::{Map, Value};
use smcp_policy::{Caller as PolicyCaller, ListKind};
use smcp_transport::body::{self, Body};
use smcp_transport::jsonrpc::{self, RequestId};
use smcp_transport::reply::ProxyError;
use smcp_transport::sse::{Decoder, KEEPALIVE, encode_into};

use super::BackendPolicy;
use crate::server::auth::Caller;

/// The largest list reply (JSON body or one SSE event) read to be filtered: 16 MiB.
pub(crate) const MAX_LIST_REPLY: usize = 16 * 1024 * 1024;

/// What list replies are filtered by: the list requests (id and list), the policy and the
/// caller.
pub(crate) struct ListFilter {
    lists: Vec<(RequestId, ListKind)>,
    /// Filter every response that holds a list, whatever its id: for `GET` streams, where a
    /// legacy SSE session's replies arrive (their requests were POSTed elsewhere).
    by_shape: bool,
    policy: Arc<BackendPolicy>,
    scopes: Vec<String>,
    claims: Option<Arc<Map<String, Value>>>,
}

impl ListFilter {
    /// The filter for the list requests `lists` (id and list) of `caller`, or `None` when
    /// there are none.
    pub(crate) fn for_requests(
        policy: &Arc<BackendPolicy>,
        caller: &Caller,
        lists: Vec<(RequestId, ListKind)>,
    ) -> Option<Self> {
        (!lists.is_empty()).then(|| Self::new(policy, caller, lists, false))
    }

    /// The filter for `caller`'s `GET` stream: every response on it that holds a list
    /// (`result.tools`, `prompts`, `resources` or `resourceTemplates`) is filtered.
    pub(crate) fn for_stream(policy: &Arc<BackendPolicy>, caller: &Caller) -> Self {
        Self::new(policy, caller, Vec::new(), true)
    }

    fn new(
        policy: &Arc<BackendPolicy>,
        caller: &Caller,
        lists: Vec<(RequestId, ListKind)>,
        by_shape: bool,
    ) -> Self {
        let principal = caller.principal.as_ref();
        Self {
            lists,
            by_shape,
            policy: Arc::clone(policy),
            scopes: principal.map(|p| p.scopes.clone()).unwrap_or_default(),
            claims: principal.map(|p| Arc::clone(&p.claims)),
        }
    }

    /// The id to name in an error of the filter itself (the first list request's).
    fn first_id(&self) -> Option<&RequestId> {
        self.lists.first().map(|(id, _)| id)
    }

    /// The backend's `response`, its list filtered (see the module docs).
    pub(crate) async fn apply(self, response: Response<Body>) -> Response<Body> {
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if content_type.starts_with("text/event-stream") {
            return self.apply_to_stream(response);
        }
        if !content_type.starts_with("application/json") {
            return response;
        }
        let (mut parts, body) = response.into_parts();
        let bytes = match body::read_bounded(body, MAX_LIST_REPLY as u64).await {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(%error, "a list reply could not be read to filter it");
                refused(match error {
                    body::ReadError::TooLarge => "too_large",
                    body::ReadError::Failed => "unreadable",
                });
                return ProxyError::BadGateway(
                    "Bad Gateway: the backend's list reply could not be filtered".into(),
                )
                .respond(self.first_id());
            }
        };
        let filtered = self.filter_body(&bytes).unwrap_or(bytes);
        parts.headers.remove(header::CONTENT_LENGTH);
        if let Ok(length) = HeaderValue::from_str(&filtered.len().to_string()) {
            parts.headers.insert(header::CONTENT_LENGTH, length);
        }
        Response::from_parts(parts, body::full(filtered))
    }

    fn apply_to_stream(self, response: Response<Body>) -> Response<Body> {
        let (mut parts, body) = response.into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        let mut decoder = Decoder::with_max_event_bytes(MAX_LIST_REPLY);
        let mut broken = false;
        let body = body.map_frame(move |frame| {
            if !frame.is_data() {
                // Trailers pass as they are.
                return frame;
            }
            let Ok(data) = frame.into_data() else {
                return http_body::Frame::data(Bytes::new());
            };
            if broken {
                return http_body::Frame::data(Bytes::new());
            }
            let events = match decoder.feed(&data) {
                Ok(events) => events,
                Err(error) => {
                    tracing::warn!(%error, "a list reply stream could not be decoded to filter it; ending it");
                    refused("stream_broken");
                    broken = true;
                    return http_body::Frame::data(Bytes::new());
                }
            };
            if events.is_empty() && data.first() == Some(&b':') {
                // A comment (a keep-alive): the decoder drops those, but a quiet stream needs
                // them to stay open through intermediaries.
                return http_body::Frame::data(KEEPALIVE);
            }
            let mut out = BytesMut::new();
            for mut event in events {
                if let Some(filtered) = self.filter_message(&event.data) {
                    event.data = filtered;
                }
                encode_into(&event, &mut out);
            }
            http_body::Frame::data(out.freeze())
        });
        Response::from_parts(parts, body::boxed(body))
    }

    /// A JSON body with its lists filtered: one message, or a batch of responses, each
    /// element on its own; `None` leaves it as it is.
    fn filter_body(&self, bytes: &Bytes) -> Option<Bytes> {
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'[') {
            return self.filter_message(bytes);
        }
        let elements = jsonrpc::parse_batch(bytes.clone()).ok()?;
        let mut changed = false;
        let mut out: Vec<Value> = Vec::with_capacity(elements.len());
        for element in elements {
            let element = element.ok()?;
            let bytes = match self.filter_message(element.bytes()) {
                Some(filtered) => {
                    changed = true;
                    filtered
                }
                None => element.into_bytes(),
            };
            out.push(serde_json::from_slice(&bytes).ok()?);
        }
        changed
            .then(|| serde_json::to_vec(&out).ok().map(Bytes::from))
            .flatten()
    }

    /// The message with its list filtered, when it is the response to one of the list
    /// requests; `None` leaves it as it is.
    fn filter_message(&self, bytes: &Bytes) -> Option<Bytes> {
        let message = jsonrpc::parse(bytes.clone()).ok()?;
        if !message.is_response() {
            return None;
        }
        let id = message.id()?;
        let listed = self
            .lists
            .iter()
            .find(|(listed, _)| listed == id)
            .map(|(_, kind)| *kind);
        // A reply to none of the list requests is judged by its shape on a stream only.
        if listed.is_none() && !self.by_shape {
            return None;
        }
        let caller = PolicyCaller {
            scopes: &self.scopes,
            claims: self.claims.as_deref(),
        };
        self.policy
            .policy
            .filter_response(bytes, listed, &caller, &self.policy.hierarchy)
            .map(Bytes::from)
    }
}

/// Counts a list reply that could not be filtered and was not passed on, by `reason`
/// (`too_large`, `unreadable`, `stream_broken`).
fn refused(reason: &'static str) {
    metrics::counter!("smcp_policy_list_replies_refused_total", "reason" => reason).increment(1);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use http::{Response, header};
    use http_body_util::BodyExt as _;
    use serde_json::{Value, json};
    use smcp_policy::{
        ClaimRules, DefaultEffect, Glob, Policy, Requirement, Rule, ScopeHierarchy, Selector,
    };
    use smcp_transport::body;
    use smcp_transport::jsonrpc::RequestId;

    use super::{BackendPolicy, ListFilter, ListKind};
    use crate::server::auth::Caller;

    fn policy() -> Arc<BackendPolicy> {
        let rules = vec![
            Rule::new(
                Selector::Tools(vec![Glob::new("secret")]),
                Requirement::Deny,
            ),
            Rule::new(Selector::Tools(vec![Glob::new("echo")]), Requirement::Allow),
            Rule::new(
                Selector::Tools(vec![Glob::new("write-*")]),
                Requirement::token(vec!["mcp:write".into()], ClaimRules::new()),
            ),
        ];
        Arc::new(BackendPolicy {
            policy: Policy::new(DefaultEffect::Deny, rules),
            hierarchy: Arc::new(ScopeHierarchy::new()),
            limits: None,
            decisions: super::super::DecisionCounters::new(&Arc::from("test")),
        })
    }

    fn filter(id: i64) -> ListFilter {
        assert_eq!(ListKind::of("tools/call"), None);
        let lists = vec![(RequestId::Number(id), ListKind::of("tools/list").unwrap())];
        assert!(ListFilter::for_requests(&policy(), &Caller::anonymous(), Vec::new()).is_none());
        ListFilter::for_requests(&policy(), &Caller::anonymous(), lists).expect("a list request")
    }

    fn listing(id: i64) -> Value {
        json!({"jsonrpc": "2.0", "id": id, "result": {
            "tools": [{"name": "echo"}, {"name": "secret"}, {"name": "write-file"},
                      {"name": "unlisted"}, {"description": "no name"}],
            "nextCursor": "page-2"}})
    }

    async fn body_of(response: Response<body::Body>) -> Bytes {
        response.into_body().collect().await.unwrap().to_bytes()
    }

    fn names(value: &Value) -> Vec<&str> {
        value["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn a_json_list_keeps_what_may_be_used_or_stepped_up_to() {
        let mut response = Response::new(body::full(listing(3).to_string()));
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        let filtered = filter(3).apply(response).await;
        let length = filtered.headers()[header::CONTENT_LENGTH].clone();
        let bytes = body_of(filtered).await;
        assert_eq!(length.to_str().unwrap(), bytes.len().to_string());
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        // Allowed, and needing a step-up, stay; denied, unnamed by any rule under
        // default deny, and nameless go. The cursor is the backend's.
        assert_eq!(names(&value), ["echo", "write-file"]);
        assert_eq!(value["result"]["nextCursor"], "page-2");
    }

    #[tokio::test]
    async fn a_json_list_over_the_bound_is_a_502_not_an_unfiltered_list() {
        let names: Vec<Value> = (0..)
            .map(|i| json!({"name": format!("secret-{i:08}")}))
            .take(super::MAX_LIST_REPLY / 24 + 1)
            .collect();
        let text = json!({"jsonrpc": "2.0", "id": 3, "result": {"tools": names}}).to_string();
        assert!(text.len() > super::MAX_LIST_REPLY);
        let mut response = Response::new(body::full(text));
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        let filtered = filter(3).apply(response).await;
        assert_eq!(filtered.status(), 502);
        let value: Value = serde_json::from_slice(&body_of(filtered).await).unwrap();
        assert_eq!(value["id"], 3);
        assert!(value.get("result").is_none());
    }

    #[tokio::test]
    async fn an_sse_event_over_the_bound_ends_the_stream_without_passing_it() {
        let event = format!("data: {}\n\n", "x".repeat(super::MAX_LIST_REPLY + 1));
        let mut response = Response::new(body::full(event));
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, "text/event-stream".parse().unwrap());
        let bytes = body_of(filter(3).apply(response).await).await;
        assert!(bytes.is_empty(), "{} bytes passed", bytes.len());
    }

    #[tokio::test]
    async fn another_id_or_another_message_passes_unchanged() {
        let text = listing(4).to_string();
        let mut response = Response::new(body::full(text.clone()));
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        let bytes = body_of(filter(3).apply(response).await).await;
        assert_eq!(bytes, text.as_bytes());
    }

    #[tokio::test]
    async fn a_get_stream_filters_every_list_reply_by_its_shape() {
        // A legacy SSE session's replies come on its GET stream, whatever POST asked.
        let filter = ListFilter::for_stream(&policy(), &Caller::anonymous());
        let call = json!({"jsonrpc": "2.0", "id": 5, "result": {"content": []}});
        let stream = format!("data: {}\n\ndata: {call}\n\n", listing(42));
        let mut response = Response::new(body::full(stream));
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, "text/event-stream".parse().unwrap());
        let bytes = body_of(filter.apply(response).await).await;
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let datas: Vec<Value> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        assert_eq!(names(&datas[0]), ["echo", "write-file"]);
        assert_eq!(datas[1], call);
    }

    #[tokio::test]
    async fn a_batch_reply_is_filtered_element_by_element() {
        let other = json!({"jsonrpc": "2.0", "id": 8, "result": {"tools": [{"name": "secret"}]}});
        let text = json!([listing(3), other]).to_string();
        let mut response = Response::new(body::full(text));
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        let value: Value =
            serde_json::from_slice(&body_of(filter(3).apply(response).await).await).unwrap();
        assert_eq!(names(&value[0]), ["echo", "write-file"]);
        assert_eq!(value[1], other, "a reply to another request is not touched");
    }

    #[tokio::test]
    async fn an_sse_list_is_filtered_in_its_response_event_only() {
        let progress = json!({"jsonrpc": "2.0", "method": "notifications/progress",
                              "params": {"progressToken": 1, "progress": 1,
                                         "tools": [{"name": "secret"}]}});
        let stream = format!(
            ": keepalive\n\nevent: message\ndata: {progress}\n\nid: 9\ndata: {}\n\n",
            listing(3)
        );
        // Split mid-event: the decoder joins the chunks.
        let (a, b) = stream.split_at(stream.len() / 2);
        let frames = vec![
            Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from(a.to_owned()))),
            Ok(http_body::Frame::data(Bytes::from(b.to_owned()))),
        ];
        let mut response = Response::new(body::boxed(http_body_util::StreamBody::new(
            futures_util::stream::iter(frames),
        )));
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, "text/event-stream".parse().unwrap());
        let bytes = body_of(filter(3).apply(response).await).await;
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let datas: Vec<Value> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        assert_eq!(datas.len(), 2, "{text}");
        assert_eq!(datas[0], progress, "other messages are not touched");
        assert_eq!(names(&datas[1]), ["echo", "write-file"]);
        assert!(text.contains("id: 9") || text.contains("id:9"), "{text}");
        assert!(text.contains("event: message") || text.contains("event:message"));
    }
}
