//! Rate limits at the seam: every request a backend's policy allowed takes one token from the
//! caller's buckets (`smcp_policy::Limits`); over a limit, the answer is 429 with `Retry-After`
//! and a JSON-RPC error carrying the request id (`-32010`), and nothing reaches the backend.
//!
//! A caller is keyed by a keyed hash of the token's `(iss, sub)`, or of the client address
//! when the backend is anonymous, with a key random per process: a bucket costs the same
//! whatever a token carries, and nobody outside can aim two callers at one bucket.
//!
//! Time is tokio's clock, so tests under `tokio::time::pause()` step it.
//!
//! Metrics: `smcp_rate_limited_total{backend,limit}` (limit: principal, tool, rule),
//! `smcp_rate_limit_overflow_total{backend}` (a caller that found the bucket map full and
//! shared the overflow bucket), `smcp_rate_limit_buckets{backend}` (buckets held).

use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Gauge};
use smcp_policy::{Exceeded, LimitKind, LimitSpec, Limits, Target};
use smcp_transport::reply::ProxyError;

use crate::server::auth::Caller;

/// A backend's rate limits, their buckets and their metrics.
pub(crate) struct RateLimits {
    backend: Arc<str>,
    limits: Limits,
    keys: RandomState,
    limited: [Counter; 3],
    overflow: Counter,
    buckets: Gauge,
}

impl RateLimits {
    /// The limits of `spec` for `backend`, or `None` when it has none.
    pub(crate) fn new(backend: &Arc<str>, spec: &LimitSpec) -> Option<Self> {
        if spec.is_empty() {
            return None;
        }
        let limited = |kind: LimitKind| {
            metrics::counter!(
                "smcp_rate_limited_total",
                "backend" => Arc::clone(backend),
                "limit" => kind.label()
            )
        };
        Some(Self {
            backend: Arc::clone(backend),
            limits: Limits::new(spec),
            keys: RandomState::new(),
            limited: [
                limited(LimitKind::Principal),
                limited(LimitKind::Tool),
                limited(LimitKind::Rule),
            ],
            overflow: metrics::counter!(
                "smcp_rate_limit_overflow_total",
                "backend" => Arc::clone(backend)
            ),
            buckets: metrics::gauge!("smcp_rate_limit_buckets", "backend" => Arc::clone(backend)),
        })
    }

    /// The bucket key of `caller` (from `client` when it is anonymous).
    pub(crate) fn caller_key(&self, caller: &Caller, client: IpAddr) -> u64 {
        match &caller.principal {
            Some(principal) => self
                .keys
                .hash_one((principal.issuer.as_str(), principal.subject.as_str())),
            None => self.keys.hash_one(client),
        }
    }

    /// Takes one request of `caller` for `target`, decided by `rule`; the 429 to answer when
    /// it is over a limit.
    pub(crate) fn check(
        &self,
        caller: u64,
        target: &Target<'_>,
        rule: Option<usize>,
    ) -> Option<ProxyError> {
        let now = tokio::time::Instant::now().into_std();
        let checked = self.limits.check(caller, target, rule, now);
        if checked.overflowed {
            self.overflow.increment(1);
        }
        #[allow(clippy::cast_precision_loss)] // bucket counts are far below 2^52
        self.buckets.set(self.limits.tracked() as f64);
        let exceeded = checked.result.err()?;
        let index = match exceeded.kind {
            LimitKind::Principal => 0,
            LimitKind::Tool => 1,
            LimitKind::Rule => 2,
        };
        self.limited[index].increment(1);
        tracing::info!(
            backend = %self.backend,
            limit = exceeded.kind.label(),
            rate = %exceeded.limit,
            retry_after_ms = exceeded.retry_after.as_millis(),
            "rate limit reached"
        );
        Some(refusal(&exceeded))
    }
}

/// The 429 for `exceeded`.
fn refusal(exceeded: &Exceeded) -> ProxyError {
    let per = match exceeded.kind {
        LimitKind::Principal => "per caller",
        LimitKind::Tool => "per caller on this tool",
        LimitKind::Rule => "per caller on this rule",
    };
    ProxyError::RateLimited {
        retry_after_secs: whole_seconds(exceeded.retry_after),
        limit: format!("{} {per}", exceeded.limit.rate()),
    }
}

/// `Retry-After` is whole seconds: rounded up, and at least 1 (0 would invite a retry storm).
fn whole_seconds(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smcp_policy::Limit;
    use smcp_transport::jsonrpc::RequestId;

    fn spec(rate: &str, burst: Option<u32>) -> LimitSpec {
        LimitSpec {
            per_principal: Some(Limit::new(rate.parse().unwrap(), burst)),
            ..LimitSpec::default()
        }
    }

    #[test]
    fn retry_after_is_rounded_up_to_a_whole_second_of_at_least_one() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(6)), 6);
    }

    #[tokio::test(start_paused = true)]
    async fn over_the_limit_is_a_429_naming_the_request_until_time_refills_the_bucket() {
        let limits = RateLimits::new(&Arc::from("b"), &spec("2/min", Some(1))).unwrap();
        let caller = limits.caller_key(&Caller::anonymous(), IpAddr::from([127, 0, 0, 1]));
        let echo = Target::Tool("echo".into());
        let id = RequestId::Number(9);
        assert!(limits.check(caller, &echo, None).is_none());
        let refused = limits
            .check(caller, &echo, None)
            .unwrap()
            .respond(Some(&id));
        assert_eq!(refused.status(), http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()[http::header::RETRY_AFTER], "30");
        let body = http_body_util::BodyExt::collect(refused.into_body())
            .await
            .unwrap()
            .to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["id"], 9);
        assert_eq!(body["error"]["code"], smcp_transport::reply::RATE_LIMITED);
        // Another address is another caller.
        let other = limits.caller_key(&Caller::anonymous(), IpAddr::from([127, 0, 0, 2]));
        assert!(limits.check(other, &echo, None).is_none());
        // Half a minute later the bucket has one token again.
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(limits.check(caller, &echo, None).is_none());
        assert!(limits.check(caller, &echo, None).is_some());
    }

    #[test]
    fn no_limits_build_nothing() {
        assert!(RateLimits::new(&Arc::from("b"), &LimitSpec::default()).is_none());
    }
}
