//! Rate limits and quotas as a client meets them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use turnout_core::ManualClock;
use turnout_gateway::edge::DecisionObserver;

use crate::support::{TestApp, config, echo_upstream, flood, problem, routed_to};

const RATE: f64 = 40.0;
const BURST: u64 = 25;

/// 200 clients hammer one key for 3 s. The admitted count may never exceed
/// `burst + rate × elapsed`, with `elapsed` taken from the server's own
/// readings of its clock when it admitted the first and last request; it
/// should not fall far below either, and the key keeps being admitted at
/// its rate to the end (no lock-out from the flood).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcra_bound_holds_under_200_concurrent_clients() {
    let up = echo_upstream("a").await;
    let c = routed_to(config(), &up);
    let admits: Arc<Mutex<Vec<i64>>> = Arc::default();
    let observer: DecisionObserver = {
        let admits = Arc::clone(&admits);
        Arc::new(move |_key, now, d| {
            if d.allowed() {
                admits.lock().unwrap().push(now);
            }
        })
    };
    let app = TestApp::start_with(
        c,
        Arc::new(turnout_core::SystemClock::new()),
        Some(observer),
    )
    .await;
    app.create_plan(json!({"name": "p", "rate_per_second": RATE, "burst": BURST, "scopes": ["a"]}))
        .await;
    let (_, key) = app.create_key("p", json!({})).await;

    let (ok, limited) = flood(
        &app.http,
        &[app.url("/v1/a/x")],
        &key,
        200,
        Duration::from_secs(3),
    )
    .await;
    let mut admits = admits.lock().unwrap().clone();
    admits.sort();
    assert_eq!(
        admits.len() as u64,
        ok,
        "every admitted request was observed"
    );
    assert!(
        limited > ok,
        "the key was flooded ({ok} admitted, {limited} limited)"
    );
    let elapsed = (admits[admits.len() - 1] - admits[0]) as f64 / 1e9;
    let bound = BURST as f64 + RATE * elapsed;
    assert!(
        ok as f64 <= bound,
        "admitted {ok} > burst + rate × elapsed = {bound:.2} (elapsed {elapsed:.3} s)"
    );
    assert!(
        ok as f64 >= 0.6 * bound,
        "admitted {ok}, far below {bound:.2}"
    );
    assert_eq!(
        up.hits() as u64,
        ok,
        "only admitted requests reached the upstream"
    );

    // No lock-out: the last second of the flood was still admitted at
    // roughly the rate.
    let last = admits[admits.len() - 1];
    let in_last_second = admits.iter().filter(|t| **t > last - 1_000_000_000).count() as f64;
    assert!(
        in_last_second >= 0.5 * RATE,
        "only {in_last_second} admitted in the last second"
    );
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A day quota ends exactly at midnight in the plan's timezone.
#[tokio::test]
async fn quotas_roll_over_at_midnight_in_the_plans_timezone() {
    let up = echo_upstream("a").await;
    let c = routed_to(config(), &up);
    // 23:59:58 in Chicago (CST, UTC-6).
    let clock = ManualClock::at(at("2026-11-27T05:59:58Z"));
    let app = TestApp::start_with(c, Arc::new(clock.clone()), None).await;
    app.create_plan(json!({
        "name": "p", "rate_per_second": 100, "burst": 100, "quota_per_day": 3,
        "timezone": "America/Chicago", "scopes": ["a"]
    }))
    .await;
    let (_, key) = app.create_key("p", json!({})).await;

    for _ in 0..3 {
        assert_eq!(app.get("/v1/a", &key).await.status(), 200);
    }
    let resp = app.get("/v1/a", &key).await;
    assert_eq!(resp.headers()["retry-after"], "2");
    assert!(
        resp.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .contains("\"day\";r=0;t=2")
    );
    let (status, body) = problem(resp).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("quota_exceeded"))
    );

    clock.set(at("2026-11-27T05:59:59.999Z"));
    assert_eq!(
        app.get("/v1/a", &key).await.status(),
        429,
        "still the old day"
    );
    clock.set(at("2026-11-27T06:00:00Z"));
    let resp = app.get("/v1/a", &key).await;
    assert_eq!(resp.status(), 200, "a new day in Chicago");
    assert!(
        resp.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .contains("\"day\";r=2;t=86400")
    );
    assert_eq!(up.hits(), 4, "rejected requests never reached the upstream");
}

/// Quota counts are flushed on shutdown and read back on start.
#[tokio::test]
async fn quota_counts_survive_a_restart() {
    let up = echo_upstream("a").await;
    let c = routed_to(config(), &up);
    let clock = ManualClock::at(at("2026-11-27T12:00:00Z"));
    let mut app = TestApp::start_with(c.clone(), Arc::new(clock.clone()), None).await;
    app.create_plan(json!({"name": "p", "rate_per_second": 100, "burst": 100, "quota_per_month": 5, "scopes": ["a"]}))
        .await;
    let (_, key) = app.create_key("p", json!({})).await;
    for _ in 0..4 {
        assert_eq!(app.get("/v1/a", &key).await.status(), 200);
    }
    app.stop().await;

    clock.set(at("2026-11-28T12:00:00Z"));
    let app = TestApp::start_with(c, Arc::new(clock.clone()), None).await;
    let resp = app.get("/v1/a", &key).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .contains("\"month\";r=0")
    );
    let (status, body) = problem(app.get("/v1/a", &key).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("quota_exceeded"))
    );
}

/// Rate limits answer with the IETF headers and a problem body, and the
/// time until a retry can succeed.
#[tokio::test]
async fn over_the_rate_is_429_with_headers_and_retry_after() {
    let up = echo_upstream("a").await;
    let c = routed_to(config(), &up);
    let clock = ManualClock::at(at("2026-11-27T12:00:00Z"));
    let app = TestApp::start_with(c, Arc::new(clock.clone()), None).await;
    app.create_plan(json!({"name": "p", "rate_per_second": 0.5, "burst": 2, "scopes": ["a"]}))
        .await;
    let (_, key) = app.create_key("p", json!({})).await;

    let first = app.get("/v1/a", &key).await;
    assert_eq!(first.headers()["ratelimit-policy"], "\"rate\";q=2;w=4");
    assert_eq!(first.headers()["ratelimit"], "\"rate\";r=1;t=2");
    assert_eq!(app.get("/v1/a", &key).await.status(), 200);
    let resp = app.get("/v1/a", &key).await;
    assert_eq!(resp.headers()["retry-after"], "2");
    let (status, body) = problem(resp).await;
    assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")));

    clock.advance(Duration::from_secs(2));
    assert_eq!(
        app.get("/v1/a", &key).await.status(),
        200,
        "one more after one interval"
    );
    assert_eq!(app.get("/v1/a", &key).await.status(), 429);
}

/// A per-key override replaces the plan's limits for that key only.
#[tokio::test]
async fn per_key_overrides_replace_plan_limits() {
    let up = echo_upstream("a").await;
    let c = routed_to(config(), &up);
    let clock = ManualClock::at(at("2026-11-27T12:00:00Z"));
    let app = TestApp::start_with(c, Arc::new(clock), None).await;
    app.create_plan(json!({"name": "p", "rate_per_second": 1, "burst": 1, "scopes": ["a"]}))
        .await;
    let (_, plain) = app.create_key("p", json!({})).await;
    let (_, big) = app
        .create_key("p", json!({"overrides": {"burst": 5}}))
        .await;
    let admitted = |key: String| {
        let app = &app;
        async move {
            let mut n = 0;
            for _ in 0..10 {
                if app.get("/v1/a", &key).await.status() == 200 {
                    n += 1;
                }
            }
            n
        }
    };
    assert_eq!(admitted(plain).await, 1);
    assert_eq!(admitted(big).await, 5);
}
