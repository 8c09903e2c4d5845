//! The policy stage (`mcp.backends[].policy`): the MCP-aware stage at the seam between
//! authentication and the call, the same for both backend kinds.
//!
//! It reads the request body's JSON-RPC envelope (already read once, `RequestBody`) and decides
//! every request in it with the backend's [`smcp_policy::Policy`]: one message, or each element
//! of a 2025-03-26 batch (the first refusal answers for the whole batch, since forwarding part
//! of it would change the bytes). Notifications and responses are not decided: they ask the
//! backend for nothing. What is allowed is forwarded unchanged; a refusal is answered here:
//!
//! - missing scopes: 403 with `WWW-Authenticate: Bearer error="insufficient_scope",
//!   scope="<every scope the rule needs>", resource_metadata="..."` (step-up), the request's id in
//!   the JSON-RPC error;
//! - claims that do not match: 403 with a JSON-RPC error and no challenge;
//! - hidden (`deny`, or `default: deny` and no rule): the error a server gives for something
//!   that does not exist (`Unknown tool: x`, -32602), so the caller cannot tell it exists;
//! - params that could be read two ways (a member twice): 400.
//!
//! Every decision is counted in `smcp_policy_decisions_total{backend,decision}` (decision:
//! allow, step_up, claims, deny, default_deny, invalid, and rate_limited for an allowed request
//! then refused by a rate limit) and every refusal logged at info
//! (backend, method, tool/prompt/resource, decision, rule index; never arguments or tokens).
//!
//! `*/list` requests are allowed (lifecycle) and their replies filtered to what the caller may
//! use or step up to (`lists`).
//!
//! A request the policy allows then takes a token from each of its rate limits (`limits`):
//! over one, it is answered 429 with `Retry-After` (decision `rate_limited`).
//!
//! With the audit trail on, each request's decision and rule go into its record (`audit`).

mod limits;
mod lists;

use std::sync::Arc;

use http::Request;
use http::request::Parts;
use serde_json::json;
use smcp_policy::{Caller as PolicyCaller, Decision, Policy, ScopeHierarchy, Target};
use smcp_transport::jsonrpc::{Message, RequestId};
use smcp_transport::reply::ProxyError;
use smcp_transport::request_body::Envelope;

use super::audit::Exchange;
use super::auth;
use super::backend::BackendEntry;
use super::seam::AtSeam;

/// A backend's policy, the server's scope hierarchy and the backend's rate limits.
pub(crate) struct BackendPolicy {
    pub(crate) policy: Policy,
    pub(crate) hierarchy: Arc<ScopeHierarchy>,
    /// `None` when the policy sets no rate limit.
    pub(crate) limits: Option<RateLimits>,
    /// `smcp_policy_decisions_total` of this backend, one handle per decision.
    pub(crate) decisions: DecisionCounters,
}

/// The decision counters of one backend, resolved once: a counter looked up by its labels on
/// every request costs a registry lookup (hashing both labels) per call.
pub(crate) struct DecisionCounters([metrics::Counter; DECISIONS.len()]);

/// Every `decision` label of `smcp_policy_decisions_total`.
const DECISIONS: [&str; 7] = [
    "allow",
    "step_up",
    "claims",
    "deny",
    "default_deny",
    "invalid",
    "rate_limited",
];

impl DecisionCounters {
    /// The counters of `backend`.
    pub(crate) fn new(backend: &Arc<str>) -> Self {
        Self(DECISIONS.map(|decision| {
            metrics::counter!(
                "smcp_policy_decisions_total",
                "backend" => Arc::clone(backend),
                "decision" => decision
            )
        }))
    }

    /// Counts one `decision` (a label of [`DECISIONS`]).
    fn count(&self, decision: &str) {
        if let Some(index) = DECISIONS.iter().position(|label| *label == decision) {
            self.0[index].increment(1);
        }
    }
}

pub(crate) use limits::RateLimits;
pub(crate) use lists::ListFilter;

/// What the policy stage decided for a request body.
pub(crate) enum Verdict {
    /// Answer with this error, for this request id, instead of calling the backend.
    Refuse(ProxyError, Option<RequestId>),
    /// Call the backend; when the body holds list requests, pass the reply through the filter.
    Forward(Option<ListFilter>),
}

/// Decides every request in the body of `request`, noting each decision in `audit`.
pub(crate) fn admit(
    policy: &Arc<BackendPolicy>,
    request: &AtSeam<'_>,
    mut audit: Option<&mut Exchange>,
) -> Verdict {
    let AtSeam {
        entry,
        head,
        scheme,
        body,
        caller,
        client,
        ..
    } = *request;
    if body.is_empty() {
        return Verdict::Forward(None);
    }
    let token = PolicyCaller {
        scopes: caller
            .principal
            .as_ref()
            .map_or(&[], |p| p.scopes.as_slice()),
        claims: caller.principal.as_ref().map(|p| &*p.claims),
    };
    let rate_key = policy
        .limits
        .as_ref()
        .map(|limits| limits.caller_key(caller, client.ip()));
    // Allowed list requests, whose replies are filtered (none, for almost every request).
    let mut lists = Vec::new();
    // Requests seen so far, in body order (the audit numbers them the same way).
    let mut requests = 0;
    let mut decide = |message: &Message| {
        let index = requests;
        let mut record = |decision: &'static str, rule: Option<usize>| {
            if let Some(audit) = audit.as_deref_mut() {
                audit.decide(index, decision, rule);
            }
        };
        let (target, rule) = match decide_one(policy, entry, head, scheme, message, &token) {
            Admitted::Yes { target, rule } => (target, rule),
            Admitted::NotARequest => return None,
            Admitted::No(refusal) => {
                record(refusal.decision, refusal.rule);
                return Some((refusal.error, message.id().cloned()));
            }
        };
        requests += 1;
        if let (Some(limits), Some(key)) = (&policy.limits, rate_key)
            && let Some(refusal) = limits.check(key, &target, rule)
        {
            policy.decisions.count("rate_limited");
            record("rate_limited", rule);
            return Some((refusal, message.id().cloned()));
        }
        if let Some(audit) = audit.as_deref_mut() {
            audit.decided(index, "allow", rule, &target);
        }
        if let (Some(method), Some(id)) = (message.method(), message.id())
            && let Some(list) = smcp_policy::ListKind::of(method)
        {
            lists.push((id.clone(), list));
        }
        None
    };
    let refusal = match body.envelope() {
        Envelope::One(message) => decide(message),
        Envelope::Batch(elements) => elements.iter().flatten().find_map(decide),
        // Not JSON-RPC: nothing to decide on; the backend answers it (a stdio backend refuses
        // it, an HTTP backend's server judges it).
        Envelope::Invalid(_) => None,
    };
    match refusal {
        Some((error, id)) => Verdict::Refuse(error, id),
        None => Verdict::Forward(ListFilter::for_requests(policy, caller, lists)),
    }
}

/// What the policy made of one message.
enum Admitted<'a> {
    /// A request to forward: what it names, and the rule that allowed it (`None`: the default).
    Yes {
        target: Target<'a>,
        rule: Option<usize>,
    },
    /// A notification or a response: nothing to decide.
    NotARequest,
    /// Refused.
    No(Refusal),
}

/// A refused request: the error to answer, the decision label and the deciding rule.
struct Refusal {
    error: ProxyError,
    decision: &'static str,
    rule: Option<usize>,
}

fn decide_one<'a>(
    policy: &BackendPolicy,
    entry: &BackendEntry,
    head: &Parts,
    scheme: &str,
    message: &'a Message,
    caller: &PolicyCaller<'_>,
) -> Admitted<'a> {
    let (Some(method), true) = (message.method(), message.is_request()) else {
        return Admitted::NotARequest;
    };
    let target = match Target::of(method, message.bytes()) {
        Ok(target) => target,
        Err(error) => {
            policy.decisions.count("invalid");
            tracing::info!(backend = %entry.id, method, %error, "policy refused a request whose params cannot be read");
            let refusal = ProxyError::InvalidMessage {
                code: smcp_transport::jsonrpc::INVALID_PARAMS,
                message: format!("Invalid params: {error}"),
            };
            return Admitted::No(Refusal {
                error: refusal,
                decision: "invalid",
                rule: None,
            });
        }
    };
    let decision = policy.policy.decide(&target, caller, &policy.hierarchy);
    policy.decisions.count(decision.label());
    if let Decision::Allow { rule } = decision {
        return Admitted::Yes { target, rule };
    }
    let rule = match &decision {
        Decision::StepUp { rule, .. } | Decision::Forbidden { rule } => Some(*rule),
        Decision::Hidden { rule } => *rule,
        Decision::Allow { .. } => None,
    };
    tracing::info!(
        backend = %entry.id,
        method,
        target = target_name(&target),
        decision = decision.label(),
        rule,
        "policy refused a request"
    );
    let refusal = match &decision {
        Decision::StepUp { scopes, .. } => {
            let metadata = entry.auth.as_ref().and_then(|auth| {
                auth::metadata_url(
                    auth,
                    &Request::from_parts(head.clone(), ()),
                    scheme,
                    &entry.path,
                )
            });
            auth::insufficient_scope(metadata.as_deref(), scopes)
        }
        Decision::Forbidden { .. } => ProxyError::Auth {
            status: http::StatusCode::FORBIDDEN,
            message: "the token's claims do not allow this call",
            data: json!({ "oauth_error": null }),
            challenge: None,
        },
        Decision::Hidden { .. } | Decision::Allow { .. } => unknown(&target),
    };
    Admitted::No(Refusal {
        error: refusal,
        decision: decision.label(),
        rule,
    })
}

/// What a server answers for a target that does not exist.
fn unknown(target: &Target<'_>) -> ProxyError {
    let (code, message) = match target {
        Target::Tool(name) => (
            smcp_transport::jsonrpc::INVALID_PARAMS,
            format!("Unknown tool: {name}"),
        ),
        Target::Prompt(name) => (
            smcp_transport::jsonrpc::INVALID_PARAMS,
            format!("Unknown prompt: {name}"),
        ),
        Target::Resource(uri) => (RESOURCE_NOT_FOUND, format!("Resource not found: {uri}")),
        Target::Method(method) => (
            smcp_transport::jsonrpc::METHOD_NOT_FOUND,
            format!("Method not found: {method}"),
        ),
    };
    ProxyError::Unknown { code, message }
}

/// MCP's error code for a resource that does not exist.
const RESOURCE_NOT_FOUND: i64 = -32002;

fn target_name<'a>(target: &'a Target<'_>) -> &'a str {
    match target {
        Target::Tool(name) | Target::Prompt(name) | Target::Resource(name) => name,
        Target::Method(method) => method,
    }
}
