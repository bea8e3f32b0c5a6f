//! Path tricks must never reach the wrong route or upstream.

use serde_json::json;

use crate::support::{TestApp, config, echo_upstream, problem, route, upstream};

#[tokio::test]
async fn path_tricks_never_reach_the_wrong_route_or_upstream() {
    let canvass = echo_upstream("canvass").await;
    let admin_like = echo_upstream("internal").await;
    let mut c = config();
    c.upstreams = vec![
        upstream("canvass", &[&canvass.url()], &[], 5000),
        upstream("internal", &[&admin_like.url()], &[], 5000),
    ];
    c.routes = vec![
        route("/v1/canvass", "canvass", &["canvass"], false),
        route("/v1/internal", "internal", &["internal"], false),
    ];
    let app = TestApp::start(c).await;
    app.create_plan(
        json!({"name": "p", "rate_per_second": 1000, "burst": 1000, "scopes": ["canvass"]}),
    )
    .await;
    let (_, key) = app.create_key("p", json!({})).await;

    // Reqwest normalises dot segments, so send the raw paths over TCP.
    for (path, expected) in [
        ("/v1/canvass/../internal/x", 400),
        ("/v1/canvass/%2e%2e/internal/x", 400),
        ("/v1/canvass/.%2E/internal", 400),
        ("/v1/canvass%2f..%2finternal", 400),
        ("/v1/canvass/..%2Finternal", 400),
        ("/v1/canvass%5c..%5cinternal", 400),
        ("/v1/canvassers/x", 404),
        ("/v1/canvas", 404),
        ("/v1/internal/x", 403),
    ] {
        let (status, body) = raw_get(&app, path, &key).await;
        assert_eq!(status, expected, "{path}: {body}");
        assert!(
            body.contains("\"code\""),
            "{path} answered without a problem body: {body}"
        );
    }
    assert_eq!(canvass.hits(), 0);
    assert_eq!(admin_like.hits(), 0);

    let (status, _) = raw_get(&app, "/v1/canvass/doors/..x", &key).await;
    assert_eq!(
        status, 200,
        "a segment that merely starts with dots is fine"
    );
    assert_eq!(canvass.hits(), 1);
    let (status, body) = problem(app.get("/v1/internal", &key).await).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
}

async fn raw_get(app: &TestApp, path: &str, key: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nX-Api-Key: {key}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    (status, out)
}
