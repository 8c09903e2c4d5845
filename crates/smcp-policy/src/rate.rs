//! Rate limits (`policy.rate_limit`, `policy.tool_rate_limits`, a rule's `rate_limit`): token
//! buckets keyed by caller, with a bound on how many callers are tracked.
//!
//! Each bucket is kept as one instant, the generic cell rate algorithm's "theoretical arrival
//! time" (`tat`): a request is allowed when `tat - now` is at most `(burst - 1)` emission
//! intervals, and moves `tat` one interval on. A bucket whose `tat` is in the past is full,
//! exactly as if it had never been used, so dropping it changes nothing: that is how idle
//! buckets expire (a sweep at most once per refill time, and whenever the map is full).
//!
//! Memory is bounded whatever the number of callers: at most `max_keys` buckets. When the map
//! is full of busy buckets, a new caller shares one overflow bucket with every other caller
//! that did not fit: strict (together they get one caller's rate) rather than open, and
//! counted, so an operator sees it and raises the bound.
//!
//! Time is passed in (`now`), so the limiter is deterministic under test and under
//! `tokio::time::pause()` (the proxy passes tokio's clock).

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A rate: `count` requests per `period` (`600/min`).
///
/// Invariant: `count > 0` and `period > 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    count: u32,
    period: Duration,
}

/// Why a rate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// Not `<count>/<unit>`.
    #[error("must be <count>/<unit>, like \"600/min\" (units: s, min, h, day)")]
    Syntax,
    /// A count of zero, or one too large.
    #[error("the count must be a whole number from 1 to 1000000000")]
    Count,
}

impl Rate {
    /// `count` per `period`; `None` when either is zero.
    pub fn new(count: u32, period: Duration) -> Option<Self> {
        (count > 0 && !period.is_zero()).then_some(Self { count, period })
    }

    /// Requests per period.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Time between two requests at the steady rate.
    fn interval(&self) -> Duration {
        self.period / self.count
    }
}

impl FromStr for Rate {
    type Err = RateError;

    /// `<count>/<unit>`, unit one of `s`, `sec`, `second`, `m`, `min`, `minute`, `h`, `hour`,
    /// `d`, `day` (spaces around the parts are ignored).
    fn from_str(text: &str) -> Result<Self, RateError> {
        let (count, unit) = text.split_once('/').ok_or(RateError::Syntax)?;
        let count: u32 = count.trim().parse().map_err(|_| RateError::Count)?;
        if count == 0 || count > 1_000_000_000 {
            return Err(RateError::Count);
        }
        let seconds = match unit.trim() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3_600,
            "d" | "day" => 86_400,
            _ => return Err(RateError::Syntax),
        };
        Rate::new(count, Duration::from_secs(seconds)).ok_or(RateError::Count)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period.as_secs() {
            1 => "s",
            60 => "min",
            3_600 => "h",
            86_400 => "day",
            _ => return write!(f, "{}/{}s", self.count, self.period.as_secs_f64()),
        };
        write!(f, "{}/{unit}", self.count)
    }
}

/// A bucket's shape: it refills at `rate` and holds at most `burst` requests.
///
/// Invariant: `burst >= 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    rate: Rate,
    burst: u32,
}

impl Limit {
    /// A limit; `burst` defaults to the rate's count (a full period's worth at once), and a
    /// burst of 0 is taken as 1.
    pub fn new(rate: Rate, burst: Option<u32>) -> Self {
        Self {
            rate,
            burst: burst.unwrap_or(rate.count).max(1),
        }
    }

    /// The steady rate.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// How many requests may come at once.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// How far ahead of `now` a bucket's `tat` may be and still admit a request.
    fn tolerance(&self) -> Duration {
        self.rate.interval() * (self.burst - 1)
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (burst {})", self.rate, self.burst)
    }
}

/// A request over its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// When the next request would be allowed.
    pub retry_after: Duration,
}

/// How a check went, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// Allowed, or over the limit.
    pub result: Result<(), Limited>,
    /// The caller did not fit in the map and shares the overflow bucket.
    pub overflowed: bool,
}

/// Token buckets for one [`Limit`], one per key, at most `max_keys` of them.
#[derive(Debug)]
pub struct RateLimiter<K> {
    limit: Limit,
    max_keys: usize,
    state: Mutex<State<K>>,
}

#[derive(Debug)]
struct State<K> {
    /// Each tracked key's theoretical arrival time.
    buckets: HashMap<K, Instant>,
    /// The bucket shared by keys that did not fit.
    overflow: Option<Instant>,
    last_sweep: Option<Instant>,
}

/// While the map is full, sweep it at most this often (each sweep reads every bucket).
const FULL_SWEEP_INTERVAL: Duration = Duration::from_millis(100);

impl<K: Hash + Eq> RateLimiter<K> {
    /// A limiter tracking at most `max_keys` keys (at least one).
    pub fn new(limit: Limit, max_keys: usize) -> Self {
        Self {
            limit,
            max_keys: max_keys.max(1),
            state: Mutex::new(State {
                buckets: HashMap::new(),
                overflow: None,
                last_sweep: None,
            }),
        }
    }

    /// The limit.
    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// How many keys have a bucket now.
    pub fn tracked(&self) -> usize {
        self.lock().buckets.len()
    }

    /// Takes one request from `key`'s bucket at `now`.
    pub fn check(&self, key: K, now: Instant) -> Checked {
        let limit = self.limit;
        let mut state = self.lock();
        state.sweep_if_due(now, &limit, self.max_keys);
        let len = state.buckets.len();
        let (tat, overflowed) = match state.buckets.get_mut(&key) {
            Some(tat) => (tat, false),
            None if len < self.max_keys => (state.buckets.entry(key).or_insert(now), false),
            None => (state.overflow.get_or_insert(now), true),
        };
        Checked {
            result: take(tat, &limit, now),
            overflowed,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<K>> {
        // The state is a map of instants: a panic elsewhere cannot leave it half-updated.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K: Hash + Eq> State<K> {
    /// Drops every full bucket, once per refill time (so idle callers expire) and, at most
    /// every [`FULL_SWEEP_INTERVAL`], when the map is full.
    fn sweep_if_due(&mut self, now: Instant, limit: &Limit, max_keys: usize) {
        let since = self
            .last_sweep
            .map_or(Duration::MAX, |last| now.saturating_duration_since(last));
        let refill = (limit.rate.interval() * limit.burst).max(Duration::from_secs(1));
        let full = self.buckets.len() >= max_keys;
        if since >= refill || (full && since >= FULL_SWEEP_INTERVAL) {
            self.buckets.retain(|_, tat| *tat > now);
            if self.overflow.is_some_and(|tat| tat <= now) {
                self.overflow = None;
            }
            self.last_sweep = Some(now);
        }
    }
}

/// One request through the bucket whose arrival time is `tat`.
fn take(tat: &mut Instant, limit: &Limit, now: Instant) -> Result<(), Limited> {
    let start = (*tat).max(now);
    let ahead = start.saturating_duration_since(now);
    let tolerance = limit.tolerance();
    if ahead > tolerance {
        return Err(Limited {
            retry_after: ahead - tolerance,
        });
    }
    *tat = start + limit.rate.interval();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(text: &str, burst: Option<u32>) -> Limit {
        Limit::new(text.parse().unwrap(), burst)
    }

    #[test]
    fn rates_are_read_in_the_units_operators_write() {
        let rate: Rate = "600/min".parse().unwrap();
        assert_eq!(
            (rate.count(), rate.period()),
            (600, Duration::from_secs(60))
        );
        assert_eq!(rate.to_string(), "600/min");
        assert_eq!(" 10 / s ".parse::<Rate>().unwrap().to_string(), "10/s");
        assert_eq!("5/hour".parse::<Rate>().unwrap().to_string(), "5/h");
        assert_eq!("1/day".parse::<Rate>().unwrap().to_string(), "1/day");
        for bad in ["600", "600/fortnight", "/min", "ten/min"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
        assert_eq!("0/min".parse::<Rate>(), Err(RateError::Count));
        assert_eq!("-1/min".parse::<Rate>(), Err(RateError::Count));
    }

    #[test]
    fn a_burst_is_allowed_then_the_steady_rate() {
        let limiter = RateLimiter::new(limit("60/min", Some(3)), 10);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check("a", t0).result, Ok(()));
        }
        // The fourth at once waits one interval (1 s at 60/min).
        assert_eq!(
            limiter.check("a", t0).result,
            Err(Limited {
                retry_after: Duration::from_secs(1)
            })
        );
        // Half an interval later, half an interval to go.
        assert_eq!(
            limiter.check("a", t0 + Duration::from_millis(500)).result,
            Err(Limited {
                retry_after: Duration::from_millis(500)
            })
        );
        assert_eq!(
            limiter.check("a", t0 + Duration::from_secs(1)).result,
            Ok(())
        );
        // A refused request takes nothing: the next interval is free again.
        assert!(
            limiter
                .check("a", t0 + Duration::from_secs(1))
                .result
                .is_err()
        );
        assert_eq!(
            limiter.check("a", t0 + Duration::from_secs(2)).result,
            Ok(())
        );
    }

    #[test]
    fn keys_have_their_own_buckets() {
        let limiter = RateLimiter::new(limit("1/min", None), 10);
        let now = Instant::now();
        assert!(limiter.check("a", now).result.is_ok());
        assert!(limiter.check("a", now).result.is_err());
        assert!(limiter.check("b", now).result.is_ok());
    }

    #[test]
    fn idle_buckets_expire_and_a_full_map_overflows_into_one_shared_bucket() {
        let limiter = RateLimiter::new(limit("1/min", None), 2);
        let t0 = Instant::now();
        assert!(limiter.check(1, t0).result.is_ok());
        assert!(limiter.check(2, t0).result.is_ok());
        assert_eq!(limiter.tracked(), 2);
        // Both are busy: key 3 does not fit and takes the overflow bucket, key 4 shares it.
        let third = limiter.check(3, t0);
        assert!(third.overflowed && third.result.is_ok());
        let fourth = limiter.check(4, t0);
        assert!(fourth.overflowed && fourth.result.is_err());
        assert_eq!(limiter.tracked(), 2);
        // A minute on, every bucket is full again, so all are dropped: key 5 gets its own.
        let later = t0 + Duration::from_secs(60);
        let fifth = limiter.check(5, later);
        assert!(!fifth.overflowed && fifth.result.is_ok());
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn memory_stays_bounded_whatever_the_number_of_keys() {
        let limiter = RateLimiter::new(limit("1/min", None), 100);
        let now = Instant::now();
        for key in 0..10_000_u32 {
            limiter.check(key, now + Duration::from_micros(u64::from(key)));
        }
        assert_eq!(limiter.tracked(), 100);
    }
}
