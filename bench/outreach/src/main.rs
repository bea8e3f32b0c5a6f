//! Tools for bench/outreach/run.sh:
//!
//!   outreachbench enqueue <data_dir> <store_url|-> <n>
//!       queues n transactional texts (distinct numbers) straight into the store
//!   outreachbench peer <port> <arrivals_file>
//!       stands in for Twilio on 127.0.0.1:<port> (the behavioural peer,
//!       answering at once); on SIGTERM writes the arrival times (ms) to the file
//!   outreachbench wait <data_dir> <store_url|-> <n>
//!       waits until n messages are settled; prints seconds and the counts
//!   outreachbench rate <arrivals_file> <skip_s> <window_s>
//!       the arrival rate over [skip, skip+window) seconds of the first arrival

use std::time::{Duration, Instant};

use turnout_core::Store;
use turnout_outreach::queue::{Channel, MIGRATIONS, NewMessage, Queue, Status};

fn store_url(raw: &str) -> Option<String> {
    (raw != "-").then(|| raw.to_string())
}

async fn open(dir: &str, url: &str) -> Store {
    let store = Store::open(store_url(url).as_deref(), std::path::Path::new(dir), 4)
        .await
        .expect("open the store");
    store
        .migrate("outreach", MIGRATIONS)
        .await
        .expect("migrate");
    store
}

async fn enqueue(dir: &str, url: &str, n: usize) {
    let queue = Queue::new(open(dir, url).await);
    let now = chrono::Utc::now().timestamp_millis();
    let started = Instant::now();
    let mut done = 0;
    while done < n {
        let batch: Vec<NewMessage> = (done..(done + 5_000).min(n))
            .map(|i| NewMessage {
                channel: Channel::Sms,
                recipient: format!("+1215{:07}", 2_000_000 + i),
                campaign_id: None,
                person_id: None,
                sender_key: Some("bench".into()),
                payload: format!("{{\"body\": \"Canvass Saturday at 10? #{i}\"}}"),
                not_before: now,
                status: Status::Queued,
                error_code: None,
                error: None,
            })
            .collect();
        done += batch.len();
        queue.enqueue(&batch, now).await.expect("enqueue");
    }
    eprintln!("queued {n} in {:.1} s", started.elapsed().as_secs_f64());
}

async fn wait(dir: &str, url: &str, n: i64) {
    let store = open(dir, url).await;
    let started = Instant::now();
    loop {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM outreach_messages GROUP BY status")
                .fetch_all(store.pool())
                .await
                .expect("count");
        let settled: i64 = rows
            .iter()
            .filter(|(s, _)| !matches!(s.as_str(), "queued" | "deferred" | "sending"))
            .map(|(_, c)| c)
            .sum();
        if settled >= n {
            let counts: serde_json::Map<String, serde_json::Value> = rows
                .into_iter()
                .map(|(s, c)| (s, serde_json::json!(c)))
                .collect();
            println!(
                "{}",
                serde_json::json!({"seconds": started.elapsed().as_secs_f64(), "counts": counts})
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn peer(port: u16, file: &str) {
    let peer =
        turnout_outreach::testing::twilio_peer::TwilioPeer::start_on(&format!("127.0.0.1:{port}"))
            .await;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    term.recv().await;
    let arrivals = peer.arrivals();
    std::fs::write(file, serde_json::to_vec(&arrivals).expect("json")).expect("write arrivals");
}

fn rate(file: &str, skip: f64, window: f64) {
    let arrivals: Vec<u64> =
        serde_json::from_slice(&std::fs::read(file).expect("read arrivals")).expect("json");
    let Some(first) = arrivals.iter().min() else {
        println!("{}", serde_json::json!({"received": 0}));
        return;
    };
    let from = *first as f64 + skip * 1000.0;
    let to = from + window * 1000.0;
    let inside = arrivals
        .iter()
        .filter(|a| (**a as f64) >= from && (**a as f64) < to)
        .count();
    println!(
        "{}",
        serde_json::json!({"received": arrivals.len(), "window_s": window, "in_window": inside,
                           "rate_per_s": inside as f64 / window})
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    match arg(1) {
        "enqueue" => enqueue(arg(2), arg(3), arg(4).parse().expect("n")).await,
        "wait" => wait(arg(2), arg(3), arg(4).parse().expect("n")).await,
        "peer" => peer(arg(2).parse().expect("port"), arg(3)).await,
        "rate" => rate(
            arg(2),
            arg(3).parse().expect("skip"),
            arg(4).parse().expect("window"),
        ),
        _ => {
            eprintln!("usage: outreachbench enqueue|wait|peer|rate ... (see the source's header)");
            std::process::exit(2);
        }
    }
}
