//! The check script's own Redis connection: one per worker thread, speaking
//! just enough RESP to send `EVALSHA` batches and read arrays of integers.
//!
//! Why not redis-rs for this: every check paid for its generic machinery —
//! a command built as a vector of argument vectors, a hand-off to the
//! connection manager's own task over a channel, a tree of `Value`s parsed
//! from the reply and converted again. With Redis on the gateway's own
//! core that was about 6 µs of gateway CPU per request, a fifth of the
//! whole request. Here one task per thread owns the socket: it encodes a
//! batch straight into a buffer, writes it, and parses the replies in
//! place, in order, answering each check's oneshot. redis-rs still does
//! the rare calls (PING, the counts added after an outage).
//!
//! Failure: a connection error, a reply that does not parse, or a reply
//! later than the timeout fails every check in flight with
//! [`LimiterError::Unavailable`] and drops the connection; the next batch
//! connects afresh (and loads the script again, so a Redis restart or a
//! `SCRIPT FLUSH` heals itself). The fallback limiter decides what a
//! failed check means.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::LimiterError;

/// One check on its way to Redis: its subject's three keys and seven
/// numbers, its mode (see `redis::SCRIPT`), and where its five numbers go.
/// A window without a quota has an empty key; see [`encode`].
pub(super) struct Job {
    pub keys: [String; 3],
    pub args: [i64; 7],
    pub mode: u8,
    pub reply: oneshot::Sender<Result<[i64; 5], LimiterError>>,
}

/// Checks sent in one script call, at most.
const BATCH: usize = 256;
/// Script calls in flight at once: while one is on the wire the next
/// batch forms. One made every check wait behind a whole round trip;
/// four measured no better than two on the scale-out benchmark.
const IN_FLIGHT: usize = 2;

/// Where and how to connect, taken from the `redis://` URL once.
#[derive(Clone, Debug)]
pub(super) struct Target {
    addr: Addr,
    username: Option<String>,
    password: Option<String>,
    db: i64,
    timeout: Duration,
    script: &'static str,
}

impl Target {
    /// TCP or a Unix socket; not TLS, which the workspace does not build
    /// redis-rs with either.
    pub fn new(
        client: &redis::Client,
        timeout: Duration,
        script: &'static str,
    ) -> Result<Self, LimiterError> {
        let info = client.get_connection_info();
        let addr = match info.addr() {
            redis::ConnectionAddr::Tcp(host, port) => Addr::Tcp(host.clone(), *port),
            redis::ConnectionAddr::Unix(path) => Addr::Unix(path.clone()),
            other => {
                return Err(LimiterError::Unavailable(format!(
                    "the rate limiter connects to redis:// and redis+unix:// URLs, not {other}"
                )));
            }
        };
        let settings = info.redis_settings();
        Ok(Self {
            addr,
            username: settings.username().map(str::to_string),
            password: settings.password().map(str::to_string),
            db: settings.db(),
            timeout,
            script,
        })
    }
}

#[derive(Clone, Debug)]
enum Addr {
    Tcp(String, u16),
    Unix(std::path::PathBuf),
}

/// A socket of either kind; only reads into a buffer and whole writes are
/// needed.
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    async fn connect(addr: &Addr) -> Result<Self, String> {
        match addr {
            Addr::Tcp(host, port) => {
                let s = TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(|e| format!("connecting to Redis at {host}:{port}: {e}"))?;
                s.set_nodelay(true).map_err(|e| e.to_string())?;
                Ok(Self::Tcp(s))
            }
            Addr::Unix(path) => UnixStream::connect(path)
                .await
                .map(Self::Unix)
                .map_err(|e| format!("connecting to Redis at {}: {e}", path.display())),
        }
    }

    async fn read_buf(&mut self, buf: &mut BytesMut) -> std::io::Result<usize> {
        match self {
            Self::Tcp(s) => s.read_buf(buf).await,
            Self::Unix(s) => s.read_buf(buf).await,
        }
    }

    async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Self::Tcp(s) => s.write_all(data).await,
            Self::Unix(s) => s.write_all(data).await,
        }
    }
}

/// An open connection with the script loaded.
struct Conn {
    stream: Stream,
    sha: String,
    /// Bytes read and not yet parsed.
    input: BytesMut,
}

/// A batch written and waiting for its reply.
struct InFlight {
    jobs: Vec<Job>,
    deadline: Instant,
}

/// Takes the checks waiting and sends them as one script call, with up to
/// [`IN_FLIGHT`] calls on the wire. Nothing waits for a batch to fill: a
/// lone check goes after one pass of the scheduler, and under load the
/// checks that arrive during one round trip ride together in the next. Each check is still decided
/// alone, atomically and in arrival order, so batching trades no accuracy.
pub(super) async fn batcher(target: Target, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let mut conn: Option<Conn> = None;
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    let mut out = Vec::with_capacity(16 * 1024);
    loop {
        let deadline = in_flight.front().map(|f| f.deadline);
        tokio::select! {
            read = read_more(&mut conn), if !in_flight.is_empty() => {
                let answered = read.and_then(|()| {
                    answer(conn.as_mut().expect("reading needs a connection"), &mut in_flight)
                });
                if let Err(e) = answered {
                    conn = None;
                    fail_all(&mut in_flight, &e);
                }
            }
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                conn = None;
                fail_all(&mut in_flight, &format!(
                    "Redis did not answer within {} ms", target.timeout.as_millis()
                ));
            }
            job = jobs.recv(), if in_flight.len() < IN_FLIGHT => {
                let Some(first) = job else { return };
                // Let the other requests this turn of the scheduler has
                // woken reach their checks first, so they ride in this
                // batch rather than each in one of its own: batches of
                // about 40 instead of 14 under the benchmark's load, and
                // Redis's cost per check falls with the batch size. A
                // lone check waits for one scheduler pass, not a timer.
                tokio::task::yield_now().await;
                let mut batch = Vec::with_capacity(16);
                batch.push(first);
                while batch.len() < BATCH {
                    match jobs.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                if conn.is_none() {
                    match connect(&target).await {
                        Ok(c) => conn = Some(c),
                        Err(e) => {
                            fail(batch, &e);
                            continue;
                        }
                    }
                }
                let c = conn.as_mut().expect("connected above");
                out.clear();
                encode(&mut out, &c.sha, &batch);
                let written = match tokio::time::timeout(target.timeout, c.stream.write_all(&out)).await {
                    Ok(done) => done.map_err(|e| e.to_string()),
                    Err(_) => Err("writing to Redis timed out".to_string()),
                };
                match written {
                    Ok(()) => {
                        metrics::histogram!("turnout_limiter_redis_batch_checks").record(batch.len() as f64);
                        in_flight.push_back(InFlight {
                            jobs: batch,
                            deadline: Instant::now() + target.timeout,
                        });
                    }
                    Err(e) => {
                        conn = None;
                        fail(batch, &e);
                        fail_all(&mut in_flight, &e);
                    }
                }
            }
        }
    }
}

/// [`fill`] on the connection, or never without one.
async fn read_more(conn: &mut Option<Conn>) -> Result<(), String> {
    match conn.as_mut() {
        Some(c) => fill(c).await,
        None => std::future::pending().await,
    }
}

/// Reads what the socket has; an end of stream is an error, since replies
/// are owed.
async fn fill(c: &mut Conn) -> Result<(), String> {
    match c.stream.read_buf(&mut c.input).await {
        Ok(0) => Err("Redis closed the connection".into()),
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// Hands every complete reply to the oldest batch in flight.
fn answer(c: &mut Conn, in_flight: &mut VecDeque<InFlight>) -> Result<(), String> {
    while !in_flight.is_empty() {
        let Some((reply, used)) = parse(&c.input)? else {
            return Ok(());
        };
        c.input.advance(used);
        let batch = in_flight.pop_front().expect("checked above").jobs;
        match reply {
            Reply::Ints(values) if values.len() == batch.len() * 5 => {
                for (job, v) in batch.into_iter().zip(values.chunks_exact(5)) {
                    let _ = job.reply.send(Ok([v[0], v[1], v[2], v[3], v[4]]));
                }
            }
            Reply::Ints(values) => {
                let e = format!(
                    "the script answered {} values for {} checks",
                    values.len(),
                    batch.len()
                );
                fail(batch, &e);
            }
            Reply::Error(e) => {
                fail(batch, &e);
                if e.starts_with("NOSCRIPT") {
                    // Flushed under us: reconnecting loads it again.
                    return Err(e);
                }
            }
            other => return Err(format!("unexpected reply to the script: {other:?}")),
        }
    }
    if c.input.is_empty() {
        Ok(())
    } else {
        Err("Redis sent a reply nobody asked for".into())
    }
}

fn fail(batch: Vec<Job>, e: &str) {
    for job in batch {
        let _ = job
            .reply
            .send(Err(LimiterError::Unavailable(e.to_string())));
    }
}

fn fail_all(in_flight: &mut VecDeque<InFlight>, e: &str) {
    for f in in_flight.drain(..) {
        fail(f.jobs, e);
    }
}

/// Connects, authenticates, selects the database and loads the script, all
/// within the timeout.
async fn connect(t: &Target) -> Result<Conn, String> {
    let work = async {
        let stream = Stream::connect(&t.addr).await?;
        let mut c = Conn {
            stream,
            sha: String::new(),
            input: BytesMut::with_capacity(16 * 1024),
        };
        let mut out = Vec::new();
        let mut expected = 0;
        if let Some(password) = &t.password {
            match &t.username {
                Some(user) => command(&mut out, &[b"AUTH", user.as_bytes(), password.as_bytes()]),
                None => command(&mut out, &[b"AUTH", password.as_bytes()]),
            }
            expected += 1;
        }
        if t.db != 0 {
            command(&mut out, &[b"SELECT", t.db.to_string().as_bytes()]);
            expected += 1;
        }
        command(&mut out, &[b"SCRIPT", b"LOAD", t.script.as_bytes()]);
        c.stream.write_all(&out).await.map_err(|e| e.to_string())?;
        for _ in 0..expected {
            match next_reply(&mut c).await? {
                Reply::Status(_) => {}
                Reply::Error(e) => return Err(format!("Redis refused the connection setup: {e}")),
                other => {
                    return Err(format!(
                        "unexpected reply to the connection setup: {other:?}"
                    ));
                }
            }
        }
        match next_reply(&mut c).await? {
            Reply::Bulk(sha) => c.sha = sha,
            Reply::Error(e) => return Err(format!("Redis refused the rate-limit script: {e}")),
            other => return Err(format!("unexpected reply to SCRIPT LOAD: {other:?}")),
        }
        Ok(c)
    };
    tokio::time::timeout(t.timeout, work)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "connecting to Redis timed out after {} ms",
                t.timeout.as_millis()
            ))
        })
}

async fn next_reply(c: &mut Conn) -> Result<Reply, String> {
    loop {
        if let Some((reply, used)) = parse(&c.input)? {
            c.input.advance(used);
            return Ok(reply);
        }
        fill(c).await?;
    }
}

/// `EVALSHA sha n keys… args…` for a batch: each distinct subject's
/// keys, then each distinct subject's numbers, then one number per check
/// naming its subject and mode — the layout the script reads.
fn encode(out: &mut Vec<u8>, sha: &str, batch: &[Job]) {
    // The first check of each distinct subject, and each check's subject.
    let mut firsts: Vec<&Job> = Vec::new();
    let mut of_check: Vec<usize> = Vec::with_capacity(batch.len());
    let mut seen: HashMap<(&str, &[i64; 7]), usize> = HashMap::new();
    for job in batch {
        let n = *seen
            .entry((job.keys[0].as_str(), &job.args))
            .or_insert_with(|| {
                firsts.push(job);
                firsts.len() - 1
            });
        of_check.push(n);
    }
    let keys = firsts.len() * 3;
    header(out, b'*', 3 + keys + firsts.len() * 7 + batch.len());
    bulk(out, b"EVALSHA");
    bulk(out, sha.as_bytes());
    bulk(out, itoa(keys as i64).as_bytes());
    // A window without a quota gets the TAT key in its place: the script
    // never touches it, and it keeps every key of the call in one Cluster
    // slot.
    for job in &firsts {
        for k in &job.keys {
            let k = if k.is_empty() { &job.keys[0] } else { k };
            bulk(out, k.as_bytes());
        }
    }
    for job in &firsts {
        for a in job.args {
            bulk(out, itoa(a).as_bytes());
        }
    }
    for (job, subject) in batch.iter().zip(of_check) {
        bulk(
            out,
            itoa(subject as i64 * 4 + i64::from(job.mode)).as_bytes(),
        );
    }
}

fn command(out: &mut Vec<u8>, parts: &[&[u8]]) {
    header(out, b'*', parts.len());
    for p in parts {
        bulk(out, p);
    }
}

fn header(out: &mut Vec<u8>, kind: u8, n: usize) {
    out.push(kind);
    out.extend_from_slice(itoa(n as i64).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn bulk(out: &mut Vec<u8>, data: &[u8]) {
    header(out, b'$', data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// A decimal without an allocation.
fn itoa(n: i64) -> Itoa {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let mut out = Itoa {
        buf: [0; 21],
        len: 0,
    };
    if n < 0 {
        out.buf[0] = b'-';
        out.len = 1;
    }
    let digits = &buf[i..];
    out.buf[out.len..out.len + digits.len()].copy_from_slice(digits);
    out.len += digits.len();
    out
}

struct Itoa {
    buf: [u8; 21],
    len: usize,
}

impl Itoa {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// The replies this connection can get.
#[derive(Debug, PartialEq)]
enum Reply {
    Status(String),
    Error(String),
    Bulk(String),
    /// An array of integers: the script's answer.
    Ints(Vec<i64>),
}

/// One complete reply at the start of `input` and its length, `None` when
/// more bytes are needed, `Err` for anything this connection never asks
/// for (which ends it).
fn parse(input: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    let Some((kind, first, mut used)) = line(input) else {
        return Ok(None);
    };
    let text = || String::from_utf8_lossy(first).into_owned();
    let reply = match kind {
        b'+' => Reply::Status(text()),
        b'-' => Reply::Error(text()),
        b'$' => {
            let n = number(first)?;
            let n = usize::try_from(n).map_err(|_| "a nil bulk reply".to_string())?;
            if input.len() < used + n + 2 {
                return Ok(None);
            }
            let data = &input[used..used + n];
            used += n + 2;
            Reply::Bulk(String::from_utf8_lossy(data).into_owned())
        }
        b'*' => {
            let n = usize::try_from(number(first)?).map_err(|_| "a nil array reply".to_string())?;
            let mut values = Vec::with_capacity(n);
            for _ in 0..n {
                let Some((kind, line, len)) = line(&input[used..]) else {
                    return Ok(None);
                };
                if kind != b':' {
                    return Err(format!(
                        "the script answered a {:?} where an integer belongs",
                        kind as char
                    ));
                }
                values.push(number(line)?);
                used += len;
            }
            Reply::Ints(values)
        }
        other => return Err(format!("unexpected RESP type {:?}", other as char)),
    };
    Ok(Some((reply, used)))
}

/// The type byte, the rest of the first line, and the bytes up to and
/// including its CRLF.
fn line(input: &[u8]) -> Option<(u8, &[u8], usize)> {
    let end = input.windows(2).position(|w| w == b"\r\n")?;
    if end == 0 {
        return Some((0, &[], 2));
    }
    Some((input[0], &input[1..end], end + 2))
}

fn number(digits: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "not a number in a reply: {:?}",
                String::from_utf8_lossy(digits)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_written_as_redis_reads_them() {
        for n in [0, 7, -1, 42, -1_000_000, i64::MAX, i64::MIN] {
            assert_eq!(itoa(n).as_bytes(), n.to_string().as_bytes());
        }
    }

    #[test]
    fn a_reply_is_only_taken_once_it_is_complete() {
        let whole = b"*3\r\n:0\r\n:-1\r\n:1764000000000000\r\n+OK\r\n";
        for cut in 0..whole.len() - 5 {
            assert_eq!(parse(&whole[..cut]).unwrap(), None, "cut at {cut}");
        }
        let (reply, used) = parse(whole).unwrap().unwrap();
        assert_eq!(reply, Reply::Ints(vec![0, -1, 1_764_000_000_000_000]));
        assert_eq!(
            parse(&whole[used..]).unwrap().unwrap().0,
            Reply::Status("OK".into())
        );
        let bulk = b"$5\r\nab\r\nc\r\n";
        assert_eq!(parse(&bulk[..9]).unwrap(), None);
        assert_eq!(
            parse(bulk).unwrap().unwrap(),
            (Reply::Bulk("ab\r\nc".into()), 11)
        );
    }

    #[test]
    fn errors_and_unexpected_shapes_are_told_apart() {
        assert_eq!(
            parse(b"-NOSCRIPT No matching script.\r\n")
                .unwrap()
                .unwrap()
                .0,
            Reply::Error("NOSCRIPT No matching script.".into())
        );
        assert!(parse(b"*1\r\n$1\r\nx\r\n").is_err());
        assert!(parse(b"%1\r\n").is_err());
        assert!(parse(b":abc\r\n").is_err());
    }
}
