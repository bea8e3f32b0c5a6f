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

/// Checks issued together (one Redis batch) on two subjects, one of them
/// under two plans — as when a plan is edited while its key is busy — are
/// decided one by one in order against one budget per subject: the same
/// answers, check by check, as the embedded limiter gives.
#[tokio::test]
async fn checks_in_flight_together_share_each_subjects_budget_in_order() {
    let wide = limits(1.0, 6, Some(100), None);
    let narrow = limits(1.0, 3, Some(100), None);
    let t0 = at("2026-11-27T12:00:00Z");
    let mut answers = Vec::new();
    for (name, l) in limiters() {
        let checks = (0..24).map(|i| {
            let (subject, lim) = match i % 3 {
                0 => ("k", &wide),
                1 => ("k", &narrow),
                _ => ("other", &wide),
            };
            l.check(subject, lim, t0)
        });
        let decisions: Vec<_> = futures_util::future::join_all(checks)
            .await
            .into_iter()
            .map(|d| {
                let d = d.unwrap();
                (d.verdict, d.quotas[0].remaining)
            })
            .collect();
        let admitted_k = decisions
            .iter()
            .enumerate()
            .filter(|(i, d)| i % 3 != 2 && d.0 == Verdict::Allowed)
            .count() as u64;
        assert_eq!(
            l.peek("k", &narrow, t0).await.unwrap().quotas[0].remaining,
            100 - admitted_k,
            "{name}: the day quota counts every admitted check of both plans"
        );
        answers.push((name, decisions));
    }
    let (memory, redis) = (&answers[0], &answers[1]);
    assert_eq!(memory.1, redis.1, "{} and {} disagree", memory.0, redis.0);
    // Six of the wide plan's burst, less what the narrow plan's checks
    // could not take once the bucket was half full; "other" gets its own six.
    let admitted = |subject: usize| {
        memory
            .1
            .iter()
            .enumerate()
            .filter(|(i, d)| (i % 3 == 2) == (subject == 1) && d.0 == Verdict::Allowed)
            .count()
    };
    assert_eq!(admitted(1), 6);
    assert!((3..=6).contains(&admitted(0)), "{}", admitted(0));
}

/// The Redis limiter's own connection authenticates, selects the URL's
/// database and also speaks over a Unix socket; a wrong password is an
/// error that names Redis's refusal (which the fallback then acts on).
#[tokio::test]
async fn the_redis_limiter_connects_as_its_url_says() {
    let redis = crate::faults::PrivateRedis::start_with(&["--requirepass", "s3cret"]).await;
    let lim = limits(1.0, 3, Some(10), None);
    let t0 = at("2026-11-27T12:00:00Z");
    let admitted = |url: String| {
        let lim = lim.clone();
        async move {
            let l = RedisLimiter::new(&url, "t:", RedisTime::Caller, Duration::from_secs(2))?;
            let mut admitted = 0;
            for _ in 0..5 {
                if l.check("k", &lim, t0).await?.allowed() {
                    admitted += 1;
                }
            }
            Ok::<_, turnout_gateway::limiter::LimiterError>(admitted)
        }
    };
    let tcp = format!("redis://:s3cret@127.0.0.1:{}/2", redis.port);
    assert_eq!(admitted(tcp.clone()).await.unwrap(), 3);
    // The same database: the burst is spent.
    let unix = format!("{}?db=2&pass=s3cret", redis.unix_url());
    assert_eq!(admitted(unix).await.unwrap(), 0);
    // Another database: a budget of its own.
    let other_db = format!("redis://:s3cret@127.0.0.1:{}/3", redis.port);
    assert_eq!(admitted(other_db).await.unwrap(), 3);

    let wrong = format!("redis://:nope@127.0.0.1:{}/2", redis.port);
    let err = admitted(wrong).await.unwrap_err().to_string();
    assert!(
        err.contains("WRONGPASS") || err.contains("invalid"),
        "{err}"
    );
}
