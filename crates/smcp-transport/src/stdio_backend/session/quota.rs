//! Who a session counts against for `max_sessions_per_principal`, and the bounded label sets
//! of the session limits' metrics.
//!
//! On a protected backend the principal is the session owner (issuer and subject). On a backend
//! without authentication every session has the same anonymous owner, so the limit counts per
//! client address instead: an IPv4 address as is, an IPv6 address by its /64 prefix (one
//! host is routinely given a whole /64, so counting single IPv6 addresses would let one host
//! take every slot), and an IPv4-mapped IPv6 address as the IPv4 address it maps. Clients
//! behind one NAT or reverse proxy share an address, and so a quota.

use std::net::{IpAddr, Ipv6Addr};

use super::SessionOwner;

/// The key a session's slot is counted under.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum QuotaKey {
    /// An authenticated principal.
    Principal(SessionOwner),
    /// An anonymous caller, by (the network part of) its address.
    Address(IpAddr),
}

impl QuotaKey {
    /// The key of a session created by `owner` from `client`.
    pub(crate) fn of(owner: &SessionOwner, client: IpAddr) -> Self {
        if owner.is_anonymous() {
            QuotaKey::Address(network(client))
        } else {
            QuotaKey::Principal(owner.clone())
        }
    }
}

/// The address a per-address quota is kept for (see the module docs).
fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

/// Why a session was ended to make room: the `reason` label of
/// `smcp_sessions_evicted_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EvictReason {
    /// `max_sessions` were open: the backend's longest-idle session went.
    BackendFull,
    /// The caller had `max_sessions_per_principal` open: its own longest-idle session went.
    PrincipalLimit,
}

impl EvictReason {
    /// The metric label and log value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EvictReason::BackendFull => "backend_full",
            EvictReason::PrincipalLimit => "principal_limit",
        }
    }
}

/// Why a new session was refused: the `reason` label of `smcp_sessions_refused_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RefuseReason {
    /// `max_sessions` open and every one busy (503).
    BackendFull,
    /// `max_sessions_per_principal` open for the caller and every one busy (429).
    PrincipalLimit,
    /// The backend is shutting down (503).
    ShuttingDown,
}

impl RefuseReason {
    /// The metric label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RefuseReason::BackendFull => "backend_full",
            RefuseReason::PrincipalLimit => "principal_limit",
            RefuseReason::ShuttingDown => "shutting_down",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ip: &str) -> QuotaKey {
        QuotaKey::of(&SessionOwner::anonymous(), ip.parse().unwrap())
    }

    #[test]
    fn anonymous_callers_count_by_address_ipv6_by_prefix() {
        assert_eq!(key("203.0.113.7"), key("203.0.113.7"));
        assert_ne!(key("203.0.113.7"), key("203.0.113.8"));
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:203.0.113.7"), key("203.0.113.7"));
    }

    #[test]
    fn principals_count_by_owner_whatever_their_address() {
        let alice = SessionOwner::from_principal("https://idp", "alice");
        let a1 = QuotaKey::of(&alice, "203.0.113.7".parse().unwrap());
        let a2 = QuotaKey::of(&alice, "198.51.100.1".parse().unwrap());
        assert_eq!(a1, a2);
        assert_ne!(a1, key("203.0.113.7"));
    }
}
