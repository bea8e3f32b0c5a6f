//! Proxying to real local upstream servers.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    TestApp, config, echo_upstream, problem, refused_addr, route, upstream, upstream_server,
};

async fn app_with(
    upstreams: Vec<turnout_gateway::config::UpstreamConfig>,
    routes: Vec<turnout_gateway::config::RouteConfig>,
) -> (TestApp, String) {
    let mut c = config();
    c.upstreams = upstreams;
    c.routes = routes;
    let app = TestApp::start(c).await;
    app.create_plan(
        json!({"name": "p", "rate_per_second": 1000, "burst": 1000, "scopes": ["a", "b"]}),
    )
    .await;
    let (_, key) = app.create_key("p", json!({})).await;
    (app, key)
}

#[tokio::test]
async fn headers_are_stripped_and_forwarded() {
    let up = echo_upstream("a").await;
    let (app, key) = app_with(
        vec![upstream("a", &[&up.url()], &[], 5000)],
        vec![route("/v1/a", "a", &["a"], true)],
    )
    .await;
    let resp = app
        .http
        .get(app.url(&format!("/v1/a/doors?street=Main&api_key={key}&x=1")))
        .header("x-request-id", "trace-abc-123")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-proto", "gopher")
        .header("forwarded", "for=6.6.6.6")
        .header("x-turnout-person", "p_admin")
        .header("x-turnout-role", "admin")
        .header("connection", "x-private")
        .header("x-private", "secret")
        .header("authorization", "Bearer user.jwt.token")
        .header("x-app-version", "3.2.1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "trace-abc-123");
    assert!(resp.headers().contains_key("ratelimit"));
    let seen: Value = resp.json().await.unwrap();
    let h = &seen["headers"];
    assert_eq!(
        seen["path"], "/doors",
        "strip_prefix removes the route prefix"
    );
    assert_eq!(
        seen["query"], "street=Main&x=1",
        "api_key never reaches the upstream"
    );
    assert_eq!(h["x-request-id"], "trace-abc-123");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-app-version"], "3.2.1");
    for gone in [
        "forwarded",
        "x-turnout-person",
        "x-turnout-role",
        "x-private",
        "authorization",
        "x-api-key",
    ] {
        assert!(h.get(gone).is_none(), "{gone} was forwarded: {h}");
    }
}

#[tokio::test]
async fn a_long_or_odd_client_request_id_is_replaced() {
    let up = echo_upstream("a").await;
    let (app, key) = app_with(
        vec![upstream("a", &[&up.url()], &[], 5000)],
        vec![route("/v1/a", "a", &["a"], false)],
    )
    .await;
    let resp = app
        .http
        .get(app.url("/v1/a"))
        .header("x-api-key", &key)
        .header("x-request-id", "x".repeat(129))
        .send()
        .await
        .unwrap();
    let rid = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(rid.len(), 129);
    let seen: Value = resp.json().await.unwrap();
    assert_eq!(
        seen["headers"]["x-request-id"],
        rid.as_str(),
        "the upstream sees the id the client is told"
    );
}

#[tokio::test]
async fn refused_upstream_is_502_and_slow_upstream_is_504() {
    let slow = upstream_server("slow", 200, Duration::from_secs(3)).await;
    let (app, key) = app_with(
        vec![
            upstream("down", &[&refused_addr().await], &[], 5000),
            upstream("slow", &[&slow.url()], &[], 300),
        ],
        vec![
            route("/v1/a", "down", &["a"], false),
            route("/v1/b", "slow", &["b"], false),
        ],
    )
    .await;
    let (status, body) = problem(app.get("/v1/a/x", &key).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (502, Some("upstream_unavailable"))
    );
    let (status, body) = problem(app.get("/v1/b/x", &key).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (504, Some("upstream_timeout"))
    );
}

#[tokio::test]
async fn a_failing_target_is_ejected() {
    let bad = upstream_server("bad", 503, Duration::ZERO).await;
    let good = echo_upstream("good").await;
    let (app, key) = app_with(
        vec![upstream("a", &[&bad.url(), &good.url()], &[], 5000)],
        vec![route("/v1/a", "a", &["a"], false)],
    )
    .await;
    // Round-robin sends every other request to the failing target until it
    // has failed three times in a row.
    for _ in 0..6 {
        app.get("/v1/a", &key).await;
    }
    assert_eq!(bad.hits(), 3);
    let before = good.hits();
    for _ in 0..20 {
        assert_eq!(app.get("/v1/a", &key).await.status(), 200);
    }
    assert_eq!(bad.hits(), 3, "the ejected target got no more requests");
    assert_eq!(good.hits(), before + 20);
}

#[tokio::test]
async fn the_failover_group_serves_when_every_primary_is_down() {
    let backup = echo_upstream("backup").await;
    let (app, key) = app_with(
        vec![upstream(
            "a",
            &[&refused_addr().await, &refused_addr().await],
            &[&backup.url()],
            5000,
        )],
        vec![route("/v1/a", "a", &["a"], false)],
    )
    .await;
    for _ in 0..10 {
        let resp = app.get("/v1/a/doors", &key).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-upstream"], "backup");
    }
    assert_eq!(backup.hits(), 10);
}

#[tokio::test]
async fn request_bodies_and_methods_pass_through() {
    let up = echo_upstream("a").await;
    let (app, key) = app_with(
        vec![upstream("a", &[&up.url()], &[], 5000)],
        vec![route("/v1/a", "a", &["a"], false)],
    )
    .await;
    let resp = app
        .http
        .post(app.url("/v1/a/doors"))
        .header("x-api-key", &key)
        .json(&json!({"knocked": 12}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen: Value = resp.json().await.unwrap();
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["headers"]["content-type"], "application/json");
}

/// Shutdown stops accepting but lets a request already in flight finish.
#[tokio::test]
async fn shutdown_finishes_in_flight_requests_and_refuses_new_connections() {
    let slow = upstream_server("slow", 200, Duration::from_millis(700)).await;
    let (mut app, key) = app_with(
        vec![upstream("slow", &[&slow.url()], &[], 5000)],
        vec![route("/v1/a", "slow", &["a"], false)],
    )
    .await;
    let in_flight = {
        let (http, url, key) = (app.http.clone(), app.url("/v1/a"), key.clone());
        tokio::spawn(async move { http.get(url).header("x-api-key", key).send().await })
    };
    // Wait until the request has reached the upstream, then shut down.
    while slow.hits() == 0 {
        tokio::task::yield_now().await;
    }
    let base = app.base.clone();
    app.stop().await;
    let resp = in_flight
        .await
        .unwrap()
        .expect("the in-flight request was answered");
    assert_eq!(resp.status(), 200);
    let fresh = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .send()
        .await;
    assert!(
        fresh.is_err(),
        "a new connection after shutdown was accepted"
    );
}
