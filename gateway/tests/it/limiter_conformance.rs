//! One suite for every rate limiter: the embedded one and the Redis one
//! (on the machine's Redis, under a prefix of its own) must answer alike,
//! decision by decision, on the same injected times.

use std::sync::Arc;
use std::time::Duration;

use chrono::DateTime;
use chrono_tz::Tz;
use turnout_core::clock::Nanos;
use turnout_gateway::limiter::memory::MemoryLimiter;
use turnout_gateway::limiter::redis::{RedisLimiter, RedisTime};
use turnout_gateway::limiter::{BackendErrorPolicy, Limiter, Limits, Verdict, Window};

pub fn redis_url() -> String {
    std::env::var("TURNOUT_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A prefix no other test run shares.
pub fn fresh_prefix() -> String {
    format!("test:{}:", uuid::Uuid::new_v4().simple())
}

fn limiters() -> Vec<(&'static str, Arc<dyn Limiter>)> {
    let redis = RedisLimiter::new(
        &redis_url(),
        &fresh_prefix(),
        RedisTime::Caller,
        Duration::from_secs(2),
    )
    .unwrap();
    vec![
        ("memory", Arc::new(MemoryLimiter::default())),
        ("redis", Arc::new(redis)),
    ]
}

fn at(s: &str) -> Nanos {
    DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap()
}

fn limits(rate: f64, burst: u32, day: Option<u64>, month: Option<u64>) -> Limits {
    Limits {
        rate_per_second: rate,
        burst,
        quota_per_day: day,
        quota_per_month: month,
        timezone: "America/Los_Angeles".parse::<Tz>().unwrap(),
        on_backend_error: BackendErrorPolicy::Allow,
    }
}

const S: i64 = 1_000_000_000;

#[tokio::test]
async fn the_burst_is_admitted_at_once_then_one_per_interval() {
    for (name, l) in limiters() {
        let lim = limits(10.0, 5, None, None);
        let t0 = at("2026-11-27T12:00:00Z");
        let mut admitted = 0;
        for _ in 0..20 {
            if l.check("k", &lim, t0).await.unwrap().allowed() {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 5, "{name}");
        let refused = l.check("k", &lim, t0).await.unwrap();
        assert_eq!(refused.verdict, Verdict::RateLimited, "{name}");
        assert_eq!(refused.retry_after_secs, 1, "{name}");
        assert_eq!(refused.rate.remaining, 0, "{name}");
        assert!(
            l.check("k", &lim, t0 + S / 10).await.unwrap().allowed(),
            "{name}"
        );
        assert!(
            !l.check("k", &lim, t0 + S / 10).await.unwrap().allowed(),
            "{name}"
        );
        // Another subject is untouched.
        let other = l.check("other", &lim, t0).await.unwrap();
        assert!(other.allowed(), "{name}");
        assert_eq!(other.rate.remaining, 4, "{name}");
    }
}

#[tokio::test]
async fn a_peek_consumes_nothing_and_shows_what_is_left() {
    for (name, l) in limiters() {
        let lim = limits(1.0, 3, Some(10), None);
        let t0 = at("2026-11-27T12:00:00Z");
        for _ in 0..5 {
            let d = l.peek("k", &lim, t0).await.unwrap();
            assert_eq!(d.rate.remaining, 3, "{name}");
            assert_eq!(d.quotas[0].remaining, 10, "{name}");
        }
        let d = l.check("k", &lim, t0).await.unwrap();
        assert_eq!(d.rate.remaining, 2, "{name}");
        assert_eq!(d.quotas[0].remaining, 9, "{name}");
        let d = l.peek("k", &lim, t0).await.unwrap();
        assert_eq!(d.rate.remaining, 2, "{name}");
        assert_eq!(d.quotas[0].remaining, 9, "{name}");
    }
}

#[tokio::test]
async fn rejected_requests_consume_neither_rate_nor_quota() {
    for (name, l) in limiters() {
        let lim = limits(1.0, 1, Some(10), Some(100));
        let t0 = at("2026-11-27T12:00:00Z");
        assert!(l.check("k", &lim, t0).await.unwrap().allowed(), "{name}");
        for _ in 0..30 {
            assert_eq!(
                l.check("k", &lim, t0).await.unwrap().verdict,
                Verdict::RateLimited,
                "{name}"
            );
        }
        let d = l.check("k", &lim, t0 + S).await.unwrap();
        assert!(d.allowed(), "{name}");
        let day = d.quotas.iter().find(|q| q.window == Window::Day).unwrap();
        let month = d.quotas.iter().find(|q| q.window == Window::Month).unwrap();
        assert_eq!((day.remaining, month.remaining), (8, 98), "{name}");
    }
}

#[tokio::test]
async fn a_quota_stops_at_its_limit_and_rolls_over_at_local_midnight() {
    for (name, l) in limiters() {
        let lim = limits(1000.0, 1000, Some(3), None);
        // 23:59:58 in Los Angeles (PST, UTC-8).
        let before = at("2026-11-27T07:59:58Z");
        for _ in 0..3 {
            assert!(
                l.check("k", &lim, before).await.unwrap().allowed(),
                "{name}"
            );
        }
        let d = l.check("k", &lim, before).await.unwrap();
        assert_eq!(d.verdict, Verdict::QuotaExceeded(Window::Day), "{name}");
        assert_eq!(d.retry_after_secs, 2, "{name}");
        let d = l
            .check("k", &lim, at("2026-11-27T08:00:00Z"))
            .await
            .unwrap();
        assert!(d.allowed(), "{name}");
        assert_eq!(d.quotas[0].remaining, 2, "{name}");
    }
}

#[tokio::test]
async fn a_monthly_quota_is_reported_and_enforced() {
    for (name, l) in limiters() {
        let lim = limits(1000.0, 1000, None, Some(2));
        let t0 = at("2026-11-27T12:00:00Z");
        assert!(l.check("k", &lim, t0).await.unwrap().allowed(), "{name}");
        assert!(l.check("k", &lim, t0).await.unwrap().allowed(), "{name}");
        let d = l.check("k", &lim, t0).await.unwrap();
        assert_eq!(d.verdict, Verdict::QuotaExceeded(Window::Month), "{name}");
        // Until 1 December, 00:00 in Los Angeles.
        let expected = (at("2026-12-01T08:00:00Z") - t0) / S;
        assert_eq!(d.retry_after_secs, expected as u64, "{name}");
    }
}

#[tokio::test]
async fn a_refund_gives_back_exactly_one_request() {
    for (name, l) in limiters() {
        let lim = limits(1.0, 2, None, None);
        let t0 = at("2026-11-27T12:00:00Z");
        assert!(l.check("u", &lim, t0).await.unwrap().allowed(), "{name}");
        assert!(l.check("u", &lim, t0).await.unwrap().allowed(), "{name}");
        assert!(!l.check("u", &lim, t0).await.unwrap().allowed(), "{name}");
        l.refund("u", &lim, t0).await.unwrap();
        assert!(l.check("u", &lim, t0).await.unwrap().allowed(), "{name}");
        assert!(!l.check("u", &lim, t0).await.unwrap().allowed(), "{name}");
    }
}

/// 300 checks at once, at one instant: exactly the burst gets through,
/// however the backend interleaves them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checks_never_take_more_than_the_burst() {
    for (name, l) in limiters() {
        let lim = Arc::new(limits(1.0, 40, Some(1000), None));
        let t0 = at("2026-11-27T12:00:00Z");
        let tasks: Vec<_> = (0..300)
            .map(|_| {
                let (l, lim) = (Arc::clone(&l), Arc::clone(&lim));
                tokio::spawn(async move { l.check("k", &lim, t0).await.unwrap().allowed() })
            })
            .collect();
        let mut admitted = 0;
        for t in tasks {
            if t.await.unwrap() {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 40, "{name}");
        let d = l.peek("k", &lim, t0).await.unwrap();
        assert_eq!(d.quotas[0].remaining, 960, "{name}");
    }
}
