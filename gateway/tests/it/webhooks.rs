//! Twilio's webhooks against a running gateway whose SMS provider is the
//! behavioural Twilio peer: delivery reports settle messages, inbound
//! keywords opt numbers out and in with exactly one reply, other replies
//! are listed for staff, and anything not signed with the account's auth
//! token is 403 and changes nothing.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use turnout_core::store::testing::Backend;
use turnout_outreach::config::{SmsProviderKind, TwilioSection};
use turnout_outreach::testing::twilio_peer::{ACCOUNT_SID, AUTH_TOKEN, TwilioPeer, post_signed};

use crate::support::{TestApp, config_on};

const PUBLIC: &str = "https://api.example.org";

struct Rig {
    app: TestApp,
    key: String,
    peer: TwilioPeer,
}

async fn rig(backend: Backend) -> Rig {
    let peer = TwilioPeer::start().await;
    let mut c = config_on(backend).await;
    c.public_url = Some(PUBLIC.into());
    c.outreach.sms.provider = SmsProviderKind::Twilio;
    c.outreach.sms.twilio = Some(TwilioSection {
        account_sid: ACCOUNT_SID.into(),
        auth_token: AUTH_TOKEN.into(),
        messaging_service_sid: None,
        from: Some("+12155550100".into()),
        base_url: peer.base_url(),
        smart_encoded: false,
        validity_period: None,
        timeout_ms: 5_000,
    });
    let app = TestApp::start(c).await;
    app.create_plan(
        json!({"name": "staff", "rate_per_second": 1000, "burst": 1000,
        "scopes": ["messages:send", "campaigns"]}),
    )
    .await;
    let (_, key) = app.create_key("staff", json!({})).await;
    Rig { app, key, peer }
}

impl Rig {
    async fn text(&self, to: &str) -> Value {
        let r = self
            .app
            .http
            .post(self.app.url("/v1/messages"))
            .header("x-api-key", &self.key)
            .json(&json!({"channel": "sms", "to": {"phone": to}, "template": {"body": "Canvass Saturday?"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        r.json().await.unwrap()
    }

    async fn message(&self, id: &Value) -> Value {
        self.app
            .get(&format!("/v1/messages/{id}"), &self.key)
            .await
            .json()
            .await
            .unwrap()
    }

    async fn until_status(&self, id: &Value, want: &str) -> Value {
        let started = Instant::now();
        loop {
            let m = self.message(id).await;
            if m["status"] == want {
                return m;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "never {want}: {m}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// An inbound text, signed over our public URL (or with `token`).
    async fn inbound(&self, sid: &str, from: &str, body: &str, token: &str) -> (u16, String) {
        let params: Vec<(String, String)> = [
            ("AccountSid", ACCOUNT_SID),
            ("MessageSid", sid),
            ("From", from),
            ("To", "+12155550100"),
            ("Body", body),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        post_signed(
            &self.app.url("/webhooks/twilio/inbound"),
            &format!("{PUBLIC}/webhooks/twilio/inbound"),
            &params,
            token,
        )
        .await
    }
}

async fn delivery_reports_settle_messages_and_forgeries_change_nothing(backend: Backend) {
    let mut r = rig(backend).await;
    let queued = r.text("+12155550123").await;
    let m = r.until_status(&queued["id"], "sent").await;
    assert_eq!(m["status"], "sent");
    let got = r.peer.received();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].get("StatusCallback"),
        Some("https://api.example.org/webhooks/twilio/status")
    );
    let sid = got[0].sid.clone().unwrap();
    let status_url = r.app.url("/webhooks/twilio/status");
    let signed_url = format!("{PUBLIC}/webhooks/twilio/status");

    // Signed over another URL (what a proxy might have rewritten it to),
    // or not signed at all: 403, nothing changes.
    assert_eq!(
        r.peer
            .post_status(&status_url, &status_url, &sid, "delivered", None)
            .await,
        403
    );
    let unsigned = r
        .app
        .http
        .post(&status_url)
        .form(&[("MessageSid", sid.as_str()), ("MessageStatus", "delivered")])
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    assert_eq!(r.message(&queued["id"]).await["status"], "sent");

    assert_eq!(
        r.peer
            .post_status(&status_url, &signed_url, &sid, "delivered", None)
            .await,
        204
    );
    assert_eq!(r.message(&queued["id"]).await["status"], "delivered");
    // A late "undelivered" for a delivered message changes nothing.
    r.peer
        .post_status(&status_url, &signed_url, &sid, "undelivered", Some(30003))
        .await;
    assert_eq!(r.message(&queued["id"]).await["status"], "delivered");
    r.app.stop().await;
}

async fn keywords_opt_out_and_in_with_exactly_one_reply(backend: Backend) {
    let mut r = rig(backend).await;
    let n = "+12155550124";

    // A forged STOP: 403, and the number still gets texts.
    let (status, _) = r.inbound("SMforged", n, "STOP", "not-the-token").await;
    assert_eq!(status, 403);
    let ok = r.text(n).await;
    r.until_status(&ok["id"], "sent").await;

    let mut sid = 0;
    let mut next_sid = || {
        sid += 1;
        format!("SM{sid:032}")
    };
    for word in [
        "STOP",
        "stopall",
        " Unsubscribe ",
        "END",
        "quit",
        "CANCEL",
        "revoke",
        "OPTOUT.",
    ] {
        let s = next_sid();
        let (status, reply) = r.inbound(&s, n, word, AUTH_TOKEN).await;
        assert_eq!(status, 200, "{word}");
        assert_eq!(reply.matches("<Message>").count(), 1, "{word}: {reply}");
        assert!(reply.contains("unsubscribed"), "{word}: {reply}");
        // Twilio delivers the same webhook again: no second reply.
        let (_, again) = r.inbound(&s, n, word, AUTH_TOKEN).await;
        assert!(!again.contains("<Message>"), "{word}: {again}");
    }
    // Opted out before the next send: nothing reaches Twilio.
    let before = r.peer.received().len();
    let stopped = r.text(n).await;
    assert_eq!(stopped["status"], "opted_out");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(r.peer.received().len(), before);

    for word in ["START", "yes", "UNSTOP"] {
        let (_, reply) = r.inbound(&next_sid(), n, word, AUTH_TOKEN).await;
        assert_eq!(reply.matches("<Message>").count(), 1, "{word}: {reply}");
        assert!(reply.contains("resubscribed"), "{word}: {reply}");
    }
    let back = r.text(n).await;
    r.until_status(&back["id"], "sent").await;
    for word in ["HELP", "info"] {
        let (_, reply) = r.inbound(&next_sid(), n, word, AUTH_TOKEN).await;
        assert_eq!(reply.matches("<Message>").count(), 1, "{word}: {reply}");
        assert!(reply.contains("Reply STOP to opt out"), "{word}: {reply}");
    }

    // Anything else is a reply for staff, unanswered.
    let (status, reply) = r
        .inbound(&next_sid(), n, "What time on Saturday?", AUTH_TOKEN)
        .await;
    assert_eq!(status, 200);
    assert!(!reply.contains("<Message>"), "{reply}");
    let listed: Value = r.app.get("/v1/inbound", &r.key).await.json().await.unwrap();
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["data"][0]["body"], "What time on Saturday?");
    assert_eq!(listed["data"][0]["from"], n);
    // Newest first; `count` is every reply, not the page.
    r.inbound(&next_sid(), n, "Can I bring a friend?", AUTH_TOKEN)
        .await;
    let page: Value = r
        .app
        .get("/v1/inbound?per_page=1", &r.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["count"], 2, "{page}");
    assert_eq!(page["data"][0]["body"], "Can I bring a friend?");
    assert!(page["next"].is_string(), "{page}");
    r.app.stop().await;
}

/// `/webhooks/ses` is mounted without an API key and refuses what it
/// cannot verify (its signature checks are in the outreach crate's
/// `ses_webhook_suite`, with the tests' own key pair).
#[tokio::test]
async fn the_ses_webhook_refuses_unsigned_posts() {
    let mut r = rig(Backend::Sqlite).await;
    let resp = r
        .app
        .http
        .post(r.app.url("/webhooks/ses"))
        .header("content-type", "text/plain")
        .body(r#"{"Type": "Notification", "Message": "{}"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    r.app.stop().await;
}

turnout_core::on_both_stores!(
    delivery_reports_settle_messages_and_forgeries_change_nothing,
    keywords_opt_out_and_in_with_exactly_one_reply,
);
