//! Construction errors of a [`RouteTable`](crate::RouteTable).
//!
//! Lookups never fail (an unknown path is simply `None`), so the only error type is the one
//! that explains why a configured prefix was refused. Every variant names the offending prefix
//! as configured and its position in the input list, so the configuration layer can point at
//! the right backend entry.

use thiserror::Error;

use crate::normal::PathRefusal;

/// Why a list of prefixes could not become a [`RouteTable`](crate::RouteTable).
///
/// `index` is the zero-based position of the offending entry in the list given to
/// [`RouteTable::new`](crate::RouteTable::new); `prefix` is that entry exactly as given.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RouteTableError {
    /// The prefix is empty or does not start with `/`.
    #[error("route prefix #{index} {prefix:?} must start with '/'")]
    NotAbsolute {
        /// Position of the entry in the input list.
        index: usize,
        /// The prefix as given.
        prefix: String,
    },
    /// The prefix contains `?` or `#`: a prefix is a path, never a query or a fragment.
    #[error("route prefix #{index} {prefix:?} must not contain '?' or '#'")]
    QueryOrFragment {
        /// Position of the entry in the input list.
        index: usize,
        /// The prefix as given.
        prefix: String,
    },
    /// The prefix contains whitespace or an ASCII control character, which can never appear
    /// in an HTTP request target, so the route could never match.
    #[error("route prefix #{index} {prefix:?} contains whitespace or a control character")]
    InvalidChar {
        /// Position of the entry in the input list.
        index: usize,
        /// The prefix as given.
        prefix: String,
    },
    /// The prefix has an empty segment (`//`), other than the one trailing slash that is
    /// normalised away.
    #[error("route prefix #{index} {prefix:?} has an empty path segment")]
    EmptySegment {
        /// Position of the entry in the input list.
        index: usize,
        /// The prefix as given.
        prefix: String,
    },
    /// The prefix has a `.` or `..` segment, whose meaning depends on who normalises the path.
    #[error("route prefix #{index} {prefix:?} has a '.' or '..' path segment")]
    DotSegment {
        /// Position of the entry in the input list.
        index: usize,
        /// The prefix as given.
        prefix: String,
    },
    /// The prefix is not in request-path normal form (see
    /// [`normalise_or_refuse`](crate::normalise_or_refuse)): every request that could match it
    /// is answered 400 before routing.
    #[error("route prefix #{index} {prefix:?} is not in request-path normal form: {refusal}")]
    NotNormalForm {
        /// Position of the entry in the input list.
        index: usize,
        /// The prefix as given.
        prefix: String,
        /// Which part of the rule it breaks.
        refusal: PathRefusal,
    },
    /// Two entries have the same prefix once a trailing slash is removed (`/a` and `/a/`).
    #[error(
        "route prefix #{index} {prefix:?} duplicates prefix #{first_index} (both are {normalized:?})"
    )]
    Duplicate {
        /// Position of the later, refused entry in the input list.
        index: usize,
        /// The later prefix as given.
        prefix: String,
        /// Position of the earlier entry with the same normalised prefix.
        first_index: usize,
        /// The normalised prefix both entries share.
        normalized: String,
    },
}
