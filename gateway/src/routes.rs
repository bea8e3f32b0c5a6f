//! The route table: which prefix goes where, and what it requires.
//!
//! Prefixes match whole path segments (`/v1/canvass` matches `/v1/canvass`
//! and `/v1/canvass/x`, never `/v1/canvassers`), the longest prefix wins, and
//! the table is built once from config at start-up.

use std::sync::Arc;

use crate::config::{RouteAuth, RouteConfig};
use crate::keys::Scope;
use crate::proxy::upstream::Upstream;
use turnout_search::model::resources::Role;

/// The prefixes turnout serves itself, and whether they need a user
/// token; config routes may not claim them or anything under them.
pub const BUILT_IN: [(&str, BuiltIn, RouteAuth); 10] = [
    ("/v1/people", BuiltIn::Search, RouteAuth::Key),
    ("/v1/events", BuiltIn::Search, RouteAuth::Key),
    ("/v1/attendances", BuiltIn::Search, RouteAuth::Key),
    ("/v1/me/attendances", BuiltIn::Search, RouteAuth::User),
    ("/v1/messages", BuiltIn::Outreach, RouteAuth::Key),
    ("/v1/templates", BuiltIn::Outreach, RouteAuth::Key),
    ("/v1/campaigns", BuiltIn::Outreach, RouteAuth::Key),
    ("/v1/inbound", BuiltIn::Outreach, RouteAuth::Key),
    ("/v1/auth", BuiltIn::Auth, RouteAuth::Key),
    ("/v1/me", BuiltIn::Auth, RouteAuth::User),
];

/// A service turnout serves itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltIn {
    /// People, events and attendances: the search crate's router.
    Search,
    /// Messages, templates, campaigns and inbound replies: the outreach
    /// crate's router.
    Outreach,
    /// Sign-in and the signed-in person's account (`auth/http.rs`).
    Auth,
}

#[derive(Debug)]
pub enum Target {
    Upstream(Arc<Upstream>),
    BuiltIn(BuiltIn),
}

#[derive(Debug)]
pub struct Route {
    /// The prefix; also the route's name in usage and metrics.
    pub prefix: Arc<str>,
    /// Route-level scopes; built-in routes decide per endpoint instead.
    pub scopes: Vec<Scope>,
    pub auth: RouteAuth,
    /// On user routes, the least role the token must carry.
    pub role: Role,
    pub strip_prefix: bool,
    pub target: Target,
}

impl Route {
    /// The path the upstream sees.
    pub fn upstream_path<'a>(&self, path: &'a str) -> &'a str {
        if !self.strip_prefix {
            return path;
        }
        match &path[self.prefix.len()..] {
            "" => "/",
            rest => rest,
        }
    }
}

#[derive(Debug, Default)]
pub struct RouteTable {
    /// Longest prefix first.
    routes: Vec<Arc<Route>>,
}

impl RouteTable {
    pub fn new(configs: &[RouteConfig], upstreams: &[Arc<Upstream>]) -> Self {
        let mut routes: Vec<Arc<Route>> = configs
            .iter()
            .map(|c| {
                let upstream = upstreams
                    .iter()
                    .find(|u| u.name == c.upstream)
                    .cloned()
                    .expect("config validation checked upstream names");
                Arc::new(Route {
                    prefix: Arc::from(c.prefix.as_str()),
                    scopes: c
                        .scopes
                        .iter()
                        .map(|s| {
                            Scope::try_from(s.clone()).expect("config validation checked scopes")
                        })
                        .collect(),
                    auth: c.auth,
                    role: c.role.unwrap_or_default(),
                    strip_prefix: c.strip_prefix,
                    target: Target::Upstream(upstream),
                })
            })
            .chain(BUILT_IN.iter().map(|(prefix, service, auth)| {
                Arc::new(Route {
                    prefix: Arc::from(*prefix),
                    scopes: Vec::new(),
                    auth: *auth,
                    role: Role::Volunteer,
                    strip_prefix: false,
                    target: Target::BuiltIn(*service),
                })
            }))
            .collect();
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Self { routes }
    }

    pub fn find(&self, path: &str) -> Option<&Arc<Route>> {
        self.routes.iter().find(|r| segment_prefix(&r.prefix, path))
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

/// True when `prefix` is `path` or a whole-segment prefix of it.
pub fn segment_prefix(prefix: &str, path: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Whether a configured prefix would shadow or sit under a built-in one.
pub fn claims_built_in(prefix: &str) -> bool {
    BUILT_IN
        .iter()
        .any(|(b, ..)| segment_prefix(b, prefix) || segment_prefix(prefix, b))
}

/// A configured prefix: `/v1/...`, plain segments only, no trailing slash.
pub fn valid_prefix(prefix: &str) -> bool {
    prefix.starts_with("/v1/")
        && !prefix.ends_with('/')
        && prefix[1..].split('/').all(|seg| {
            !seg.is_empty() && seg != "." && seg != ".." && !seg.contains(['%', '\\', '?', '#'])
        })
}

/// Why a request path is refused before any routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadPath {
    DotSegment,
    EncodedSeparator,
}

/// Refuses paths that could mean one thing to us and another to an
/// upstream: `.`/`..` segments (plain or percent-encoded) and encoded
/// slashes, backslashes or NULs.
pub fn check_path(path: &str) -> Result<(), BadPath> {
    if path.contains('\\') {
        return Err(BadPath::EncodedSeparator);
    }
    let bytes = path.as_bytes();
    let mut i = 0;
    while let Some(pos) = bytes[i..].iter().position(|&b| b == b'%') {
        let at = i + pos;
        let hex = bytes.get(at + 1..at + 3).map(|h| h.to_ascii_lowercase());
        if matches!(hex.as_deref(), Some(b"2f") | Some(b"5c") | Some(b"00")) {
            return Err(BadPath::EncodedSeparator);
        }
        i = at + 1;
    }
    for segment in path.split('/') {
        let decoded = percent_encoding::percent_decode_str(segment).collect::<Vec<u8>>();
        if decoded == b"." || decoded == b".." {
            return Err(BadPath::DotSegment);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_segments_only() {
        assert!(segment_prefix("/v1/canvass", "/v1/canvass"));
        assert!(segment_prefix("/v1/canvass", "/v1/canvass/"));
        assert!(segment_prefix("/v1/canvass", "/v1/canvass/doors"));
        assert!(!segment_prefix("/v1/canvass", "/v1/canvassers"));
        assert!(!segment_prefix("/v1/canvass", "/v1/canvas"));
    }

    #[test]
    fn dot_segments_and_encoded_separators_are_refused() {
        for bad in [
            "/v1/canvass/../admin",
            "/v1/canvass/%2e%2e/admin",
            "/v1/canvass/.%2E/admin",
            "/v1/canvass/./x",
            "/v1/canvass%2fadmin",
            "/v1/canvass%2Fadmin",
            "/v1/canvass%5cadmin",
            "/v1/canvass\\admin",
            "/v1/x%00",
        ] {
            assert!(check_path(bad).is_err(), "{bad} accepted");
        }
        for good in [
            "/v1/canvass/a.b",
            "/v1/canvass/..x",
            "/v1/canvass/%20x",
            "/v1/",
        ] {
            assert!(check_path(good).is_ok(), "{good} refused");
        }
    }

    #[test]
    fn configured_prefixes_are_plain() {
        assert!(valid_prefix("/v1/canvass"));
        assert!(valid_prefix("/v1/a/b"));
        assert!(!valid_prefix("/v1/canvass/"));
        assert!(!valid_prefix("/v2/x"));
        assert!(!valid_prefix("/v1//x"));
        assert!(!valid_prefix("/v1/../admin"));
        assert!(!valid_prefix("/v1/a%2fb"));
    }
}
