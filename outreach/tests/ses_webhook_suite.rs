//! `/webhooks/ses` with the tests' own RSA key and certificate (served by
//! an injected fetcher at an SNS-shaped URL): SignatureVersion 1 and 2
//! verify; bounces, complaints and deliveries change what they should;
//! anything forged, unsigned, from another host or another topic is 403
//! and changes nothing; subscriptions are confirmed once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::{Value, json};
use turnout_core::store::testing::{Backend, fresh_dir};
use turnout_core::{ManualClock, Store};
use turnout_outreach::consent::optouts::{OptOuts, Reason};
use turnout_outreach::queue::{Channel, MIGRATIONS, NewMessage, Outcome, Queue, Status};
use turnout_outreach::webhooks::ses::{SesWebhooks, router};
use turnout_outreach::webhooks::sns_signature::{
    FetchFuture, Fetcher, SnsMessage, Verifier, string_to_sign,
};

const CERT_URL: &str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:ses-events";

/// Serves the tests' certificate and records every URL asked for.
struct TestFetcher {
    pages: Mutex<HashMap<String, Vec<u8>>>,
    asked: Mutex<Vec<String>>,
}

impl Fetcher for TestFetcher {
    fn fetch<'a>(&'a self, url: &'a str) -> FetchFuture<'a> {
        Box::pin(async move {
            self.asked.lock().unwrap().push(url.to_string());
            self.pages
                .lock()
                .unwrap()
                .get(url)
                .cloned()
                .ok_or_else(|| format!("{url}: not found"))
        })
    }
}

struct Keys {
    signer: rsa::RsaPrivateKey,
    cert_pem: String,
}

fn keys() -> Keys {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["sns.us-east-1.amazonaws.com".to_string()])
        .unwrap()
        .self_signed(&pair)
        .unwrap();
    Keys {
        signer: rsa::RsaPrivateKey::from_pkcs8_der(&pair.serialize_der()).unwrap(),
        cert_pem: cert.pem(),
    }
}

fn sign(key: &rsa::RsaPrivateKey, version: &str, text: &str) -> String {
    let signature = match version {
        "1" => SigningKey::<sha1_legacy::Sha1>::new(key.clone())
            .sign(text.as_bytes())
            .to_vec(),
        _ => SigningKey::<rsa::sha2::Sha256>::new(key.clone())
            .sign(text.as_bytes())
            .to_vec(),
    };
    base64::engine::general_purpose::STANDARD.encode(signature)
}

/// An SNS message of `kind` carrying `message`, signed with `key`.
fn signed(key: &rsa::RsaPrivateKey, version: &str, kind: &str, id: &str, message: &str) -> Value {
    let mut m = json!({
        "Type": kind,
        "MessageId": id,
        "TopicArn": TOPIC,
        "Message": message,
        "Timestamp": "2026-12-01T17:00:00.000Z",
        "SignatureVersion": version,
        "Signature": "",
        "SigningCertURL": CERT_URL,
    });
    if kind == "Notification" {
        m["Subject"] = json!("Amazon SES Email Event Notification");
    } else {
        m["Token"] = json!("token-123");
        m["SubscribeURL"] = json!(format!(
            "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=token-123&n={id}"
        ));
    }
    resign(key, version, &mut m);
    m
}

fn resign(key: &rsa::RsaPrivateKey, version: &str, m: &mut Value) {
    let parsed: SnsMessage = serde_json::from_value(m.clone()).unwrap();
    m["Signature"] = json!(sign(key, version, &string_to_sign(&parsed).unwrap()));
}

struct Rig {
    url: String,
    queue: Queue,
    optouts: OptOuts,
    fetcher: Arc<TestFetcher>,
    keys: Keys,
    http: reqwest::Client,
}

async fn rig(backend: Backend) -> Rig {
    let dir = fresh_dir("ses-webhook");
    let store = Store::open(backend.fresh_url().await.as_deref(), &dir, 4)
        .await
        .unwrap();
    store.migrate("outreach", MIGRATIONS).await.unwrap();
    let keys = keys();
    let fetcher = Arc::new(TestFetcher {
        pages: Mutex::new(HashMap::from([(
            CERT_URL.to_string(),
            keys.cert_pem.clone().into_bytes(),
        )])),
        asked: Mutex::new(Vec::new()),
    });
    let queue = Queue::new(store.clone());
    let optouts = OptOuts::new(store.clone());
    let app = router(Arc::new(SesWebhooks {
        verifier: Verifier::new(fetcher.clone()),
        topic_arns: vec![TOPIC.to_string()],
        queue: queue.clone(),
        optouts: optouts.clone(),
        clock: Arc::new(ManualClock::at(
            chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap(),
        )),
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/ses", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Rig {
        url,
        queue,
        optouts,
        fetcher,
        keys,
        http: reqwest::Client::new(),
    }
}

impl Rig {
    async fn post(&self, body: &Value) -> u16 {
        self.http
            .post(&self.url)
            .header("content-type", "text/plain; charset=UTF-8")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// A message SES accepted as `ses_id`.
    async fn sent_email(&self, to: &str, ses_id: &str) -> i64 {
        let id = self
            .queue
            .enqueue(
                &[NewMessage {
                    channel: Channel::Email,
                    recipient: to.into(),
                    campaign_id: Some(1),
                    person_id: None,
                    sender_key: None,
                    payload: r#"{"body": "hi", "subject": "s"}"#.into(),
                    not_before: 0,
                    status: Status::Queued,
                    error_code: None,
                    error: None,
                }],
                0,
            )
            .await
            .unwrap()[0];
        self.queue.claim("w", 0, 60_000, 100).await.unwrap();
        self.queue.hand_over(id, "w", 0).await.unwrap();
        let sent = Outcome::Sent {
            provider: "ses".into(),
            provider_message_id: ses_id.into(),
        };
        assert!(self.queue.finish(id, "w", &sent, 0).await.unwrap());
        id
    }

    async fn status(&self, id: i64) -> Status {
        self.queue.status(id).await.unwrap().unwrap()
    }
}

fn event(kind: &str, ses_id: &str, to: &str) -> String {
    let mut e = json!({"eventType": kind, "mail": {"messageId": ses_id, "destination": [to]}});
    match kind {
        "Bounce" => {
            e["bounce"] =
                json!({"bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": to}]})
        }
        "Complaint" => e["complaint"] = json!({"complainedRecipients": [{"emailAddress": to}]}),
        _ => e["delivery"] = json!({"recipients": [to]}),
    }
    e.to_string()
}

async fn both_signature_versions_verify_and_events_apply(backend: Backend) {
    let r = rig(backend).await;
    let bounced = r.sent_email("gone@example.org", "ses-1").await;
    let complained = r.sent_email("angry@example.org", "ses-2").await;
    let delivered = r.sent_email("happy@example.org", "ses-3").await;
    let k = &r.keys.signer;
    assert_eq!(
        r.post(&signed(
            k,
            "1",
            "Notification",
            "n1",
            &event("Bounce", "ses-1", "gone@example.org")
        ))
        .await,
        200
    );
    assert_eq!(
        r.post(&signed(
            k,
            "2",
            "Notification",
            "n2",
            &event("Complaint", "ses-2", "angry@example.org")
        ))
        .await,
        200
    );
    assert_eq!(
        r.post(&signed(
            k,
            "2",
            "Notification",
            "n3",
            &event("Delivery", "ses-3", "happy@example.org")
        ))
        .await,
        200
    );
    assert_eq!(r.status(bounced).await, Status::Bounced);
    assert_eq!(r.status(complained).await, Status::Complained);
    assert_eq!(r.status(delivered).await, Status::Delivered);
    assert_eq!(
        r.optouts
            .check(Channel::Email, "GONE@example.org")
            .await
            .unwrap(),
        Some(Reason::Bounce)
    );
    assert_eq!(
        r.optouts
            .check(Channel::Email, "angry@example.org")
            .await
            .unwrap(),
        Some(Reason::Complaint)
    );
    assert_eq!(
        r.optouts
            .check(Channel::Email, "happy@example.org")
            .await
            .unwrap(),
        None
    );
    // The certificate was fetched once, from the SNS URL only.
    assert_eq!(*r.fetcher.asked.lock().unwrap(), [CERT_URL]);
}

async fn forged_unsigned_foreign_or_tampered_messages_are_403_and_change_nothing(backend: Backend) {
    let r = rig(backend).await;
    let id = r.sent_email("ana@example.org", "ses-9").await;
    let bounce = event("Bounce", "ses-9", "ana@example.org");
    let mine = signed(&r.keys.signer, "2", "Notification", "f0", &bounce);

    let other = keys(); // someone else's key, claiming SNS's certificate
    let mut cases: Vec<(&str, Value)> = vec![(
        "signed with another key",
        signed(&other.signer, "2", "Notification", "f1", &bounce),
    )];
    let mut tampered = mine.clone();
    tampered["Message"] = json!(event("Bounce", "ses-9", "victim@example.org"));
    cases.push(("tampered after signing", tampered));
    let mut no_subject = mine.clone();
    no_subject.as_object_mut().unwrap().remove("Subject");
    cases.push((
        "Subject removed (what moto's own deliveries sign)",
        no_subject,
    ));
    let mut unsigned = mine.clone();
    unsigned.as_object_mut().unwrap().remove("Signature");
    cases.push(("unsigned", unsigned));
    for (what, cert) in [
        (
            "certificate from another host",
            "https://evil.example.org/cert.pem",
        ),
        (
            "certificate over http",
            "http://sns.us-east-1.amazonaws.com/cert.pem",
        ),
        (
            "lookalike host",
            "https://sns.us-east-1.amazonaws.com.evil.org/cert.pem",
        ),
    ] {
        let mut m = mine.clone();
        m["SigningCertURL"] = json!(cert);
        resign(&r.keys.signer, "2", &mut m);
        cases.push((what, m));
    }
    let mut topic = mine.clone();
    topic["TopicArn"] = json!("arn:aws:sns:us-east-1:999999999999:not-ours");
    resign(&r.keys.signer, "2", &mut topic);
    cases.push(("another topic", topic));
    let mut version = mine.clone();
    version["SignatureVersion"] = json!("3");
    cases.push(("signature version 3", version));
    cases.push(("not JSON", json!("garbage")));
    for (what, body) in &cases {
        assert_eq!(r.post(body).await, 403, "{what}");
    }
    assert_eq!(r.status(id).await, Status::Sent, "nothing changed");
    assert_eq!(
        r.optouts
            .check(Channel::Email, "ana@example.org")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        r.optouts
            .check(Channel::Email, "victim@example.org")
            .await
            .unwrap(),
        None
    );
    let asked = r.fetcher.asked.lock().unwrap().clone();
    assert!(
        asked.iter().all(|u| u == CERT_URL),
        "fetched only SNS's URL: {asked:?}"
    );
    // The genuine one still works.
    assert_eq!(r.post(&mine).await, 200);
    assert_eq!(r.status(id).await, Status::Bounced);
}

async fn subscriptions_are_confirmed_once_and_only_at_sns(backend: Backend) {
    let r = rig(backend).await;
    let k = &r.keys.signer;
    let confirm = signed(
        k,
        "1",
        "SubscriptionConfirmation",
        "s1",
        "You have chosen to subscribe",
    );
    let subscribe_url = confirm["SubscribeURL"].as_str().unwrap().to_string();
    // The fetcher serves the confirmation link.
    r.fetcher.pages.lock().unwrap().insert(
        subscribe_url.clone(),
        b"<ConfirmSubscriptionResponse/>".to_vec(),
    );
    assert_eq!(r.post(&confirm).await, 200);
    assert_eq!(r.post(&confirm).await, 200, "a redelivery");
    let asked = r.fetcher.asked.lock().unwrap().clone();
    assert_eq!(
        asked.iter().filter(|u| **u == subscribe_url).count(),
        1,
        "confirmed once: {asked:?}"
    );
    // A SubscribeURL off SNS's hosts, correctly signed: refused, never fetched.
    let mut evil = signed(k, "2", "SubscriptionConfirmation", "s2", "subscribe");
    evil["SubscribeURL"] = json!("https://evil.example.org/confirm");
    resign(k, "2", &mut evil);
    assert_eq!(r.post(&evil).await, 403);
    assert!(
        !r.fetcher
            .asked
            .lock()
            .unwrap()
            .iter()
            .any(|u| u.contains("evil")),
    );
}

turnout_core::on_both_stores!(
    both_signature_versions_verify_and_events_apply,
    forged_unsigned_foreign_or_tampered_messages_are_403_and_change_nothing,
    subscriptions_are_confirmed_once_and_only_at_sns,
);
