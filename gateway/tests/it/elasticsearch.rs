//! The gateway on the Elasticsearch engine (osmem-server, started by
//! scripts/peers.sh): a reindex moves the alias to a new index while
//! searches keep being answered, and the drill where the search server
//! goes away and comes back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use turnout_core::SystemClock;
use turnout_gateway::config::{Config, SearchEngineKind};

use crate::faults::CuttableProxy;
use crate::search_api::{
    app_with_key_on, edits_are_followed_and_reindex_drops_no_query_on, eventually, get, post,
};
use crate::support::{config, problem};

pub fn search_server() -> String {
    std::env::var("TURNOUT_TEST_OSMEM_URL").unwrap_or_else(|_| "http://127.0.0.1:9251".into())
}

/// `c` searching on Elasticsearch at `url`, under an alias of its own.
fn on_elasticsearch(mut c: Config, url: &str) -> (Config, String) {
    let alias = format!("turnout-it-{}", turnout_core::token::lower36(10));
    c.search.engine = SearchEngineKind::Elasticsearch;
    c.search.url = Some(url.to_string());
    c.search.index = Some(alias.clone());
    c.search.timeout_ms = Some(2_000);
    (c, alias)
}

/// The concrete index the alias points to.
async fn alias_target(alias: &str) -> String {
    let v: Value = reqwest::get(format!("{}/_alias/{alias}", search_server()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v.as_object().unwrap().keys().next().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reindex_swaps_the_alias_and_drops_no_query() {
    let (c, alias) = on_elasticsearch(config(), &search_server());
    let (app, key) = app_with_key_on(c, Arc::new(SystemClock::new())).await;
    // The first search opens the index.
    eventually(&app, "/v1/events", &key, |b| b["count"] == 0).await;
    let before = alias_target(&alias).await;
    edits_are_followed_and_reindex_drops_no_query_on(app, key).await;
    let after = alias_target(&alias).await;
    assert_ne!(before, after, "the alias moved to the rebuilt index");
    let old = reqwest::get(format!("{}/{before}", search_server()))
        .await
        .unwrap();
    assert_eq!(old.status(), 404, "the replaced index is deleted");
}

/// The search server goes away (a proxy the test owns is cut): search
/// answers 503 `search_unavailable` with `Retry-After`, the rest of the
/// API keeps working, `/readyz` names the index, and an event written
/// meanwhile is found once the server is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_server_down_is_503_and_writes_catch_up() {
    let server = search_server();
    let proxy = CuttableProxy::start(server.trim_start_matches("http://")).await;
    let (c, _) = on_elasticsearch(config(), &format!("http://127.0.0.1:{}", proxy.port));
    let (app, key) = app_with_key_on(c, Arc::new(SystemClock::new())).await;
    let (status, _) = post(
        &app,
        "/v1/events",
        &key,
        json!({"title": "Before the outage", "event_type": "CANVASS"}),
    )
    .await;
    assert_eq!(status, 201);
    eventually(&app, "/v1/events", &key, |b| b["count"] == 1).await;

    proxy.cut();
    let resp = app
        .http
        .get(app.url("/v1/events"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert!(resp.headers().contains_key("retry-after"));
    let (status, body) = problem(resp).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("search_unavailable"))
    );
    // Writes still land in the store.
    let (status, written) = post(
        &app,
        "/v1/events",
        &key,
        json!({"title": "During the outage", "event_type": "PHONE_BANK"}),
    )
    .await;
    assert_eq!(status, 201, "{written}");
    let (status, fetched) = get(&app, &format!("/v1/events/{}", written["id"]), &key).await;
    assert_eq!(status, 200, "{fetched}");
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert!(
        ready["checks"]["index"]
            .as_str()
            .unwrap()
            .starts_with("error"),
        "{ready}"
    );
    assert_eq!(ready["checks"]["store"], "ok");

    proxy.restore();
    let back = Instant::now();
    loop {
        if app
            .http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            == 200
        {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(30),
            "never ready again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let found = eventually(&app, "/v1/events?q=outage", &key, |b| b["count"] == 2).await;
    assert_eq!(found["count"], 2);
}
