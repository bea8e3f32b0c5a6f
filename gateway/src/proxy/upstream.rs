//! Upstream groups: where a route's requests go, and which targets are fit
//! to take them.
//!
//! Balancing is round-robin over the healthy primaries. Health is passive: a
//! target that fails `eject_after_failures` times in a row (refused, timed
//! out, or answered 502/503/504) is ejected for `eject_ms`. When no primary
//! is healthy the `failover` group is used; when nothing at all is healthy
//! the primaries are tried anyway (an ejection may be stale, and trying
//! beats a certain 502).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use http::Uri;
use http::uri::{Authority, Scheme};
use turnout_core::clock::Nanos;

use crate::config::{ProxyConfig, UpstreamConfig};

#[derive(Debug)]
pub struct Target {
    pub base: String,
    scheme: Scheme,
    authority: Authority,
    /// A path the target is mounted under (`http://h:1/api`), without
    /// trailing slash; usually empty.
    base_path: String,
    failures: AtomicU32,
    ejected_until: AtomicI64,
}

/// Parses `http://host:port[/base]`. Only plain HTTP: upstreams sit on the
/// private network beside Turnout.
pub fn parse_target(raw: &str) -> Result<(Scheme, Authority, String), String> {
    let uri: Uri = raw.parse().map_err(|e| format!("target {raw:?}: {e}"))?;
    let scheme = uri
        .scheme()
        .cloned()
        .ok_or_else(|| format!("target {raw:?} needs http://"))?;
    if scheme != Scheme::HTTP {
        return Err(format!(
            "target {raw:?}: only http:// targets are supported"
        ));
    }
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| format!("target {raw:?} has no host"))?;
    if uri.query().is_some() {
        return Err(format!("target {raw:?} must not have a query"));
    }
    let base_path = uri.path().trim_end_matches('/').to_string();
    Ok((scheme, authority, base_path))
}

impl Target {
    fn new(raw: &str) -> Result<Self, String> {
        let (scheme, authority, base_path) = parse_target(raw)?;
        Ok(Self {
            base: raw.to_string(),
            scheme,
            authority,
            base_path,
            failures: AtomicU32::new(0),
            ejected_until: AtomicI64::new(0),
        })
    }

    pub fn uri_for(&self, path_and_query: &str) -> Result<Uri, http::Error> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(format!("{}{}", self.base_path, path_and_query))
            .build()
    }

    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    pub fn healthy(&self, now: Nanos) -> bool {
        self.ejected_until.load(Ordering::Relaxed) <= now
    }

    /// Records a failure; returns true when it ejected the target.
    pub fn failed(&self, now: Nanos, policy: &HealthPolicy) -> bool {
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= policy.eject_after_failures {
            self.failures.store(0, Ordering::Relaxed);
            self.ejected_until
                .store(now + policy.eject_for.as_nanos() as i64, Ordering::Relaxed);
            return true;
        }
        false
    }

    pub fn succeeded(&self) {
        // Read first: a healthy target's counter is already 0, and skipping
        // the write keeps its cache line shared across cores.
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
    }
}

#[derive(Debug, Clone)]
pub struct HealthPolicy {
    pub eject_after_failures: u32,
    pub eject_for: Duration,
}

impl From<&ProxyConfig> for HealthPolicy {
    fn from(c: &ProxyConfig) -> Self {
        Self {
            eject_after_failures: c.eject_after_failures.max(1),
            eject_for: Duration::from_millis(c.eject_ms),
        }
    }
}

#[derive(Debug)]
pub struct Upstream {
    pub name: String,
    pub timeout: Duration,
    primary: Vec<Arc<Target>>,
    failover: Vec<Arc<Target>>,
    next: AtomicUsize,
}

impl Upstream {
    pub fn new(config: &UpstreamConfig) -> Result<Self, String> {
        let build = |list: &[String]| -> Result<Vec<Arc<Target>>, String> {
            list.iter().map(|t| Target::new(t).map(Arc::new)).collect()
        };
        Ok(Self {
            name: config.name.clone(),
            timeout: Duration::from_millis(config.timeout_ms),
            primary: build(&config.targets)?,
            failover: build(&config.failover)?,
            next: AtomicUsize::new(0),
        })
    }

    /// The targets to try for one request, in order: healthy primaries from
    /// the round-robin position, then healthy failover targets; with none
    /// healthy, every primary.
    pub fn candidates(&self, now: Nanos) -> Vec<Arc<Target>> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let rotate = |group: &[Arc<Target>]| -> Vec<Arc<Target>> {
            let n = group.len();
            (0..n)
                .map(|i| &group[(start + i) % n])
                .filter(|t| t.healthy(now))
                .cloned()
                .collect()
        };
        let mut list = rotate(&self.primary);
        list.extend(rotate(&self.failover));
        if list.is_empty() {
            let n = self.primary.len();
            list = (0..n)
                .map(|i| Arc::clone(&self.primary[(start + i) % n]))
                .collect();
        }
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(targets: &[&str], failover: &[&str]) -> Upstream {
        Upstream::new(&UpstreamConfig {
            name: "u".into(),
            targets: targets.iter().map(|s| s.to_string()).collect(),
            failover: failover.iter().map(|s| s.to_string()).collect(),
            timeout_ms: 1000,
        })
        .unwrap()
    }

    #[test]
    fn round_robin_spreads_over_primaries() {
        let u = upstream(&["http://a:1", "http://b:1"], &[]);
        let firsts: Vec<_> = (0..4).map(|_| u.candidates(0)[0].base.clone()).collect();
        assert_eq!(
            firsts,
            ["http://a:1", "http://b:1", "http://a:1", "http://b:1"]
        );
    }

    #[test]
    fn ejected_primaries_give_way_to_failover_then_return() {
        let u = upstream(&["http://a:1"], &["http://f:1"]);
        let policy = HealthPolicy {
            eject_after_failures: 2,
            eject_for: Duration::from_secs(10),
        };
        let a = &u.candidates(0)[0];
        assert!(!a.failed(0, &policy));
        assert!(a.failed(0, &policy));
        let now = 1_000_000_000;
        let c = u.candidates(now);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].base, "http://f:1");
        let later = 11_000_000_000;
        assert_eq!(u.candidates(later)[0].base, "http://a:1");
    }

    #[test]
    fn with_everything_ejected_primaries_are_tried_anyway() {
        let u = upstream(&["http://a:1"], &[]);
        let policy = HealthPolicy {
            eject_after_failures: 1,
            eject_for: Duration::from_secs(10),
        };
        u.candidates(0)[0].failed(0, &policy);
        assert_eq!(u.candidates(1)[0].base, "http://a:1");
    }

    #[test]
    fn targets_are_plain_http_with_an_optional_base_path() {
        assert!(parse_target("http://127.0.0.1:9000").is_ok());
        assert_eq!(parse_target("http://h:1/api/").unwrap().2, "/api");
        assert!(parse_target("https://h:1").is_err());
        assert!(parse_target("h:1").is_err());
    }
}
