//! `loadgen rate ADDR PATH RATE SECONDS CONNECTIONS KEYFILE`: sends requests
//! on a fixed schedule (request i is due at start + i/RATE) over
//! CONNECTIONS keep-alive connections, each request with the next key from
//! KEYFILE (one per line), and measures each latency from the moment the
//! request was *due*, not from when it was sent, so a stalled server shows
//! up as latency rather than as fewer requests (no coordinated omission).
//! Prints one JSON line.
//!
//! `loadgen idle ADDR PATH CONNECTIONS KEY SECONDS`: opens CONNECTIONS
//! keep-alive connections, sends one request on each, then holds them idle
//! for SECONDS; prints `ready` once all are open.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(addr: &str) -> Sender {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
}

async fn send(sender: &mut Sender, addr: &str, path: &str, key: &str) -> u16 {
    sender.ready().await.expect("connection ready");
    let req = Request::get(path)
        .header("host", addr)
        .header("x-api-key", key)
        .body(Empty::new())
        .unwrap();
    let resp = sender.send_request(req).await.expect("response");
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    status
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    match args.get(1).map(String::as_str) {
        Some("rate") => rt.block_on(rate(&args[2..])),
        Some("idle") => rt.block_on(idle(&args[2..])),
        _ => {
            eprintln!(
                "usage: loadgen rate ADDR PATH RATE SECONDS CONNECTIONS KEYFILE | loadgen idle ADDR PATH CONNECTIONS KEY SECONDS"
            );
            std::process::exit(2);
        }
    }
}

async fn rate(a: &[String]) {
    let (addr, path) = (a[0].clone(), a[1].clone());
    let rate: f64 = a[2].parse().unwrap();
    let seconds: f64 = a[3].parse().unwrap();
    let conns: usize = a[4].parse().unwrap();
    let keys: Vec<String> = std::fs::read_to_string(&a[5])
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let total = (rate * seconds) as usize;
    let start = Instant::now() + Duration::from_millis(200);
    let mut tasks = Vec::new();
    for w in 0..conns {
        let (addr, path, keys) = (addr.clone(), path.clone(), keys.clone());
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(&addr).await;
            let mut out = Vec::new();
            let mut i = w;
            while i < total {
                let due = start + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
                let status = send(&mut sender, &addr, &path, &keys[i % keys.len()]).await;
                out.push((due.elapsed().as_micros() as u32, status));
                i += conns;
            }
            out
        }));
    }
    let mut lat = Vec::with_capacity(total);
    let mut by_status = std::collections::BTreeMap::<u16, u64>::new();
    for t in tasks {
        for (us, status) in t.await.unwrap() {
            lat.push(us);
            *by_status.entry(status).or_default() += 1;
        }
    }
    lat.sort_unstable();
    let q = |p: f64| lat[((p * lat.len() as f64) as usize).min(lat.len() - 1)] as f64 / 1000.0;
    let wall = start.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "requests": lat.len(), "target_rate": rate, "achieved_rate": lat.len() as f64 / wall,
            "status": by_status, "p50_ms": q(0.50), "p90_ms": q(0.90), "p99_ms": q(0.99), "p999_ms": q(0.999),
            "max_ms": *lat.last().unwrap() as f64 / 1000.0,
        })
    );
}

async fn idle(a: &[String]) {
    let (addr, path) = (a[0].clone(), a[1].clone());
    let conns: usize = a[2].parse().unwrap();
    let key = a[3].clone();
    let hold: u64 = a[4].parse().unwrap();
    let mut senders = Vec::with_capacity(conns);
    let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
    for chunk in 0..conns.div_ceil(500) {
        let mut batch = Vec::new();
        for _ in 0..500.min(conns - chunk * 500) {
            let (addr, path, key) = (addr.clone(), path.clone(), key.clone());
            batch.push(tokio::spawn(async move {
                let mut s = connect(&addr).await;
                let status = send(&mut s, &addr, &path, &key).await;
                (s, status)
            }));
        }
        for b in batch {
            let (s, status) = b.await.unwrap();
            *statuses.entry(status).or_default() += 1;
            senders.push(s);
        }
    }
    println!("ready {} {}", senders.len(), serde_json::json!(statuses));
    tokio::time::sleep(Duration::from_secs(hold)).await;
    drop(senders);
}
