//! Scale-out drills: several gateways on one Redis, and what happens when
//! Redis, PostgreSQL or a gateway goes away. Bounds on admitted counts are
//! measured on the Redis server's clock (the decisions' `at`), strict above
//! and loose below, so a loaded machine cannot make them flake.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use turnout_core::ManualClock;
use turnout_gateway::config::{Config, LimiterBackend, RedisClock};
use turnout_gateway::edge::DecisionObserver;

use crate::faults::PrivateRedis;
use crate::limiter_conformance::{fresh_prefix, redis_url};
use crate::support::{TestApp, config, echo_upstream, flood, problem, routed_to};

/// `c` with its rate limits in Redis at `url`, under a prefix of its own.
pub fn on_redis(mut c: Config, url: &str, prefix: &str) -> Config {
    c.ratelimit.backend = LimiterBackend::Redis;
    c.ratelimit.redis_url = Some(url.to_string());
    c.ratelimit.redis_prefix = prefix.to_string();
    c
}

async fn readyz(app: &TestApp) -> (u16, Value) {
    let resp = app.http.get(app.url("/readyz")).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

const RATE: f64 = 100.0;
const BURST: u64 = 50;

/// 4 gateway instances share one Redis; 400 clients spread over them hammer
/// one key for 10 s. Admitted: at most 101 % of `burst + rate × elapsed`
/// (elapsed between the first and last admission, on Redis's clock), and at
/// least 90 %.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_gateways_on_one_redis_admit_what_one_limit_allows() {
    let up = echo_upstream("a").await;
    let prefix = fresh_prefix();
    let base = on_redis(routed_to(config(), &up), &redis_url(), &prefix);
    let admits: Arc<Mutex<Vec<i64>>> = Arc::default();
    let observer: DecisionObserver = {
        let admits = Arc::clone(&admits);
        Arc::new(move |_key, _now, d| {
            if d.allowed() {
                admits.lock().unwrap().push(d.at);
            }
        })
    };
    // One store for the four (the keys), as in production.
    let mut c = base.clone();
    c.store.url = turnout_core::store::testing::Backend::Postgres
        .fresh_url()
        .await;
    c.server.workers = Some(1);
    let mut apps = Vec::new();
    for i in 0..4 {
        let mut ci = c.clone();
        ci.data_dir = turnout_core::store::testing::fresh_dir(&format!("gw{i}"));
        apps.push(
            TestApp::start_with(
                ci,
                Arc::new(turnout_core::SystemClock::new()),
                Some(Arc::clone(&observer)),
            )
            .await,
        );
    }
    apps[0]
        .create_plan(json!({"name": "p", "rate_per_second": RATE, "burst": BURST, "scopes": ["a"]}))
        .await;
    let (_, key) = apps[0].create_key("p", json!({})).await;
    for app in &apps {
        while app.get("/v1/a/x", &key).await.status() == 401 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // The probes above took from the bucket; start counting afresh.
    tokio::time::sleep(Duration::from_secs(1)).await;
    admits.lock().unwrap().clear();

    let urls: Vec<String> = apps.iter().map(|a| a.url("/v1/a/x")).collect();
    let (ok, limited) = flood(&apps[0].http, &urls, &key, 400, Duration::from_secs(10)).await;
    let mut admits = admits.lock().unwrap().clone();
    admits.sort();
    assert_eq!(admits.len() as u64, ok, "every admission was observed");
    let elapsed = (admits[admits.len() - 1] - admits[0]) as f64 / 1e9;
    let bound = BURST as f64 + RATE * elapsed;
    eprintln!(
        "4 gateways: {ok} admitted, {limited} limited over {elapsed:.2} s (Redis clock); bound {bound:.1}, ratio {:.4}",
        ok as f64 / bound
    );
    assert!(
        ok as f64 <= bound * 1.01,
        "{ok} admitted, more than 101 % of {bound:.1}"
    );
    assert!(
        ok as f64 >= bound * 0.9,
        "{ok} admitted, under 90 % of {bound:.1}"
    );
    assert!(limited > ok, "the clients did flood the limit");
    for mut app in apps {
        app.stop().await;
    }
}

/// Redis dies mid-run and comes back. An "allow" plan keeps serving at
/// this instance's share (2 instances configured: half the burst); a
/// "deny" plan answers 503 problem+json; `/readyz` names Redis; nothing
/// answers 500. When Redis returns, exact shared limiting resumes by
/// itself and the quota units admitted meanwhile are on the shared count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_dying_falls_back_by_plan_and_recovers_by_itself() {
    let mut redis = PrivateRedis::start().await;
    let up = echo_upstream("a").await;
    let mut c = on_redis(routed_to(config(), &up), &redis.url(), "t:");
    c.ratelimit.redis_clock = RedisClock::Gateway;
    c.ratelimit.instances = Some(2);
    let clock = Arc::new(ManualClock::at("2026-11-27T12:00:00Z".parse().unwrap()));
    let app = TestApp::start_with(c, clock.clone(), None).await;
    app.create_plan(json!({"name": "open", "rate_per_second": 1, "burst": 10,
        "quota_per_day": 1000, "scopes": ["a"], "on_backend_error": "allow"}))
        .await;
    app.create_plan(json!({"name": "strict", "rate_per_second": 1, "burst": 10,
        "scopes": ["a"], "on_backend_error": "deny"}))
        .await;
    let (_, open) = app.create_key("open", json!({})).await;
    let (_, strict) = app.create_key("strict", json!({})).await;

    let statuses = |key: String, n: usize| {
        let app = &app;
        async move {
            let mut out = Vec::new();
            for _ in 0..n {
                out.push(app.get("/v1/a/x", &key).await.status().as_u16());
            }
            out
        }
    };
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["ratelimit"], "ok (redis)");
    assert_eq!(statuses(open.clone(), 3).await, [200; 3]);

    redis.stop();
    clock.advance(Duration::from_secs(60));
    // The share: burst 10 over 2 instances is 5 here.
    let during = statuses(open.clone(), 8).await;
    assert_eq!(
        during,
        [200, 200, 200, 200, 200, 429, 429, 429],
        "{during:?}"
    );
    let refused = app.get("/v1/a/x", &strict).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let (_, body) = problem(refused).await;
    assert_eq!(body["code"], "rate_limiter_unavailable");
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["checks"]["ratelimit"]
            .as_str()
            .unwrap()
            .starts_with("error"),
        "{body}"
    );

    redis.resume().await;
    let waited = Instant::now();
    loop {
        let (status, _) = readyz(&app).await;
        if status == 200 {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "never recovered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    clock.advance(Duration::from_secs(60));
    // Shared again: the whole burst (the restarted Redis lost the old
    // TAT), and the day's count holds the 5 admitted while it was down.
    let after = app.get("/v1/a/x", &open).await;
    assert_eq!(after.status(), 200);
    let state = after.headers()["ratelimit"].to_str().unwrap().to_string();
    assert!(
        state.contains("\"rate\";r=9") && state.contains("\"day\";r=994"),
        "{state}"
    );
    assert_eq!(statuses(open.clone(), 10).await[9], 429);
    assert_eq!(app.get("/v1/a/x", &strict).await.status(), 200);
}

/// The edge refuses a deny plan at once when Redis is unreachable from the
/// start, and an allow plan serves: a gateway can start during an outage.
#[tokio::test]
async fn a_gateway_starts_while_redis_is_down() {
    let mut redis = PrivateRedis::start().await;
    redis.stop();
    let up = echo_upstream("a").await;
    let mut c = on_redis(routed_to(config(), &up), &redis.url(), "t:");
    c.ratelimit.instances = Some(1);
    let app = TestApp::start(c).await;
    app.create_plan(json!({"name": "p", "rate_per_second": 10, "burst": 10, "scopes": ["a"]}))
        .await;
    let (_, key) = app.create_key("p", json!({})).await;
    assert_eq!(app.get("/v1/a/x", &key).await.status(), 200);
    assert_eq!(readyz(&app).await.0, 503);
    redis.resume().await;
    let waited = Instant::now();
    while readyz(&app).await.0 != 200 {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "never recovered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// PostgreSQL goes away mid-campaign (every connection the workers hold
/// is cut and new ones are refused for 3 s) and comes back: the worker
/// processes stay up, reconnect by themselves and finish; nothing is lost
/// and nothing is sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_ride_out_a_postgres_outage() {
    use crate::drill::{each_at_most_once, launch, pending, settled, worker};
    use turnout_outreach::queue::Queue;
    use turnout_outreach::testing::twilio_peer::TwilioPeer;

    const MESSAGES: usize = 300;
    let dir = turnout_core::store::testing::fresh_dir("pgcut");
    let url = turnout_core::store::testing::fresh_postgres_url().await;
    let store = turnout_core::Store::open(Some(&url), &dir.join("turnout-data"), 4)
        .await
        .unwrap();
    store
        .migrate("outreach", turnout_outreach::queue::MIGRATIONS)
        .await
        .unwrap();
    let queue = Queue::new(store.clone());
    let (ids, messages) = launch(&queue, MESSAGES).await;

    let (host, _) = url
        .trim_start_matches("postgres://")
        .split_once('/')
        .unwrap();
    let server = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let proxy = crate::faults::CuttableProxy::start(server).await;
    let proxied = url.replace(server, &format!("127.0.0.1:{}", proxy.port));

    let peer = TwilioPeer::start().await;
    peer.set_delay(Duration::from_millis(20));
    let mut workers: Vec<_> = (0..2)
        .map(|_| worker(&dir, Some(&proxied), &peer))
        .collect();
    // Cut once a third has gone out.
    let started = Instant::now();
    while pending(&store).await > (MESSAGES as i64 * 2) / 3 {
        assert!(started.elapsed() < Duration::from_secs(60), "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.cut();
    let at_cut = pending(&store).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.restore();

    settled(&store).await;
    for w in &mut workers {
        assert!(
            w.0.try_wait().unwrap().is_none(),
            "a worker exited during the outage"
        );
    }
    drop(workers);
    let (sent, unknown) = each_at_most_once(&queue, &ids, &messages, &peer).await;
    assert!(at_cut > 0, "the cut landed after the campaign was done");
    eprintln!("postgres outage: {at_cut} pending at the cut, {sent} sent, {unknown} unknown");
    store.close().await;
}

/// Two `turnout serve` processes share PostgreSQL and Redis; one is killed
/// with SIGKILL under load. The other answers every request throughout,
/// and the shared daily quota lost nothing: it counts every admitted
/// request, plus at most the ones in flight on the killed instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_gateway_costs_the_others_nothing() {
    use crate::cli::{serve_with, turnout};

    const PER_INSTANCE: usize = 16;
    const QUOTA: u64 = 1_000_000;
    let up = echo_upstream("a").await;
    let store = turnout_core::store::testing::fresh_postgres_url().await;
    let admin = format!("tka_test_{}", turnout_core::token::base62(20));
    let config = format!(
        r#"
admin_token = "{admin}"
[store]
url = "{store}"
[ratelimit]
backend = "redis"
redis_url = "{redis}"
redis_prefix = "{prefix}"
[[upstreams]]
name = "a"
targets = ["{up}"]
[[routes]]
prefix = "/v1/a"
upstream = "a"
scopes = ["a"]
"#,
        redis = redis_url(),
        prefix = fresh_prefix(),
        up = up.url(),
    );
    let start = || {
        let dir = turnout_core::store::testing::fresh_dir("kill");
        std::fs::write(dir.join("turnout.toml"), &config).unwrap();
        let (server, base, _log) = serve_with(
            turnout(&dir)
                .env("TURNOUT_LOG__LEVEL", "warn,turnout_gateway::app=info")
                .args(["serve", "--config", "turnout.toml"]),
        );
        (server, base)
    };
    let (_survivor, a) = start();
    let (mut victim, b) = start();
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{a}/admin/v1/plans"))
        .bearer_auth(&admin)
        .json(
            &json!({"name": "p", "rate_per_second": 100000, "burst": 100000,
            "quota_per_day": QUOTA, "scopes": ["a"]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(created["id"].is_string(), "{created}");
    let key: Value = http
        .post(format!("{a}/admin/v1/keys"))
        .bearer_auth(&admin)
        .json(&json!({"name": "k", "plan": "p"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap().to_string();
    let known = Instant::now();
    loop {
        let s = http
            .get(format!("{b}/v1/a/x"))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap()
            .status();
        if s == 200 {
            break;
        }
        assert!(
            known.elapsed() < Duration::from_secs(10),
            "b never knew the key"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let stop_at = Instant::now() + Duration::from_secs(3);
    let mut clients = Vec::new();
    for (base, survives) in [(&a, true), (&b, false)] {
        for _ in 0..PER_INSTANCE {
            let (http, url, key) = (http.clone(), format!("{base}/v1/a/x"), key.clone());
            clients.push(tokio::spawn(async move {
                let mut ok = 0u64;
                while Instant::now() < stop_at {
                    match http.get(&url).header("x-api-key", &key).send().await {
                        Ok(r) if r.status() == 200 => ok += 1,
                        Ok(r) => panic!("{url} answered {}", r.status()),
                        Err(e) if survives => panic!("the surviving gateway failed: {e}"),
                        Err(_) => break,
                    }
                }
                ok
            }));
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    victim.0.kill().unwrap(); // SIGKILL
    victim.0.wait().unwrap();
    let mut ok = 1; // the probe that found the key on b
    for c in clients {
        ok += c.await.unwrap();
    }
    let last = http
        .get(format!("{a}/v1/a/x"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(last.status(), 200);
    ok += 1;
    let state = last.headers()["ratelimit"].to_str().unwrap().to_string();
    let remaining: u64 = state
        .split("\"day\";r=")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .unwrap()
        .parse()
        .unwrap();
    let counted = QUOTA - remaining;
    eprintln!("killed gateway: {ok} answered 200, {counted} counted on the shared quota");
    assert!(counted >= ok, "{counted} counted < {ok} admitted");
    assert!(
        counted <= ok + PER_INSTANCE as u64,
        "{counted} counted: more than {ok} admitted plus {PER_INSTANCE} in flight"
    );
}
