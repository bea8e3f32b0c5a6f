//! The shared limiter: every gateway instance decides against the same
//! Redis, in one server-side script per request, so N instances admit what
//! one would.
//!
//! Why one script: Kong's and APISIX's Redis limiters read the count in one
//! round trip and wrote it in another, and under load every instance read
//! the same "one left" and admitted it. Here the quota read, the GCRA
//! check, the TAT write and the quota increments (with their TTLs) happen
//! inside one EVALSHA, which Redis runs atomically.
//!
//! Why it still keeps up: checks are batched by load — the checks that
//! arrive while a script call is on the wire go together in the next one
//! (see [`batcher`]), on one connection per worker thread, and the script
//! touches each key once per call. No check waits for a batch to fill,
//! and each is still decided alone, atomically, in arrival order: nothing
//! is traded for throughput.
//!
//! Time: by default the script reads the Redis server's clock (`TIME`), so
//! gateways with skewed clocks still share one timeline. Tests with an
//! injected clock pass their own time instead ([`RedisTime::Caller`]).
//! Quota periods are named from the gateway's clock; a skew of
//! milliseconds only moves the rollover by as much.

use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{mpsc, oneshot};
use turnout_core::clock::Nanos;

use super::gcra::{Gcra, Outcome};
use super::memory::QuotaCount;
use super::{
    Decision, Limiter, LimiterError, Limits, QuotaState, RateState, Verdict, Window, ceil_secs,
    period_of,
};

/// Decides a batch of checks, each as if alone and in order: when a
/// check's `mode` is 1 it consumes; 0 only looks; 2 gives one interval
/// back. Times are microseconds: a Lua number is a double, and nanoseconds
/// since 1970 do not fit its 53-bit mantissa.
///
/// Per check, KEYS: the TAT, the day count, the month count; ARGV: now
/// (0 = the server's clock), interval, tolerance, day limit (-1 = none),
/// day TTL s, month limit, month TTL s, mode.
/// Returns per check: verdict (0 allowed, 1 rate, 2 day quota, 3 month
/// quota), now, the TAT before (-1 = none), the day and month counts after.
const SCRIPT: &str = r#"
-- Each key is read at most once and written at most once per call: a
-- popular key (one app's key, shared by all its users) fills a batch
-- with checks of the same TAT and counters, and they are decided here in
-- order against the values in `tat` and `used`, then written back once.
-- The script runs atomically, so this is the same as writing as it goes.
local clock = nil
local out = {}
local tat, tat_ttl = {}, {}
local count, added, count_ttl = {}, {}, {}
local function read_tat(key)
  local v = tat[key]
  if v == nil then
    v = redis.call('GET', key)
    v = v and tonumber(v) or false
    tat[key] = v
  end
  return v
end
local function read_count(key)
  local v = count[key]
  if v == nil then
    v = tonumber(redis.call('GET', key) or '0')
    count[key] = v
    added[key] = 0
  end
  return v
end
for c = 0, #KEYS / 3 - 1 do
  local k, a = c * 3, c * 8
  local now = tonumber(ARGV[a + 1])
  if now == 0 then
    if not clock then
      local t = redis.call('TIME')
      clock = tonumber(t[1]) * 1000000 + tonumber(t[2])
    end
    now = clock
  end
  local interval = tonumber(ARGV[a + 2])
  local tolerance = tonumber(ARGV[a + 3])
  local mode = tonumber(ARGV[a + 8])
  local key = KEYS[k + 1]
  local stored = read_tat(key)
  local verdict = 0
  local used = {0, 0}
  if mode == 2 then
    if stored and stored - interval > now then
      tat[key] = stored - interval
      tat_ttl[key] = math.ceil((stored - interval - now) / 1000) + 1000
    elseif stored then
      tat[key] = false
      tat_ttl[key] = 0
    end
    stored = false
  else
    for i = 1, 2 do
      local limit = tonumber(ARGV[a + 2 + 2 * i])
      if limit >= 0 then
        used[i] = read_count(KEYS[k + 1 + i])
        if verdict == 0 and used[i] >= limit then verdict = 1 + i end
      end
    end
    local t = now
    if stored and stored > now then t = stored end
    local new_tat = t + interval
    if verdict == 0 and now < new_tat - tolerance then verdict = 1 end
    if verdict == 0 and mode == 1 then
      tat[key] = new_tat
      tat_ttl[key] = math.ceil((new_tat - now) / 1000) + 1000
      for i = 1, 2 do
        if tonumber(ARGV[a + 2 + 2 * i]) >= 0 then
          local q = KEYS[k + 1 + i]
          count[q] = count[q] + 1
          added[q] = added[q] + 1
          count_ttl[q] = ARGV[a + 3 + 2 * i]
          used[i] = count[q]
        end
      end
    end
  end
  out[#out + 1] = verdict
  out[#out + 1] = now
  out[#out + 1] = stored or -1
  out[#out + 1] = used[1]
  out[#out + 1] = used[2]
end
for key, ttl in pairs(tat_ttl) do
  if tat[key] then
    redis.call('SET', key, string.format('%.0f', tat[key]), 'PX', ttl)
  else
    redis.call('DEL', key)
  end
end
for key, n in pairs(added) do
  if n > 0 then
    if redis.call('INCRBY', key, n) == n then redis.call('EXPIRE', key, count_ttl[key]) end
  end
end
return out
"#;

/// Adds counts admitted elsewhere (by the local fallback while Redis was
/// down) to the shared quota counters. KEYS: counters; ARGV: pairs of
/// amount and TTL.
const ADD_SCRIPT: &str = r#"
for i = 1, #KEYS do
  local n = redis.call('INCRBY', KEYS[i], ARGV[2 * i - 1])
  if n == tonumber(ARGV[2 * i - 1]) then redis.call('EXPIRE', KEYS[i], ARGV[2 * i]) end
end
return #KEYS
"#;

/// Whose clock the script decides by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisTime {
    /// The Redis server's `TIME`: one timeline for every gateway.
    Server,
    /// The `now` each call passes in: for tests that drive time.
    Caller,
}

pub struct RedisLimiter {
    conn: ConnectionManager,
    add: redis::Script,
    time: RedisTime,
    /// Every key starts with it, so several deployments (or tests) can
    /// share one Redis.
    prefix: String,
    /// For the per-thread connections of the batchers.
    client: redis::Client,
    config: ConnectionManagerConfig,
    /// Names this limiter's batcher in each thread's [`BATCHERS`].
    id: u64,
}

thread_local! {
    /// Each thread's batcher queue per limiter. The gateway runs one
    /// single-threaded runtime per core; a batcher and its connection on
    /// the same thread as the requests keep every hop of a check on that
    /// thread (a shared batcher cost two cross-thread wake-ups a check).
    static BATCHERS: std::cell::RefCell<std::collections::HashMap<u64, mpsc::UnboundedSender<Job>>> =
        Default::default();
}

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// One check on its way to Redis.
struct Job {
    keys: [String; 3],
    args: [i64; 8],
    reply: oneshot::Sender<Result<[i64; 5], LimiterError>>,
}

/// Checks sent in one script call, at most.
const BATCH: usize = 256;
/// Script calls in flight at once: while one is on the wire the next
/// batch forms.
const IN_FLIGHT: usize = 4;

/// Quota counters outlive their period by a day, for late readers.
const QUOTA_GRACE_SECS: i64 = 86_400;

impl RedisLimiter {
    /// Connects lazily: a gateway starts while Redis is down, and the
    /// connection is re-established by itself when Redis returns.
    pub fn new(
        url: &str,
        prefix: &str,
        time: RedisTime,
        timeout: Duration,
    ) -> Result<Self, LimiterError> {
        let client =
            redis::Client::open(url).map_err(|e| LimiterError::Unavailable(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
            .map_err(|e| LimiterError::Unavailable(e.to_string()))?;
        Ok(Self {
            conn,
            add: redis::Script::new(ADD_SCRIPT),
            time,
            prefix: prefix.to_string(),
            client,
            config,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// Queues a check with this thread's batcher, starting one (with its
    /// own connection, on this thread's runtime) on first use or after the
    /// last one ended with its runtime.
    fn enqueue(&self, job: Job) -> Result<(), LimiterError> {
        BATCHERS.with(|b| {
            let mut batchers = b.borrow_mut();
            let job = match batchers.get(&self.id) {
                Some(queue) => match queue.send(job) {
                    Ok(()) => return Ok(()),
                    Err(mpsc::error::SendError(job)) => job,
                },
                None => job,
            };
            let conn =
                ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone())
                    .map_err(|e| LimiterError::Unavailable(e.to_string()))?;
            let (queue, jobs) = mpsc::unbounded_channel();
            tokio::spawn(batcher(conn, jobs));
            let sent = queue
                .send(job)
                .map_err(|_| LimiterError::Unavailable("the limiter's batcher has stopped".into()));
            batchers.insert(self.id, queue);
            sent
        })
    }

    /// One round trip, for readiness and for the fallback's recovery probe.
    pub async fn ping(&self) -> Result<(), LimiterError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(drop)
            .map_err(unavailable)
    }

    /// The keys of a subject. The `{subject}` hash tag keeps them in one
    /// Redis Cluster slot, which a script touching all three needs.
    fn key(&self, subject: &str, what: &str) -> String {
        format!("{}{{{subject}}}:{what}", self.prefix)
    }

    /// Adds counts admitted while Redis was unreachable.
    pub async fn add_counts(&self, counts: &[QuotaCount]) -> Result<(), LimiterError> {
        if counts.is_empty() {
            return Ok(());
        }
        let mut invocation = self.add.prepare_invoke();
        for c in counts {
            invocation.key(self.key(&c.subject, &format!("{}:{}", c.window.as_str(), c.period)));
            // A month and its grace day, at most.
            invocation.arg(c.count).arg(32 * 86_400 + QUOTA_GRACE_SECS);
        }
        let mut conn = self.conn.clone();
        invocation
            .invoke_async::<i64>(&mut conn)
            .await
            .map(drop)
            .map_err(unavailable)
    }

    async fn run(
        &self,
        subject: &str,
        limits: &Limits,
        now: Nanos,
        mode: u8,
    ) -> Result<Decision, LimiterError> {
        let gcra = micro(Gcra::new(limits.rate_per_second, limits.burst));
        let now_arg = match self.time {
            RedisTime::Server => 0,
            RedisTime::Caller => now / 1_000,
        };
        let mut args = [
            now_arg,
            gcra.interval / 1_000,
            gcra.tolerance / 1_000,
            -1,
            0,
            -1,
            0,
            i64::from(mode),
        ];
        let mut keys: [String; 3] = [self.key(subject, "tat"), String::new(), String::new()];
        let mut windows = Vec::with_capacity(2);
        for (i, window) in Window::ALL.into_iter().enumerate() {
            let (period, end) = period_of(window, limits.timezone, now);
            keys[1 + i] = self.key(subject, &format!("{}:{period}", window.as_str()));
            if let Some(limit) = limits.quota(window) {
                args[3 + 2 * i] = limit as i64;
                args[4 + 2 * i] = ceil_secs(end - now) as i64 + QUOTA_GRACE_SECS;
                windows.push((window, limit, ceil_secs(end - now)));
            }
        }
        let (reply, answer) = oneshot::channel();
        self.enqueue(Job { keys, args, reply })?;
        let [verdict, at_us, stored_us, day, month] = answer
            .await
            .map_err(|_| LimiterError::Unavailable("the limiter's batcher has stopped".into()))??;

        let at = at_us * 1_000;
        let stored = (stored_us >= 0).then_some(stored_us * 1_000);
        // The same arithmetic the script did, in whole microseconds, for
        // the numbers the headers show.
        let (rate, rate_retry) = match gcra.check(stored, at) {
            Outcome::Allow { state, .. } if verdict == 0 && mode == 0 => (
                RateState {
                    remaining: (state.remaining + 1).min(u64::from(limits.burst)),
                    ..state
                },
                0,
            ),
            Outcome::Allow { state, .. } => (state, 0),
            Outcome::Deny { retry_after, state } => (state, retry_after),
        };
        let quotas: Vec<QuotaState> = windows
            .iter()
            .map(|&(window, limit, reset_secs)| {
                let used = match window {
                    Window::Day => day,
                    Window::Month => month,
                } as u64;
                QuotaState {
                    window,
                    limit,
                    remaining: limit.saturating_sub(used),
                    reset_secs,
                }
            })
            .collect();
        let (verdict, retry_after_secs) = match verdict {
            0 => (Verdict::Allowed, 0),
            1 => (Verdict::RateLimited, ceil_secs(rate_retry).max(1)),
            v => {
                let window = if v == 2 { Window::Day } else { Window::Month };
                let reset = quotas
                    .iter()
                    .find(|q| q.window == window)
                    .map_or(1, |q| q.reset_secs);
                (Verdict::QuotaExceeded(window), reset.max(1))
            }
        };
        Ok(Decision {
            verdict,
            rate,
            quotas,
            retry_after_secs,
            at,
        })
    }
}

/// Takes the checks waiting and sends them as one script call, up to
/// [`IN_FLIGHT`] calls at a time. Nothing waits for a batch to fill: a lone
/// check goes at once, and under load the checks that arrive during one
/// round trip ride together in the next. Each check is still decided
/// alone, atomically and in arrival order, so batching trades no accuracy.
async fn batcher(conn: ConnectionManager, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let script = std::sync::Arc::new(redis::Script::new(SCRIPT));
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let Ok(slot) = std::sync::Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let (mut conn, script) = (conn.clone(), std::sync::Arc::clone(&script));
        tokio::spawn(async move {
            let mut invocation = script.prepare_invoke();
            for job in &batch {
                for k in &job.keys {
                    invocation.key(k);
                }
                for a in job.args {
                    invocation.arg(a);
                }
            }
            let answer: Result<Vec<i64>, _> = invocation.invoke_async(&mut conn).await;
            drop(slot);
            match answer {
                Ok(values) if values.len() == batch.len() * 5 => {
                    for (job, v) in batch.into_iter().zip(values.chunks_exact(5)) {
                        let _ = job.reply.send(Ok([v[0], v[1], v[2], v[3], v[4]]));
                    }
                }
                Ok(values) => {
                    let e = format!(
                        "the script answered {} values for {} checks",
                        values.len(),
                        batch.len()
                    );
                    for job in batch {
                        let _ = job.reply.send(Err(LimiterError::Unavailable(e.clone())));
                    }
                }
                Err(e) => {
                    for job in batch {
                        let _ = job
                            .reply
                            .send(Err(LimiterError::Unavailable(e.to_string())));
                    }
                }
            }
        });
    }
}

/// The GCRA in whole microseconds, as the script computes it.
fn micro(g: Gcra) -> Gcra {
    let interval = (g.interval / 1_000).max(1) * 1_000;
    Gcra {
        interval,
        tolerance: interval * (g.tolerance / g.interval),
    }
}

fn unavailable(e: redis::RedisError) -> LimiterError {
    LimiterError::Unavailable(e.to_string())
}

impl Limiter for RedisLimiter {
    fn check<'a>(
        &'a self,
        subject: &'a str,
        limits: &'a Limits,
        now: Nanos,
    ) -> BoxFuture<'a, Result<Decision, LimiterError>> {
        Box::pin(self.run(subject, limits, now, 1))
    }

    fn peek<'a>(
        &'a self,
        subject: &'a str,
        limits: &'a Limits,
        now: Nanos,
    ) -> BoxFuture<'a, Result<Decision, LimiterError>> {
        Box::pin(self.run(subject, limits, now, 0))
    }

    fn refund<'a>(
        &'a self,
        subject: &'a str,
        limits: &'a Limits,
        now: Nanos,
    ) -> BoxFuture<'a, Result<(), LimiterError>> {
        Box::pin(async move { self.run(subject, limits, now, 2).await.map(drop) })
    }
}
