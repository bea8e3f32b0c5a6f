//! People, events and attendances over HTTP, as partners and apps use
//! them: validation, access rules, search against the reference scan,
//! paging links, sync feeds, import and reindex. The store-dependent
//! tests run on both stores.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};
use turnout_core::store::testing::Backend;
use turnout_core::{Clock, ManualClock, SystemClock};
use turnout_search::demo::{self, Generator};
use turnout_search::engine::Search;
use turnout_search::model::{Event, Person};

use crate::support::{TestApp, config_on, field_names, problem};

pub const ALL_SCOPES: [&str; 5] = [
    "events",
    "events:private",
    "events:write",
    "people:read",
    "people:write",
];

/// An app with a confidential key holding every search scope.
async fn app_with_key(backend: Backend) -> (TestApp, String) {
    app_with_key_at(backend, Arc::new(SystemClock::new())).await
}

async fn app_with_key_at(backend: Backend, clock: Arc<dyn Clock>) -> (TestApp, String) {
    app_with_key_on(config_on(backend).await, clock).await
}

pub async fn app_with_key_on(
    config: turnout_gateway::config::Config,
    clock: Arc<dyn Clock>,
) -> (TestApp, String) {
    let app = TestApp::start_with(config, clock, None).await;
    app.create_plan(
        json!({"name": "all", "rate_per_second": 10000, "burst": 10000, "scopes": ALL_SCOPES}),
    )
    .await;
    let (_, key) = app.create_key("all", json!({})).await;
    (app, key)
}

pub async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .http
        .request(method, app.url(path))
        .header("x-api-key", key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub async fn post(app: &TestApp, path: &str, key: &str, body: Value) -> (u16, Value) {
    send(app, reqwest::Method::POST, path, key, Some(body)).await
}

pub async fn get(app: &TestApp, path: &str, key: &str) -> (u16, Value) {
    send(app, reqwest::Method::GET, path, key, None).await
}

/// Polls a search until `done` holds (the index follows the store within
/// a second; the deadline here only bounds a broken build).
pub async fn eventually(
    app: &TestApp,
    path: &str,
    key: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = get(app, path, key).await;
        // A second instance may not know the key yet (key sync).
        assert!(status == 200 || status == 401, "{path}: {status} {body}");
        if status == 200 && done(&body) {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{path} never got there: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn writes_validate_derive_and_conflict(backend: Backend) {
    let (mut app, key) = app_with_key(backend).await;

    let (status, body) = post(
        &app,
        "/v1/people",
        &key,
        json!({
            "given_name": "Ana",
            "phone_numbers": [{"number": "215-555-0123"}],
            "languages_spoken": ["en_US"],
            "postal_addresses": [{"location": {"latitude": 91, "longitude": 0}}],
            "identifiers": ["no-colon"],
        }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "validation_failed");
    for f in [
        "phone_numbers",
        "languages_spoken",
        "postal_addresses",
        "identifiers[0]",
    ] {
        assert!(field_names(&body).contains(&f.to_string()), "{f}: {body}");
    }
    let (status, body) = post(
        &app,
        "/v1/events",
        &key,
        json!({"title": "x", "event_type": "PICNIC",
               "timeslots": [{"start_date": "2026-12-01T18:00:00Z", "end_date": "2026-12-01T17:00:00Z"}]}),
    )
    .await;
    assert_eq!(status, 422);
    let mut fields = field_names(&body);
    fields.sort();
    assert_eq!(fields, ["event_type", "timeslots[0].end_date"]);
    // Nothing was written by either.
    let (_, deleted) = get(&app, "/v1/people/deleted", &key).await;
    assert_eq!(deleted["count"], 0);
    let (status, _) = get(&app, "/v1/people/1", &key).await;
    assert_eq!(status, 404);

    // Normalised values, a timezone from the ZIP code.
    let (status, ana) = post(
        &app,
        "/v1/people",
        &key,
        json!({
            "identifiers": ["van:1"],
            "given_name": "Ana",
            "phone_numbers": [{"number": "+1 (215) 555-0123", "primary": true, "sms_capable": true}],
            "languages_spoken": ["ES", "en-us"],
            "postal_addresses": [{"postal_code": "19107"}],
        }),
    )
    .await;
    assert_eq!(status, 201, "{ana}");
    assert_eq!(ana["phone_numbers"][0]["number"], "+12155550123");
    assert_eq!(ana["languages_spoken"], json!(["es", "en-US"]));
    assert_eq!(ana["timezone"], "America/New_York");
    let id = ana["id"].as_i64().unwrap();

    // A new address derives a new timezone; a given one is kept.
    let path = format!("/v1/people/{id}");
    let (status, moved) = send(
        &app,
        reqwest::Method::PATCH,
        &path,
        &key,
        Some(json!({"postal_addresses": [{"postal_code": "94103"}]})),
    )
    .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["timezone"], "America/Los_Angeles");
    assert_eq!(moved["given_name"], "Ana", "PATCH keeps other fields");
    assert_eq!(moved["created_date"], ana["created_date"]);
    let (_, given) = send(
        &app,
        reqwest::Method::PATCH,
        &path,
        &key,
        Some(json!({"timezone": "America/Chicago"})),
    )
    .await;
    assert_eq!(given["timezone"], "America/Chicago");

    // An identifier names one record.
    let (status, body) = post(
        &app,
        "/v1/people",
        &key,
        json!({"identifiers": ["van:1"], "given_name": "Other"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");

    // Delete: gone, listed in the deleted feed, identifier free again.
    let (status, _) = send(&app, reqwest::Method::DELETE, &path, &key, None).await;
    assert_eq!(status, 204);
    let (status, _) = get(&app, &path, &key).await;
    assert_eq!(status, 404);
    let (_, deleted) = get(&app, "/v1/people/deleted?since=0", &key).await;
    assert_eq!(deleted["data"][0]["id"], id);
    let (status, _) = post(
        &app,
        "/v1/people",
        &key,
        json!({"identifiers": ["van:1"], "given_name": "Ana again"}),
    )
    .await;
    assert_eq!(status, 201);
    app.stop().await;
}

async fn attendances_fill_timeslots(backend: Backend) {
    let (mut app, key) = app_with_key(backend).await;
    let (_, event) = post(
        &app,
        "/v1/events",
        &key,
        json!({"title": "Canvass", "event_type": "CANVASS", "location": {"postal_code": "19107"},
               "timeslots": [{"start_date": "2030-01-01T15:00:00Z", "end_date": "2030-01-01T18:00:00Z", "max_attendees": 1},
                             {"start_date": "2030-01-02T15:00:00Z", "end_date": "2030-01-02T18:00:00Z"}]}),
    )
    .await;
    let eid = event["id"].as_i64().unwrap();
    let slot = event["timeslots"][0]["id"].as_i64().unwrap();
    let (_, a) = post(&app, "/v1/people", &key, json!({"given_name": "A"})).await;
    let (_, b) = post(&app, "/v1/people", &key, json!({"given_name": "B"})).await;
    let path = format!("/v1/events/{eid}/attendances");
    let (status, att) = post(
        &app,
        &path,
        &key,
        json!({"person_id": a["id"], "timeslot_id": slot}),
    )
    .await;
    assert_eq!(status, 201, "{att}");
    assert_eq!(att["status"], "REGISTERED");
    let (_, e) = get(&app, &format!("/v1/events/{eid}"), &key).await;
    assert_eq!(e["timeslots"][0]["is_full"], true);
    assert_eq!(e["timeslots"][1]["is_full"], false);

    // Full: a second person is refused; the index agrees.
    let (status, body) = post(
        &app,
        &path,
        &key,
        json!({"person_id": b["id"], "timeslot_id": slot}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = post(
        &app,
        &path,
        &key,
        json!({"person_id": b["id"], "timeslot_id": 999}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(field_names(&body), ["timeslot_id"]);
    let only_open = "/v1/events?exclude_full=true&timeslot_start=lt_1893542400";
    eventually(&app, only_open, &key, |b| b["count"] == 0).await;

    // Cancelling frees the place.
    let (status, cancelled) = send(
        &app,
        reqwest::Method::PATCH,
        &format!("/v1/attendances/{}", att["id"]),
        &key,
        Some(json!({"status": "CANCELLED"})),
    )
    .await;
    assert_eq!(status, 200, "{cancelled}");
    eventually(&app, only_open, &key, |b| b["count"] == 1).await;
    let (_, list) = get(&app, &path, &key).await;
    assert_eq!(list["count"], 1);
    assert_eq!(list["data"][0]["status"], "CANCELLED");
    app.stop().await;
}

async fn access_follows_scopes_and_key_type(backend: Backend) {
    let (mut app, full) = app_with_key(backend).await;
    app.create_plan(
        json!({"name": "app", "rate_per_second": 100, "burst": 100, "scopes": ["events"]}),
    )
    .await;
    let (_, public) = app.create_key("app", json!({"type": "public"})).await;
    app.create_plan(
        json!({"name": "other", "rate_per_second": 100, "burst": 100, "scopes": ["canvass"]}),
    )
    .await;
    let (_, unscoped) = app.create_key("other", json!({})).await;

    let (_, person) = post(
        &app,
        "/v1/people",
        &full,
        json!({"given_name": "Ana", "email_addresses": [{"address": "ana@example.org"}],
               "phone_numbers": [{"number": "+12155550123"}], "postal_addresses": [{"postal_code": "19107"}]}),
    )
    .await;
    let (_, public_event) = post(
        &app,
        "/v1/events",
        &full,
        json!({"title": "Open house", "event_type": "MEETING", "location": {"postal_code": "19107"}}),
    )
    .await;
    let (_, private_event) = post(
        &app,
        "/v1/events",
        &full,
        json!({"title": "Staff only", "event_type": "MEETING", "visibility": "PRIVATE", "location": {"postal_code": "19107"}}),
    )
    .await;
    let slotless = format!("/v1/events/{}/attendances", public_event["id"]);
    let _ = post(
        &app,
        &slotless,
        &full,
        json!({"person_id": person["id"], "timeslot_id": 1}),
    )
    .await;

    // The public app key: public events only, no people.
    let all_events = eventually(
        &app,
        "/v1/events?visibility=PUBLIC&visibility=PRIVATE",
        &full,
        |b| b["count"] == 2,
    )
    .await;
    assert_eq!(all_events["count"], 2);
    let (status, listed) = get(&app, "/v1/events", &public).await;
    assert_eq!(status, 200);
    assert_eq!(listed["count"], 1);
    assert_eq!(listed["data"][0]["id"], public_event["id"]);
    for path in [
        "/v1/events?visibility=PRIVATE".to_string(),
        "/v1/people".to_string(),
        format!("/v1/people/{}", person["id"]),
        "/v1/people/deleted".to_string(),
        slotless.clone(),
    ] {
        let (status, body) = problem(app.get(&path, &public).await).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("forbidden")),
            "{path}"
        );
    }
    let (status, _) = get(
        &app,
        &format!("/v1/events/{}", private_event["id"]),
        &public,
    )
    .await;
    assert_eq!(status, 404, "a PRIVATE event is not there for this key");
    let (status, _) = post(
        &app,
        "/v1/events",
        &public,
        json!({"title": "x", "event_type": "MEETING"}),
    )
    .await;
    assert_eq!(status, 403);

    // Nothing personal reaches a caller without people:read.
    for path in ["/v1/events", &format!("/v1/events/{}", public_event["id"])] {
        let (_, body) = get(&app, path, &public).await;
        let text = body.to_string();
        for secret in ["ana@example.org", "+12155550123", "Ana"] {
            assert!(!text.contains(secret), "{path} shows {secret}");
        }
    }

    // A key without `events` gets nothing here.
    let (status, _) = get(&app, "/v1/events", &unscoped).await;
    assert_eq!(status, 403);
    app.stop().await;
}

/// Random searches over HTTP return what the reference scan returns, in
/// order; following `next` visits every match once; facets agree.
async fn searches_match_the_reference(backend: Backend) {
    // The server's clock is fixed, so `gte_now` means the same instant to
    // it and to the reference.
    let now = Utc.timestamp_opt(1_795_000_000, 0).unwrap();
    let (mut app, key) = app_with_key_at(backend, Arc::new(ManualClock::at(now))).await;
    let mut g = Generator::new(21, now);
    let mut people: Vec<Person> = Vec::new();
    let mut events: Vec<Event> = Vec::new();
    // Through the import endpoint: NDJSON, one request per kind.
    for (what, n) in [("people", 160u64), ("events", 120)] {
        let mut body = String::new();
        for i in 0..n {
            let v = if what == "people" {
                g.person(i)
            } else {
                g.event(i)
            };
            body.push_str(&v.to_string());
            body.push('\n');
        }
        let resp = app
            .http
            .post(app.url(&format!("/admin/v1/import/{what}")))
            .bearer_auth(&app.admin_token)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let summary: Value = resp.json().await.unwrap();
        assert_eq!(summary["created"], n, "{summary}");
    }
    // The records as stored, read back through the API.
    let store = crate::support::search_records(&app).await;
    for (kind, doc) in store {
        match kind {
            "person" => people.push(serde_json::from_value(doc).unwrap()),
            _ => events.push(serde_json::from_value(doc).unwrap()),
        }
    }
    eventually(&app, "/v1/people?per_page=1", &key, |b| b["count"] == 160).await;
    eventually(
        &app,
        "/v1/events?visibility=PUBLIC&visibility=PRIVATE&per_page=1",
        &key,
        |b| b["count"] == 120,
    )
    .await;

    let now_unix = now.timestamp();
    for i in 0..40 {
        let events_query = i % 2 == 0;
        let mut pairs: Vec<(String, String)> = Vec::new();
        if g.rng().random_bool(0.7) {
            pairs.push((
                "zipcode".into(),
                demo::METRO_ZIPS.choose(g.rng()).unwrap().to_string(),
            ));
            pairs.push((
                "max_dist".into(),
                [5, 20, 100, 3000].choose(g.rng()).unwrap().to_string(),
            ));
        }
        if events_query {
            if g.rng().random_bool(0.5) {
                pairs.push(("timeslot_start".into(), "gte_now".into()));
            }
            if g.rng().random_bool(0.5) {
                pairs.push(("event_types".into(), demo::EVENT_TYPES[0].into()));
                pairs.push(("event_types".into(), demo::EVENT_TYPES[1].into()));
            }
            pairs.push(("facets".into(), "event_type,tags".into()));
        } else {
            if g.rng().random_bool(0.5) {
                pairs.push((
                    "skills".into(),
                    demo::SKILLS.choose(g.rng()).unwrap().to_string(),
                ));
            }
            if g.rng().random_bool(0.3) {
                pairs.push(("languages_spoken".into(), "es".into()));
            }
            pairs.push(("facets".into(), "skills,languages_spoken".into()));
        }
        pairs.push((
            "per_page".into(),
            [3, 10, 25].choose(g.rng()).unwrap().to_string(),
        ));
        let query = if events_query {
            turnout_search::params::events(&pairs, now_unix)
        } else {
            turnout_search::params::people(&pairs)
        }
        .unwrap();
        let search = Search::for_query(query).unwrap();
        let (want, want_facets) = turnout_search::reference::matches(&people, &events, &search);

        let path = if events_query {
            "/v1/events"
        } else {
            "/v1/people"
        };
        let qs = serde_urlencoded(&pairs);
        let mut url = app.url(&format!("{path}?{qs}"));
        let mut got: Vec<(i64, Option<f64>)> = Vec::new();
        let mut first = true;
        loop {
            let resp = app
                .http
                .get(&url)
                .header("x-api-key", &key)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            let page: Value = resp.json().await.unwrap();
            assert_eq!(page["count"], want.len(), "count for {qs}");
            if first {
                assert_eq!(
                    page["facets"],
                    serde_json::to_value(&want_facets).unwrap(),
                    "{qs}"
                );
                assert!(page["previous"].is_null());
                first = false;
            } else {
                assert!(page["previous"].is_string(), "a later page links back");
            }
            for d in page["data"].as_array().unwrap() {
                got.push((d["id"].as_i64().unwrap(), d["distance"].as_f64()));
            }
            match page["next"].as_str() {
                Some(next) => {
                    assert!(
                        next.starts_with(&app.base),
                        "{next} is not under public_url"
                    );
                    url = next.to_string();
                }
                None => break,
            }
        }
        let ids = |v: &[(i64, Option<f64>)]| v.iter().map(|x| x.0).collect::<Vec<_>>();
        assert_eq!(ids(&got), ids(&want), "{qs}");
        for ((_, miles), (_, km)) in got.iter().zip(&want) {
            match (miles, km) {
                (Some(m), Some(k)) => {
                    assert!((m - turnout_search::geo::km_to_miles(*k)).abs() < 1e-9)
                }
                (None, None) => {}
                other => panic!("distance presence differs: {other:?}"),
            }
        }
    }
    app.stop().await;
}

fn serde_urlencoded(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace(',', "%2C")))
        .collect::<Vec<_>>()
        .join("&")
}

/// Import: bad lines are reported by number and never stop good ones;
/// the same file again changes nothing.
async fn import_is_idempotent_and_reports_bad_lines(backend: Backend) {
    let (mut app, key) = app_with_key(backend).await;
    let csv = "identifiers,given_name,email,phone,postal_code,languages_spoken,skills\n\
               van:1,Ana,ana@example.org,+12155550123,19107,es;en,driving;canvassing\n\
               van:2,Luis,not-an-email,,19107,,\n\
               ,No Id,,,,,\n\
               van:3,Maya,maya@example.org,2155550199,10001,,\n\
               van:4,Sam,sam@example.org,,94103,EN_us,\n\
               van:5,Priya,priya@example.org,,94103,en-us,\n";
    let import = |body: &'static str, ctype: &'static str| {
        let app = &app;
        async move {
            let resp = app
                .http
                .post(app.url("/admin/v1/import/people"))
                .bearer_auth(&app.admin_token)
                .header("content-type", ctype)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            resp.json::<Value>().await.unwrap()
        }
    };
    let first = import(csv, "text/csv").await;
    assert_eq!(first["created"], 2, "{first}");
    let lines: Vec<i64> = first["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4, 5, 6], "{first}");
    let again = import(csv, "text/csv").await;
    assert_eq!(
        (
            again["created"].as_i64(),
            again["updated"].as_i64(),
            again["unchanged"].as_i64()
        ),
        (Some(0), Some(0), Some(2)),
        "{again}"
    );

    // NDJSON updates a record matched by identifier, keeps other fields.
    let ndjson = "{\"identifiers\": [\"van:1\"], \"skills\": [\"legal\"]}\n\nnot json\n[1]\n";
    let third = import(ndjson, "application/x-ndjson").await;
    assert_eq!(third["updated"], 1, "{third}");
    let lines: Vec<i64> = third["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4]);
    let people = eventually(&app, "/v1/people?skills=legal", &key, |b| b["count"] == 1).await;
    assert_eq!(people["data"][0]["given_name"], "Ana");
    assert_eq!(
        people["data"][0]["email_addresses"][0]["address"],
        "ana@example.org"
    );

    let resp = app
        .http
        .post(app.url("/admin/v1/import/people"))
        .bearer_auth(&app.admin_token)
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    app.stop().await;
}

/// An edit shows up in search without any action; a reindex rebuilds
/// the index while searches keep being answered.
async fn edits_are_followed_and_reindex_drops_no_query(backend: Backend) {
    let (app, key) = app_with_key(backend).await;
    edits_are_followed_and_reindex_drops_no_query_on(app, key).await;
}

pub async fn edits_are_followed_and_reindex_drops_no_query_on(mut app: TestApp, key: String) {
    let mut g = Generator::new(5, Utc::now());
    let mut body = String::new();
    for i in 0..300 {
        body.push_str(&g.event(i).to_string());
        body.push('\n');
    }
    let resp = app
        .http
        .post(app.url("/admin/v1/import/events"))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let everything = "/v1/events?visibility=PUBLIC&visibility=PRIVATE&per_page=1";
    eventually(&app, everything, &key, |b| b["count"] == 300).await;

    let (_, e) = post(
        &app,
        "/v1/events",
        &key,
        json!({"title": "Zebra crossing cleanup", "event_type": "COMMUNITY"}),
    )
    .await;
    let written = Instant::now();
    let found = eventually(&app, "/v1/events?q=zebra", &key, |b| b["count"] == 1).await;
    eprintln!("an edit was searchable after {:?}", written.elapsed());
    assert_eq!(found["data"][0]["id"], e["id"]);

    // Searches in a loop while the index is rebuilt.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let searcher = {
        let (http, url, key, stop) = (
            app.http.clone(),
            app.url(everything),
            key.clone(),
            std::sync::Arc::clone(&stop),
        );
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let resp = http
                    .get(&url)
                    .header("x-api-key", &key)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
                let body: Value = resp.json().await.unwrap();
                assert_eq!(body["count"], 301, "a search during the reindex");
                n += 1;
            }
            n
        })
    };
    let (status, body) = app
        .admin(reqwest::Method::POST, "/admin/v1/search/reindex", None)
        .await;
    assert_eq!(status, 202, "{body}");
    let generation = body["generation"].as_i64().unwrap();
    let started = Instant::now();
    loop {
        let (_, s) = app
            .admin(reqwest::Method::GET, "/admin/v1/search", None)
            .await;
        if s["generation"] == generation && s["behind"] == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "reindex never finished: {s}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let searches = searcher.await.unwrap();
    assert!(searches > 0);
    eventually(&app, "/v1/events?q=zebra", &key, |b| b["count"] == 1).await;
    app.stop().await;
}

/// Two instances on one PostgreSQL, each with its own index: a write on
/// one is found, and a delete is followed, on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_on_one_postgres_converge() {
    let config_a = config_on(Backend::Postgres).await;
    let mut config_b = crate::support::config();
    config_b.store.url = config_a.store.url.clone();
    config_b.admin_token = config_a.admin_token.clone();
    let mut a = TestApp::start(config_a).await;
    a.create_plan(
        json!({"name": "all", "rate_per_second": 10000, "burst": 10000, "scopes": ALL_SCOPES}),
    )
    .await;
    let (_, key) = a.create_key("all", json!({})).await;
    let mut b = TestApp::start(config_b).await;

    let (status, e) = post(
        &a,
        "/v1/events",
        &key,
        json!({"title": "Phone bank", "event_type": "PHONE_BANK", "location": {"postal_code": "19107"}}),
    )
    .await;
    assert_eq!(status, 201);
    let near = "/v1/events?zipcode=19107&max_dist=5";
    // The key reaches b through key sync, the event through the change log.
    let found = eventually(&b, near, &key, |body| body["count"] == 1).await;
    assert_eq!(found["data"][0]["id"], e["id"]);
    let (status, _) = send(
        &a,
        reqwest::Method::DELETE,
        &format!("/v1/events/{}", e["id"]),
        &key,
        None,
    )
    .await;
    assert_eq!(status, 204);
    eventually(&b, near, &key, |body| body["count"] == 0).await;
    b.stop().await;
    a.stop().await;
}

/// `Idempotency-Key`: a retried create returns the first response and
/// creates nothing; another body is refused; keys are per API key and
/// last 24 hours.
async fn idempotency_keys_replay_the_first_response(backend: Backend) {
    let clock = Arc::new(ManualClock::at(
        Utc.timestamp_opt(1_795_000_000, 0).unwrap(),
    ));
    let (mut app, key) = app_with_key_at(backend, clock.clone()).await;
    let (_, other_key) = app.create_key("all", json!({})).await;
    let create = |key: &str, idem: &str, body: Value| {
        app.http
            .post(app.url("/v1/people"))
            .header("x-api-key", key)
            .header("idempotency-key", idem)
            .json(&body)
            .send()
    };
    let ana = json!({"given_name": "Ana"});
    let first = create(&key, "signup-1", ana.clone()).await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = create(&key, "signup-1", ana.clone()).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    eventually(&app, "/v1/people", &key, |b| b["count"] == 1).await;

    let (status, body) = problem(
        create(&key, "signup-1", json!({"given_name": "Luis"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );

    // Scoped to the API key: another key's "signup-1" is its own.
    let theirs: Value = create(&other_key, "signup-1", ana.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(theirs["id"], first["id"]);

    let (status, _) = problem(create(&key, &"x".repeat(300), ana.clone()).await.unwrap()).await;
    assert_eq!(status, 400);

    // After 24 hours the key is new again.
    clock.advance(Duration::from_secs(86_401));
    let later = create(&key, "signup-1", ana).await.unwrap();
    assert_eq!(later.status(), 201);
    assert!(later.headers().get("idempotent-replayed").is_none());
    assert_ne!(later.json::<Value>().await.unwrap()["id"], first["id"]);
    app.stop().await;
}

turnout_core::on_both_stores!(
    writes_validate_derive_and_conflict,
    attendances_fill_timeslots,
    access_follows_scopes_and_key_type,
    searches_match_the_reference,
    import_is_idempotent_and_reports_bad_lines,
    edits_are_followed_and_reindex_drops_no_query,
    idempotency_keys_replay_the_first_response,
);
