//! Rate limits and quotas.
//!
//! [`Limiter::check`] is the one operation: decide and consume in a single
//! atomic step, for the GCRA rate and the calendar quotas together, so a
//! rejected request consumes nothing and two concurrent requests can never
//! both take the last unit. The in-memory limiter does it under a per-key
//! lock; a Redis limiter does it in one server-side script. Callers only see
//! the trait.

pub mod fallback;
mod gcra;
pub mod instances;
pub mod memory;
mod period;
pub mod quota_store;
pub mod redis;
mod resp;

use chrono_tz::Tz;
use futures_util::future::BoxFuture;
use turnout_core::clock::Nanos;

pub use gcra::Gcra;
pub use period::{Window, period_of};

/// The limits that apply to one subject (a key), resolved from its plan and
/// overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub rate_per_second: f64,
    pub burst: u32,
    pub quota_per_day: Option<u64>,
    pub quota_per_month: Option<u64>,
    /// Calendar quotas roll over at midnight here.
    pub timezone: Tz,
    /// What to do while the shared backend cannot be reached.
    pub on_backend_error: BackendErrorPolicy,
}

/// What a plan does when its shared rate-limit backend (Redis) is down:
/// keep serving at this instance's share of the limits, or refuse with 503.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    Default,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum BackendErrorPolicy {
    #[default]
    Allow,
    Deny,
}

impl Limits {
    pub fn quota(&self, window: Window) -> Option<u64> {
        match window {
            Window::Day => self.quota_per_day,
            Window::Month => self.quota_per_month,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    RateLimited,
    QuotaExceeded(Window),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateState {
    /// Requests that could be made right now.
    pub remaining: u64,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaState {
    pub window: Window,
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the period rolls over.
    pub reset_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    pub rate: RateState,
    pub quotas: Vec<QuotaState>,
    /// Whole seconds to wait before a retry can succeed (0 when allowed).
    pub retry_after_secs: u64,
    /// When the decision was taken, on the clock of whatever took it (the
    /// Redis server's for the shared limiter): the time that bounds on
    /// admitted counts are measured against.
    pub at: Nanos,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.verdict == Verdict::Allowed
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LimiterError {
    #[error("the rate-limit backend is unavailable: {0}")]
    Unavailable(String),
}

pub trait Limiter: Send + Sync + 'static {
    /// Decides whether one request by `subject` conforms to `limits` at
    /// `now`, and if so consumes it from the rate and from every quota, all
    /// at once.
    fn check<'a>(
        &'a self,
        subject: &'a str,
        limits: &'a Limits,
        now: Nanos,
    ) -> BoxFuture<'a, Result<Decision, LimiterError>>;

    /// The state `check` would report, consuming nothing: for the
    /// rate-limit headers of requests refused before the limiter (an
    /// unknown route, a missing scope). Not atomic with anything; it only
    /// informs.
    fn peek<'a>(
        &'a self,
        subject: &'a str,
        limits: &'a Limits,
        now: Nanos,
    ) -> BoxFuture<'a, Result<Decision, LimiterError>>;

    /// Gives back the rate unit an allowed `check` took, when a later
    /// check of the same request refused it (a user within their limit
    /// on a key over its own): rejected requests consume nothing. Only the
    /// rate is given back, so it is for subjects without quotas. Giving a
    /// unit back never admits more than the limit: at worst the subject
    /// waits for the time between the check and the refund.
    fn refund<'a>(
        &'a self,
        subject: &'a str,
        limits: &'a Limits,
        now: Nanos,
    ) -> BoxFuture<'a, Result<(), LimiterError>>;
}

/// Seconds, rounded up, for a duration in nanoseconds.
pub(crate) fn ceil_secs(nanos: i64) -> u64 {
    if nanos <= 0 {
        0
    } else {
        (nanos as u64).div_ceil(1_000_000_000)
    }
}
