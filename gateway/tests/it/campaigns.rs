//! Campaigns over HTTP with the in-process worker and the `log` provider,
//! on an injected clock: the audience is resolved once, consent decides
//! who gets a message, each address gets at most one, the footer goes on
//! a person's first campaign text only, and a recipient outside the send
//! window is deferred until it opens in their own timezone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use turnout_core::ManualClock;
use turnout_core::store::testing::Backend;

use crate::support::{TestApp, config_on, outbox, problem};

fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().into()
}

struct Rig {
    app: TestApp,
    key: String,
    clock: Arc<ManualClock>,
    dir: std::path::PathBuf,
}

async fn rig(backend: Backend, now: &str) -> Rig {
    let c = config_on(backend).await;
    let dir = c.data_dir.clone();
    let clock = Arc::new(ManualClock::at(at(now)));
    let app = TestApp::start_with(c, clock.clone(), None).await;
    app.create_plan(
        json!({"name": "staff", "rate_per_second": 1000, "burst": 1000,
        "scopes": ["campaigns", "people:write", "people:read", "messages:send"]}),
    )
    .await;
    let (_, key) = app.create_key("staff", json!({})).await;
    Rig {
        app,
        key,
        clock,
        dir,
    }
}

impl Rig {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self
            .app
            .http
            .request(method, self.app.url(path))
            .header("x-api-key", &self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        let r = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    async fn person(&self, body: Value) -> i64 {
        let r = self.post("/v1/people", body).await;
        assert_eq!(r.status(), 201);
        r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
    }

    fn texts(&self) -> Vec<Value> {
        outbox(&self.dir, "sms.ndjson")
    }

    /// Waits (bounded) until every message of the campaign is settled.
    async fn completed(&self, id: i64) -> Value {
        let started = Instant::now();
        loop {
            let c = self.get(&format!("/v1/campaigns/{id}")).await;
            if c["status"] == "completed" {
                return c;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "never completed: {c}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits (bounded) until the campaign has no message left to send at
    /// the current clock: nothing queued or sending.
    async fn settled(&self, id: i64) -> Value {
        let started = Instant::now();
        loop {
            let c = self.get(&format!("/v1/campaigns/{id}")).await;
            if c["stats"]["queued"] == 0 && c["stats"]["sending"] == 0 {
                return c;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "never settled: {c}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

async fn consent_one_per_address_footer_and_the_recipients_own_window(backend: Backend) {
    // 15:00 UTC: 10:00 in Philadelphia, 07:00 in San Francisco.
    let r = rig(backend, "2026-12-01T15:00:00Z").await;
    let phone = |n: &str| json!([{"number": n, "sms_capable": true, "primary": true}]);
    let ana = r
        .person(
            json!({"given_name": "Ana", "phone_numbers": phone("+12155550101"),
                       "postal_addresses": [{"postal_code": "19104"}]}),
        )
        .await;
    let ben = r
        .person(json!({"given_name": "Ben", "phone_numbers": phone("+12155550102")}))
        .await;
    // Ben's housemate shares his number: one text between them.
    let cal = r
        .person(json!({"given_name": "Cal", "phone_numbers": phone("+12155550102")}))
        .await;
    // A landline only: not SMS-capable.
    let dee = r
        .person(json!({"given_name": "Dee",
                       "phone_numbers": [{"number": "+12155550104", "sms_capable": false}]}))
        .await;
    // San Francisco by area code alone: waits for 09:00 Pacific.
    let eve = r
        .person(json!({"given_name": "Eve", "phone_numbers": phone("+14155550105")}))
        .await;
    // No name: the template cannot render for her.
    let fay = r
        .person(json!({"phone_numbers": phone("+12155550106")}))
        .await;

    let too_wide = r
        .post(
            "/v1/campaigns",
            json!({"name": "x", "channel": "sms",
            "template": {"body": "hi"}, "audience": {"person_ids": [ana]},
            "send_window": {"start": "07:30", "end": "20:00"}}),
        )
        .await;
    let (status, body) = problem(too_wide).await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "send_window", "{body}");

    let created = r
        .post(
            "/v1/campaigns",
            json!({"name": "Canvass", "channel": "sms",
            "template": {"body": "Hi {{ given_name }}, canvass Saturday?"},
            "audience": {"person_ids": [ana, ben, cal, dee, eve, fay]}}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["status"], "draft");
    let id = created["id"].as_i64().unwrap();

    let preview: Value = r
        .post(&format!("/v1/campaigns/{id}/preview"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        preview["counts"],
        json!({"recipients": 6, "sendable": 3, "no_address": 1, "opted_out": 0,
               "suppressed": 0, "duplicate_address": 1, "render_failed": 1}),
        "{preview}"
    );
    assert_eq!(
        preview["samples"][0]["rendered"]["body"],
        "Hi Ana, canvass Saturday?\nReply STOP to opt out"
    );
    assert!(r.texts().is_empty(), "a preview sends nothing");

    let launched = r
        .post(&format!("/v1/campaigns/{id}/launch"), json!({}))
        .await;
    assert_eq!(launched.status(), 200);
    let launched: Value = launched.json().await.unwrap();
    assert_eq!(launched["stats"]["recipients"], 6);
    let again = r
        .post(&format!("/v1/campaigns/{id}/launch"), json!({}))
        .await;
    assert_eq!(again.status(), 409, "launched once only");

    let c = r.settled(id).await;
    assert_eq!(c["status"], "running", "Eve still waits: {c}");
    assert_eq!(c["stats"]["sent"], 2, "{c}");
    assert_eq!(c["stats"]["deferred"], 1, "{c}");
    assert_eq!(c["stats"]["suppressed"], 2, "{c}");
    assert_eq!(c["stats"]["failed"], 1, "{c}");
    let texts = r.texts();
    let to: Vec<&str> = texts.iter().map(|t| t["to"].as_str().unwrap()).collect();
    assert_eq!(to.len(), 2);
    assert!(
        to.contains(&"+12155550101") && to.contains(&"+12155550102"),
        "{to:?}"
    );
    for t in &texts {
        assert!(
            t["body"]
                .as_str()
                .unwrap()
                .ends_with("\nReply STOP to opt out"),
            "{t}"
        );
    }

    // 08:59 in San Francisco: still not.
    r.clock.set(at("2026-12-01T16:59:00Z"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(r.texts().len(), 2, "never before the window opens");
    r.clock.set(at("2026-12-01T17:00:00Z"));
    let started = Instant::now();
    while r.texts().len() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "Eve never got hers"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let c = r.settled(id).await;
    assert_eq!(c["status"], "completed", "{c}");
    assert_eq!(c["stats"]["sent"], 3);
    assert_eq!(
        c["segments"],
        json!({"sent": 3, "planned": 3}),
        "one segment each"
    );

    // Messages by status, and the reasons of those not sent.
    let failed = r
        .get(&format!("/v1/campaigns/{id}/messages?status=failed"))
        .await;
    assert_eq!(failed["data"][0]["person_id"], fay);
    assert_eq!(failed["data"][0]["error_code"], "template");
    let suppressed = r
        .get(&format!(
            "/v1/campaigns/{id}/messages?status=suppressed&per_page=1"
        ))
        .await;
    assert_eq!(suppressed["data"].as_array().unwrap().len(), 1);
    assert!(suppressed["next"].is_string(), "{suppressed}");
    // `count` is every match, not the page.
    assert_eq!(
        suppressed["count"], c["stats"]["suppressed"],
        "{suppressed}"
    );

    // A second campaign to Ana: no footer this time.
    let second: Value = r
        .post(
            "/v1/campaigns",
            json!({"name": "Reminder", "channel": "sms",
            "template": {"body": "See you Saturday"}, "audience": {"person_ids": [ana]}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let second_id = second["id"].as_i64().unwrap();
    r.post(&format!("/v1/campaigns/{second_id}/launch"), json!({}))
        .await;
    r.settled(second_id).await;
    let last = r.texts().pop().unwrap();
    assert_eq!(last["body"], "See you Saturday");
    let mut app = r.app;
    app.stop().await;
}

async fn pause_resume_and_cancel(backend: Backend) {
    // 03:00 in New York: everything waits for the morning.
    let r = rig(backend, "2026-12-01T08:00:00Z").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            r.person(json!({"given_name": "P", "phone_numbers":
                [{"number": format!("+1215555020{i}"), "sms_capable": true}]}))
                .await,
        );
    }
    let c: Value = r
        .post(
            "/v1/campaigns",
            json!({"name": "Later", "channel": "sms",
            "template": {"body": "Hi {{ given_name }}"}, "audience": {"person_ids": ids}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = c["id"].as_i64().unwrap();
    let pause_draft = r
        .post(&format!("/v1/campaigns/{id}/pause"), json!({}))
        .await;
    assert_eq!(pause_draft.status(), 409);
    r.post(&format!("/v1/campaigns/{id}/launch"), json!({}))
        .await;
    let paused: Value = r
        .post(&format!("/v1/campaigns/{id}/pause"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paused["status"], "paused");
    // The window opens, but the campaign is paused: nothing goes.
    r.clock.set(at("2026-12-01T15:00:00Z"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(r.texts().is_empty(), "a paused campaign sends nothing");
    let resumed: Value = r
        .post(&format!("/v1/campaigns/{id}/resume"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(resumed["status"], "running");
    let c = r.completed(id).await;
    assert_eq!(c["stats"]["sent"], 5);

    // Cancel: what has not gone is cancelled, and counted.
    r.clock.set(at("2026-12-02T03:00:00Z"));
    let c: Value = r
        .post(
            "/v1/campaigns",
            json!({"name": "Never", "channel": "sms",
            "template": {"body": "Hi"}, "audience": {"person_ids": ids}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = c["id"].as_i64().unwrap();
    r.post(&format!("/v1/campaigns/{id}/launch"), json!({}))
        .await;
    let cancelled: Value = r
        .post(&format!("/v1/campaigns/{id}/cancel"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["stats"]["cancelled"], 5, "{cancelled}");
    assert_eq!(cancelled["stats"]["recipients"], 5);
    let resume = r
        .post(&format!("/v1/campaigns/{id}/resume"), json!({}))
        .await;
    assert_eq!(resume.status(), 409);
    let mut app = r.app;
    app.stop().await;
}

/// The audience is a people search, and a key without `campaigns` (or a
/// public key) is turned away.
async fn a_search_audience_and_who_may_run_campaigns(backend: Backend) {
    let r = rig(backend, "2026-12-01T17:00:00Z").await;
    for (i, tag) in ["canvass", "canvass", "phonebank"].iter().enumerate() {
        r.person(json!({"given_name": "V", "tags": [tag], "phone_numbers":
            [{"number": format!("+1215555030{i}"), "sms_capable": true}]}))
            .await;
    }
    // Wait for the index to have them.
    let started = Instant::now();
    while r.get("/v1/people?tag=canvass").await["count"] != 2 {
        assert!(started.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let bad = r
        .post(
            "/v1/campaigns",
            json!({"name": "x", "channel": "sms", "template": {"body": "hi"},
            "audience": {"people": {"tagg": "canvass"}}}),
        )
        .await;
    let (status, body) = problem(bad).await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "audience.people.tagg", "{body}");
    let c: Value = r
        .post("/v1/campaigns", json!({"name": "Canvassers", "channel": "sms",
            "template": {"body": "Hi {{ given_name }}"}, "audience": {"people": {"tag": "canvass"}}}))
        .await
        .json()
        .await
        .unwrap();
    let id = c["id"].as_i64().unwrap();
    let launched: Value = r
        .post(&format!("/v1/campaigns/{id}/launch"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(launched["stats"]["recipients"], 2, "{launched}");
    r.settled(id).await;
    assert_eq!(r.texts().len(), 2);

    r.app
        .create_plan(
            json!({"name": "sender", "rate_per_second": 100, "burst": 100,
            "scopes": ["messages:send"]}),
        )
        .await;
    let (_, sender) = r.app.create_key("sender", json!({})).await;
    let denied = r
        .app
        .http
        .get(r.app.url(&format!("/v1/campaigns/{id}")))
        .header("x-api-key", &sender)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    let mut app = r.app;
    app.stop().await;
}

impl Rig {
    fn emails(&self) -> Vec<Value> {
        outbox(&self.dir, "email.ndjson")
    }

    async fn email_campaign(&self, people: &[i64]) -> Value {
        let c: Value = self
            .post(
                "/v1/campaigns",
                json!({"name": "Saturday", "channel": "email",
                "template": {"subject": "Canvass Saturday",
                             "body": "Hi {{ given_name }}. Unsubscribe: {{ unsubscribe_url }}"},
                "audience": {"person_ids": people}}),
            )
            .await
            .json()
            .await
            .unwrap();
        let id = c["id"].as_i64().unwrap();
        self.post(&format!("/v1/campaigns/{id}/launch"), json!({}))
            .await;
        self.completed(id).await
    }
}

/// RFC 8058: each bulk email has its own link in `List-Unsubscribe` with
/// `List-Unsubscribe-Post`; GET only shows a page with the address
/// masked; POST unsubscribes, and the next campaign skips the address.
async fn bulk_email_carries_one_click_unsubscribe(backend: Backend) {
    let r = rig(backend, "2026-12-01T17:00:00Z").await;
    let ana = r
        .person(json!({"given_name": "Ana", "email_addresses": [{"address": "ana.garcia@example.org", "primary": true}]}))
        .await;
    let ben = r
        .person(json!({"given_name": "Ben", "email_addresses": [{"address": "ben@example.org"}]}))
        .await;
    let first = r.email_campaign(&[ana, ben]).await;
    assert_eq!(first["stats"]["sent"], 2, "{first}");
    let emails = r.emails();
    let link_of = |to: &str| -> String {
        let e = emails.iter().find(|e| e["to"] == to).unwrap();
        let headers: Vec<(String, String)> = serde_json::from_value(e["headers"].clone()).unwrap();
        let lu = headers
            .iter()
            .find(|(k, _)| k == "List-Unsubscribe")
            .unwrap();
        assert!(
            headers.contains(&(
                "List-Unsubscribe-Post".into(),
                "List-Unsubscribe=One-Click".into()
            )),
            "{headers:?}"
        );
        let url =
            lu.1.trim_start_matches('<')
                .trim_end_matches('>')
                .to_string();
        assert!(
            e["body"].as_str().unwrap().ends_with(&url),
            "the body's link is the header's"
        );
        url
    };
    let (ana_link, ben_link) = (
        link_of("ana.garcia@example.org"),
        link_of("ben@example.org"),
    );
    assert_ne!(ana_link, ben_link, "one token per recipient");
    let token = ana_link.rsplit('/').next().unwrap();
    assert!(
        token.len() >= 22 && token.chars().all(|c| c.is_ascii_alphanumeric()),
        "{token}"
    );

    // GET shows the masked address and changes nothing.
    let page = r.app.http.get(&ana_link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("a*********@example.org"), "{html}");
    assert!(!html.contains("ana.garcia"), "the address is masked");
    let second = r.email_campaign(&[ana]).await;
    assert_eq!(second["stats"]["sent"], 1, "a GET unsubscribes nobody");

    // The mail client's one-click POST.
    let done = r
        .app
        .http
        .post(&ana_link)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let third = r.email_campaign(&[ana, ben]).await;
    assert_eq!(third["stats"]["opted_out"], 1, "{third}");
    assert_eq!(third["stats"]["sent"], 1, "{third}");
    let unknown = r
        .app
        .http
        .post(r.app.url("/unsubscribe/NotATokenOfOurs0000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let mut app = r.app;
    app.stop().await;
}

turnout_core::on_both_stores!(
    bulk_email_carries_one_click_unsubscribe,
    consent_one_per_address_footer_and_the_recipients_own_window,
    pause_resume_and_cancel,
    a_search_audience_and_who_may_run_campaigns,
);
