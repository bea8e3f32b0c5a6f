//! The `turnout` binary as a newcomer and an operator use it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use turnout_core::store::testing::fresh_dir;

pub fn turnout(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_turnout"));
    cmd.current_dir(dir)
        .env_remove("TURNOUT_CONFIG")
        .env_remove("RUST_LOG")
        .env("TURNOUT_LISTEN", "127.0.0.1:0")
        .env("TURNOUT_LOG__LEVEL", "info")
        .env("TURNOUT_LOG__ACCESS", "false")
        .env("TURNOUT_SYNC__POLL_MS", "100");
    cmd
}

/// A `turnout serve` process, killed if a failing test leaves it running.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `turnout serve` in `dir` and returns it with its base URL. Its log
/// keeps being read (and dropped) so the server never writes to a closed
/// pipe.
fn serve(dir: &std::path::Path) -> (Server, String) {
    let (server, base, _log) = serve_with(turnout(dir).arg("serve"));
    (server, base)
}

/// Like [`serve`], for a prepared command; the log lines (JSON) after the
/// listening line arrive on the returned channel.
pub fn serve_with(cmd: &mut Command) -> (Server, String, std::sync::mpsc::Receiver<String>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let base = loop {
        let Some(Ok(line)) = lines.next() else {
            panic!("turnout serve ended before listening: {seen:?}")
        };
        if let Some(pos) = line.find("\"addr\":\"") {
            let rest = &line[pos + 8..];
            break format!("http://{}", &rest[..rest.find('"').unwrap()]);
        }
        seen.push(line);
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (Server(child), base, rx)
}

fn stdout_lines(server: &mut Server) -> Vec<String> {
    let stdout = server.0.stdout.take().unwrap();
    BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .collect()
}

fn sigterm(server: &Server) {
    Command::new("kill")
        .arg("-TERM")
        .arg(server.0.id().to_string())
        .status()
        .unwrap();
}

fn run_ok(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

#[tokio::test]
async fn first_start_prints_the_admin_token_once_and_cli_changes_reach_the_server() {
    let dir = fresh_dir("cli");
    let (mut server, base) = serve(&dir);
    let http = reqwest::Client::new();

    let plan = run_ok(turnout(&dir).args([
        "plans", "create", "--name", "starter", "--rate", "50", "--burst", "50", "--scopes",
        "events",
    ]));
    assert_eq!(plan["name"], "starter");
    let key = run_ok(turnout(&dir).args(["keys", "create", "--name", "app", "--plan", "starter"]));
    let secret = key["key"].as_str().unwrap().to_string();
    let id = key["id"].as_str().unwrap().to_string();

    // A key made by the CLI is known to the running server within a second
    // (no route serves /v1/nothing, so a known key gets 404, an unknown 401).
    let made = Instant::now();
    loop {
        let status = http
            .get(format!("{base}/v1/nothing"))
            .header("x-api-key", &secret)
            .send()
            .await
            .unwrap()
            .status();
        if status == 404 {
            break;
        }
        assert!(
            made.elapsed() < Duration::from_secs(1),
            "the server did not pick up the CLI's key: {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    run_ok(turnout(&dir).args(["keys", "disable", &id]));
    let listed = run_ok(turnout(&dir).args(["keys", "list"]));
    assert_eq!(listed[0]["status"], "disabled");
    assert!(listed[0].get("key").is_none());

    // SIGTERM: a clean exit, and the usage of the requests above is flushed.
    sigterm(&server);
    let printed = stdout_lines(&mut server).join("\n");
    assert!(server.0.wait().unwrap().success());
    let token = printed
        .split_whitespace()
        .find(|w| w.starts_with("tka_"))
        .expect("admin token printed")
        .to_string();
    assert!(
        printed.contains("/admin/v1/keys"),
        "the next step is shown: {printed}"
    );

    // The second start prints no token, and the printed one works.
    let (mut again, base) = serve(&dir);
    let resp = http
        .get(format!("{base}/admin/v1/usage?granularity=day"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let usage: serde_json::Value = resp.json().await.unwrap();
    assert!(
        usage["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["key"] == id.as_str()),
        "usage was flushed on SIGTERM: {usage}"
    );

    // Rotating the token retires the old one.
    let rotated = turnout(&dir)
        .args(["admin-token", "rotate"])
        .output()
        .unwrap();
    let new_token = String::from_utf8(rotated.stdout)
        .unwrap()
        .trim()
        .to_string();
    let rotated_at = Instant::now();
    loop {
        let old = http
            .get(format!("{base}/admin/v1/plans"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status();
        if old == 401 {
            break;
        }
        assert!(
            rotated_at.elapsed() < Duration::from_secs(1),
            "old admin token still accepted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let new = http
        .get(format!("{base}/admin/v1/plans"))
        .bearer_auth(&new_token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(new, 200);
    sigterm(&again);
    let printed_again = stdout_lines(&mut again).join("\n");
    again.0.wait().unwrap();
    assert!(
        !printed_again.contains("tka_"),
        "the token is printed only on first start"
    );
}

#[test]
fn bad_config_is_a_clear_error() {
    let dir = fresh_dir("cli-bad");
    let out = turnout(&dir)
        .env("TURNOUT_SERVER__MAX_BODY", "1")
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_body"));
}

/// Keys, admin tokens and bearer tokens never reach a log line or a metric;
/// every access line carries its request id.
#[tokio::test]
async fn secrets_never_reach_logs_or_metrics() {
    let dir = fresh_dir("cli-logs");
    let upstream = crate::support::echo_upstream("a").await;
    let admin_token = "tka_logtest_0123456789abcdefghijABCDEFGHIJ";
    let (server, base, log) = serve_with(
        turnout(&dir)
            .env("TURNOUT_LOG__ACCESS", "true")
            .env("TURNOUT_ADMIN_TOKEN", admin_token)
            .env(
                "TURNOUT_UPSTREAMS",
                format!("[{{name = \"a\", targets = [\"{}\"]}}]", upstream.url()),
            )
            .env(
                "TURNOUT_ROUTES",
                "[{prefix = \"/v1/a\", upstream = \"a\", scopes = [\"a\"]}]",
            )
            .arg("serve"),
    );
    let http = reqwest::Client::new();
    let plan = http
        .post(format!("{base}/admin/v1/plans"))
        .bearer_auth(admin_token)
        .json(&serde_json::json!({"name": "p", "rate_per_second": 100, "burst": 100, "scopes": ["a"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(plan.status(), 201);
    let key: serde_json::Value = http
        .post(format!("{base}/admin/v1/keys"))
        .bearer_auth(admin_token)
        .json(&serde_json::json!({"name": "k", "plan": "p"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = key["key"].as_str().unwrap().to_string();
    let bearer = "eyJhbGciOiJFZERTQSJ9.user-token-that-must-not-be-logged.sig";
    for url in [
        format!("{base}/v1/a/x?api_key={secret}&q=1"),
        format!("{base}/v1/a/x?q=2"),
    ] {
        let resp = http
            .get(&url)
            .header("x-api-key", &secret)
            .header("x-request-id", "trace-for-log-test")
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    sigterm(&server);
    let mut server = server;
    assert!(server.0.wait().unwrap().success());
    let lines: Vec<String> = log.try_iter().collect();

    let secret_part = secret.rsplit('_').next().unwrap();
    for (what, text) in [("log", lines.join("\n")), ("metrics", metrics)] {
        for needle in [secret_part, admin_token, bearer] {
            assert!(
                !text.contains(needle),
                "{what} contains a secret ({needle})"
            );
        }
    }
    let access: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "turnout::access" && v["route"] == "/v1/a")
        .collect();
    assert_eq!(access.len(), 2, "one access line per request: {lines:?}");
    for line in &access {
        assert_eq!(line["request_id"], "trace-for-log-test");
        assert_eq!(line["status"], 200);
        assert_eq!(line["key"], key["id"], "the key's public id identifies it");
    }
    assert_eq!(
        access[0]["path"], "/v1/a/x?q=1",
        "api_key is removed from the logged path"
    );
}

/// `turnout worker` sends what is queued in the data dir's store, and
/// stops cleanly on SIGTERM.
#[tokio::test]
async fn a_separate_worker_process_sends_queued_messages() {
    let dir = fresh_dir("cli-worker");
    run_ok(turnout(&dir).arg("migrate"));
    let store = turnout_core::Store::open(None, &dir.join("turnout-data"), 2)
        .await
        .unwrap();
    let queue = turnout_outreach::queue::Queue::new(store.clone());
    let now = chrono::Utc::now().timestamp_millis();
    queue
        .enqueue(
            &[turnout_outreach::queue::NewMessage {
                channel: turnout_outreach::queue::Channel::Sms,
                recipient: "+12155550123".into(),
                campaign_id: None,
                person_id: None,
                sender_key: None,
                payload: "{\"body\": \"from the worker\"}".into(),
                not_before: now,
                status: turnout_outreach::queue::Status::Queued,
                error_code: None,
                error: None,
            }],
            now,
        )
        .await
        .unwrap();
    store.close().await;
    let worker = Server(
        turnout(&dir)
            .arg("worker")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let outbox = dir.join("turnout-data/outbox/sms.ndjson");
    let started = Instant::now();
    while !std::fs::read_to_string(&outbox).is_ok_and(|s| s.contains("from the worker")) {
        assert!(started.elapsed() < Duration::from_secs(20), "nothing sent");
        std::thread::sleep(Duration::from_millis(50));
    }
    sigterm(&worker);
    let mut worker = worker;
    let status = worker.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(std::fs::read_to_string(&outbox).unwrap().lines().count(), 1);
}

/// `turnout keys rotate-signing` against a running server: the new key is
/// published beside the old one within the reload interval.
#[tokio::test]
async fn rotating_the_signing_key_from_the_cli() {
    let dir = fresh_dir("cli-rotate");
    let (_server, base, _log) = serve_with(
        turnout(&dir)
            .env("TURNOUT_AUTH__RELOAD_MS", "100")
            .arg("serve"),
    );
    let http = reqwest::Client::new();
    let jwks = |http: reqwest::Client, base: String| async move {
        http.get(format!("{base}/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    let before = jwks(http.clone(), base.clone()).await;
    assert_eq!(before["keys"].as_array().unwrap().len(), 1);
    let rotated = run_ok(turnout(&dir).args(["keys", "rotate-signing"]));
    let kid = rotated["kid"].as_str().unwrap().to_string();
    let started = Instant::now();
    loop {
        let now = jwks(http.clone(), base.clone()).await;
        let kids: Vec<&str> = now["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        if kids.contains(&kid.as_str()) {
            assert!(kids.contains(&before["keys"][0]["kid"].as_str().unwrap()));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never published"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
