//! The rate-limit answer a client sees: the IETF `RateLimit-Policy` and
//! `RateLimit` headers (structured-field form) on every keyed response, and
//! the 429 problems with `Retry-After`.

use std::fmt::Write;

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use turnout_core::Problem;

use crate::limiter::{Decision, Verdict};

pub const POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub const STATE: HeaderName = HeaderName::from_static("ratelimit");

/// `"rate";r=<remaining>;t=<seconds until full>`, and the quota closest to
/// running out.
pub fn state_header(d: &Decision) -> HeaderValue {
    let mut v = String::with_capacity(48);
    let _ = write!(v, "\"rate\";r={};t={}", d.rate.remaining, d.rate.reset_secs);
    if let Some(q) = d.quotas.iter().min_by_key(|q| q.remaining) {
        let _ = write!(
            v,
            ", \"{}\";r={};t={}",
            q.window.as_str(),
            q.remaining,
            q.reset_secs
        );
    }
    HeaderValue::from_str(&v).expect("ASCII")
}

pub fn apply(headers: &mut HeaderMap, policy: &HeaderValue, decision: Option<&Decision>) {
    headers.insert(POLICY, policy.clone());
    if let Some(d) = decision {
        headers.insert(STATE, state_header(d));
    }
}

/// The 429 for a refused decision.
pub fn rejection(d: &Decision) -> Problem {
    let (code, detail) = match d.verdict {
        Verdict::QuotaExceeded(w) => (
            "quota_exceeded",
            format!("this key's {} quota is used up", w.as_str()),
        ),
        _ => (
            "rate_limited",
            "this key is over its request rate".to_string(),
        ),
    };
    Problem::new(StatusCode::TOO_MANY_REQUESTS, code, detail).with_header(
        header::RETRY_AFTER,
        HeaderValue::from_str(&d.retry_after_secs.to_string()).expect("digits"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limiter::{QuotaState, RateState, Window};

    #[test]
    fn the_state_header_names_the_tightest_quota() {
        let d = Decision {
            verdict: Verdict::Allowed,
            rate: RateState {
                remaining: 4,
                reset_secs: 1,
            },
            quotas: vec![
                QuotaState {
                    window: Window::Day,
                    limit: 100,
                    remaining: 7,
                    reset_secs: 300,
                },
                QuotaState {
                    window: Window::Month,
                    limit: 1000,
                    remaining: 900,
                    reset_secs: 9000,
                },
            ],
            retry_after_secs: 0,
        };
        assert_eq!(state_header(&d), "\"rate\";r=4;t=1, \"day\";r=7;t=300");
    }
}
