//! The SIGKILL drill: `turnout worker` processes sending a campaign's
//! messages through the behavioural Twilio peer are killed with SIGKILL
//! again and again, at random points of their sends, and replaced. In the
//! end every message is in exactly one terminal state, Twilio received
//! each at most once, every `sent` one exactly once, and every message
//! Twilio may have but we never heard back about is `unknown`, not resent.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;
use turnout_core::store::testing::{Backend, fresh_dir};
use turnout_outreach::queue::{Channel, NewMessage, Queue, Status};
use turnout_outreach::testing::twilio_peer::{ACCOUNT_SID, AUTH_TOKEN, TwilioPeer};

const MESSAGES: usize = 400;

pub struct Worker(pub Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn worker(dir: &std::path::Path, store_url: Option<&str>, peer: &TwilioPeer) -> Worker {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_turnout"));
    cmd.current_dir(dir)
        .env_remove("TURNOUT_CONFIG")
        .env_remove("RUST_LOG")
        .env("TURNOUT_LOG__LEVEL", "warn")
        .env("TURNOUT_OUTREACH__SMS__PROVIDER", "twilio")
        .env("TURNOUT_OUTREACH__SMS__TWILIO__ACCOUNT_SID", ACCOUNT_SID)
        .env("TURNOUT_OUTREACH__SMS__TWILIO__AUTH_TOKEN", AUTH_TOKEN)
        .env("TURNOUT_OUTREACH__SMS__TWILIO__FROM", "\"+12155550100\"")
        .env(
            "TURNOUT_OUTREACH__SMS__TWILIO__BASE_URL",
            format!("\"{}\"", peer.base_url()),
        )
        // Short leases, so a killed worker's messages are settled soon.
        .env("TURNOUT_OUTREACH__WORKER__LEASE_SECS", "2")
        .env("TURNOUT_OUTREACH__WORKER__BATCH", "8")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(url) = store_url {
        cmd.env("TURNOUT_STORE__URL", format!("\"{url}\""));
    }
    Worker(cmd.arg("worker").spawn().expect("start turnout worker"))
}

async fn workers_killed_mid_campaign_lose_nothing_and_send_nothing_twice(backend: Backend) {
    let dir = fresh_dir("drill");
    let url = backend.fresh_url().await;
    let store = turnout_core::Store::open(url.as_deref(), &dir.join("turnout-data"), 4)
        .await
        .unwrap();
    store
        .migrate("outreach", turnout_outreach::queue::MIGRATIONS)
        .await
        .unwrap();
    let queue = Queue::new(store.clone());
    let (ids, messages) = launch(&queue, MESSAGES).await;

    let peer = TwilioPeer::start().await;
    // Each send takes a moment, so kills land between Twilio's acceptance
    // and our write as well as everywhere else.
    peer.set_delay(Duration::from_millis(50));
    let mut workers: Vec<Worker> = (0..3)
        .map(|_| worker(&dir, url.as_deref(), &peer))
        .collect();
    let (mut kills, mut mid_campaign) = (0, 0);
    let mut rng = rand::rng();
    while kills < 12 {
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..150))).await;
        if pending(&store).await > 0 {
            mid_campaign += 1;
        }
        let victim = rng.random_range(0..workers.len());
        let mut dead = workers.swap_remove(victim);
        dead.0.kill().unwrap(); // SIGKILL
        dead.0.wait().unwrap();
        kills += 1;
        workers.push(worker(&dir, url.as_deref(), &peer));
    }
    // The survivors finish the campaign (and settle the dead ones' leases).
    settled(&store).await;
    drop(workers);
    let (sent, unknown) = each_at_most_once(&queue, &ids, &messages, &peer).await;
    assert!(
        mid_campaign >= 3,
        "only {mid_campaign} kills landed mid-campaign"
    );
    eprintln!(
        "drill: {kills} SIGKILLs ({mid_campaign} mid-campaign), {sent} sent, {unknown} unknown"
    );
    store.close().await;
}

/// What a launched campaign leaves in the queue: one message per person.
pub async fn launch(queue: &Queue, n: usize) -> (Vec<i64>, Vec<NewMessage>) {
    let now = chrono::Utc::now().timestamp_millis();
    let messages: Vec<NewMessage> = (0..n)
        .map(|i| NewMessage {
            channel: Channel::Sms,
            recipient: format!("+1215556{i:04}"),
            campaign_id: Some(1),
            person_id: Some(i as i64 + 1),
            sender_key: None,
            payload: format!("{{\"body\": \"Canvass Saturday? #{i}\"}}"),
            not_before: now,
            status: Status::Queued,
            error_code: None,
            error: None,
        })
        .collect();
    let ids = queue.enqueue(&messages, now).await.unwrap();
    (ids, messages)
}

/// Messages not yet in a terminal state.
pub async fn pending(store: &turnout_core::Store) -> i64 {
    sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM outreach_messages WHERE status IN ('queued', 'deferred', 'sending')",
    )
    .fetch_one(store.pool())
    .await
    .unwrap()
}

/// Waits for the workers to settle every message (90 s at most).
pub async fn settled(store: &turnout_core::Store) {
    let started = Instant::now();
    loop {
        let pending = pending(store).await;
        if pending == 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{pending} messages never settled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every message in one terminal state: `sent` ones received by Twilio
/// exactly once, `unknown` ones (Twilio may have them) not sent again, and
/// no recipient received twice. Returns (sent, unknown).
pub async fn each_at_most_once(
    queue: &Queue,
    ids: &[i64],
    messages: &[NewMessage],
    peer: &TwilioPeer,
) -> (usize, usize) {
    let mut received: HashMap<String, usize> = HashMap::new();
    for r in peer.received() {
        *received
            .entry(r.get("To").unwrap().to_string())
            .or_default() += 1;
    }
    let twice: Vec<_> = received.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "Twilio received these more than once: {twice:?}"
    );
    let (mut sent, mut unknown) = (0, 0);
    for (id, m) in ids.iter().zip(messages) {
        let status = queue.status(*id).await.unwrap().unwrap();
        match status {
            Status::Sent => {
                sent += 1;
                assert_eq!(
                    received.get(&m.recipient),
                    Some(&1),
                    "sent but not received"
                );
            }
            // Twilio may or may not have it; it was not sent again.
            Status::Unknown => unknown += 1,
            other => panic!("message {id} ended {other:?}"),
        }
    }
    assert_eq!(
        sent + unknown,
        messages.len(),
        "every recipient in one terminal state"
    );
    assert!(sent > 0);
    (sent, unknown)
}

turnout_core::on_both_stores!(workers_killed_mid_campaign_lose_nothing_and_send_nothing_twice);
