//! Our Twilio client against two peers:
//! - Prism serving Twilio's own OpenAPI document checks that every request
//!   we send is one Twilio's published contract accepts;
//! - the behavioural peer (`turnout_outreach::testing::twilio_peer`) gives
//!   the answers Prism cannot (21610, 20429 with `Retry-After`, 500s, no
//!   answer), and the worker must turn each into the right outcome.

use std::sync::Arc;
use std::time::Duration;

use turnout_core::store::testing::{Backend, fresh_dir};
use turnout_core::{Clock, ManualClock, Store};
use turnout_outreach::consent::optouts::{OptOuts, Reason};
use turnout_outreach::providers::twilio::{From, TwilioConfig, TwilioProvider};
use turnout_outreach::providers::{Failure, Outgoing, Provider};
use turnout_outreach::queue::{Channel, MIGRATIONS, NewMessage, Queue, Status};
use turnout_outreach::testing::twilio_peer::{ACCOUNT_SID, AUTH_TOKEN, Reply, TwilioPeer};
use turnout_outreach::worker::{Backoff, Settings, Worker};

fn config(base_url: &str, account_sid: &str, from: From) -> TwilioConfig {
    TwilioConfig {
        account_sid: account_sid.into(),
        auth_token: AUTH_TOKEN.into(),
        from,
        base_url: base_url.into(),
        status_callback: Some("https://api.example.org/webhooks/twilio/status".into()),
        smart_encoded: true,
        validity_period: Some(14_400),
        timeout: Duration::from_secs(10),
    }
}

fn sms(to: &str) -> Outgoing {
    Outgoing::Sms {
        id: 1,
        to: to.into(),
        body: "Canvass Saturday at 10? Reply STOP to opt out".into(),
        bulk: false,
    }
}

/// Prism's address, or `None` (with the reason printed) where Twilio's
/// document is absent. A document without a running Prism is a failure:
/// `scripts/peers.sh` starts it.
async fn prism() -> Option<String> {
    let spec = std::env::var("TURNOUT_TWILIO_OPENAPI")
        .unwrap_or_else(|_| "../../shared/peers/twilio/twilio_api_v2010.json".into());
    if !std::path::Path::new(&spec).exists() {
        eprintln!(
            "SKIPPED: Twilio's OpenAPI document is not at {spec}; the contract test did not run"
        );
        return None;
    }
    let url =
        std::env::var("TURNOUT_TEST_PRISM_URL").unwrap_or_else(|_| "http://127.0.0.1:4010".into());
    reqwest::get(&url)
        .await
        .unwrap_or_else(|e| panic!("Prism is not running at {url} ({e}); run scripts/peers.sh"));
    Some(url)
}

#[tokio::test]
async fn every_request_we_send_is_one_twilios_contract_accepts() {
    let Some(url) = prism().await else { return };
    let sid = "AC0123456789abcdef0123456789abcdef";
    for from in [
        From::MessagingService("MG0123456789abcdef0123456789abcdef".into()),
        From::Number("+12155550100".into()),
    ] {
        let twilio = TwilioProvider::new(config(&url, sid, from.clone())).unwrap();
        let accepted = twilio
            .send(&sms("+12155550123"))
            .await
            .unwrap_or_else(|f| panic!("Prism refused our request ({from:?}): {f:?}"));
        assert!(accepted.provider_message_id.starts_with("SM"));
    }
    // The peer does check: a request off the contract is refused, and a
    // refusal is a definite (permanent) failure, not a retry.
    let off_contract = TwilioProvider::new(config(
        &url,
        "not-an-account-sid",
        From::Number("+12155550100".into()),
    ))
    .unwrap();
    match off_contract.send(&sms("+12155550123")).await {
        Err(Failure::Permanent { .. }) => {}
        other => panic!("Prism should refuse a malformed AccountSid, got {other:?}"),
    }
}

#[tokio::test]
async fn the_form_carries_what_we_configured() {
    let peer = TwilioPeer::start().await;
    let twilio = TwilioProvider::new(config(
        &peer.base_url(),
        ACCOUNT_SID,
        From::MessagingService("MG0123456789abcdef0123456789abcdef".into()),
    ))
    .unwrap();
    let accepted = twilio.send(&sms("+12155550123")).await.unwrap();
    let got = peer.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(
        r.sid.as_deref(),
        Some(accepted.provider_message_id.as_str())
    );
    assert_eq!(r.get("To"), Some("+12155550123"));
    assert_eq!(
        r.get("MessagingServiceSid"),
        Some("MG0123456789abcdef0123456789abcdef")
    );
    assert_eq!(r.get("From"), None);
    assert_eq!(
        r.get("StatusCallback"),
        Some("https://api.example.org/webhooks/twilio/status")
    );
    assert_eq!(r.get("SmartEncoded"), Some("true"));
    assert_eq!(r.get("ValidityPeriod"), Some("14400"));
    // A wrong auth token is Twilio's 401/20003: permanent, never retried.
    let mut bad = config(
        &peer.base_url(),
        ACCOUNT_SID,
        From::Number("+12155550100".into()),
    );
    bad.auth_token = "wrong".into();
    match TwilioProvider::new(bad)
        .unwrap()
        .send(&sms("+12155550123"))
        .await
    {
        Err(Failure::Permanent { code, .. }) => assert_eq!(code, "20003"),
        other => panic!("expected a permanent failure, got {other:?}"),
    }
}

struct Rig {
    queue: Queue,
    clock: Arc<ManualClock>,
    peer: TwilioPeer,
    worker: Worker,
}

async fn rig(backend: Backend) -> Rig {
    let dir = fresh_dir("twilio");
    let url = backend.fresh_url().await;
    let store = Store::open(url.as_deref(), &dir, 10).await.unwrap();
    store.migrate("outreach", MIGRATIONS).await.unwrap();
    let clock = Arc::new(ManualClock::at(
        chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap(),
    ));
    let peer = TwilioPeer::start().await;
    let twilio: Arc<dyn Provider> = Arc::new(
        TwilioProvider::new(config(
            &peer.base_url(),
            ACCOUNT_SID,
            From::Number("+12155550100".into()),
        ))
        .unwrap(),
    );
    let queue = Queue::new(store.clone());
    let worker = Worker {
        queue: queue.clone(),
        sms: Arc::clone(&twilio),
        email: twilio,
        clock: clock.clone(),
        optouts: OptOuts::new(store),
        throttles: Vec::new(),
        sms_failover: None,
        breakers: Default::default(),
        reaped_at: Default::default(),
        owner: "w1".into(),
        codes: None,
        settings: Settings {
            batch: 8,
            send_timeout: Duration::from_millis(500),
            lease: Duration::from_secs(60),
            reap_every: Duration::from_secs(5),
            backoff: Backoff {
                base: Duration::from_secs(2),
                max: Duration::from_secs(600),
                max_attempts: 5,
            },
        },
    };
    Rig {
        queue,
        clock,
        peer,
        worker,
    }
}

impl Rig {
    fn now(&self) -> i64 {
        self.clock.now_nanos() / 1_000_000
    }

    async fn enqueue(&self, to: &str) -> i64 {
        let now = self.now();
        self.queue
            .enqueue(
                &[NewMessage {
                    channel: Channel::Sms,
                    recipient: to.into(),
                    campaign_id: Some(1),
                    person_id: None,
                    sender_key: None,
                    payload: r#"{"body": "Canvass Saturday?"}"#.into(),
                    not_before: now,
                    status: Status::Queued,
                    error_code: None,
                    error: None,
                }],
                now,
            )
            .await
            .unwrap()[0]
    }

    async fn status(&self, id: i64) -> Status {
        self.queue.status(id).await.unwrap().unwrap()
    }
}

/// A 500, then a 20429 asking for 30 s: each is retried, and never before
/// the delay asked for.
async fn server_errors_and_429s_are_retried_after_the_delay_they_ask(backend: Backend) {
    let r = rig(backend).await;
    r.peer.script([
        Reply::Error {
            status: 500,
            code: 20500,
            retry_after: None,
        },
        Reply::Error {
            status: 429,
            code: 20429,
            retry_after: Some(30),
        },
    ]);
    let id = r.enqueue("+12155550123").await;
    assert_eq!(r.worker.run_once().await.unwrap(), 1);
    assert_eq!(r.status(id).await, Status::Queued);
    // The first backoff is 1–2 s (equal jitter on a 2 s base).
    r.clock.advance(Duration::from_secs(2));
    assert_eq!(r.worker.run_once().await.unwrap(), 1);
    assert_eq!(r.status(id).await, Status::Queued);
    assert_eq!(r.peer.received().len(), 2);
    // Retry-After: 30 is a floor on the backoff.
    r.clock.advance(Duration::from_secs(29));
    assert_eq!(r.worker.run_once().await.unwrap(), 0, "not before 30 s");
    r.clock.advance(Duration::from_secs(1));
    assert_eq!(r.worker.run_once().await.unwrap(), 1);
    assert_eq!(r.status(id).await, Status::Sent);
    assert_eq!(r.peer.received().len(), 3);
    let view = r.queue.get(id).await.unwrap().unwrap();
    assert_eq!(view.attempts, 3);
}

/// 21211 (a bad number) fails at once; 21610 (opted out at the carrier)
/// ends `opted_out` and puts the number on our own list, so the next
/// message to it never reaches Twilio.
async fn permanent_errors_fail_at_once_and_carrier_opt_outs_are_remembered(backend: Backend) {
    let r = rig(backend).await;
    r.peer.script([
        Reply::Error {
            status: 400,
            code: 21211,
            retry_after: None,
        },
        Reply::Error {
            status: 400,
            code: 21610,
            retry_after: None,
        },
    ]);
    let bad = r.enqueue("+12155550001").await;
    r.worker.run_once().await.unwrap();
    let stopped = r.enqueue("+12155550002").await;
    r.worker.run_once().await.unwrap();
    assert_eq!(r.status(bad).await, Status::Failed);
    let view = r.queue.get(bad).await.unwrap().unwrap();
    assert_eq!(
        (view.attempts, view.error_code.as_deref()),
        (1, Some("21211"))
    );
    assert_eq!(r.status(stopped).await, Status::OptedOut);
    assert_eq!(
        r.worker
            .optouts
            .check(Channel::Sms, "+12155550002")
            .await
            .unwrap(),
        Some(Reason::Carrier)
    );
    let again = r.enqueue("+12155550002").await;
    r.clock.advance(Duration::from_secs(3600));
    r.worker.run_once().await.unwrap();
    assert_eq!(r.status(again).await, Status::OptedOut);
    assert_eq!(r.peer.received().len(), 2, "the third never reached Twilio");
}

/// Twilio took the message but never answered: `unknown`, and never sent
/// again, however long we wait.
async fn a_timeout_after_twilio_took_the_message_ends_unknown(backend: Backend) {
    let r = rig(backend).await;
    r.peer.script([Reply::Hang]);
    let id = r.enqueue("+12155550123").await;
    r.worker.run_once().await.unwrap();
    assert_eq!(r.status(id).await, Status::Unknown);
    r.clock.advance(Duration::from_secs(24 * 3600));
    assert_eq!(r.worker.run_once().await.unwrap(), 0);
    assert_eq!(r.peer.received().len(), 1);
}

/// The worker dies between Twilio's acceptance and our write: its lease
/// runs out and the message is settled `unknown` by the next worker, not
/// resent. Then a connection that was never made (nothing left us) is
/// retried, so at-most-once does not come from never retrying.
async fn a_crash_after_acceptance_ends_unknown_but_a_refused_connection_is_retried(
    backend: Backend,
) {
    let r = rig(backend).await;
    r.peer.script([Reply::Hang]);
    let id = r.enqueue("+12155550123").await;
    let mut dying = r.worker.clone();
    dying.settings.send_timeout = Duration::from_secs(3600);
    dying.owner = "dying".into();
    let task = tokio::spawn(async move { dying.run_once().await });
    while r.peer.received().is_empty() {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    task.abort(); // the crash: Twilio has it, our write never happens
    let _ = task.await;
    assert_eq!(r.status(id).await, Status::Sending);
    r.clock.advance(Duration::from_secs(61));
    r.worker.run_once().await.unwrap();
    assert_eq!(r.status(id).await, Status::Unknown);
    assert_eq!(r.peer.received().len(), 1, "never resent");

    // Bound but not listening: the connection is refused, and the port
    // stays ours, so no parallel test can take it.
    let closed = tokio::net::TcpSocket::new_v4().unwrap();
    closed.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = closed.local_addr().unwrap().port();
    let mut cut = r.worker.clone();
    cut.sms = Arc::new(
        TwilioProvider::new(config(
            &format!("http://127.0.0.1:{port}"),
            ACCOUNT_SID,
            From::Number("+12155550100".into()),
        ))
        .unwrap(),
    );
    let retried = r.enqueue("+12155550124").await;
    cut.run_once().await.unwrap();
    assert_eq!(r.status(retried).await, Status::Queued);
    r.clock.advance(Duration::from_secs(2));
    r.worker.run_once().await.unwrap();
    assert_eq!(r.status(retried).await, Status::Sent);
}

async fn moto_sns() -> Arc<dyn Provider> {
    let url =
        std::env::var("TURNOUT_TEST_MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:5005".into());
    let section = turnout_outreach::config::AwsSection {
        region: "us-east-1".into(),
        endpoint_url: Some(url),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
    };
    Arc::new(
        turnout_outreach::providers::sns::SnsProvider::new(&section, None, Duration::from_secs(10))
            .await,
    )
}

/// Texts moto's SNS recorded with this body.
async fn at_moto(body: &str) -> usize {
    let url =
        std::env::var("TURNOUT_TEST_MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:5005".into());
    let d: serde_json::Value = reqwest::get(format!("{url}/moto-api/data.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    d["sns"]["SMS"]
        .as_array()
        .map_or(0, |a| a.iter().filter(|m| m["message"] == body).count())
}

/// A provider that stands for "throttled while a STOP arrived": it puts
/// the number on our list during the call, then says "later".
struct StopDuringCall {
    optouts: OptOuts,
}

impl Provider for StopDuringCall {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn send<'a>(&'a self, m: &'a Outgoing) -> turnout_outreach::providers::SendFuture<'a> {
        Box::pin(async move {
            let Outgoing::Sms { to, .. } = m else {
                unreachable!()
            };
            self.optouts
                .add(Channel::Sms, to, Reason::Stop, 0)
                .await
                .unwrap();
            Err(Failure::Retry {
                code: "20429".into(),
                after: None,
            })
        })
    }
}

/// Failover to SNS (moto) after Twilio definitely did not take a text; never
/// after no answer; never to a number that opted out meanwhile.
async fn failover_only_after_a_definite_rejection_and_only_to_consenting_numbers(backend: Backend) {
    let mut r = rig(backend).await;
    r.worker.sms_failover = Some(moto_sns().await);
    let tag = turnout_core::token::lower36(8);
    let body = format!("Canvass Saturday? {tag}");
    let enqueue = |to: &'static str| {
        let (q, now, body) = (r.queue.clone(), r.now(), body.clone());
        async move {
            q.enqueue(
                &[NewMessage {
                    channel: Channel::Sms,
                    recipient: to.into(),
                    campaign_id: Some(1),
                    person_id: None,
                    sender_key: None,
                    payload: serde_json::json!({"body": body}).to_string(),
                    not_before: now,
                    status: Status::Queued,
                    error_code: None,
                    error: None,
                }],
                now,
            )
            .await
            .unwrap()[0]
        }
    };
    // Throttled at Twilio: SNS sends it.
    r.peer.script([Reply::Error {
        status: 429,
        code: 20429,
        retry_after: Some(60),
    }]);
    let throttled = enqueue("+12155550131").await;
    r.worker.run_once().await.unwrap();
    let view = r.queue.get(throttled).await.unwrap().unwrap();
    assert_eq!(view.status, Status::Sent);
    assert_eq!(at_moto(&body).await, 1);
    assert_eq!(r.peer.received().len(), 1);

    // No answer from Twilio: it may have it, so SNS must not send it too.
    r.peer.script([Reply::Hang]);
    let hung = enqueue("+12155550132").await;
    r.worker.run_once().await.unwrap();
    assert_eq!(r.status(hung).await, Status::Unknown);
    assert_eq!(at_moto(&body).await, 1, "no failover after no answer");

    // A STOP lands while Twilio throttles: our list stops the failover.
    let mut stopping = r.worker.clone();
    stopping.sms = Arc::new(StopDuringCall {
        optouts: r.worker.optouts.clone(),
    });
    let stopped = enqueue("+12155550133").await;
    stopping.run_once().await.unwrap();
    assert_eq!(r.status(stopped).await, Status::OptedOut);
    assert_eq!(at_moto(&body).await, 1, "the opted-out number got nothing");
    r.worker.sms_failover = None;
}

/// After failures in a row the circuit opens: messages wait in the queue
/// (without spending attempts) instead of hitting a provider that is down,
/// and one trial goes once it has rested.
async fn an_open_circuit_holds_messages_back_until_a_trial_succeeds(backend: Backend) {
    let mut r = rig(backend).await;
    r.worker.breakers = Arc::new(turnout_outreach::breaker::Breakers::new(
        2,
        Duration::from_secs(30),
    ));
    let down = Reply::Error {
        status: 503,
        code: 20503,
        retry_after: None,
    };
    r.peer.script([down.clone(), down]);
    let first = r.enqueue("+12155550141").await;
    let second = r.enqueue("+12155550142").await;
    r.worker.run_once().await.unwrap();
    assert_eq!(r.peer.received().len(), 2, "two failures open the circuit");
    let third = r.enqueue("+12155550143").await;
    r.clock.advance(Duration::from_secs(5));
    r.worker.run_once().await.unwrap();
    assert_eq!(r.peer.received().len(), 2, "nothing goes while it is open");
    let held = r.queue.get(third).await.unwrap().unwrap();
    assert_eq!((held.status, held.attempts), (Status::Queued, 0));
    assert_eq!(held.error_code.as_deref(), Some("circuit_open"));
    // Rested: one trial goes (the others wait for its answer), succeeds,
    // and the rest follow.
    r.clock.advance(Duration::from_secs(30));
    r.worker.run_once().await.unwrap();
    assert_eq!(r.peer.received().len(), 3, "one trial");
    r.clock.advance(Duration::from_secs(2));
    while r.worker.run_once().await.unwrap() > 0 {}
    for id in [first, second, third] {
        assert_eq!(r.status(id).await, Status::Sent, "message {id}");
    }
}

turnout_core::on_both_stores!(
    server_errors_and_429s_are_retried_after_the_delay_they_ask,
    permanent_errors_fail_at_once_and_carrier_opt_outs_are_remembered,
    a_timeout_after_twilio_took_the_message_ends_unknown,
    a_crash_after_acceptance_ends_unknown_but_a_refused_connection_is_retried,
    failover_only_after_a_definite_rejection_and_only_to_consenting_numbers,
    an_open_circuit_holds_messages_back_until_a_trial_succeeds,
);
