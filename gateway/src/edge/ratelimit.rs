//! The rate-limit answer a client sees: the IETF `RateLimit-Policy` and
//! `RateLimit` headers (structured-field form) on every keyed response, and
//! the 429 problems with `Retry-After`.

use std::fmt::Write;

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use turnout_core::Problem;

use std::sync::OnceLock;

use axum::body::Body;
use bytes::Bytes;
use http::Response;

use crate::limiter::{Decision, Verdict, Window};

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

/// Sets both headers; with a user decision, `RateLimit` also carries
/// `"user";r=..;t=..`.
pub fn apply(
    headers: &mut HeaderMap,
    policy: &HeaderValue,
    decision: Option<&Decision>,
    user: Option<&Decision>,
) {
    headers.insert(POLICY, policy.clone());
    let state = match (decision, user) {
        (Some(d), Some(u)) => {
            let mut v = state_header(d).to_str().expect("ASCII").to_string();
            let _ = write!(
                v,
                ", \"user\";r={};t={}",
                u.rate.remaining, u.rate.reset_secs
            );
            Some(HeaderValue::from_str(&v).expect("ASCII"))
        }
        (Some(d), None) => Some(state_header(d)),
        (None, _) => None,
    };
    if let Some(state) = state {
        headers.insert(STATE, state);
    }
}

/// The 429 for a signed-in user over their own limit.
pub fn user_rejection(d: &Decision) -> Problem {
    Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "this user is over their request rate",
    )
    .with_header(
        header::RETRY_AFTER,
        HeaderValue::from_str(&d.retry_after_secs.max(1).to_string()).expect("digits"),
    )
}

/// The problem `code` of a refused verdict.
fn code(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::QuotaExceeded(_) => "quota_exceeded",
        _ => "rate_limited",
    }
}

/// The problem for a refused decision.
pub fn rejection(d: &Decision) -> Problem {
    let detail = match d.verdict {
        Verdict::QuotaExceeded(w) => format!("this key's {} quota is used up", w.as_str()),
        _ => "this key is over its request rate".to_string(),
    };
    Problem::new(StatusCode::TOO_MANY_REQUESTS, code(d.verdict), detail).with_header(
        header::RETRY_AFTER,
        HeaderValue::from_str(&d.retry_after_secs.to_string()).expect("digits"),
    )
}

/// The 429 as a response, its body encoded once per kind of refusal: a
/// flooding client is answered thousands of times a second, and the body
/// never changes.
pub fn rejection_response(d: &Decision) -> (&'static str, Response<Body>) {
    static BODIES: OnceLock<[(Verdict, Bytes); 3]> = OnceLock::new();
    let bodies = BODIES.get_or_init(|| {
        [
            Verdict::RateLimited,
            Verdict::QuotaExceeded(Window::Day),
            Verdict::QuotaExceeded(Window::Month),
        ]
        .map(|verdict| {
            // The body depends on the verdict alone; the rest of the
            // decision travels in headers.
            let probe = Decision {
                verdict,
                rate: crate::limiter::RateState {
                    remaining: 0,
                    reset_secs: 0,
                },
                quotas: Vec::new(),
                retry_after_secs: 0,
                at: 0,
            };
            let body = serde_json::to_vec(&rejection(&probe)).expect("a problem serialises");
            (verdict, Bytes::from(body))
        })
    });
    let (_, body) = bodies
        .iter()
        .find(|(v, _)| *v == d.verdict)
        .unwrap_or(&bodies[0]);
    let mut response = Response::new(Body::from(body.clone()));
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    headers.insert(header::RETRY_AFTER, HeaderValue::from(d.retry_after_secs));
    (code(d.verdict), response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limiter::{QuotaState, RateState, Window};

    #[test]
    fn the_encoded_429_is_the_problem_it_stands_for() {
        let d = Decision {
            verdict: Verdict::QuotaExceeded(Window::Month),
            rate: RateState {
                remaining: 0,
                reset_secs: 1,
            },
            quotas: vec![],
            retry_after_secs: 7,
            at: 0,
        };
        let (code, response) = rejection_response(&d);
        assert_eq!(code, "quota_exceeded");
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        let expected = serde_json::to_value(rejection(&d)).unwrap();
        let body = futures_util::FutureExt::now_or_never(http_body_util::BodyExt::collect(
            response.into_body(),
        ))
        .unwrap()
        .unwrap()
        .to_bytes();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            expected
        );
    }

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
            at: 0,
        };
        assert_eq!(state_header(&d), "\"rate\";r=4;t=1, \"day\";r=7;t=300");
    }
}
