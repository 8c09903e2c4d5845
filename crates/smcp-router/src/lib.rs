//! Path-prefix routing for smcp.
//!
//! Pure code with no I/O: a [`RouteTable`] is built once from configuration and answers
//! "which backend serves this path, and what path does that backend see?". It is generic over
//! the value stored per route, so it knows nothing about backends, transports or auth.
//!
//! Prefixes match by whole path segment (`/v1/opus` matches `/v1/opus/x` but never
//! `/v1/opusx`), the longest matching prefix wins, and the root prefix `/` catches whatever
//! nothing else does. A [`Route`] gives the path to forward either unchanged or with the
//! prefix stripped (`strip_path`), always starting with `/` and with the query kept. Paths
//! are matched raw, never percent-decoded, so the route that authorisation checks is the
//! route that serves the request; see [`RouteTable`] for the exact rules. Lookup costs at most
//! one hash probe per path segment, independent of the number of routes.
//!
//! Raw matching is only safe for paths no backend can read as another path, so every request
//! path goes through [`normalise_or_refuse`] before lookup: a path with `\`, an encoded
//! `/` `\` `.` `%` or control character, a `.`/`..` segment or `//` is refused, never
//! rewritten (the rule is spelled out in that function's module).
//!
//! ```
//! use smcp_router::RouteTable;
//!
//! let table = RouteTable::new([("/", "fallback"), ("/v1/opus", "opus")])?;
//! let route = table.lookup("/v1/opus?cursor=2").expect("a route");
//! assert_eq!(*route.value(), "opus");
//! assert_eq!(route.forward_path(true), "/?cursor=2");
//! assert_eq!(table.lookup("/v1/opusx").map(|r| *r.value()), Some("fallback"));
//! # Ok::<(), smcp_router::RouteTableError>(())
//! ```

mod error;
mod normal;
mod prefix;
mod route;
mod table;

pub use error::RouteTableError;
pub use normal::{PathRefusal, normalise_or_refuse};
pub use prefix::{PrefixRefusal, normalize_prefix};
pub use route::Route;
pub use table::{Iter, RouteTable};
