//! Bad input gets a 4xx problem (or, for a stalled client, a closed
//! connection), never a 500, and changes nothing.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{TestApp, config, echo_upstream, problem, routed_to};

async fn app() -> (TestApp, String, String, crate::support::Upstream) {
    let up = echo_upstream("a").await;
    let mut c = routed_to(config(), &up);
    c.server.max_body_bytes = 1024;
    c.server.header_read_timeout_ms = 300;
    c.server.body_read_timeout_ms = 300;
    let app = TestApp::start(c).await;
    app.create_plan(json!({"name": "p", "rate_per_second": 1000, "burst": 1000, "scopes": ["a"]}))
        .await;
    let (id, key) = app.create_key("p", json!({})).await;
    (app, id, key, up)
}

/// The key with its last character changed (to one it was not).
fn wrong_last_char(key: &str) -> String {
    let (head, last) = key.split_at(key.len() - 1);
    format!("{head}{}", if last == "X" { "Y" } else { "X" })
}

#[tokio::test]
async fn missing_malformed_unknown_disabled_and_revoked_keys() {
    let (app, id, key, up) = app().await;
    let resp = app.http.get(app.url("/v1/a")).send().await.unwrap();
    assert!(resp.headers().contains_key("x-request-id"));
    assert_eq!(problem(resp).await.1["code"], "invalid_api_key");
    for bad in [
        "nonsense",
        "tk_",
        &key[..key.len() - 1],
        &wrong_last_char(&key),
        "tk_aaaaaaaaaaaa_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ] {
        let (status, body) = problem(app.get("/v1/a", bad).await).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("invalid_api_key")),
            "{bad}"
        );
    }
    let resp = app
        .http
        .get(app.url("/v1/a"))
        .header("x-api-key", &b"\xff\xfe"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(problem(resp).await.0, 401);

    app.admin(
        reqwest::Method::PATCH,
        &format!("/admin/v1/keys/{id}"),
        Some(json!({"status": "disabled"})),
    )
    .await;
    let (status, body) = problem(app.get("/v1/a", &key).await).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("key_disabled")));
    app.admin(
        reqwest::Method::PATCH,
        &format!("/admin/v1/keys/{id}"),
        Some(json!({"status": "active"})),
    )
    .await;
    assert_eq!(app.get("/v1/a", &key).await.status(), 200);
    app.admin(
        reqwest::Method::DELETE,
        &format!("/admin/v1/keys/{id}"),
        None,
    )
    .await;
    let (status, body) = problem(app.get("/v1/a", &key).await).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("key_disabled")));
    let (status, _) = app
        .admin(
            reqwest::Method::PATCH,
            &format!("/admin/v1/keys/{id}"),
            Some(json!({"status": "active"})),
        )
        .await;
    assert_eq!(status, 409, "a revoked key stays revoked");
    assert_eq!(up.hits(), 1);
}

#[tokio::test]
async fn oversized_bodies_are_413_declared_or_chunked() {
    let (app, _, key, up) = app().await;
    let resp = app
        .http
        .post(app.url("/v1/a"))
        .header("x-api-key", &key)
        .body(vec![b'x'; 4096])
        .send()
        .await
        .unwrap();
    let (status, body) = problem(resp).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    let chunks =
        futures_util::stream::iter((0..8).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 512])));
    let resp = app
        .http
        .post(app.url("/v1/a"))
        .header("x-api-key", &key)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(resp).await.0, 413);
    assert_eq!(up.hits(), 0);
}

#[tokio::test]
async fn a_client_stalling_in_its_headers_is_disconnected() {
    let (app, _, _, _) = app().await;
    let mut s = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    s.write_all(b"GET /v1/a HTTP/1.1\r\nHost: x\r\nX-Api-")
        .await
        .unwrap();
    let mut buf = Vec::new();
    // The server closes the connection; the bound only keeps a broken
    // server from hanging the suite.
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection was not closed");
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
}

#[tokio::test]
async fn a_client_stalling_in_its_body_gets_408_and_is_disconnected() {
    let (app, _, key, up) = app().await;
    let mut s = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /v1/a HTTP/1.1\r\nHost: x\r\nX-Api-Key: {key}\r\nContent-Length: 100\r\n\r\n0123456789"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("closed")
        .unwrap();
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"));
    assert_eq!(up.hits(), 0);
}

#[tokio::test]
async fn unknown_paths_outside_v1_are_problems() {
    let (app, _, _, _) = app().await;
    let (status, body) =
        problem(app.http.get(app.url("/nothing/here")).send().await.unwrap()).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready: serde_json::Value = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["checks"]["store"], "ok");
}
