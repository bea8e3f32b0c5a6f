//! The registry the hot path reads: every key, already joined with its plan
//! and resolved into the limits, scopes and header values a request needs.
//! It is an immutable snapshot behind an atomic pointer: readers never lock,
//! and the follower (sync.rs) swaps in a new snapshot when anything changes.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::HeaderValue;

use super::model::{ApiKey, KeyStatus, KeyType, Plan};
use super::scope::ScopeSet;
use super::secret::{KeyHasher, PresentedKey};
use crate::limiter::Limits;

#[derive(Debug)]
pub struct KeyEntry {
    /// Shared with usage rows and limiter calls without copying.
    pub id: std::sync::Arc<str>,
    pub name: String,
    pub key_type: KeyType,
    pub status: KeyStatus,
    secret_hash: [u8; 32],
    pub plan_id: String,
    pub plan_name: String,
    pub scopes: ScopeSet,
    pub limits: Limits,
    /// `RateLimit-Policy`, computed once per change rather than per request.
    pub policy_header: HeaderValue,
    /// Each signed-in user's own limit on this plan, and the policy header
    /// that adds it (`"user";q=..;w=..`).
    pub user_limits: Option<Limits>,
    pub user_policy_header: Option<HeaderValue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentifyError {
    /// Not a key we could have issued, unknown, or a wrong secret: the
    /// answers are indistinguishable on purpose.
    Unknown,
    /// A real key, switched off (disabled or revoked).
    Disabled,
}

#[derive(Debug, Default)]
pub struct Snapshot {
    pub keys: HashMap<String, Arc<KeyEntry>>,
    /// SHA-256 (hex) of the admin token in force.
    pub admin_token_sha256: Option<String>,
}

pub struct Registry {
    current: ArcSwap<Snapshot>,
    hasher: KeyHasher,
}

impl Registry {
    pub fn new(hasher: KeyHasher) -> Self {
        Self {
            current: ArcSwap::from_pointee(Snapshot::default()),
            hasher,
        }
    }

    pub fn hasher(&self) -> &KeyHasher {
        &self.hasher
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    pub fn replace(&self, snapshot: Snapshot) {
        self.current.store(Arc::new(snapshot));
    }

    /// Finds the key a request presented. Unknown ids are answered from the
    /// map alone; the secret is checked in constant time.
    pub fn identify(&self, raw: &str) -> Result<Arc<KeyEntry>, IdentifyError> {
        let presented = PresentedKey::parse(raw).ok_or(IdentifyError::Unknown)?;
        let guard = self.current.load();
        let entry = guard.keys.get(presented.id).ok_or(IdentifyError::Unknown)?;
        if !self.hasher.verify(presented.secret, &entry.secret_hash) {
            return Err(IdentifyError::Unknown);
        }
        match entry.status {
            KeyStatus::Active => Ok(Arc::clone(entry)),
            KeyStatus::Disabled | KeyStatus::Revoked => Err(IdentifyError::Disabled),
        }
    }

    pub fn admin_token_matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        let guard = self.current.load();
        match &guard.admin_token_sha256 {
            Some(expected) => {
                let got = turnout_core::token::sha256_hex(presented);
                got.as_bytes().ct_eq(expected.as_bytes()).into()
            }
            None => false,
        }
    }

    pub fn key_count(&self) -> usize {
        self.current.load().keys.len()
    }
}

/// Joins a key with its plan into what the hot path needs. `None` when the
/// plan is gone (a key is never left pointing at a deleted plan, but a
/// snapshot must not trust that).
pub fn entry_for(key: &ApiKey, plan: &Plan) -> KeyEntry {
    let limits = key.effective_limits(&plan.spec);
    let policy = policy_header(&limits);
    let user_limits = plan.spec.user_limits();
    KeyEntry {
        id: std::sync::Arc::from(key.id.as_str()),
        name: key.name.clone(),
        key_type: key.key_type,
        status: key.status,
        secret_hash: key.secret_hash,
        plan_id: plan.id.clone(),
        plan_name: plan.spec.name.clone(),
        scopes: ScopeSet::new(key.effective_scopes(&plan.spec)),
        user_policy_header: user_limits.as_ref().map(|u| with_user_policy(&policy, u)),
        policy_header: policy,
        user_limits,
        limits,
    }
}

fn window_secs(limits: &Limits) -> u64 {
    (f64::from(limits.burst) / limits.rate_per_second)
        .ceil()
        .max(1.0) as u64
}

/// The key's policy followed by the per-user one.
fn with_user_policy(key: &HeaderValue, user: &Limits) -> HeaderValue {
    let value = format!(
        "{}, \"user\";q={};w={}",
        key.to_str().expect("ASCII"),
        user.burst,
        window_secs(user)
    );
    HeaderValue::from_str(&value).expect("policy header is ASCII")
}

/// `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers, structured
/// fields). The "rate" policy's window is the time an empty bucket takes to
/// refill, `burst / rate`, rounded up to whole seconds.
pub fn policy_header(limits: &Limits) -> HeaderValue {
    let window = window_secs(limits);
    let mut value = format!("\"rate\";q={};w={}", limits.burst, window);
    if let Some(q) = limits.quota_per_day {
        value.push_str(&format!(", \"day\";q={q};w=86400"));
    }
    if let Some(q) = limits.quota_per_month {
        value.push_str(&format!(", \"month\";q={q};w=2592000"));
    }
    HeaderValue::from_str(&value).expect("policy header is ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Tz;

    #[test]
    fn the_policy_header_lists_rate_and_quotas() {
        let limits = Limits {
            rate_per_second: 10.0,
            burst: 25,
            quota_per_day: Some(1000),
            quota_per_month: None,
            timezone: Tz::UTC,
            on_backend_error: Default::default(),
        };
        assert_eq!(
            policy_header(&limits),
            "\"rate\";q=25;w=3, \"day\";q=1000;w=86400"
        );
    }
}
