//! `turnout serve` with SNS for SMS and SES v2 for email, both pointed at
//! moto: transactional messages and a bulk email (with its unsubscribe
//! headers) arrive as moto records them.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use turnout_core::store::testing::Backend;
use turnout_outreach::config::{EmailProviderKind, SesSection, SmsProviderKind, SnsSection};

use crate::support::{TestApp, config_on};

fn moto_url() -> String {
    std::env::var("TURNOUT_TEST_MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:5005".into())
}

async fn moto_data() -> Value {
    reqwest::get(format!("{}/moto-api/data.json", moto_url()))
        .await
        .expect("moto is running (scripts/peers.sh)")
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_sends_through_sns_and_ses() {
    let url = moto_url();
    let domain = format!("{}.example.org", turnout_core::token::lower36(10));
    let mut c = config_on(Backend::Sqlite).await;
    c.outreach.sms.provider = SmsProviderKind::Sns;
    c.outreach.sms.sns = Some(SnsSection {
        region: "us-east-1".into(),
        endpoint_url: Some(url.clone()),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
        origination_number: Some("+12155550100".into()),
        timeout_ms: 10_000,
    });
    c.outreach.email.provider = EmailProviderKind::Ses;
    c.outreach.email.from = Some(format!("Campaign <team@{domain}>"));
    c.outreach.email.ses = Some(SesSection {
        region: "us-east-1".into(),
        endpoint_url: Some(url.clone()),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
        configuration_set: None,
        topic_arns: Vec::new(),
        timeout_ms: 10_000,
    });
    let ses = c.outreach.email.ses.clone().unwrap();
    // 17:00 UTC, inside the campaign's window.
    let clock = std::sync::Arc::new(turnout_core::ManualClock::at(
        chrono::DateTime::parse_from_rfc3339("2026-12-01T17:00:00Z")
            .unwrap()
            .into(),
    ));
    let mut app = TestApp::start_with(c, clock, None).await;
    let admin = aws_sdk_sesv2::Client::new(
        &turnout_outreach::providers::aws::sdk_config(&ses.aws(), Duration::from_secs(10)).await,
    );
    admin
        .create_email_identity()
        .email_identity(&domain)
        .send()
        .await
        .unwrap();
    app.create_plan(
        json!({"name": "staff", "rate_per_second": 1000, "burst": 1000,
        "scopes": ["messages:send", "campaigns", "people:write"]}),
    )
    .await;
    let (_, key) = app.create_key("staff", json!({})).await;
    let tag = turnout_core::token::lower36(8);
    let mut ids = Vec::new();
    for body in [
        json!({"channel": "sms", "to": {"phone": "+12155550177"},
               "template": {"body": format!("Code {tag}")}}),
        json!({"channel": "email", "to": {"email": format!("ana@{domain}")},
               "template": {"subject": format!("Welcome {tag}"), "body": "Hi"}}),
    ] {
        let r: Value = app
            .http
            .post(app.url("/v1/messages"))
            .header("x-api-key", &key)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(r["id"].clone());
    }
    // A bulk email: its unsubscribe headers reach SES untouched.
    let person: Value = app
        .http
        .post(app.url("/v1/people"))
        .header("x-api-key", &key)
        .json(&json!({"given_name": "Ben", "email_addresses": [{"address": format!("ben@{domain}")}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let campaign: Value = app
        .http
        .post(app.url("/v1/campaigns"))
        .header("x-api-key", &key)
        .json(
            &json!({"name": "News", "channel": "email", "timezone": "UTC",
            "send_window": {"start": "08:00", "end": "21:00"},
            "template": {"subject": format!("News {tag}"), "body": "Hi {{ given_name }}"},
            "audience": {"person_ids": [person["id"]]}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let mut done = true;
        for id in &ids {
            let m: Value = app
                .get(&format!("/v1/messages/{id}"), &key)
                .await
                .json()
                .await
                .unwrap();
            done &= m["status"] == "sent";
            assert_ne!(m["status"], "failed", "{m}");
        }
        if done {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "never sent");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let d = moto_data().await;
    assert!(
        d["sns"]["SMS"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["message"] == format!("Code {tag}") && m["phone_number"] == "+12155550177"),
        "no SMS at moto"
    );
    assert!(
        d["ses"]["RawMessage"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["raw_data"]
                .as_str()
                .unwrap()
                .contains(&format!("Subject: Welcome {tag}"))),
        "no email at moto"
    );
    let id = campaign["id"].as_i64().unwrap();
    let launched = app
        .http
        .post(app.url(&format!("/v1/campaigns/{id}/launch")))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(launched.status(), 200);
    let started = Instant::now();
    loop {
        let d = moto_data().await;
        let raw = d["ses"]["RawMessage"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| {
                m["raw_data"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("Subject: News {tag}"))
            })
            .map(|m| m["raw_data"].as_str().unwrap().to_string());
        if let Some(raw) = raw {
            assert!(raw.contains("List-Unsubscribe: <http"), "{raw}");
            assert!(
                raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
                "{raw}"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the campaign email never reached moto"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}
