//! Starting apps and the real local servers they talk to.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use turnout_core::store::testing::{Backend, fresh_dir};
use turnout_core::{Clock, SystemClock};
use turnout_gateway::app::{self, Options, Running};
use turnout_gateway::config::{Config, LogFormat, RouteConfig, UpstreamConfig};
use turnout_gateway::edge::DecisionObserver;

pub struct TestApp {
    pub running: Option<Running>,
    pub base: String,
    pub admin_token: String,
    pub http: reqwest::Client,
}

/// A config with a fresh data dir, a random port and a known admin token.
pub fn config() -> Config {
    let mut c = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: fresh_dir("gw"),
        admin_token: Some(format!("tka_test_{}", turnout_core::token::base62(20))),
        ..Config::default()
    };
    c.log.format = LogFormat::Text;
    c.log.access = false;
    c.usage.flush_ms = 200;
    c.sync.poll_ms = 100;
    c
}

/// Routes `/v1/a` (scope `a`) to `up`, on top of `c`: the setup most
/// tests share.
pub fn routed_to(mut c: Config, up: &Upstream) -> Config {
    c.upstreams = vec![upstream("a", &[&up.url()], &[], 5000)];
    c.routes = vec![route("/v1/a", "a", &["a"], false)];
    c
}

pub async fn config_on(backend: Backend) -> Config {
    let mut c = config();
    c.store.url = backend.fresh_url().await;
    c
}

pub fn upstream(
    name: &str,
    targets: &[&str],
    failover: &[&str],
    timeout_ms: u64,
) -> UpstreamConfig {
    UpstreamConfig {
        name: name.into(),
        targets: targets.iter().map(|s| s.to_string()).collect(),
        failover: failover.iter().map(|s| s.to_string()).collect(),
        timeout_ms,
    }
}

pub fn route(prefix: &str, upstream: &str, scopes: &[&str], strip_prefix: bool) -> RouteConfig {
    RouteConfig {
        prefix: prefix.into(),
        upstream: upstream.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        auth: Default::default(),
        role: None,
        strip_prefix,
    }
}

impl TestApp {
    pub async fn start(config: Config) -> TestApp {
        Self::start_with(config, Arc::new(SystemClock::new()), None).await
    }

    pub async fn start_with(
        config: Config,
        clock: Arc<dyn Clock>,
        observer: Option<DecisionObserver>,
    ) -> TestApp {
        let running = app::start_with(config.clone(), Options { clock, observer })
            .await
            .expect("app starts");
        TestApp {
            base: format!("http://{}", running.addr),
            admin_token: config.admin_token.clone().unwrap(),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()
                .unwrap(),
            running: Some(running),
        }
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.admin_token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("admin request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn create_plan(&self, body: Value) -> Value {
        let (status, plan) = self
            .admin(reqwest::Method::POST, "/admin/v1/plans", Some(body))
            .await;
        assert_eq!(status, 201, "plan creation: {plan}");
        plan
    }

    /// Creates a key on `plan` and returns (id, full key).
    pub async fn create_key(&self, plan: &str, extra: Value) -> (String, String) {
        let mut body = json!({"name": "test key", "plan": plan});
        if let Value::Object(m) = extra {
            body.as_object_mut().unwrap().extend(m);
        }
        let (status, key) = self
            .admin(reqwest::Method::POST, "/admin/v1/keys", Some(body))
            .await;
        assert_eq!(status, 201, "key creation: {key}");
        (
            key["id"].as_str().unwrap().into(),
            key["key"].as_str().unwrap().into(),
        )
    }

    pub async fn get(&self, path: &str, key: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .header("x-api-key", key)
            .send()
            .await
            .expect("request")
    }
}

/// A real HTTP server on a random port that answers every request with
/// what it received (as JSON) and counts requests.
pub struct Upstream {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
}

impl Upstream {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct EchoState {
    name: String,
    status: u16,
    delay: Duration,
    hits: Arc<AtomicUsize>,
}

async fn echo(State(s): State<EchoState>, req: Request) -> impl IntoResponse {
    s.hits.fetch_add(1, Ordering::SeqCst);
    if !s.delay.is_zero() {
        tokio::time::sleep(s.delay).await;
    }
    let headers: serde_json::Map<String, Value> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), json!(v.to_str().unwrap_or("?"))))
        .collect();
    let body = json!({
        "upstream": s.name,
        "method": req.method().as_str(),
        "path": req.uri().path(),
        "query": req.uri().query(),
        "headers": headers,
    });
    (
        http::StatusCode::from_u16(s.status).unwrap(),
        [
            ("connection", "keep-alive".to_string()),
            ("x-upstream", s.name.clone()),
        ],
        axum::Json(body),
    )
}

/// An upstream answering `status` after `delay`.
pub async fn upstream_server(name: &str, status: u16, delay: Duration) -> Upstream {
    let hits = Arc::new(AtomicUsize::new(0));
    let state = EchoState {
        name: name.into(),
        status,
        delay,
        hits: Arc::clone(&hits),
    };
    let app = Router::new().fallback(echo).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Upstream { addr, hits }
}

pub async fn echo_upstream(name: &str) -> Upstream {
    upstream_server(name, 200, Duration::ZERO).await
}

/// An address where nothing listens (connections are refused).
///
/// The port stays bound (but not listening) for the rest of the process,
/// so no other test can take it and turn "refused" into "answered".
pub async fn refused_addr() -> String {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    std::mem::forget(socket);
    format!("http://{addr}")
}

/// The lines the `log` provider wrote to `<data_dir>/outbox/<file>`.
pub fn outbox(dir: &std::path::Path, file: &str) -> Vec<Value> {
    std::fs::read_to_string(dir.join("outbox").join(file))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The `field` of each entry in a validation problem's `errors`.
pub fn field_names(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect()
}

pub async fn problem(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert_eq!(
        ctype, "application/problem+json",
        "status {status} is not problem+json"
    );
    (status, resp.json().await.unwrap())
}

/// Every live search record as stored: ("person" | "event", document).
pub async fn search_records(app: &TestApp) -> Vec<(&'static str, Value)> {
    let store =
        turnout_search::store::SearchStore::new(app.running.as_ref().unwrap().store.clone());
    store
        .scan(0, 1_000_000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.kind.as_str(), serde_json::from_str(&r.doc).unwrap()))
        .collect()
}

/// `clients` concurrent clients, each sending GETs with `key` to one of
/// `urls` (round robin) until `for_how_long` has passed. Returns the 200s
/// and the 429s; any other status fails the test.
pub async fn flood(
    http: &reqwest::Client,
    urls: &[String],
    key: &str,
    clients: usize,
    for_how_long: Duration,
) -> (u64, u64) {
    let stop_at = std::time::Instant::now() + for_how_long;
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let (http, url, key) = (http.clone(), urls[i % urls.len()].clone(), key.to_string());
            tokio::spawn(async move {
                let (mut ok, mut limited) = (0u64, 0u64);
                while std::time::Instant::now() < stop_at {
                    let resp = http
                        .get(&url)
                        .header("x-api-key", &key)
                        .send()
                        .await
                        .unwrap();
                    match resp.status().as_u16() {
                        200 => ok += 1,
                        429 => limited += 1,
                        other => panic!("unexpected status {other}"),
                    }
                }
                (ok, limited)
            })
        })
        .collect();
    let (mut ok, mut limited) = (0, 0);
    for t in tasks {
        let (o, l) = t.await.unwrap();
        ok += o;
        limited += l;
    }
    (ok, limited)
}
