//! The embedded limiter: all state in this process, one small lock per key
//! (64 shards), quota counts written to the store every second so a restart
//! keeps them.
//!
//! Across several instances each one limits on its own; the Redis limiter is
//! the exact one.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;

use futures_util::future::BoxFuture;
use turnout_core::clock::Nanos;

use super::gcra::{Gcra, Outcome};
use super::{
    Decision, Limiter, LimiterError, Limits, QuotaState, Verdict, Window, ceil_secs, period_of,
};

const SHARDS: usize = 64;

#[derive(Debug, Default)]
struct Counter {
    period: String,
    count: u64,
    /// Added since the last flush.
    unflushed: u64,
}

#[derive(Debug, Default)]
struct Subject {
    tat: Option<Nanos>,
    day: Counter,
    month: Counter,
}

impl Subject {
    fn counter(&mut self, window: Window) -> &mut Counter {
        match window {
            Window::Day => &mut self.day,
            Window::Month => &mut self.month,
        }
    }
}

/// One quota delta to persist, or a stored count to start from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaCount {
    pub subject: String,
    pub window: Window,
    pub period: String,
    pub count: u64,
}

pub struct MemoryLimiter {
    shards: Box<[Mutex<HashMap<String, Subject, foldhash::fast::FixedState>>]>,
    /// Subjects are our own key ids, never client-chosen strings, so a fast
    /// hash without flooding resistance is safe here.
    hasher: foldhash::fast::FixedState,
    /// Counts loaded from the store at start, taken by each subject when it
    /// is first seen.
    stored: Mutex<HashMap<(String, Window), (String, u64)>>,
    /// Unflushed deltas of periods that ended, waiting for the next flush.
    carried: Mutex<Vec<QuotaCount>>,
}

impl Default for MemoryLimiter {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl MemoryLimiter {
    pub fn new(stored: Vec<QuotaCount>) -> Self {
        let stored = stored
            .into_iter()
            .map(|c| ((c.subject, c.window), (c.period, c.count)))
            .collect();
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
            // A seed of its own: the shard's maps hash with the default
            // one, and entries of a shard must not share low hash bits.
            hasher: foldhash::fast::FixedState::with_seed(0x9e37_79b9_7f4a_7c15),
            stored: Mutex::new(stored),
            carried: Mutex::new(Vec::new()),
        }
    }

    fn shard(&self, subject: &str) -> &Mutex<HashMap<String, Subject, foldhash::fast::FixedState>> {
        &self.shards[(self.hasher.hash_one(subject) as usize) % SHARDS]
    }

    fn new_subject(&self, subject: &str) -> Subject {
        let mut s = Subject::default();
        let mut stored = self.stored.lock().expect("stored counts lock");
        for window in Window::ALL {
            if let Some((period, count)) = stored.remove(&(subject.to_string(), window)) {
                let c = s.counter(window);
                c.period = period;
                c.count = count;
            }
        }
        s
    }

    /// The synchronous heart of [`Limiter::check`].
    pub fn decide(&self, subject: &str, limits: &Limits, now: Nanos) -> Decision {
        self.evaluate(subject, limits, now, true)
    }

    /// What [`Self::decide`] would answer, consuming nothing.
    pub fn look(&self, subject: &str, limits: &Limits, now: Nanos) -> Decision {
        self.evaluate(subject, limits, now, false)
    }

    /// Decides, and consumes only when `consume` and allowed.
    fn evaluate(&self, subject: &str, limits: &Limits, now: Nanos, consume: bool) -> Decision {
        let gcra = Gcra::new(limits.rate_per_second, limits.burst);
        let mut shard = self.shard(subject).lock().expect("limiter shard lock");
        if !shard.contains_key(subject) {
            let fresh = self.new_subject(subject);
            shard.insert(subject.to_string(), fresh);
        }
        let state = shard.get_mut(subject).expect("just inserted");

        // Quotas first: look, don't touch.
        let mut quotas = Vec::with_capacity(2);
        let mut exhausted = None;
        for window in Window::ALL {
            let Some(limit) = limits.quota(window) else {
                continue;
            };
            let (period, end) = period_of(window, limits.timezone, now);
            let counter = state.counter(window);
            let used = if counter.period == period {
                counter.count
            } else {
                0
            };
            let reset_secs = ceil_secs(end - now);
            if used >= limit && exhausted.is_none() {
                exhausted = Some((window, reset_secs));
            }
            quotas.push((window, period, limit, used, reset_secs));
        }

        let outcome = gcra.check(state.tat, now);
        let (verdict, rate, retry_after_secs) = match (exhausted, outcome) {
            (
                Some((window, reset)),
                Outcome::Allow { state: rate, .. } | Outcome::Deny { state: rate, .. },
            ) => (Verdict::QuotaExceeded(window), rate, reset.max(1)),
            (
                None,
                Outcome::Deny {
                    retry_after,
                    state: rate,
                },
            ) => (Verdict::RateLimited, rate, ceil_secs(retry_after).max(1)),
            // Nothing consumed: the request that was measured is still spare.
            (None, Outcome::Allow { state: rate, .. }) if !consume => (
                Verdict::Allowed,
                super::RateState {
                    remaining: (rate.remaining + 1).min(u64::from(limits.burst)),
                    ..rate
                },
                0,
            ),
            (
                None,
                Outcome::Allow {
                    new_tat,
                    state: rate,
                },
            ) => {
                state.tat = Some(new_tat);
                for (window, period, _, _, _) in &quotas {
                    let counter = state.counter(*window);
                    if counter.period != *period {
                        // A new period: the finished one's unflushed delta
                        // is still owed to the store under its own name.
                        let old = std::mem::replace(
                            counter,
                            Counter {
                                period: period.clone(),
                                ..Counter::default()
                            },
                        );
                        if old.unflushed > 0 {
                            self.carried.lock().expect("carried lock").push(QuotaCount {
                                subject: subject.to_string(),
                                window: *window,
                                period: old.period,
                                count: old.unflushed,
                            });
                        }
                    }
                    counter.count += 1;
                    counter.unflushed += 1;
                }
                (Verdict::Allowed, rate, 0)
            }
        };
        let allowed = consume && verdict == Verdict::Allowed;
        Decision {
            verdict,
            rate,
            quotas: quotas
                .into_iter()
                .map(|(window, _, limit, used, reset_secs)| QuotaState {
                    window,
                    limit,
                    remaining: limit.saturating_sub(used + u64::from(allowed)),
                    reset_secs,
                })
                .collect(),
            retry_after_secs,
            at: now,
        }
    }

    /// Takes every quota delta not yet written to the store.
    pub fn take_unflushed(&self) -> Vec<QuotaCount> {
        let mut out = std::mem::take(&mut *self.carried.lock().expect("carried lock"));
        for shard in self.shards.iter() {
            let mut shard = shard.lock().expect("limiter shard lock");
            for (subject, state) in shard.iter_mut() {
                for window in Window::ALL {
                    let c = state.counter(window);
                    if c.unflushed > 0 {
                        out.push(QuotaCount {
                            subject: subject.clone(),
                            window,
                            period: c.period.clone(),
                            count: c.unflushed,
                        });
                        c.unflushed = 0;
                    }
                }
            }
        }
        out
    }

    /// Gives back deltas whose write failed, so the next flush retries them.
    pub fn restore_unflushed(&self, deltas: Vec<QuotaCount>) {
        for d in deltas {
            let mut shard = self.shard(&d.subject).lock().expect("limiter shard lock");
            if let Some(state) = shard.get_mut(&d.subject) {
                let c = state.counter(d.window);
                if c.period == d.period {
                    c.unflushed += d.count;
                    continue;
                }
            }
            drop(shard);
            self.carried.lock().expect("carried lock").push(d);
        }
    }
}

impl Limiter for MemoryLimiter {
    fn check<'a>(
        &'a self,
        subject: &'a str,
        limits: &'a Limits,
        now: Nanos,
    ) -> BoxFuture<'a, Result<Decision, LimiterError>> {
        Box::pin(std::future::ready(Ok(self.decide(subject, limits, now))))
    }

    fn peek<'a>(
        &'a self,
        subject: &'a str,
        limits: &'a Limits,
        now: Nanos,
    ) -> BoxFuture<'a, Result<Decision, LimiterError>> {
        Box::pin(std::future::ready(Ok(
            self.evaluate(subject, limits, now, false)
        )))
    }

    fn refund<'a>(
        &'a self,
        subject: &'a str,
        limits: &'a Limits,
        _now: Nanos,
    ) -> BoxFuture<'a, Result<(), LimiterError>> {
        let interval = Gcra::new(limits.rate_per_second, limits.burst).interval;
        let mut shard = self.shard(subject).lock().expect("limiter shard lock");
        if let Some(state) = shard.get_mut(subject) {
            state.tat = state.tat.map(|t| t - interval);
        }
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use chrono_tz::Tz;

    fn limits(day: Option<u64>) -> Limits {
        Limits {
            rate_per_second: 1000.0,
            burst: 1000,
            quota_per_day: day,
            quota_per_month: None,
            timezone: "America/Los_Angeles".parse::<Tz>().unwrap(),
            on_backend_error: Default::default(),
        }
    }

    fn at(s: &str) -> Nanos {
        DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap()
    }

    #[test]
    fn a_refund_gives_back_exactly_one_request() {
        let l = MemoryLimiter::default();
        let lim = Limits {
            rate_per_second: 1.0,
            burst: 2,
            quota_per_day: None,
            quota_per_month: None,
            timezone: Tz::UTC,
            on_backend_error: Default::default(),
        };
        let now = at("2026-11-27T12:00:00Z");
        assert!(l.decide("u", &lim, now).allowed());
        assert!(l.decide("u", &lim, now).allowed());
        assert!(!l.decide("u", &lim, now).allowed());
        futures_util::FutureExt::now_or_never(l.refund("u", &lim, now))
            .unwrap()
            .unwrap();
        assert!(l.decide("u", &lim, now).allowed());
        assert!(!l.decide("u", &lim, now).allowed());
    }

    #[test]
    fn a_quota_stops_at_its_limit_and_rolls_over_at_local_midnight() {
        let l = MemoryLimiter::default();
        let lim = limits(Some(3));
        // 23:59:58 in Los Angeles (PST, UTC-8).
        let before = at("2026-11-27T07:59:58Z");
        for _ in 0..3 {
            assert!(l.decide("k", &lim, before).allowed());
        }
        let d = l.decide("k", &lim, before);
        assert_eq!(d.verdict, Verdict::QuotaExceeded(Window::Day));
        assert_eq!(d.retry_after_secs, 2);
        let after = at("2026-11-27T08:00:00Z");
        let d = l.decide("k", &lim, after);
        assert!(d.allowed());
        assert_eq!(d.quotas[0].remaining, 2);
    }

    #[test]
    fn rejected_requests_consume_nothing() {
        let l = MemoryLimiter::default();
        let lim = Limits {
            rate_per_second: 1.0,
            burst: 1,
            ..limits(Some(10))
        };
        let now = at("2026-11-27T12:00:00Z");
        assert!(l.decide("k", &lim, now).allowed());
        for _ in 0..50 {
            assert_eq!(l.decide("k", &lim, now).verdict, Verdict::RateLimited);
        }
        // One second later exactly one more is admitted, and the day's
        // count shows two, not fifty-two.
        let d = l.decide("k", &lim, now + 1_000_000_000);
        assert!(d.allowed());
        assert_eq!(d.quotas[0].remaining, 8);
        let unflushed = l.take_unflushed();
        assert_eq!(unflushed.len(), 1);
        assert_eq!(unflushed[0].count, 2);
    }

    #[test]
    fn stored_counts_are_picked_up_in_their_period_only() {
        let now = at("2026-11-27T12:00:00Z");
        let l = MemoryLimiter::new(vec![
            QuotaCount {
                subject: "a".into(),
                window: Window::Day,
                period: "2026-11-27".into(),
                count: 3,
            },
            QuotaCount {
                subject: "b".into(),
                window: Window::Day,
                period: "2026-11-26".into(),
                count: 3,
            },
        ]);
        let lim = limits(Some(3));
        assert_eq!(
            l.decide("a", &lim, now).verdict,
            Verdict::QuotaExceeded(Window::Day)
        );
        assert!(l.decide("b", &lim, now).allowed());
    }
}
