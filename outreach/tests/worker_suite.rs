//! The worker against the real `log` provider, on both stores: every
//! queued message reaches the outbox exactly once, and a message a dead
//! worker had handed over is reported `unknown`, never written again.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use turnout_core::store::testing::{Backend, fresh_dir};
use turnout_core::{ManualClock, Store};
use turnout_outreach::consent::optouts::{OptOuts, Reason};
use turnout_outreach::providers::log::LogProvider;
use turnout_outreach::queue::{Channel, MIGRATIONS, NewMessage, Queue, Status};
use turnout_outreach::worker::{Settings, Worker};

async fn setup(backend: Backend) -> (Queue, Arc<ManualClock>, std::path::PathBuf) {
    let dir = fresh_dir("worker");
    let url = backend.fresh_url().await;
    let store = Store::open(url.as_deref(), &dir, 10).await.unwrap();
    store.migrate("outreach", MIGRATIONS).await.unwrap();
    let clock = Arc::new(ManualClock::at(
        chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap(),
    ));
    (Queue::new(store), clock, dir)
}

fn worker(q: &Queue, clock: &Arc<ManualClock>, dir: &Path, owner: &str) -> Worker {
    let log = Arc::new(LogProvider::new(dir));
    Worker {
        queue: q.clone(),
        sms: log.clone(),
        email: log,
        clock: clock.clone(),
        optouts: OptOuts::new(q.store().clone()),
        throttles: Vec::new(),
        sms_failover: None,
        breakers: Default::default(),
        reaped_at: Default::default(),
        owner: owner.into(),
        codes: None,
        settings: Settings {
            batch: 16,
            ..Settings::default()
        },
    }
}

fn outbox(dir: &Path, file: &str) -> Vec<Value> {
    std::fs::read_to_string(dir.join("outbox").join(file))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn now_ms(clock: &ManualClock) -> i64 {
    use turnout_core::Clock;
    clock.now_nanos() / 1_000_000
}

async fn every_message_reaches_the_outbox_once(backend: Backend) {
    let (q, clock, dir) = setup(backend).await;
    let now = now_ms(&clock);
    let mut messages: Vec<NewMessage> = (0..50)
        .map(|i| NewMessage {
            channel: Channel::Sms,
            recipient: format!("+1215555{i:04}"),
            campaign_id: Some(7),
            person_id: Some(i),
            sender_key: None,
            payload: format!("{{\"body\": \"Canvass Saturday? #{i}\"}}"),
            not_before: now,
            status: Status::Queued,
            error_code: None,
            error: None,
        })
        .collect();
    messages.push(NewMessage {
        channel: Channel::Email,
        recipient: "ana@example.org".into(),
        campaign_id: None,
        person_id: None,
        sender_key: Some("k1".into()),
        payload: r#"{"body": "Hi", "subject": "Welcome", "headers": [["List-Unsubscribe", "<https://x/u/t>"]]}"#.into(),
        not_before: now,
        status: Status::Queued,
        error_code: None,
        error: None,
    });
    let ids = q.enqueue(&messages, now).await.unwrap();
    // Two workers drain the queue together.
    let (a, b) = (worker(&q, &clock, &dir, "a"), worker(&q, &clock, &dir, "b"));
    loop {
        let (x, y) = tokio::join!(a.run_once(), b.run_once());
        if x.unwrap() + y.unwrap() == 0 {
            break;
        }
    }
    let sms = outbox(&dir, "sms.ndjson");
    assert_eq!(sms.len(), 50);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for line in &sms {
        *seen
            .entry(line["id"].as_str().unwrap().to_string())
            .or_default() += 1;
        assert!(
            line["body"]
                .as_str()
                .unwrap()
                .starts_with("Canvass Saturday?")
        );
    }
    assert!(
        seen.values().all(|n| *n == 1),
        "a message was written twice"
    );
    let email = outbox(&dir, "email.ndjson");
    assert_eq!(email.len(), 1);
    assert_eq!(email[0]["subject"], "Welcome");
    assert_eq!(email[0]["headers"][0][0], "List-Unsubscribe");
    for id in ids {
        assert_eq!(q.status(id).await.unwrap(), Some(Status::Sent));
    }
}

async fn a_handed_over_message_of_a_dead_worker_ends_unknown(backend: Backend) {
    let (q, clock, dir) = setup(backend).await;
    let now = now_ms(&clock);
    let ids = q
        .enqueue(
            &[NewMessage {
                channel: Channel::Sms,
                recipient: "+12155550100".into(),
                campaign_id: None,
                person_id: None,
                sender_key: None,
                payload: "{\"body\": \"hi\"}".into(),
                not_before: now,
                status: Status::Queued,
                error_code: None,
                error: None,
            }],
            now,
        )
        .await
        .unwrap();
    // A worker claims and hands it over, then dies before finishing.
    q.claim("dead", now, now + 60_000, 10).await.unwrap();
    assert!(q.hand_over(ids[0], "dead", now).await.unwrap());
    let live = worker(&q, &clock, &dir, "live");
    assert_eq!(live.run_once().await.unwrap(), 0, "still leased");
    clock.advance(Duration::from_secs(61));
    live.run_once().await.unwrap();
    assert_eq!(q.status(ids[0]).await.unwrap(), Some(Status::Unknown));
    assert!(outbox(&dir, "sms.ndjson").is_empty(), "never sent again");
}

/// An opt-out that arrives while messages wait in the queue stops them;
/// a bounce suppresses email; START lifts an opt-out but not a bounce.
async fn consent_is_checked_again_before_each_send(backend: Backend) {
    let (q, clock, dir) = setup(backend).await;
    let now = now_ms(&clock);
    let message = |channel: Channel, to: &str| NewMessage {
        channel,
        recipient: to.into(),
        campaign_id: Some(1),
        person_id: None,
        sender_key: None,
        payload: "{\"body\": \"hi\", \"subject\": \"s\"}".into(),
        not_before: now,
        status: Status::Queued,
        error_code: None,
        error: None,
    };
    let ids = q
        .enqueue(
            &[
                message(Channel::Sms, "+12155550100"),
                message(Channel::Sms, "+12155550101"),
                message(Channel::Email, "Bounced@Example.org"),
            ],
            now,
        )
        .await
        .unwrap();
    let optouts = OptOuts::new(q.store().clone());
    // After queueing: a STOP for the first number, a bounce for the email.
    optouts
        .add(Channel::Sms, "+12155550100", Reason::Stop, now)
        .await
        .unwrap();
    optouts
        .add(Channel::Email, "bounced@example.org", Reason::Bounce, now)
        .await
        .unwrap();
    let w = worker(&q, &clock, &dir, "w");
    while w.run_once().await.unwrap() > 0 {}
    assert_eq!(q.status(ids[0]).await.unwrap(), Some(Status::OptedOut));
    assert_eq!(q.status(ids[1]).await.unwrap(), Some(Status::Sent));
    assert_eq!(q.status(ids[2]).await.unwrap(), Some(Status::Suppressed));
    let sent: Vec<String> = outbox(&dir, "sms.ndjson")
        .iter()
        .map(|l| l["to"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sent, ["+12155550101"]);
    assert!(outbox(&dir, "email.ndjson").is_empty());

    assert!(optouts.opt_in(Channel::Sms, "+12155550100").await.unwrap());
    assert_eq!(
        optouts.check(Channel::Sms, "+12155550100").await.unwrap(),
        None
    );
    assert!(
        !optouts
            .opt_in(Channel::Email, "bounced@example.org")
            .await
            .unwrap()
    );
    assert_eq!(
        optouts
            .check(Channel::Email, "BOUNCED@example.org")
            .await
            .unwrap(),
        Some(Reason::Bounce)
    );
}

/// A channel's limit: a worker claims only what it may send now, and the
/// rest waits in the queue (not failed, not retried).
async fn a_limit_lets_out_the_burst_then_the_rate(backend: Backend) {
    let (q, clock, dir) = setup(backend).await;
    let now = now_ms(&clock);
    let messages: Vec<NewMessage> = (0..12)
        .map(|i| NewMessage {
            channel: Channel::Sms,
            recipient: format!("+1215555{i:04}"),
            campaign_id: Some(1),
            person_id: None,
            sender_key: None,
            payload: "{\"body\": \"hi\"}".into(),
            not_before: now,
            status: Status::Queued,
            error_code: None,
            error: None,
        })
        .collect();
    q.enqueue(&messages, now).await.unwrap();
    let mut w = worker(&q, &clock, &dir, "w");
    w.throttles = vec![(
        Channel::Sms,
        Arc::new(turnout_outreach::throttle::Throttle::per_second(
            q.store().clone(),
            "sms",
            10.0,
            5,
        )),
    )];
    assert_eq!(w.run_once().await.unwrap(), 5, "the burst");
    assert_eq!(
        w.run_once().await.unwrap(),
        0,
        "nothing more at the same instant"
    );
    clock.advance(Duration::from_millis(300));
    assert_eq!(w.run_once().await.unwrap(), 3, "10 per second");
    assert_eq!(outbox(&dir, "sms.ndjson").len(), 8);
    clock.advance(Duration::from_secs(10));
    assert_eq!(w.run_once().await.unwrap(), 4, "the rest, within the burst");
    assert_eq!(outbox(&dir, "sms.ndjson").len(), 12);
}

/// A campaign's `max_per_second` holds its own messages back (across
/// workers: the limit is in the store) while other messages go freely.
async fn a_campaigns_own_limit_holds_only_its_messages(backend: Backend) {
    let (q, clock, dir) = setup(backend).await;
    let now = now_ms(&clock);
    let campaigns = turnout_outreach::campaigns::Campaigns::new(q.store().clone());
    let body = serde_json::json!({"name": "Slow", "channel": "sms", "template": {"body": "hi"},
        "audience": {"person_ids": [1]}, "max_per_second": 2});
    let spec = turnout_outreach::campaigns::Spec::parse(body.as_object().unwrap()).unwrap();
    let campaign = campaigns.create(&spec, "k", now).await.unwrap();
    use turnout_outreach::campaigns::CampaignStatus::{Draft, Running};
    assert!(
        campaigns
            .transition(campaign.id, &[Draft], Running, now)
            .await
            .unwrap()
    );
    let message = |i: i64, campaign_id: Option<i64>| NewMessage {
        channel: Channel::Sms,
        recipient: format!("+1215555{i:04}"),
        campaign_id,
        person_id: Some(i),
        sender_key: None,
        payload: "{\"body\": \"hi\"}".into(),
        not_before: now,
        status: Status::Queued,
        error_code: None,
        error: None,
    };
    let mut messages: Vec<NewMessage> = (0..6).map(|i| message(i, Some(campaign.id))).collect();
    messages.extend((10..13).map(|i| message(i, None)));
    q.enqueue(&messages, now).await.unwrap();
    let (a, b) = (worker(&q, &clock, &dir, "a"), worker(&q, &clock, &dir, "b"));
    // Two workers together: the burst of 2 from the campaign, and every
    // other message.
    let (x, y) = tokio::join!(a.run_once(), b.run_once());
    assert_eq!(x.unwrap() + y.unwrap(), 2 + 3);
    assert_eq!(a.run_once().await.unwrap() + b.run_once().await.unwrap(), 0);
    clock.advance(Duration::from_millis(500));
    assert_eq!(
        a.run_once().await.unwrap() + b.run_once().await.unwrap(),
        1,
        "2 per second"
    );
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        a.run_once().await.unwrap() + b.run_once().await.unwrap(),
        2,
        "the burst again"
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(a.run_once().await.unwrap() + b.run_once().await.unwrap(), 1);
    assert_eq!(outbox(&dir, "sms.ndjson").len(), 9);
}

turnout_core::on_both_stores!(
    every_message_reaches_the_outbox_once,
    a_handed_over_message_of_a_dead_worker_ends_unknown,
    consent_is_checked_again_before_each_send,
    a_limit_lets_out_the_burst_then_the_rate,
    a_campaigns_own_limit_holds_only_its_messages,
);
