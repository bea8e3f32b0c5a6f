//! The shared limiter: every gateway instance decides against the same
//! Redis, in one server-side script call per batch of checks, so N
//! instances admit what one would.
//!
//! Why one script: Kong's and APISIX's Redis limiters read the count in one
//! round trip and wrote it in another, and under load every instance read
//! the same "one left" and admitted it. Here the quota read, the GCRA
//! check, the TAT write and the quota increments (with their TTLs) happen
//! inside one EVALSHA, which Redis runs atomically.
//!
//! Why it still keeps up: checks are batched by load — the checks that
//! arrive while a script call is on the wire go together in the next one
//! (see [`super::resp`]), on one connection per worker thread, and the script
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
use super::resp::{Job, Target, batcher};
use super::{
    Decision, Limiter, LimiterError, Limits, QuotaState, RateState, Verdict, Window, ceil_secs,
    period_of,
};

/// Decides a batch of checks, each as if alone and in order: when a
/// check's `mode` is 1 it consumes; 0 only looks; 2 gives one interval
/// back. Times are microseconds: a Lua number is a double, and nanoseconds
/// since 1970 do not fit its 53-bit mantissa.
///
/// A batch names each distinct subject once and each check by one number,
/// because a popular key (one app's key, shared by all its users) fills a
/// batch with checks of the same subject: sending its keys and limits with
/// every check made Redis intern and convert eleven strings per check,
/// which cost it 3–4 µs a check against 1–1.5 µs this way (measured with
/// `INFO commandstats` on batches of 16–48).
///
/// KEYS, per subject: the TAT, the day count, the month count.
/// ARGV: per subject seven numbers — now (0 = the server's clock),
/// interval, tolerance, day limit (-1 = none), day TTL s, month limit,
/// month TTL s; then per check one number, its subject (from 0) × 4 + its
/// mode.
/// Returns per check: verdict (0 allowed, 1 rate, 2 day quota, 3 month
/// quota), now, the TAT before (-1 = none), the day and month counts after.
const SCRIPT: &str = r#"
-- Each key is read at most once and written at most once per call: the
-- checks are decided in order against the values in `tat` and `count`,
-- which are written back at the end. The script runs atomically, so this
-- is the same as writing as it goes. State is kept by key, not by
-- subject, so two subjects naming the same keys (a plan changed between
-- two checks of a batch) still share one TAT and one count.
local subjects = #KEYS / 3
local clock = nil
local out = {}
local tat, tat_ttl = {}, {}
local count, added, count_ttl = {}, {}, {}
local p = {}
for s = 1, subjects do
  local a, k = (s - 1) * 7, (s - 1) * 3
  local now = tonumber(ARGV[a + 1])
  if now == 0 then
    if not clock then
      local t = redis.call('TIME')
      clock = tonumber(t[1]) * 1000000 + tonumber(t[2])
    end
    now = clock
  end
  local sp = {
    now = now, interval = tonumber(ARGV[a + 2]), tolerance = tonumber(ARGV[a + 3]),
    day = tonumber(ARGV[a + 4]), day_ttl = ARGV[a + 5],
    month = tonumber(ARGV[a + 6]), month_ttl = ARGV[a + 7],
    tat = KEYS[k + 1], day_key = KEYS[k + 2], month_key = KEYS[k + 3],
  }
  p[s] = sp
  if tat[sp.tat] == nil then
    local v = redis.call('GET', sp.tat)
    tat[sp.tat] = v and tonumber(v) or false
  end
  if sp.day >= 0 and count[sp.day_key] == nil then
    count[sp.day_key] = tonumber(redis.call('GET', sp.day_key) or '0')
    added[sp.day_key] = 0
  end
  if sp.month >= 0 and count[sp.month_key] == nil then
    count[sp.month_key] = tonumber(redis.call('GET', sp.month_key) or '0')
    added[sp.month_key] = 0
  end
end
local function consume(q, ttl)
  local n = count[q] + 1
  count[q] = n
  added[q] = added[q] + 1
  count_ttl[q] = ttl
  return n
end
for c = subjects * 7 + 1, #ARGV do
  local v = tonumber(ARGV[c])
  local mode = v % 4
  local sp = p[(v - mode) / 4 + 1]
  local now, interval, key = sp.now, sp.interval, sp.tat
  local stored = tat[key]
  local verdict = 0
  local day, month = 0, 0
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
    if sp.day >= 0 then
      day = count[sp.day_key]
      if day >= sp.day then verdict = 2 end
    end
    if sp.month >= 0 then
      month = count[sp.month_key]
      if verdict == 0 and month >= sp.month then verdict = 3 end
    end
    local t = now
    if stored and stored > now then t = stored end
    local new_tat = t + interval
    if verdict == 0 and now < new_tat - sp.tolerance then verdict = 1 end
    if verdict == 0 and mode == 1 then
      tat[key] = new_tat
      tat_ttl[key] = math.ceil((new_tat - now) / 1000) + 1000
      if sp.day >= 0 then day = consume(sp.day_key, sp.day_ttl) end
      if sp.month >= 0 then month = consume(sp.month_key, sp.month_ttl) end
    end
  end
  local n = #out
  out[n + 1] = verdict
  out[n + 2] = now
  out[n + 3] = stored or -1
  out[n + 4] = day
  out[n + 5] = month
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
    /// Where the per-thread batchers connect.
    target: Target,
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
        let target = Target::new(&client, timeout, SCRIPT)?;
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| LimiterError::Unavailable(e.to_string()))?;
        Ok(Self {
            conn,
            add: redis::Script::new(ADD_SCRIPT),
            time,
            prefix: prefix.to_string(),
            target,
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
            let (queue, jobs) = mpsc::unbounded_channel();
            tokio::spawn(batcher(self.target.clone(), jobs));
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
        ];
        let mut keys: [String; 3] = [self.key(subject, "tat"), String::new(), String::new()];
        let mut windows = Vec::with_capacity(2);
        for (i, window) in Window::ALL.into_iter().enumerate() {
            if let Some(limit) = limits.quota(window) {
                let (period, end) = period_of(window, limits.timezone, now);
                keys[1 + i] = self.key(subject, &format!("{}:{period}", window.as_str()));
                args[3 + 2 * i] = limit as i64;
                args[4 + 2 * i] = ceil_secs(end - now) as i64 + QUOTA_GRACE_SECS;
                windows.push((window, limit, ceil_secs(end - now)));
            }
        }
        let (reply, answer) = oneshot::channel();
        self.enqueue(Job {
            keys,
            args,
            mode,
            reply,
        })?;
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
