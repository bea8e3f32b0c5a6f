//! The shared limiter with a way down: Redis while it answers; while it
//! does not, each plan's `on_backend_error` decides — "allow" keeps serving
//! at this instance's share of the limits (rate / N, burst / N, quotas / N
//! for N live instances), "deny" refuses with 503.
//!
//! A failed call marks Redis down at once, so an outage costs one timeout,
//! not one per request; from then on requests go straight to the local
//! limiter and a probe pings Redis every [`PROBE_EVERY`]. When it answers,
//! the quota units admitted locally are added to the shared counters and
//! requests go back to Redis: recovery needs no operator.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::watch;
use turnout_core::clock::{Clock, Nanos};

use super::memory::MemoryLimiter;
use super::redis::RedisLimiter;
use super::{BackendErrorPolicy, Decision, Limiter, LimiterError, Limits};

pub const PROBE_EVERY: Duration = Duration::from_millis(250);

pub struct FallbackLimiter {
    shared: RedisLimiter,
    local: MemoryLimiter,
    down: AtomicBool,
    last_error: Mutex<String>,
    /// Live gateway instances; see [`super::instances`].
    instances: Arc<AtomicU32>,
}

impl FallbackLimiter {
    pub fn new(shared: RedisLimiter, instances: Arc<AtomicU32>) -> Self {
        metrics::gauge!("turnout_limiter_backend_up").set(1.0);
        Self {
            shared,
            local: MemoryLimiter::default(),
            down: AtomicBool::new(false),
            last_error: Mutex::new(String::new()),
            instances,
        }
    }

    /// Whether Redis answers: `Err` with the last error while it is
    /// considered down; otherwise one ping, so an outage shows here even
    /// before a request has met it.
    pub async fn status(&self) -> Result<(), String> {
        if !self.down.load(Ordering::Acquire) {
            match self.shared.ping().await {
                Ok(()) => return Ok(()),
                Err(err) => self.mark_down(&err),
            }
        }
        Err(self.last_error.lock().expect("error lock").clone())
    }

    fn mark_down(&self, err: &LimiterError) {
        metrics::counter!("turnout_limiter_backend_errors_total").increment(1);
        *self.last_error.lock().expect("error lock") = err.to_string();
        if !self.down.swap(true, Ordering::AcqRel) {
            metrics::gauge!("turnout_limiter_backend_up").set(0.0);
            tracing::warn!(error = %err, "Redis is unreachable; plans fall back to their on_backend_error policy");
        }
    }

    /// This instance's share of `limits`. Rounded up, so a small plan
    /// still admits one request per instance rather than none.
    fn share(&self, limits: &Limits) -> Limits {
        let n = self.instances.load(Ordering::Relaxed).max(1);
        let part = |q: u64| q.div_ceil(u64::from(n));
        Limits {
            rate_per_second: limits.rate_per_second / f64::from(n),
            burst: limits.burst.div_ceil(n).max(1),
            quota_per_day: limits.quota_per_day.map(part),
            quota_per_month: limits.quota_per_month.map(part),
            ..limits.clone()
        }
    }

    async fn decide(
        &self,
        subject: &str,
        limits: &Limits,
        now: Nanos,
        consume: bool,
    ) -> Result<Decision, LimiterError> {
        if !self.down.load(Ordering::Acquire) {
            let shared = if consume {
                self.shared.check(subject, limits, now).await
            } else {
                self.shared.peek(subject, limits, now).await
            };
            match shared {
                Ok(decision) => return Ok(decision),
                Err(err) => self.mark_down(&err),
            }
        }
        match limits.on_backend_error {
            BackendErrorPolicy::Deny => Err(LimiterError::Unavailable(
                "Redis cannot be reached and this plan refuses requests meanwhile".into(),
            )),
            BackendErrorPolicy::Allow => {
                let share = self.share(limits);
                let decision = if consume {
                    self.local.decide(subject, &share, now)
                } else {
                    self.local.look(subject, &share, now)
                };
                metrics::counter!("turnout_limiter_fallback_decisions_total").increment(1);
                Ok(decision)
            }
        }
    }

    /// Pings Redis while it is down; when it answers, hands over what was
    /// counted locally and switches back.
    pub async fn recover(self: Arc<Self>, clock: Arc<dyn Clock>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(PROBE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            if !self.down.load(Ordering::Acquire) {
                continue;
            }
            if let Err(err) = self.shared.ping().await {
                *self.last_error.lock().expect("error lock") = err.to_string();
                continue;
            }
            let counted = self.local.take_unflushed();
            if let Err(err) = self.shared.add_counts(&counted).await {
                self.local.restore_unflushed(counted);
                *self.last_error.lock().expect("error lock") = err.to_string();
                continue;
            }
            self.down.store(false, Ordering::Release);
            metrics::gauge!("turnout_limiter_backend_up").set(1.0);
            tracing::info!(
                at = clock.now().to_rfc3339(),
                "Redis answers again; rate limits are shared again"
            );
        }
    }
}

impl Limiter for FallbackLimiter {
    fn check<'a>(
        &'a self,
        subject: &'a str,
        limits: &'a Limits,
        now: Nanos,
    ) -> BoxFuture<'a, Result<Decision, LimiterError>> {
        Box::pin(self.decide(subject, limits, now, true))
    }

    fn peek<'a>(
        &'a self,
        subject: &'a str,
        limits: &'a Limits,
        now: Nanos,
    ) -> BoxFuture<'a, Result<Decision, LimiterError>> {
        Box::pin(self.decide(subject, limits, now, false))
    }

    fn refund<'a>(
        &'a self,
        subject: &'a str,
        limits: &'a Limits,
        now: Nanos,
    ) -> BoxFuture<'a, Result<(), LimiterError>> {
        Box::pin(async move {
            if self.down.load(Ordering::Acquire) {
                self.local.refund(subject, &self.share(limits), now).await
            } else {
                self.shared.refund(subject, limits, now).await
            }
        })
    }
}
