//! The result of a successful lookup: which route matched, and what path the backend sees.
//!
//! A [`Route`] only borrows (from the table and from the request's path); it allocates only
//! when a stripped path is empty *and* a query must follow it (`/v1/opus?q=1` -> `/?q=1`).

use std::borrow::Cow;
use std::fmt;

/// A matched route: the configured prefix, its value, and the request it matched.
///
/// Invariants (relied on by [`forward_path`](Route::forward_path)): the request path starts
/// with `/`, and the prefix matched it up to a segment boundary, i.e. the byte after the
/// matched part is `/`, `?` or the end of the string.
pub struct Route<'a, T> {
    prefix: &'a str,
    value: &'a T,
    path_and_query: &'a str,
    /// Length of the path part (the index of the first `?`, or the whole length).
    path_len: usize,
    /// Bytes of the request path consumed by the prefix: 0 for the root prefix, else the
    /// prefix's length.
    matched_len: usize,
}

impl<'a, T> Route<'a, T> {
    pub(crate) fn new(
        prefix: &'a str,
        value: &'a T,
        path_and_query: &'a str,
        path_len: usize,
        matched_len: usize,
    ) -> Self {
        Self {
            prefix,
            value,
            path_and_query,
            path_len,
            matched_len,
        }
    }

    /// The configured prefix that matched, normalised (no trailing slash, except the root
    /// `"/"`).
    pub fn prefix(&self) -> &'a str {
        self.prefix
    }

    /// The value stored with the matched prefix.
    pub fn value(&self) -> &'a T {
        self.value
    }

    /// The request's path and query exactly as given to
    /// [`lookup`](crate::RouteTable::lookup).
    pub fn path_and_query(&self) -> &'a str {
        self.path_and_query
    }

    /// The request's path, without the query.
    pub fn path(&self) -> &'a str {
        &self.path_and_query[..self.path_len]
    }

    /// The request's query, without the `?`; `None` when there is no `?` at all, `Some("")`
    /// for a bare trailing `?`.
    pub fn query(&self) -> Option<&'a str> {
        self.path_and_query.get(self.path_len + 1..)
    }

    /// The path and query the backend should see.
    ///
    /// Without `strip` this is the request's path and query unchanged. With `strip` the
    /// matched prefix is removed and the result is the same as [`sub_path`](Route::sub_path).
    /// Either way the result starts with `/` and the query (with its `?`) is kept verbatim.
    pub fn forward_path(&self, strip: bool) -> Cow<'a, str> {
        if strip {
            self.sub_path()
        } else {
            Cow::Borrowed(self.path_and_query)
        }
    }

    /// The remainder of the request after the prefix, as a path with the query kept:
    /// `/v1/opus` -> `/`, `/v1/opus/` -> `/`, `/v1/opus/a/b?q=1` -> `/a/b?q=1`,
    /// `/v1/opus?q=1` -> `/?q=1`. Never empty; always starts with `/`.
    pub fn sub_path(&self) -> Cow<'a, str> {
        if self.matched_len < self.path_len {
            // The byte at matched_len is the '/' that ended the prefix's last segment.
            Cow::Borrowed(&self.path_and_query[self.matched_len..])
        } else if self.path_len == self.path_and_query.len() {
            Cow::Borrowed("/")
        } else {
            let query = &self.path_and_query[self.path_len..];
            let mut forwarded = String::with_capacity(1 + query.len());
            forwarded.push('/');
            forwarded.push_str(query);
            Cow::Owned(forwarded)
        }
    }

    /// The path part of [`sub_path`](Route::sub_path), without the query: never empty,
    /// always starts with `/`, and never allocates. Handy for dispatching on the remainder
    /// (`/mcp`, `/sse`, ...) inside a backend.
    pub fn stripped_path(&self) -> &'a str {
        if self.matched_len < self.path_len {
            &self.path_and_query[self.matched_len..self.path_len]
        } else {
            "/"
        }
    }
}

// Manual impls: deriving would needlessly require `T: Clone`/`T: Copy`.
impl<T> Clone for Route<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Route<'_, T> {}

impl<T: fmt::Debug> fmt::Debug for Route<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("prefix", &self.prefix)
            .field("value", self.value)
            .field("path_and_query", &self.path_and_query)
            .field("stripped_path", &self.stripped_path())
            .finish()
    }
}
