//! The queue on both stores: claims are exclusive, leases settle crashes
//! without sending twice, retries and deferrals wait for their time.

use std::collections::HashSet;

use turnout_core::Store;
use turnout_core::store::testing::{Backend, fresh_dir};
use turnout_outreach::queue::{Channel, MIGRATIONS, NewMessage, Outcome, Queue, Status};

const T0: i64 = 1_795_000_000_000;

async fn queue(backend: Backend) -> Queue {
    let url = backend.fresh_url().await;
    let store = Store::open(url.as_deref(), &fresh_dir("queue"), 10)
        .await
        .unwrap();
    store.migrate("outreach", MIGRATIONS).await.unwrap();
    Queue::new(store)
}

fn sms(n: usize, not_before: i64) -> Vec<NewMessage> {
    (0..n)
        .map(|i| NewMessage {
            channel: Channel::Sms,
            recipient: format!("+1215555{:04}", i),
            campaign_id: Some(1),
            person_id: Some(i as i64),
            sender_key: None,
            payload: format!("{{\"body\": \"hello {i}\"}}"),
            not_before,
            status: Status::Queued,
            error_code: None,
            error: None,
        })
        .collect()
}

async fn claims_are_exclusive_under_concurrency(backend: Backend) {
    let q = queue(backend).await;
    let ids = q.enqueue(&sms(400, T0), T0).await.unwrap();
    let mut workers = Vec::new();
    for w in 0..8 {
        let q = q.clone();
        workers.push(tokio::spawn(async move {
            let owner = format!("w{w}");
            let mut got = Vec::new();
            loop {
                let batch = q.claim(&owner, T0, T0 + 60_000, 7).await.unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.iter().map(|c| c.id));
            }
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let distinct: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 400, "every message claimed once");
    assert_eq!(distinct, ids.into_iter().collect());
}

async fn a_send_runs_claim_hand_over_finish(backend: Backend) {
    let q = queue(backend).await;
    let ids = q.enqueue(&sms(3, T0), T0).await.unwrap();
    let batch = q.claim("w", T0, T0 + 60_000, 2).await.unwrap();
    assert_eq!(
        batch.iter().map(|c| c.id).collect::<Vec<_>>(),
        ids[..2].to_vec()
    );
    assert_eq!(batch[0].attempts, 1);
    assert_eq!(batch[0].payload, "{\"body\": \"hello 0\"}");
    assert!(q.hand_over(ids[0], "w", T0 + 1).await.unwrap());
    assert!(!q.hand_over(ids[0], "someone else", T0 + 1).await.unwrap());
    let sent = Outcome::Sent {
        provider: "log".into(),
        provider_message_id: "m-1".into(),
    };
    assert!(q.finish(ids[0], "w", &sent, T0 + 2).await.unwrap());
    assert_eq!(q.status(ids[0]).await.unwrap(), Some(Status::Sent));
    let history: Vec<Status> = q
        .history(ids[0])
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.1)
        .collect();
    assert_eq!(history, [Status::Queued, Status::Sending, Status::Sent]);
    // The third was not claimed; finishing twice changes nothing.
    assert_eq!(q.status(ids[2]).await.unwrap(), Some(Status::Queued));
    assert!(!q.finish(ids[0], "w", &sent, T0 + 3).await.unwrap());
}

async fn expired_leases_requeue_or_end_unknown(backend: Backend) {
    let q = queue(backend).await;
    let ids = q.enqueue(&sms(2, T0), T0).await.unwrap();
    let lease_end = T0 + 30_000;
    q.claim("crashy", T0, lease_end, 10).await.unwrap();
    // The second was handed to the provider before the worker died.
    assert!(q.hand_over(ids[1], "crashy", T0 + 1).await.unwrap());

    let early = q.reap(lease_end - 1).await.unwrap();
    assert_eq!((early.requeued, early.unknown), (0, 0));
    let reaped = q.reap(lease_end).await.unwrap();
    assert_eq!((reaped.requeued, reaped.unknown), (1, 1));
    assert_eq!(q.status(ids[0]).await.unwrap(), Some(Status::Queued));
    assert_eq!(q.status(ids[1]).await.unwrap(), Some(Status::Unknown));

    // The dead worker's late report changes nothing.
    let late = Outcome::Sent {
        provider: "log".into(),
        provider_message_id: "late".into(),
    };
    assert!(
        !q.finish(ids[1], "crashy", &late, lease_end + 1)
            .await
            .unwrap()
    );
    assert_eq!(q.status(ids[1]).await.unwrap(), Some(Status::Unknown));

    // Only the one never handed over is sent again.
    let again = q
        .claim("fresh", lease_end + 1, lease_end + 60_000, 10)
        .await
        .unwrap();
    assert_eq!(again.iter().map(|c| c.id).collect::<Vec<_>>(), [ids[0]]);
    assert_eq!(again[0].attempts, 2);
}

async fn retries_and_deferrals_wait_for_their_time(backend: Backend) {
    let q = queue(backend).await;
    let ids = q.enqueue(&sms(2, T0), T0).await.unwrap();
    q.claim("w", T0, T0 + 60_000, 10).await.unwrap();
    let retry = Outcome::Retry {
        at: T0 + 5_000,
        code: "20429".into(),
    };
    assert!(q.finish(ids[0], "w", &retry, T0 + 1).await.unwrap());
    let defer = Outcome::Defer { until: T0 + 9_000 };
    assert!(q.finish(ids[1], "w", &defer, T0 + 1).await.unwrap());
    assert_eq!(q.status(ids[1]).await.unwrap(), Some(Status::Deferred));

    assert!(
        q.claim("w", T0 + 4_999, T0 + 60_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let due = q.claim("w", T0 + 5_000, T0 + 60_000, 10).await.unwrap();
    assert_eq!(due.iter().map(|c| c.id).collect::<Vec<_>>(), [ids[0]]);
    assert_eq!(due[0].attempts, 2, "a retry is another attempt");
    let due = q.claim("w", T0 + 9_000, T0 + 60_000, 10).await.unwrap();
    assert_eq!(due.iter().map(|c| c.id).collect::<Vec<_>>(), [ids[1]]);
    assert_eq!(due[0].attempts, 1, "waiting for a window is not an attempt");
}

turnout_core::on_both_stores!(
    claims_are_exclusive_under_concurrency,
    a_send_runs_claim_hand_over_finish,
    expired_leases_requeue_or_end_unknown,
    retries_and_deferrals_wait_for_their_time,
);
