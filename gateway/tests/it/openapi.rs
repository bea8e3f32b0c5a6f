//! The OpenAPI document against the code that serves the API: the
//! checked-in copy must be what the annotations generate, every route the
//! code registers must be in it, and every operation in it must be routed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::support::{TestApp, config, outbox};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the gateway crate sits in the workspace")
        .to_path_buf()
}

const REGENERATE: &str = "cargo run --bin turnout -- openapi --out openapi/openapi.json";

/// Where two texts first differ, as a line number and the two lines.
fn first_difference(a: &str, b: &str) -> Option<(usize, String, String)> {
    let (mut la, mut lb) = (a.lines(), b.lines());
    for n in 1.. {
        match (la.next(), lb.next()) {
            (None, None) => return None,
            (x, y) if x == y => continue,
            (x, y) => {
                return Some((
                    n,
                    x.unwrap_or("<end of file>").to_string(),
                    y.unwrap_or("<end of file>").to_string(),
                ));
            }
        }
    }
    unreachable!()
}

/// The first place two JSON documents differ, as a JSON pointer with both
/// values there, so a failing drift check says which operation changed.
fn json_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => json_difference(p, q, &here),
                    (p, q) => Some(format!("{here}: checked in {p:?}, generated {q:?}")),
                }
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| json_difference(p, q, &format!("{at}/{i}"))),
        (p, q) if p == q => None,
        (p, q) => Some(format!("{at}: checked in {p}, generated {q}")),
    }
}

#[test]
fn the_checked_in_document_is_what_the_code_generates() {
    let generated = turnout_gateway::openapi::document_json();
    let path = repo().join("openapi/openapi.json");
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    if let Some((line, theirs, ours)) = first_difference(&checked_in, &generated) {
        let parsed: Value = serde_json::from_str(&checked_in).unwrap_or(Value::Null);
        let where_ = json_difference(&parsed, &serde_json::from_str(&generated).unwrap(), "")
            .unwrap_or_else(|| "the same JSON, written differently".into());
        panic!(
            "openapi/openapi.json differs from what the code generates; regenerate it with\n    {REGENERATE}\n\
             first difference: {where_}\n\
             (line {line}:\n  checked in: {theirs}\n  generated:  {ours})"
        );
    }
    // A trailing-newline-only difference is a difference too.
    assert_eq!(checked_in, generated, "regenerate with {REGENERATE}");
}

#[test]
fn the_drift_check_sees_a_changed_operation() {
    // What the test above compares: a document with one operation's
    // answer changed must not compare equal to the generated one.
    let generated = turnout_gateway::openapi::document_json();
    let mut doc: Value = serde_json::from_str(&generated).unwrap();
    doc["paths"]["/v1/events/{id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] =
        json!({"$ref": "#/components/schemas/Person"});
    let changed = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    let (line, _, _) = first_difference(&changed, &generated).expect("the change is seen");
    assert!(line > 1);
    let original: Value = serde_json::from_str(&generated).unwrap();
    let report = json_difference(&doc, &original, "").expect("the change is located");
    assert!(
        report.starts_with(
            "/paths/~1v1~1events~1{id}/get/responses/200/content/application~1json/schema/$ref"
        ),
        "{report}"
    );
}

fn document() -> Value {
    serde_json::from_str(&turnout_gateway::openapi::document_json()).unwrap()
}

const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(move |m| (path.clone(), m.to_string()))
        })
        .collect()
}

/// Every path the code registers with `.route("...")`, read from the
/// sources of the crates that serve HTTP (the Twilio test peer aside).
fn registered_paths() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack: Vec<PathBuf> = ["gateway/src", "search/src", "outreach/src"]
        .iter()
        .map(|d| repo().join(d))
        .collect();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if !path.ends_with("testing") {
                    stack.push(path);
                }
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let mut rest = text.as_str();
            while let Some(i) = rest.find(".route(") {
                rest = &rest[i + ".route(".len()..];
                let trimmed = rest.trim_start();
                if let Some(lit) = trimmed.strip_prefix('"') {
                    let end = lit.find('"').unwrap();
                    out.insert(lit[..end].to_string());
                }
            }
        }
    }
    out
}

#[test]
fn every_registered_route_is_documented_and_every_documented_path_registered() {
    let documented: BTreeSet<String> = operations(&document())
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let registered = registered_paths();
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&registered).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the OpenAPI document (annotate the handler with #[utoipa::path] and list it in its crate's doc): {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "paths in the OpenAPI document that no router registers: {unrouted:?}"
    );
}

/// Whether an answer is the router's own "no such endpoint" or "method
/// not allowed", rather than the handler's.
async fn routed(resp: reqwest::Response) -> (u16, bool) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let fallback = status == 405 || (status == 404 && body["detail"] == "no such endpoint");
    (status, !fallback)
}

/// Signs a phone number in through the `log` provider's outbox: the
/// access token.
pub async fn sign_in(app: &TestApp, key: &str, dir: &Path, phone: &str) -> String {
    let r = app
        .http
        .post(app.url("/v1/auth/otp"))
        .header("x-api-key", key)
        .json(&json!({"phone": phone}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let started = std::time::Instant::now();
    let code = loop {
        let line = outbox(dir, "sms.ndjson")
            .into_iter()
            .find(|l| l["to"] == phone);
        if let Some(line) = line {
            break line["body"]
                .as_str()
                .unwrap()
                .split(|c: char| !c.is_ascii_digit())
                .find(|w| w.len() == 6)
                .expect("six digits in the message")
                .to_string();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "no code arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let t: Value = app
        .http
        .post(app.url("/v1/auth/token"))
        .header("x-api-key", key)
        .json(&json!({"grant_type": "otp", "phone": phone, "code": code}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    t["access_token"].as_str().expect("signed in").to_string()
}

#[tokio::test]
async fn the_live_router_serves_exactly_the_documented_methods() {
    let c = config();
    let dir = c.data_dir.clone();
    let app = TestApp::start(c).await;
    app.create_plan(
        json!({"name": "all", "rate_per_second": 1000, "burst": 1000,
        "scopes": ["events", "events:private", "events:write", "people:read", "people:write",
                   "attendances", "messages:send", "campaigns"]}),
    )
    .await;
    let (_, key) = app.create_key("all", json!({})).await;
    let token = sign_in(&app, &key, &dir, "+12155550142").await;
    let doc = document();
    let ops = operations(&doc);
    let paths: BTreeSet<String> = ops.iter().map(|(p, _)| p.clone()).collect();
    let mut wrong = Vec::new();
    for path in &paths {
        let concrete = path
            .replace("{id}", "987654")
            .replace("{name}", "no-such-template")
            .replace("{token}", "no-such-token");
        for method in METHODS {
            let documented = ops.contains(&(path.clone(), method.to_string()));
            let mut req = app
                .http
                .request(method.to_uppercase().parse().unwrap(), app.url(&concrete));
            req = if path.starts_with("/admin/") {
                req.bearer_auth(&app.admin_token)
            } else {
                req.header("x-api-key", &key).bearer_auth(&token)
            };
            if method != "get" && method != "delete" {
                req = req.header("content-type", "application/json").body("{}");
            }
            let (status, handled) = routed(req.send().await.unwrap()).await;
            if handled != documented {
                wrong.push(format!(
                    "{} {path}: {status} ({})",
                    method.to_uppercase(),
                    if documented {
                        "documented but not routed"
                    } else {
                        "routed but not documented"
                    }
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "router and document disagree:\n{}",
        wrong.join("\n")
    );
}

#[tokio::test]
async fn the_server_serves_the_document_and_the_docs_page() {
    let app = TestApp::start(config()).await;
    let resp = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let served: Value = resp.json().await.unwrap();
    assert_eq!(served, document());
    assert_eq!(served["openapi"], "3.1.0");

    let resp = app.http.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = resp.text().await.unwrap();
    // Works offline: nothing is fetched from anywhere but this server.
    for remote in ["http://", "https://", "//cdn", "<script src"] {
        assert!(!page.contains(remote), "the docs page refers to {remote:?}");
    }
    assert!(page.contains("/openapi.json"));
}

/// A real browser (Debian's Chromium, headless, no network but this
/// server) loads `/docs`, runs its script, and the page it renders has one
/// operation element per operation in the document.
#[tokio::test]
async fn a_browser_renders_every_operation_on_the_docs_page() {
    let app = TestApp::start(config()).await;
    let expected = operations(&document()).len();
    let browser = std::env::var("TURNOUT_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&browser).exists(),
        "{browser} is missing: scripts/test installs Debian's chromium (or set TURNOUT_CHROMIUM)"
    );
    let profile = turnout_core::store::testing::fresh_dir("chromium");
    let url = app.url("/docs");
    let dom = tokio::task::spawn_blocking(move || {
        std::process::Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            // Lets the page's fetch of /openapi.json and its rendering
            // finish before the DOM is written out.
            .arg("--virtual-time-budget=15000")
            .arg("--dump-dom")
            .arg(url)
            .output()
            .expect("chromium runs")
    })
    .await
    .unwrap();
    let html = String::from_utf8_lossy(&dom.stdout);
    let rendered = html.matches("class=\"operation\"").count();
    assert!(
        !html.contains("<p id=\"error\">"),
        "the page could not load the document"
    );
    assert_eq!(
        rendered, expected,
        "operations rendered on /docs against operations in the document"
    );
    // Each has its "try it" form and its answers.
    assert_eq!(html.matches("class=\"try\"").count(), expected);
    assert!(html.matches("class=\"response\"").count() >= expected);
}

/// The "try it" form, used as a reader would (openapi/contract/try_it.cjs
/// drives Chromium through playwright-core): the key typed at the top of
/// the page goes with the request, and the page shows the answer.
#[tokio::test]
async fn the_docs_page_tries_an_operation_with_the_readers_key() {
    let app = TestApp::start(config()).await;
    app.create_plan(json!({"name": "docs", "rate_per_second": 100, "burst": 100,
        "scopes": ["events", "events:write"]}))
        .await;
    let (_, key) = app.create_key("docs", json!({})).await;
    let created = app
        .http
        .post(app.url("/v1/events"))
        .header("x-api-key", &key)
        .json(
            &json!({"title": "Tried from the docs", "event_type": "CANVASS",
            "location": {"postal_code": "19107"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let script = repo().join("openapi/contract/try_it.cjs");
    let (base, typed) = (app.base.clone(), key.clone());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(script)
            .arg(base)
            .arg(typed)
            .output()
            .expect("node runs (scripts/peers.sh installs playwright-core)")
    })
    .await
    .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{shown}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shown.starts_with("200 OK"), "{shown}");
    assert!(shown.contains("ratelimit-policy: "), "{shown}");
    assert!(shown.contains("\"Tried from the docs\""), "{shown}");
    assert!(shown.contains("\"count\": 1"), "{shown}");
}
