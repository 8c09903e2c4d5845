//! The route table: construction from configuration and the longest-prefix lookup.
//!
//! Lookup walks the request path's segment boundaries from the longest candidate to the
//! shortest and probes a hash map with each, so it costs at most one hash probe per segment
//! of the path, whatever the number of routes. Two cheap filters skip most probes: candidates
//! longer than the longest prefix are never tried, and neither are candidates of a length no
//! prefix has. The root prefix is kept aside so that it never costs a probe.

use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::fmt;
use std::iter::FusedIterator;
use std::slice;

use crate::error::RouteTableError;
use crate::prefix::normalize;
use crate::route::Route;

/// One configured route: its normalised prefix and its value.
#[derive(Clone)]
struct Entry<T> {
    prefix: Box<str>,
    value: T,
}

/// An immutable table of path prefixes, each with a value of type `T` (for smcp, a backend).
///
/// Built once with [`RouteTable::new`], then shared; [`lookup`](RouteTable::lookup) finds the
/// longest prefix that matches a request path by whole segments.
///
/// # Matching rules
///
/// - A prefix matches a path if it equals the path, or the path continues after it with `/`:
///   `/v1/opus` matches `/v1/opus`, `/v1/opus/`, `/v1/opus/x` and `/v1/opus?x=1`, never
///   `/v1/opusx`.
/// - The longest matching prefix wins, whatever the order of configuration.
/// - The root prefix `/` matches every path that starts with `/`.
/// - The query string (after the first `?`) never takes part in matching.
/// - Paths that do not start with `/` (e.g. `*` or an absolute URI) never match.
///
/// # Percent-encoding
///
/// Matching is done on the raw path as received; nothing is percent-decoded, and prefixes are
/// compared byte for byte. So `/v1/%6Demory` does **not** reach the `/v1/memory` route. This
/// is deliberate: if the router decoded while the authorisation rules (or the backend, or a
/// logging rule) looked at the raw path, the same request could be judged as one route and
/// delivered to another. With raw matching, the route that is checked is the route that is
/// served, and the backend receives the bytes the client sent. Likewise `.` and `..`
/// segments and empty segments in a request path are not normalised: `/v1/opus/../memory`
/// is routed to `/v1/opus`, never to `/v1/memory`.
///
/// # Example
///
/// ```
/// use smcp_router::RouteTable;
///
/// let table = RouteTable::new([("/v1", "general"), ("/v1/memory/", "memory")])?;
///
/// let route = table.lookup("/v1/memory/mcp?session=7").expect("a route");
/// assert_eq!(route.prefix(), "/v1/memory"); // the trailing slash was normalised away
/// assert_eq!(*route.value(), "memory");
/// assert_eq!(route.forward_path(true), "/mcp?session=7");
/// assert_eq!(route.forward_path(false), "/v1/memory/mcp?session=7");
///
/// assert_eq!(table.lookup("/v1/memoryx").map(|r| *r.value()), Some("general"));
/// assert!(table.lookup("/v2").is_none());
/// # Ok::<(), smcp_router::RouteTableError>(())
/// ```
#[derive(Clone)]
pub struct RouteTable<T> {
    /// Routes in configuration order (the order [`iter`](RouteTable::iter) yields).
    entries: Vec<Entry<T>>,
    /// Every non-root normalised prefix to its index in `entries`.
    by_prefix: HashMap<Box<str>, usize>,
    /// Index of the root prefix `/` in `entries`, if configured.
    root: Option<usize>,
    /// `prefix_lens[n]` says whether some non-root prefix is `n` bytes long. Its length is
    /// one more than the longest such prefix, so longer candidates (which cannot match) are
    /// skipped, bounding the probes for long hostile paths.
    prefix_lens: Box<[bool]>,
}

impl<T> RouteTable<T> {
    /// Builds a table from `(prefix, value)` pairs.
    ///
    /// Each prefix must start with `/` and contain no `?`, `#`, whitespace or control
    /// character, and no empty, `.` or `..` segment. One trailing slash is removed (`/a/`
    /// becomes `/a`); the root `/` is kept and catches every path no other prefix matches.
    /// Two prefixes that are equal after that are an error. The first problem found is
    /// reported, naming the prefix and its index in `routes`.
    ///
    /// ```
    /// use smcp_router::{RouteTable, RouteTableError};
    ///
    /// let err = RouteTable::new([("/a", 1), ("/b", 2), ("/a/", 3)]).unwrap_err();
    /// assert!(matches!(err, RouteTableError::Duplicate { index: 2, first_index: 0, .. }));
    /// ```
    pub fn new<I, P>(routes: I) -> Result<Self, RouteTableError>
    where
        I: IntoIterator<Item = (P, T)>,
        P: AsRef<str>,
    {
        let routes = routes.into_iter();
        let mut entries = Vec::with_capacity(routes.size_hint().0);
        let mut by_prefix = HashMap::with_capacity(routes.size_hint().0);
        let mut root = None;
        let mut prefix_lens = Vec::new();
        for (index, (prefix, value)) in routes.enumerate() {
            let given = prefix.as_ref();
            let normalized = normalize(index, given)?;
            let duplicate_of = if normalized == "/" {
                root.replace(index)
            } else {
                match by_prefix.entry(Box::from(normalized)) {
                    MapEntry::Occupied(seen) => Some(*seen.get()),
                    MapEntry::Vacant(slot) => {
                        slot.insert(index);
                        if prefix_lens.len() <= normalized.len() {
                            prefix_lens.resize(normalized.len() + 1, false);
                        }
                        prefix_lens[normalized.len()] = true;
                        None
                    }
                }
            };
            if let Some(first_index) = duplicate_of {
                return Err(RouteTableError::Duplicate {
                    index,
                    prefix: given.to_owned(),
                    first_index,
                    normalized: normalized.to_owned(),
                });
            }
            entries.push(Entry {
                prefix: Box::from(normalized),
                value,
            });
        }
        Ok(Self {
            entries,
            by_prefix,
            root,
            prefix_lens: prefix_lens.into_boxed_slice(),
        })
    }

    /// Finds the route for a request target in origin form (`/path?query`, as in
    /// `http::Uri::path_and_query`), or `None` when no prefix matches.
    ///
    /// The longest prefix that matches by whole segments wins. The path is matched raw (see
    /// [Percent-encoding](RouteTable#percent-encoding)); the query never takes part.
    ///
    /// ```
    /// use smcp_router::RouteTable;
    ///
    /// let table = RouteTable::new([("/v1/opus", 1)])?;
    /// for hit in ["/v1/opus", "/v1/opus/", "/v1/opus/x", "/v1/opus?x=1"] {
    ///     assert_eq!(table.lookup(hit).map(|r| *r.value()), Some(1), "{hit}");
    /// }
    /// for miss in ["/v1/opusx", "/v1", "v1/opus", "/v1/%6Fpus"] {
    ///     assert!(table.lookup(miss).is_none(), "{miss}");
    /// }
    /// # Ok::<(), smcp_router::RouteTableError>(())
    /// ```
    pub fn lookup<'a>(&'a self, path_and_query: &'a str) -> Option<Route<'a, T>> {
        let path_len = path_and_query.find('?').unwrap_or(path_and_query.len());
        let path = &path_and_query[..path_len];
        if !path.starts_with('/') {
            return None;
        }
        let route = |index: usize, matched_len: usize| {
            let entry = &self.entries[index];
            Route::new(
                &entry.prefix,
                &entry.value,
                path_and_query,
                path_len,
                matched_len,
            )
        };
        if !self.by_prefix.is_empty() {
            // Candidates are the whole path and every part of it that ends just before a
            // '/', longest first. Normalised prefixes never end with '/', so a path ending
            // with '/' is not itself a candidate; position 0 would be the empty string.
            let bytes = path.as_bytes();
            if self.has_prefix_len(path.len())
                && !path.ends_with('/')
                && let Some(&index) = self.by_prefix.get(path)
            {
                return Some(route(index, path.len()));
            }
            let last = self.prefix_lens.len().min(path.len()) - 1;
            for end in (1..=last).rev() {
                // Slicing is safe: '/' is ASCII, so `end` is a char boundary.
                if bytes[end] == b'/'
                    && self.has_prefix_len(end)
                    && let Some(&index) = self.by_prefix.get(&path[..end])
                {
                    return Some(route(index, end));
                }
            }
        }
        self.root.map(|index| route(index, 0))
    }

    /// Whether some non-root prefix is `len` bytes long.
    fn has_prefix_len(&self, len: usize) -> bool {
        self.prefix_lens.get(len).copied().unwrap_or(false)
    }

    /// The routes as `(normalised prefix, value)`, in the order they were given to
    /// [`new`](RouteTable::new).
    pub fn iter(&self) -> Iter<'_, T> {
        Iter {
            inner: self.entries.iter(),
        }
    }

    /// The number of routes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no routes (every lookup is then `None`).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<T: fmt::Debug> fmt::Debug for RouteTable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'a, T> IntoIterator for &'a RouteTable<T> {
    type Item = (&'a str, &'a T);
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

/// Iterator over a [`RouteTable`]'s routes in configuration order, yielding
/// `(normalised prefix, value)`. Created by [`RouteTable::iter`].
pub struct Iter<'a, T> {
    inner: slice::Iter<'a, Entry<T>>,
}

// Manual impl: deriving would needlessly require `T: Clone`.
impl<T> Clone for Iter<'_, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = (&'a str, &'a T);

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|e| (&*e.prefix, &e.value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<T> DoubleEndedIterator for Iter<'_, T> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.inner.next_back().map(|e| (&*e.prefix, &e.value))
    }
}

impl<T> ExactSizeIterator for Iter<'_, T> {}

impl<T> FusedIterator for Iter<'_, T> {}

impl<T: fmt::Debug> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}
