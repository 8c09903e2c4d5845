//! One token per protected resource, for a client in front of a server that fronts several.
//!
//! smcp-server serves many MCP backends at path prefixes, and each is its own protected resource
//! (RFC 9728 metadata at `/.well-known/oauth-protected-resource/<prefix>`, `resource` = its
//! public URL). A provider with RFC 8707 resource indicators (Entra ID, Okta, oidc-provider)
//! makes the requested `resource` the token's `aud`, and the server accepts a backend's own URL
//! as an audience; so a token asked for the server's root is refused by every backend. A
//! [`ResourceTokens`] finds the resource of each URL called and keeps one [`TokenSource`] per
//! resource: every request to `/v1/memory/...` shares the token for `https://h/v1/memory`.
//!
//! How a URL's resource is found: the protected-resource metadata for that URL (path-inserted
//! well-known location first, then the origin's), whose `resource` must cover the URL (RFC
//! 9728 §3.3: a server cannot send us for another resource's token). A resource with a path
//! then covers every URL under it without another lookup. A URL whose metadata names only the
//! origin, or that has none (not an MCP server, metadata down), uses the origin's resource or
//! the fallback (the configured server URL, what a single token was asked for before), and is
//! looked up again after a minute, so one failed lookup at startup does not pin it.
//!
//! Bounds: at most [`MAX_RESOURCES`] resources with their own token (beyond, the fallback's
//! token is used and a warning logged; a server does not have more backends than that behind
//! one client), at most 1,024 remembered paths without one of their own (forgotten when full).
//! Lookups run one at a time (they are rare: once per resource), so a burst of first requests
//! to one backend costs one metadata fetch.
//!
//! Metrics: `smcp_client_token_resources` (resources with their own token source),
//! `smcp_client_unscoped_paths` (remembered paths without one) and
//! `smcp_client_resource_lookups_total{outcome}` (`found`, `origin`, `none`, `over_limit`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;
use url::Url;

use super::endpoint::{protected_resource, resource_covers};
use super::{EndpointSource, TokenSource, TokenSourceConfig};

/// Most resources with a token of their own.
pub const MAX_RESOURCES: usize = 64;

/// Most remembered paths that have no resource of their own.
const MAX_UNSCOPED_PATHS: usize = 1024;

/// How long a path without a resource of its own keeps the one it got.
const UNSCOPED_FOR: Duration = Duration::from_secs(60);

/// Token sources by protected resource; cheap to clone (clones share them).
#[derive(Clone)]
pub struct ResourceTokens {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ResourceTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceTokens")
            .field("fallback", &self.inner.fallback.as_str())
            .field("resources", &self.resources())
            .finish_non_exhaustive()
    }
}

struct Inner {
    /// Every source's configuration but its `resource` (and, when nobody chose scopes, its
    /// default scopes: the resource's own `scopes_supported`).
    base: TokenSourceConfig,
    http: reqwest::Client,
    /// The resource of URLs whose server publishes none.
    fallback: Url,
    /// Its token source (one of `sources` from the start, so it always has room).
    fallback_source: TokenSource,
    state: Mutex<State>,
    /// Held for one metadata lookup: the single flight of lookups.
    lookup: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    /// Token sources by resource identifier.
    sources: HashMap<String, TokenSource>,
    /// Resources with a path, longest first: a URL one of them covers is that resource's.
    scoped: Vec<String>,
    /// Paths (no query) with no resource of their own: the resource used, until when.
    unscoped: HashMap<String, (String, Instant)>,
}

impl ResourceTokens {
    /// Sources built from `base` (its `resource` is replaced per resource), fetching metadata
    /// and tokens with `http`; `fallback` is the resource of URLs without metadata.
    pub fn new(base: TokenSourceConfig, http: reqwest::Client, fallback: Url) -> Self {
        let fallback_source = build(&base, &http, fallback.as_str(), Vec::new());
        let mut state = State::default();
        state
            .sources
            .insert(fallback.to_string(), fallback_source.clone());
        ResourceTokens {
            inner: Arc::new(Inner {
                base,
                http,
                fallback,
                fallback_source,
                state: Mutex::new(state),
                lookup: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// How many resources have a token source of their own.
    pub fn resources(&self) -> usize {
        self.state().sources.len()
    }

    /// The token source for requests to `url`: the one of its resource, found (once) from the
    /// protected-resource metadata of `url`.
    pub async fn for_url(&self, url: &Url) -> TokenSource {
        let mut url = url.clone();
        url.set_query(None);
        url.set_fragment(None);
        if let Some(source) = self.known(&url) {
            return source;
        }
        let _flight = self.inner.lookup.lock().await;
        if let Some(source) = self.known(&url) {
            return source;
        }
        let timeout = self.inner.base.request_timeout;
        let found = protected_resource(&self.inner.http, &url, None, timeout).await;
        let mut state = self.state();
        let (resource, scopes, outcome) = match found {
            Ok(prm) if has_path(&prm.resource) => (prm.resource, prm.scopes_supported, "found"),
            Ok(prm) => (prm.resource, prm.scopes_supported, "origin"),
            Err(error) => {
                tracing::info!(%url, %error, fallback = %self.inner.fallback, "no usable protected-resource metadata; asking for tokens for the server URL");
                (self.inner.fallback.to_string(), Vec::new(), "none")
            }
        };
        let (source, outcome) = match self.source(&mut state, &resource, scopes) {
            Some(source) => (source, outcome),
            None => {
                tracing::warn!(%resource, limit = MAX_RESOURCES, "too many protected resources; using the server URL's token for this one");
                (self.inner.fallback_source.clone(), "over_limit")
            }
        };
        metrics::counter!("smcp_client_resource_lookups_total", "outcome" => outcome).increment(1);
        if outcome == "found" {
            if !state.scoped.contains(&resource) {
                state.scoped.push(resource);
                state.scoped.sort_by_key(|r| std::cmp::Reverse(r.len()));
            }
        } else {
            remember_unscoped(&mut state, url.path(), source.config_resource());
        }
        source
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The source already chosen for `url`, if any.
    fn known(&self, url: &Url) -> Option<TokenSource> {
        let mut state = self.state();
        if let Some(resource) = state
            .scoped
            .iter()
            .find(|resource| resource_covers(resource, url))
        {
            return state.sources.get(resource).cloned();
        }
        let resource = match state.unscoped.get(url.path()) {
            Some((resource, until)) if Instant::now() < *until => resource.clone(),
            Some(_) => {
                state.unscoped.remove(url.path());
                return None;
            }
            None => return None,
        };
        state.sources.get(&resource).cloned()
    }

    /// The source for `resource`, made now when it is new and there is room.
    fn source(
        &self,
        state: &mut State,
        resource: &str,
        scopes: Vec<String>,
    ) -> Option<TokenSource> {
        if let Some(source) = state.sources.get(resource) {
            return Some(source.clone());
        }
        if state.sources.len() >= MAX_RESOURCES {
            return None;
        }
        let source = build(&self.inner.base, &self.inner.http, resource, scopes);
        state.sources.insert(resource.to_owned(), source.clone());
        metrics::gauge!("smcp_client_token_resources").set(state.sources.len() as f64);
        tracing::info!(%resource, "a protected resource of its own: its tokens are requested for it");
        Some(source)
    }
}

/// A source asking for `resource`, with its `scopes_supported` as the default scopes when
/// nobody chose scopes.
fn build(
    base: &TokenSourceConfig,
    http: &reqwest::Client,
    resource: &str,
    scopes_supported: Vec<String>,
) -> TokenSource {
    let mut config = base.clone();
    config.resource = Some(resource.to_owned());
    if config.scopes.is_none() && !scopes_supported.is_empty() {
        config.default_scopes = scopes_supported;
    }
    if let EndpointSource::Resource { url: server, probe } = &config.endpoint
        && let Ok(resource_url) = Url::parse(resource)
    {
        // MCP discovery from this resource's own metadata. The challenge probe asks the
        // configured server URL, so it speaks only for the resource that covers that URL.
        let probe = probe.clone().filter(|_| resource_covers(resource, server));
        config.endpoint = EndpointSource::Resource {
            url: resource_url,
            probe,
        };
    }
    TokenSource::new(config, http.clone())
}

impl TokenSource {
    /// The `resource` this source asks for, as a key (empty when none).
    fn config_resource(&self) -> &str {
        self.inner.config.resource.as_deref().unwrap_or_default()
    }
}

/// Whether a resource identifier has a path of its own (not just the origin).
fn has_path(resource: &str) -> bool {
    Url::parse(resource).is_ok_and(|url| !url.path().trim_end_matches('/').is_empty())
}

fn remember_unscoped(state: &mut State, path: &str, resource: &str) {
    if state.unscoped.len() >= MAX_UNSCOPED_PATHS {
        let now = Instant::now();
        state.unscoped.retain(|_, (_, until)| now < *until);
        if state.unscoped.len() >= MAX_UNSCOPED_PATHS {
            state.unscoped.clear();
        }
    }
    state.unscoped.insert(
        path.to_owned(),
        (resource.to_owned(), Instant::now() + UNSCOPED_FOR),
    );
    metrics::gauge!("smcp_client_unscoped_paths").set(state.unscoped.len() as f64);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{MAX_UNSCOPED_PATHS, State, UNSCOPED_FOR, remember_unscoped};

    #[tokio::test(start_paused = true)]
    async fn paths_without_a_resource_of_their_own_are_bounded() {
        let mut state = State::default();
        for i in 0..MAX_UNSCOPED_PATHS {
            remember_unscoped(&mut state, &format!("/p{i}"), "https://h/");
        }
        assert_eq!(state.unscoped.len(), MAX_UNSCOPED_PATHS);
        // Full of live entries: forgotten all at once, then the new one kept.
        remember_unscoped(&mut state, "/one-more", "https://h/");
        assert_eq!(state.unscoped.len(), 1);
        // Full again, half of it expired: only the expired ones go.
        for i in 0..MAX_UNSCOPED_PATHS / 2 {
            remember_unscoped(&mut state, &format!("/old{i}"), "https://h/");
        }
        tokio::time::advance(UNSCOPED_FOR + Duration::from_secs(1)).await;
        for i in 0..MAX_UNSCOPED_PATHS / 2 - 1 {
            remember_unscoped(&mut state, &format!("/new{i}"), "https://h/");
        }
        assert_eq!(state.unscoped.len(), MAX_UNSCOPED_PATHS);
        remember_unscoped(&mut state, "/last", "https://h/");
        assert_eq!(state.unscoped.len(), MAX_UNSCOPED_PATHS / 2);
        assert!(state.unscoped.contains_key("/last") && state.unscoped.contains_key("/new0"));
        assert!(!state.unscoped.contains_key("/old0"));
    }
}
