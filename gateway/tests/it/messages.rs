//! Transactional messages over HTTP, sent by the in-process worker through
//! the `log` provider into the data dir's outbox.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{TestApp, config, field_names, outbox, problem};

async fn app() -> (TestApp, String, String, std::path::PathBuf) {
    let c = config();
    let dir = c.data_dir.clone();
    let app = TestApp::start(c).await;
    app.create_plan(
        json!({"name": "send", "rate_per_second": 1000, "burst": 1000,
                           "scopes": ["messages:send", "people:write"]}),
    )
    .await;
    let (_, key) = app.create_key("send", json!({})).await;
    app.create_plan(
        json!({"name": "read", "rate_per_second": 1000, "burst": 1000, "scopes": ["events"]}),
    )
    .await;
    let (_, other) = app.create_key("read", json!({})).await;
    (app, key, other, dir)
}

async fn post(app: &TestApp, key: &str, body: Value, idem: Option<&str>) -> reqwest::Response {
    let mut req = app
        .http
        .post(app.url("/v1/messages"))
        .header("x-api-key", key)
        .json(&body);
    if let Some(i) = idem {
        req = req.header("idempotency-key", i);
    }
    req.send().await.unwrap()
}

async fn until_sent(app: &TestApp, key: &str, id: i64) -> Value {
    let started = Instant::now();
    loop {
        let m: Value = app
            .get(&format!("/v1/messages/{id}"), key)
            .await
            .json()
            .await
            .unwrap();
        if m["status"] == "sent" {
            return m;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never sent: {m}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_is_rendered_queued_and_written_to_the_outbox() {
    let (mut app, key, other, dir) = app().await;
    let (status, person) = {
        let resp = app
            .http
            .post(app.url("/v1/people"))
            .header("x-api-key", &key)
            .json(&json!({"given_name": "Ana",
                          "phone_numbers": [{"number": "+12155550123", "sms_capable": true, "primary": true}]}))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 201);
    let resp = post(
        &app,
        &key,
        json!({"channel": "sms", "to": {"person_id": person["id"]},
               "template": {"body": "Hi {{ given_name }}, doors at {{ time }}!"}, "vars": {"time": "10am"}}),
        None,
    )
    .await;
    assert_eq!(resp.status(), 202);
    let queued: Value = resp.json().await.unwrap();
    assert_eq!(queued["status"], "queued");
    let id = queued["id"].as_i64().unwrap();
    let m = until_sent(&app, &key, id).await;
    assert_eq!(m["to"], "+12155550123");
    let statuses: Vec<&str> = m["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["queued", "sending", "sent"]);
    let lines = outbox(&dir, "sms.ndjson");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["to"], "+12155550123");
    assert_eq!(lines[0]["body"], "Hi Ana, doors at 10am!");
    assert_eq!(lines[0]["id"], id.to_string());

    // Only the sending key may read it.
    let (status, _) = problem(app.get(&format!("/v1/messages/{id}"), &other).await).await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_and_retries_send_once() {
    let (mut app, key, other, dir) = app().await;
    let (status, body) = problem(
        post(
            &app,
            &other,
            json!({"channel": "sms", "to": {"phone": "+12155550123"}, "template": {"body": "x"}}),
            None,
        )
        .await,
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));

    let (status, body) = problem(
        post(
            &app,
            &key,
            json!({"channel": "sms", "to": {"phone": "2155550123"}, "template": {"body": "Hi {{ given_name }}"}}),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    let fields = field_names(&body);
    assert_eq!(fields, ["to.phone"]);
    // A field the recipient lacks fails this message, with the reason.
    let (status, body) = problem(
        post(
            &app,
            &key,
            json!({"channel": "sms", "to": {"phone": "+12155550123"}, "template": {"body": "Hi {{ given_name }}"}}),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "template.body");
    let (status, _) = problem(
        post(
            &app,
            &key,
            json!({"channel": "email", "to": {"email": "ana@example.org"}, "template": {"body": "no subject"}}),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);

    // The same Idempotency-Key twice: one message.
    let send = json!({"channel": "email", "to": {"email": "ana@example.org"},
                      "template": {"subject": "Welcome", "body": "Hi {{ name | default(\"there\") }}"}});
    let first: Value = post(&app, &key, send.clone(), Some("welcome-ana"))
        .await
        .json()
        .await
        .unwrap();
    let again = post(&app, &key, send, Some("welcome-ana")).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    until_sent(&app, &key, first["id"].as_i64().unwrap()).await;
    let lines = outbox(&dir, "email.ndjson");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["subject"], "Welcome");
    assert_eq!(lines[0]["body"], "Hi there");
    app.stop().await;
}

/// Curly quotes and dashes from a phone's keyboard would make a text
/// UCS-2 (70 characters a segment): they are replaced with GSM-7 before
/// the text is counted and sent, and the count is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn texts_are_smart_encoded_and_their_segments_counted() {
    let (mut app, key, _, dir) = app().await;
    let typed = format!(
        "We\u{2019}re canvassing \u{201C}Saturday\u{201D} \u{2014} {}",
        "x".repeat(100)
    );
    let resp: Value = post(
        &app,
        &key,
        json!({"channel": "sms", "to": {"phone": "+12155550123"}, "template": {"body": typed}}),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let m = until_sent(&app, &key, resp["id"].as_i64().unwrap()).await;
    // 129 GSM-7 characters: one segment (as typed, UCS-2: two).
    assert_eq!(m["segments"], 1, "{m}");
    let line = &outbox(&dir, "sms.ndjson")[0];
    assert_eq!(
        line["body"],
        format!("We're canvassing \"Saturday\" - {}", "x".repeat(100))
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unusable_provider_config_is_refused_at_start() {
    let load = |pairs: &[(&str, &str)]| {
        turnout_gateway::config::Config::load(
            None,
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    };
    let sns = load(&[("TURNOUT_OUTREACH__SMS__PROVIDER", "sns")]).unwrap_err();
    assert!(sns.contains("[outreach.sms.sns]"), "{sns}");
    let ses = load(&[
        ("TURNOUT_OUTREACH__EMAIL__PROVIDER", "ses"),
        ("TURNOUT_OUTREACH__EMAIL__SES__REGION", "us-east-1"),
    ])
    .unwrap_err();
    assert!(ses.contains("outreach.email.from"), "{ses}");
    let bare = load(&[("TURNOUT_OUTREACH__SMS__PROVIDER", "twilio")]).unwrap_err();
    assert!(bare.contains("[outreach.sms.twilio]"), "{bare}");
    let both = load(&[
        ("TURNOUT_OUTREACH__SMS__PROVIDER", "twilio"),
        ("TURNOUT_OUTREACH__SMS__TWILIO__ACCOUNT_SID", "AC0123"),
        ("TURNOUT_OUTREACH__SMS__TWILIO__AUTH_TOKEN", "t"),
    ])
    .unwrap_err();
    assert!(both.contains("exactly one of"), "{both}");
    let typo = load(&[("TURNOUT_OUTREACH__SMS__TWILIO__AUTH_TOKN", "t")]).unwrap_err();
    assert!(typo.contains("auth_tokn"), "{typo}");
    load(&[
        ("TURNOUT_OUTREACH__SMS__PROVIDER", "twilio"),
        ("TURNOUT_OUTREACH__SMS__TWILIO__ACCOUNT_SID", "AC0123"),
        ("TURNOUT_OUTREACH__SMS__TWILIO__AUTH_TOKEN", "t"),
        ("TURNOUT_OUTREACH__SMS__TWILIO__FROM", "\"+12155550100\""),
    ])
    .unwrap();
}

/// What an operator's dashboard reads from `/metrics` after a send: the
/// limiter's decisions, the provider's sends, the queue's depth and age.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_decisions_sends_and_the_queue() {
    let (app, key, _, _) = app().await;
    let resp = post(
        &app,
        &key,
        json!({"channel": "sms", "to": {"phone": "+12155550199"}, "template": {"body": "Doors at 10"}}),
        None,
    )
    .await;
    assert_eq!(resp.status(), 202);
    let id = resp.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    until_sent(&app, &key, id).await;
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        "turnout_limiter_decisions_total{decision=\"allow\"}",
        "turnout_outreach_sent_total{provider=\"log\"}",
        "turnout_outreach_queue_depth",
        "turnout_outreach_queue_oldest_seconds",
        "turnout_requests_total",
    ] {
        assert!(text.contains(series), "{series} missing from:\n{text}");
    }
}
