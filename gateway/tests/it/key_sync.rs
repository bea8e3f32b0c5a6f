//! Several instances on one PostgreSQL store see each other's key changes.

use std::time::{Duration, Instant};

use serde_json::json;
use turnout_core::store::testing::Backend;

use crate::support::{TestApp, config_on, echo_upstream, routed_to};

#[tokio::test]
async fn a_key_disabled_on_one_instance_is_refused_by_another_within_a_second() {
    let up = echo_upstream("a").await;
    let mut c = routed_to(config_on(Backend::Postgres).await, &up);
    c.sync.poll_ms = 250;
    let mut c2 = c.clone();
    c2.data_dir = turnout_core::store::testing::fresh_dir("gw2");
    let one = TestApp::start(c).await;
    let two = TestApp::start(c2).await;

    one.create_plan(json!({"name": "p", "rate_per_second": 1000, "burst": 1000, "scopes": ["a"]}))
        .await;
    let (id, key) = one.create_key("p", json!({})).await;
    assert_eq!(
        one.get("/v1/a", &key).await.status(),
        200,
        "in force at once where it was made"
    );
    let created = Instant::now();
    while two.get("/v1/a", &key).await.status() != 200 {
        assert!(
            created.elapsed() < Duration::from_secs(1),
            "the new key did not reach the second instance within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (status, _) = one
        .admin(
            reqwest::Method::PATCH,
            &format!("/admin/v1/keys/{id}"),
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(status, 200);
    let disabled = Instant::now();
    loop {
        let status = two.get("/v1/a", &key).await.status();
        if status == 403 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            disabled.elapsed() < Duration::from_secs(1),
            "the second instance still admits the disabled key after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Revocation, plan changes and a rotated admin token travel the same way.
    let (status, _) = one
        .admin(
            reqwest::Method::DELETE,
            &format!("/admin/v1/keys/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, key_view) = two
        .admin(reqwest::Method::GET, &format!("/admin/v1/keys/{id}"), None)
        .await;
    assert_eq!(
        (status, key_view["status"].as_str()),
        (200, Some("revoked"))
    );
}

/// With Redis configured, a change is announced: the second instance polls
/// only once a minute here, so only the announcement can bring it the new
/// key and then the disabling.
#[tokio::test]
async fn with_redis_a_change_is_announced_to_the_other_instances() {
    let up = echo_upstream("a").await;
    let base = routed_to(config_on(Backend::Postgres).await, &up);
    let mut c = crate::scale_out::on_redis(
        base,
        &crate::limiter_conformance::redis_url(),
        &crate::limiter_conformance::fresh_prefix(),
    );
    c.sync.poll_ms = 60_000;
    let mut c2 = c.clone();
    c2.data_dir = turnout_core::store::testing::fresh_dir("gw2");
    let one = TestApp::start(c).await;
    let two = TestApp::start(c2).await;
    // Both have subscribed once /readyz answers and a moment has passed
    // for the subscription; announce until the second one has it.
    one.create_plan(json!({"name": "p", "rate_per_second": 1000, "burst": 1000, "scopes": ["a"]}))
        .await;
    let (id, key) = one.create_key("p", json!({})).await;
    let started = Instant::now();
    while two.get("/v1/a", &key).await.status() != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the announcement never arrived"
        );
        // A change nobody needs, to announce again (the first may have
        // gone out before the second instance subscribed).
        one.admin(
            reqwest::Method::PATCH,
            &format!("/admin/v1/keys/{id}"),
            Some(json!({"status": "active"})),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _) = one
        .admin(
            reqwest::Method::PATCH,
            &format!("/admin/v1/keys/{id}"),
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(status, 200);
    let disabled = Instant::now();
    while two.get("/v1/a", &key).await.status() != 403 {
        assert!(
            disabled.elapsed() < Duration::from_secs(20),
            "the disabling never arrived (polling is off)"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!("announced change in force after {:?}", disabled.elapsed());
}
