//! The admin API as an operator uses it.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestApp, config, echo_upstream, field_names, problem, routed_to};

#[tokio::test]
async fn the_admin_api_needs_the_admin_token() {
    let app = TestApp::start(config()).await;
    for auth in [None, Some("Bearer wrong"), Some("Basic abc")] {
        let mut req = app.http.get(app.url("/admin/v1/plans"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let (status, body) = problem(req.send().await.unwrap()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("invalid_admin_token"))
        );
    }
}

#[tokio::test]
async fn plans_are_validated_field_by_field_and_names_are_unique() {
    let app = TestApp::start(config()).await;
    let (status, body) = app
        .admin(Method::POST, "/admin/v1/plans", Some(json!({"name": "", "rate_per_second": 0, "burst": -1, "timezone": "Nowhere/Land", "scopes": ["Bad Scope"]})))
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["code"], "validation_failed");
    let fields = field_names(&body);
    for f in ["name", "rate_per_second", "burst", "timezone", "scopes"] {
        assert!(fields.iter().any(|x| x == f), "{f} missing from {fields:?}");
    }
    let (status, _) = app.admin(Method::GET, "/admin/v1/plans", None).await;
    assert_eq!(status, 200);

    let plan = app
        .create_plan(json!({"name": "starter", "rate_per_second": 5, "burst": 10}))
        .await;
    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/v1/plans",
            Some(json!({"name": "starter", "rate_per_second": 1, "burst": 1})),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("conflict")));

    let id = plan["id"].as_str().unwrap();
    let (status, patched) = app
        .admin(
            Method::PATCH,
            &format!("/admin/v1/plans/{id}"),
            Some(json!({"burst": 50})),
        )
        .await;
    assert_eq!(
        (
            status,
            patched["burst"].as_u64(),
            patched["rate_per_second"].as_f64()
        ),
        (200, Some(50), Some(5.0))
    );

    // Malformed bodies are problems too, never 500s.
    let resp = app
        .http
        .post(app.url("/admin/v1/plans"))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(resp).await.0, 400);
    let resp = app
        .http
        .post(app.url("/admin/v1/plans"))
        .bearer_auth(&app.admin_token)
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(resp).await.0, 415);
    let (status, _) = app
        .admin(Method::POST, "/admin/v1/plans", Some(json!([1, 2])))
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn public_keys_can_never_hold_personal_data_scopes() {
    let app = TestApp::start(config()).await;
    app.create_plan(json!({"name": "partner", "rate_per_second": 5, "burst": 10, "scopes": ["events", "people:read"]})).await;
    app.create_plan(
        json!({"name": "app", "rate_per_second": 5, "burst": 10, "scopes": ["events"]}),
    )
    .await;

    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/v1/keys",
            Some(json!({"name": "k", "plan": "partner", "type": "public"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("people:read"));
    let (status, _) = app
        .admin(Method::POST, "/admin/v1/keys", Some(json!({"name": "k", "plan": "app", "type": "public", "scopes": ["events", "messages:send"]})))
        .await;
    assert_eq!(status, 422);

    // Narrowed scopes make a public key on a broad plan acceptable.
    let (status, key) = app
        .admin(
            Method::POST,
            "/admin/v1/keys",
            Some(json!({"name": "k", "plan": "partner", "type": "public", "scopes": ["events"]})),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let id = key["id"].as_str().unwrap();
    let (status, _) = app
        .admin(
            Method::PATCH,
            &format!("/admin/v1/keys/{id}"),
            Some(json!({"scopes": null})),
        )
        .await;
    assert_eq!(
        status, 422,
        "dropping the narrowing would grant people:read"
    );

    // A plan change may not widen public keys either.
    let (_, pk) = app
        .admin(
            Method::POST,
            "/admin/v1/keys",
            Some(json!({"name": "k2", "plan": "app", "type": "public"})),
        )
        .await;
    assert_eq!(pk["type"], "public");
    let (status, _) = app
        .admin(
            Method::PATCH,
            "/admin/v1/plans/app",
            Some(json!({"scopes": ["events", "campaigns"]})),
        )
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn keys_are_shown_once_listed_paged_and_audited() {
    let app = TestApp::start(config()).await;
    app.create_plan(json!({"name": "p", "rate_per_second": 5, "burst": 10}))
        .await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.create_key("p", json!({})).await.0);
    }
    let (status, one) = app
        .admin(Method::GET, &format!("/admin/v1/keys/{}", ids[0]), None)
        .await;
    assert_eq!(status, 200);
    assert!(one.get("key").is_none(), "the secret is never shown again");

    let mut seen = Vec::new();
    let mut next = Some(app.url("/admin/v1/keys?per_page=2"));
    while let Some(url) = next {
        let page: Value = app
            .http
            .get(&url)
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(page["count"], 5);
        for k in page["data"].as_array().unwrap() {
            seen.push(k["id"].as_str().unwrap().to_string());
        }
        next = page["next"].as_str().map(String::from);
    }
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids, "following next yields every key exactly once");

    let (status, _) = app
        .admin(
            Method::PATCH,
            &format!("/admin/v1/keys/{}", ids[0]),
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, audit) = app
        .admin(Method::GET, "/admin/v1/audit?per_page=1", None)
        .await;
    let last = &audit["data"][0];
    assert_eq!(last["action"], "key.update");
    assert_eq!(last["actor"], "admin-api");
    assert_eq!(last["before"]["status"], "active");
    assert_eq!(last["after"]["status"], "disabled");
    // The hashing secret generated on first start, the plan, five keys and
    // the update.
    assert_eq!(audit["count"], 8, "{audit}");
}

#[tokio::test]
async fn usage_reports_calls_rejections_statuses_and_latency() {
    let up = echo_upstream("a").await;
    let c = routed_to(config(), &up);
    let app = TestApp::start(c).await;
    app.create_plan(json!({"name": "p", "rate_per_second": 0.01, "burst": 3, "scopes": ["a"]}))
        .await;
    let (id, key) = app.create_key("p", json!({})).await;
    for _ in 0..5 {
        app.get("/v1/a/x", &key).await;
    }
    let (status, report) = app
        .admin(
            Method::GET,
            &format!("/admin/v1/usage?key={id}&granularity=hour"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{report}");
    let row = &report["data"][0];
    assert_eq!(row["calls"], 5);
    assert_eq!(row["route"], "/v1/a");
    assert_eq!(row["rejected"]["rate_limited"], 2);
    assert_eq!(row["status"]["2xx"], 3);
    assert_eq!(row["status"]["4xx"], 2);
    assert!(row["latency_ms"]["p99"].as_f64().unwrap() > 0.0);

    let (status, body) = app
        .admin(Method::GET, "/admin/v1/usage?granularity=week", None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("validation_failed"))
    );
}

#[tokio::test]
async fn plans_in_use_cannot_be_deleted() {
    let app = TestApp::start(config()).await;
    app.create_plan(json!({"name": "p", "rate_per_second": 5, "burst": 10}))
        .await;
    let (id, _) = app.create_key("p", json!({})).await;
    let (status, _) = app.admin(Method::DELETE, "/admin/v1/plans/p", None).await;
    assert_eq!(status, 409);
    app.admin(Method::DELETE, &format!("/admin/v1/keys/{id}"), None)
        .await;
    let (status, _) = app.admin(Method::DELETE, "/admin/v1/plans/p", None).await;
    assert_eq!(status, 204);
    let (status, _) = app.admin(Method::GET, "/admin/v1/plans/p", None).await;
    assert_eq!(status, 404);
    // The name is free again.
    app.create_plan(json!({"name": "p", "rate_per_second": 1, "burst": 1}))
        .await;
}

#[tokio::test]
async fn suppressions_are_added_found_lifted_and_audited() {
    let app = TestApp::start(config()).await;
    app.create_plan(json!({"name": "send", "rate_per_second": 100, "burst": 100,
        "scopes": ["messages:send"]}))
        .await;
    let (_, key) = app.create_key("send", json!({})).await;
    let send = async |phone: &str| -> Value {
        app.http
            .post(app.url("/v1/messages"))
            .header("x-api-key", &key)
            .json(&json!({"channel": "sms", "to": {"phone": phone}, "template": {"body": "hi"}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };

    // Bad input names each field.
    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/v1/suppressions",
            Some(json!({"channel": "fax", "address": 5, "why": "x"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let fields = field_names(&body);
    for f in ["channel", "address", "why"] {
        assert!(fields.iter().any(|x| x == f), "{f} missing from {fields:?}");
    }

    // Added in any spelling of the number; the same entry the second time.
    let (status, added) = app
        .admin(
            Method::POST,
            "/admin/v1/suppressions",
            Some(json!({"channel": "sms", "address": "+1 (215) 555-0177"})),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["address"], "+12155550177");
    assert_eq!(added["reason"], "manual");
    let (status, again) = app
        .admin(
            Method::POST,
            "/admin/v1/suppressions",
            Some(json!({"channel": "sms", "address": "+12155550177", "reason": "bounce"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["reason"], "manual", "the first reason stays");
    assert_eq!(again["address_hash"], added["address_hash"]);

    // Nothing is sent to it now.
    assert_eq!(send("+12155550177").await["status"], "suppressed");
    assert_eq!(send("+12155550178").await["status"], "queued");

    // Listed by hash (the address is not kept), found by address.
    let (_, list) = app
        .admin(Method::GET, "/admin/v1/suppressions?channel=sms", None)
        .await;
    assert_eq!(list["count"], 1);
    assert_eq!(list["data"][0]["address_hash"], added["address_hash"]);
    assert!(list["data"][0].get("address").is_none());
    let (_, found) = app
        .admin(
            Method::GET,
            "/admin/v1/suppressions?channel=sms&address=%2B12155550177",
            None,
        )
        .await;
    assert_eq!(found["count"], 1);
    let (_, none) = app
        .admin(Method::GET, "/admin/v1/suppressions?channel=email", None)
        .await;
    assert_eq!(none["count"], 0);

    // Lifted: sent again. A second lift is 404.
    let path = "/admin/v1/suppressions?channel=sms&address=%2B12155550177";
    let (status, _) = app.admin(Method::DELETE, path, None).await;
    assert_eq!(status, 204);
    assert_eq!(send("+12155550177").await["status"], "queued");
    let (status, body) = app.admin(Method::DELETE, path, None).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));

    // Both changes are in the audit log, under the hash, not the number.
    let (_, audit) = app.admin(Method::GET, "/admin/v1/audit", None).await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"].as_str().unwrap().starts_with("sms:"))
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.len(), 2, "{audit}");
    assert!(actions.contains(&"suppression.add") && actions.contains(&"suppression.remove"));
    assert!(
        !audit.to_string().contains("5550177"),
        "the number is in the audit log"
    );
}
