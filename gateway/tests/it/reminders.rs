//! Event reminders, on an injected clock: one reminder per registration,
//! a configured time before its timeslot, by SMS where the number takes
//! texts, else by email; none for a cancelled registration or a timeslot
//! still far off; held by the send window in the recipient's zone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use turnout_core::ManualClock;
use turnout_core::store::testing::Backend;

use crate::support::{TestApp, config_on, outbox};

fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().into()
}

async fn post(app: &TestApp, key: &str, path: &str, body: Value) -> Value {
    let r = app
        .http
        .post(app.url(path))
        .header("x-api-key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "POST {path}: {}", r.status());
    r.json().await.unwrap()
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(20), "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn registered_people_get_one_reminder_by_consent(backend: Backend) {
    let mut c = config_on(backend).await;
    c.outreach.reminders.before_minutes = 180;
    c.outreach.reminders.interval_ms = 30;
    let dir = c.data_dir.clone();
    // 14:00 UTC, five hours before the first timeslot: nothing is due
    // while the registrations are made.
    let clock = Arc::new(ManualClock::at(at("2026-12-01T14:00:00Z")));
    let mut app = TestApp::start_with(c, clock.clone(), None).await;
    app.create_plan(
        json!({"name": "staff", "rate_per_second": 1000, "burst": 1000,
        "scopes": ["events", "events:write", "people:read", "people:write"]}),
    )
    .await;
    let (_, key) = app.create_key("staff", json!({})).await;
    let event = post(
        &app,
        &key,
        "/v1/events",
        json!({
        "title": "Canvass Kensington", "event_type": "CANVASS",
        "location": {"postal_code": "19107"}, "timezone": "America/New_York",
        "timeslots": [
            {"start_date": "2026-12-01T19:00:00Z", "end_date": "2026-12-01T21:00:00Z"},
            {"start_date": "2026-12-03T19:00:00Z", "end_date": "2026-12-03T21:00:00Z"}]}),
    )
    .await;
    let (soon, later) = (
        event["timeslots"][0]["id"].clone(),
        event["timeslots"][1]["id"].clone(),
    );
    let phone = |n: &str, sms: bool| json!([{"number": n, "sms_capable": sms, "primary": true}]);
    let ana = post(
        &app,
        &key,
        "/v1/people",
        json!({"given_name": "Ana",
        "phone_numbers": phone("+12155550301", true)}),
    )
    .await;
    let ben = post(
        &app,
        &key,
        "/v1/people",
        json!({"given_name": "Ben",
        "phone_numbers": phone("+12155550302", false),
        "email_addresses": [{"address": "ben@example.org"}]}),
    )
    .await;
    let cal = post(
        &app,
        &key,
        "/v1/people",
        json!({"given_name": "Cal",
        "phone_numbers": phone("+12155550303", true)}),
    )
    .await;
    let eve = post(
        &app,
        &key,
        "/v1/people",
        json!({"given_name": "Eve",
        "phone_numbers": phone("+14155550305", true)}),
    )
    .await;
    let attend = format!("/v1/events/{}/attendances", event["id"]);
    for (person, slot) in [(&ana, &soon), (&ben, &soon), (&cal, &soon), (&eve, &later)] {
        post(
            &app,
            &key,
            &attend,
            json!({"person_id": person["id"], "timeslot_id": slot}),
        )
        .await;
    }
    // Cal cancels before the reminder is due.
    let cal_att: Value = app.get(&attend, &key).await.json().await.unwrap();
    let cal_id = cal_att["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["person_id"] == cal["id"])
        .map(|a| a["id"].clone())
        .unwrap();
    let cancelled = app
        .http
        .patch(app.url(&format!("/v1/attendances/{cal_id}")))
        .header("x-api-key", &key)
        .json(&json!({"status": "CANCELLED"}))
        .send()
        .await
        .unwrap();
    assert!(cancelled.status().is_success());

    // 17:00 UTC (noon in Philadelphia), two hours before the first
    // timeslot: Ana by text, Ben by email.
    clock.set(at("2026-12-01T17:00:00Z"));
    let started = Instant::now();
    while !(outbox(&dir, "sms.ndjson").len() == 1 && outbox(&dir, "email.ndjson").len() == 1) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never: Ana's and Ben's reminders: {:?} {:?}",
            outbox(&dir, "sms.ndjson"),
            outbox(&dir, "email.ndjson")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Many more rounds of the task: still one each, and none for Cal or Eve.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let texts = outbox(&dir, "sms.ndjson");
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0]["to"], "+12155550301");
    assert_eq!(
        texts[0]["body"],
        "Reminder: Canvass Kensington starts Tue Dec 1, 2:00 PM EST. Reply STOP to opt out."
    );
    let emails = outbox(&dir, "email.ndjson");
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0]["to"], "ben@example.org");
    assert_eq!(
        emails[0]["subject"],
        "Reminder: Canvass Kensington, Tue Dec 1, 2:00 PM EST"
    );

    // Two days on, 08:30 in San Francisco, 2.5 h before Eve's timeslot:
    // due, but held until 09:00 Pacific.
    clock.set(at("2026-12-03T16:30:00Z"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        outbox(&dir, "sms.ndjson").len(),
        1,
        "not before her window opens"
    );
    clock.set(at("2026-12-03T17:00:00Z"));
    until("Eve's reminder", || outbox(&dir, "sms.ndjson").len() == 2).await;
    assert_eq!(outbox(&dir, "sms.ndjson")[1]["to"], "+14155550305");
    app.stop().await;
}

turnout_core::on_both_stores!(registered_people_get_one_reminder_by_consent);
