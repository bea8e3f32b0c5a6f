//! A queue worker: settles expired leases, claims a batch, and sends each
//! message through its channel's provider, in the order the queue module
//! describes (hand over, then call, then finish), with no transaction open
//! across the call.
//!
//! What a provider's answer becomes: accepted → `sent`; opted out →
//! `opted_out`; a permanent rejection → `failed`; "later" → retried after
//! an exponential backoff with jitter, never sooner than the provider's
//! `Retry-After`, and `failed` after the last attempt; no answer within
//! the send timeout, or a lost connection → `unknown` (the provider may
//! have it: it is reported, never sent again).
//!
//! Right before each call the opt-out and suppression list is checked
//! again.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde::Deserialize;
use tokio::task::JoinSet;
use turnout_core::Clock;
use turnout_core::store::StoreError;

use crate::breaker::{Breakers, Permit};
use crate::consent::optouts::{OptOuts, Reason};
use crate::consent::window::Held;
use crate::providers::{Failure, Outgoing, Provider};
use crate::queue::{Channel, Claimed, Outcome, Queue, Scope};
use crate::throttle::Throttle;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: i64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(2),
            max: Duration::from_secs(600),
            max_attempts: 8,
        }
    }
}

impl Backoff {
    /// How long to wait after `attempts` failed attempts, or `None` to give
    /// up. `jitter` in [0, 1) spreads retries ("equal jitter": between half
    /// and all of the exponential delay); a provider's `Retry-After` is a
    /// floor.
    pub fn delay(
        &self,
        attempts: i64,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let exp = self
            .base
            .saturating_mul(1u32 << (attempts.clamp(1, 20) - 1) as u32)
            .min(self.max);
        let spread = exp.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
        Some(retry_after.map_or(spread, |r| spread.max(r)))
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub lease: Duration,
    pub batch: usize,
    pub send_timeout: Duration,
    pub backoff: Backoff,
    /// How often expired leases are settled: they are rare, and on
    /// PostgreSQL the search walks every dead row version the queue left.
    pub reap_every: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            reap_every: Duration::from_secs(5),
            lease: Duration::from_secs(60),
            batch: 64,
            send_timeout: Duration::from_secs(15),
            backoff: Backoff::default(),
        }
    }
}

#[derive(Clone)]
pub struct Worker {
    pub queue: Queue,
    pub sms: Arc<dyn Provider>,
    pub email: Arc<dyn Provider>,
    pub clock: Arc<dyn Clock>,
    /// Checked right before each provider call.
    pub optouts: OptOuts,
    /// Per-channel limits (shared with the process's other workers); a
    /// channel without one is unlimited.
    pub throttles: Vec<(Channel, Arc<Throttle>)>,
    /// SMS only: where a message goes when the SMS provider definitely
    /// did not take it (throttled, down, circuit open).
    pub sms_failover: Option<Arc<dyn Provider>>,
    /// Circuit breakers, shared by the process's workers.
    pub breakers: Arc<Breakers>,
    /// When this worker last settled expired leases (unix ms).
    pub reaped_at: Arc<std::sync::atomic::AtomicI64>,
    /// Unique per worker (process id and a random part, say): leases are
    /// held in its name.
    pub owner: String,
    /// Fills in sign-in codes (see `codes`); without it a message that
    /// carries one fails rather than going out with the mark in it.
    pub codes: Option<Arc<crate::codes::CodeKey>>,
    pub settings: Settings,
}

/// The payload stored with a message.
#[derive(Debug, Deserialize)]
struct Payload {
    body: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    html: Option<String>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    /// Campaign messages only: the send window in the recipient's zones.
    #[serde(default)]
    window: Option<Held>,
    /// Sign-in codes only: the challenge whose code replaces
    /// [`crate::codes::MARK`] (the code itself is never stored).
    #[serde(default)]
    code: Option<String>,
}

/// An address on the opt-out or suppression list.
/// How often the queue backlog gauges are refreshed.
const BACKLOG_EVERY: Duration = Duration::from_secs(5);

/// Provider failures by provider and code (the provider's own code where
/// it gave one: a bounded set, fit for a label).
fn provider_error(provider: &str, code: &str) {
    metrics::counter!(
        "turnout_outreach_provider_errors_total",
        "provider" => provider.to_string(),
        "code" => code.to_string()
    )
    .increment(1);
}

fn consent_outcome(reason: Reason) -> Outcome {
    if reason.is_opt_out() {
        Outcome::OptedOut {
            code: reason.as_str().to_string(),
        }
    } else {
        Outcome::Suppressed {
            reason: reason.as_str().to_string(),
        }
    }
}

fn millis(clock: &dyn Clock) -> i64 {
    clock.now_nanos().div_euclid(1_000_000)
}

impl Worker {
    /// One round: reap, claim, send. Returns how many messages it handled.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let now = millis(&*self.clock);
        let last = self.reaped_at.load(std::sync::atomic::Ordering::Relaxed);
        if now < last || now - last >= self.settings.reap_every.as_millis() as i64 {
            self.queue.reap(now).await?;
            self.reaped_at
                .store(now, std::sync::atomic::Ordering::Relaxed);
        }
        let lease_until = now + self.settings.lease.as_millis() as i64;
        let claimed = self.claim(now, lease_until).await?;
        let n = claimed.len();
        self.send_batch(claimed).await?;
        Ok(n)
    }

    /// Claims what the limits let go now: each limited campaign's messages
    /// under its own limit (and its channel's), then the rest under their
    /// channel's.
    async fn claim(&self, now: i64, lease_until: i64) -> Result<Vec<Claimed>, StoreError> {
        let batch = self.settings.batch;
        let now_ns = self.clock.now_nanos();
        let channel_limit =
            |c: Channel| self.throttles.iter().find(|(x, _)| *x == c).map(|(_, t)| t);
        let limited = crate::campaigns::limits::running(self.queue.store()).await?;
        let mut all = Vec::new();
        for l in &limited {
            let mut allowed = l.throttle.take(now_ns, batch).await?;
            if let Some(ct) = channel_limit(l.channel) {
                let granted = ct.take(now_ns, allowed).await?;
                l.throttle.give_back(allowed - granted).await?;
                allowed = granted;
            }
            let scope = Scope {
                campaign: Some(l.id),
                ..Scope::default()
            };
            let got = self
                .queue
                .claim_scope(&self.owner, &scope, now, lease_until, allowed)
                .await?;
            l.throttle.give_back(allowed - got.len()).await?;
            if let Some(ct) = channel_limit(l.channel) {
                ct.give_back(allowed - got.len()).await?;
            }
            all.extend(got);
        }
        let except: Vec<i64> = limited.iter().map(|l| l.id).collect();
        if self.throttles.is_empty() {
            let scope = Scope {
                except_campaigns: except,
                ..Scope::default()
            };
            all.extend(
                self.queue
                    .claim_scope(&self.owner, &scope, now, lease_until, batch)
                    .await?,
            );
            return Ok(all);
        }
        for channel in [Channel::Sms, Channel::Email] {
            let allowed = match channel_limit(channel) {
                Some(t) => t.take(now_ns, batch).await?,
                None => batch,
            };
            let scope = Scope {
                channel: Some(channel),
                campaign: None,
                except_campaigns: except.clone(),
            };
            let got = self
                .queue
                .claim_scope(&self.owner, &scope, now, lease_until, allowed)
                .await?;
            if let Some(t) = channel_limit(channel) {
                t.give_back(allowed - got.len()).await?;
            }
            all.extend(got);
        }
        Ok(all)
    }

    /// Runs rounds until `stop` resolves: at once after a full batch (more
    /// may be due), else when `wake` fires (a message was queued in this
    /// process) or after `idle`. `stop` is heeded between any two rounds,
    /// so a busy queue does not hold up a shutdown.
    pub async fn run(
        self,
        idle: Duration,
        wake: Arc<tokio::sync::Notify>,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        let mut gauged = std::time::Instant::now() - BACKLOG_EVERY;
        loop {
            if gauged.elapsed() >= BACKLOG_EVERY {
                gauged = std::time::Instant::now();
                self.gauge_backlog().await;
            }
            let full = match self.run_once().await {
                Ok(n) => n >= self.settings.batch,
                Err(e) => {
                    tracing::error!(error = %e, "outreach worker");
                    false
                }
            };
            let pause = if full { Duration::ZERO } else { idle };
            tokio::select! {
                biased;
                _ = &mut stop => return,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Queue depth and age as gauges. Read every [`BACKLOG_EVERY`] rather
    /// than every round: a count over a large backlog is not free.
    async fn gauge_backlog(&self) {
        match self.queue.backlog(millis(&*self.clock)).await {
            Ok((depth, age_ms)) => {
                metrics::gauge!("turnout_outreach_queue_depth").set(depth as f64);
                metrics::gauge!("turnout_outreach_queue_oldest_seconds").set(age_ms as f64 / 1e3);
            }
            Err(e) => tracing::warn!(error = %e, "reading the queue backlog"),
        }
    }

    /// A claimed batch, in stages, so the store sees a few statements per
    /// batch rather than several per message: read the payloads (and hold
    /// back those outside their send window), check consent for the whole
    /// batch, hand over in one statement (committed before any call), send
    /// concurrently, and record every outcome in one transaction.
    ///
    /// A crash after the hand-over settles every message of the batch
    /// still in flight as `unknown`, as it must: each may have reached its
    /// provider.
    async fn send_batch(&self, claimed: Vec<Claimed>) -> Result<(), StoreError> {
        let now = millis(&*self.clock);
        let mut outcomes: Vec<(i64, Outcome)> = Vec::with_capacity(claimed.len());
        let mut ready: Vec<(Claimed, Outgoing)> = Vec::with_capacity(claimed.len());
        for m in claimed {
            match self.prepare(&m) {
                Ok(outgoing) => ready.push((m, outgoing)),
                Err(outcome) => outcomes.push((m.id, outcome)),
            }
        }
        // Consent, again, right before the call: an opt-out that arrived
        // while the message waited in the queue still stops it.
        for channel in [Channel::Sms, Channel::Email] {
            let addresses: Vec<String> = ready
                .iter()
                .filter(|(m, _)| m.channel == channel)
                .map(|(m, _)| m.recipient.clone())
                .collect();
            if addresses.is_empty() {
                continue;
            }
            let blocked = self.optouts.check_many(channel, &addresses).await?;
            ready.retain(|(m, _)| match blocked.get(&m.recipient) {
                Some(reason) if m.channel == channel => {
                    outcomes.push((m.id, consent_outcome(*reason)));
                    false
                }
                _ => true,
            });
        }
        // Who may send each: a message whose every way out is resting
        // waits, without spending an attempt.
        let mut go: Vec<(Claimed, Outgoing, Vec<Option<Duration>>)> = Vec::new();
        for (m, outgoing) in ready {
            let waits: Vec<Option<Duration>> = self
                .route(m.channel)
                .iter()
                .map(|p| match self.breakers.permit(p.name(), now) {
                    Permit::Go => None,
                    Permit::Wait(d) => Some(d),
                })
                .collect();
            if waits.iter().all(Option::is_some) {
                let wait = waits.iter().flatten().min().copied().unwrap_or_default();
                outcomes.push((
                    m.id,
                    Outcome::Postpone {
                        until: now + wait.as_millis() as i64,
                        code: "circuit_open".into(),
                    },
                ));
            } else {
                go.push((m, outgoing, waits));
            }
        }
        let ids: Vec<i64> = go.iter().map(|(m, _, _)| m.id).collect();
        let handed = self.queue.hand_over_many(&ids, &self.owner, now).await?;
        // A message whose lease ran out before the call is the reaper's.
        go.retain(|(m, _, _)| handed.contains(&m.id));
        let mut sends = JoinSet::new();
        for (m, outgoing, waits) in go {
            let me = self.clone();
            sends.spawn(async move {
                let outcome = me.deliver(&m, &outgoing, &waits).await;
                (m.id, outcome)
            });
        }
        let mut failed = None;
        while let Some(done) = sends.join_next().await {
            match done {
                Ok((id, Ok(outcome))) => outcomes.push((id, outcome)),
                Ok((_, Err(e))) => failed = Some(e),
                Err(e) => failed = Some(StoreError::Corrupt(format!("a send task failed: {e}"))),
            }
        }
        self.queue
            .finish_many(&self.owner, &outcomes, millis(&*self.clock))
            .await?;
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The message as its provider takes it, or why it is not sent now.
    fn prepare(&self, m: &Claimed) -> Result<Outgoing, Outcome> {
        let mut p = serde_json::from_str::<Payload>(&m.payload).map_err(|e| Outcome::Failed {
            code: "unreadable_payload".into(),
            reason: e.to_string(),
        })?;
        if let Some(challenge) = p.code.take() {
            let Some(codes) = &self.codes else {
                return Err(Outcome::Failed {
                    code: "no_code_key".into(),
                    reason: "this worker cannot fill in sign-in codes".into(),
                });
            };
            p.body = codes.fill(&challenge, &p.body);
            p.subject = p.subject.map(|s| codes.fill(&challenge, &s));
            p.html = p.html.map(|h| codes.fill(&challenge, &h));
        }
        if let Some(held) = &p.window {
            let now = self.now_utc();
            let opens = held.next_open(now);
            if opens > now {
                return Err(Outcome::Defer {
                    until: opens.timestamp_millis(),
                });
            }
        }
        Ok(match m.channel {
            Channel::Sms => Outgoing::Sms {
                id: m.id,
                to: m.recipient.clone(),
                body: p.body,
                bulk: m.campaign_id.is_some(),
            },
            Channel::Email => Outgoing::Email {
                id: m.id,
                to: m.recipient.clone(),
                subject: p.subject.unwrap_or_default(),
                text: p.body,
                html: p.html,
                headers: p.headers,
            },
        })
    }

    /// The channel's provider, then (SMS) the failover provider.
    fn route(&self, channel: Channel) -> Vec<&Arc<dyn Provider>> {
        let mut route = vec![match channel {
            Channel::Sms => &self.sms,
            Channel::Email => &self.email,
        }];
        if channel == Channel::Sms
            && let Some(f) = &self.sms_failover
        {
            route.push(f);
        }
        route
    }

    /// Sends one handed-over message along its route (`waits`: which
    /// providers are resting) and says how it ended.
    async fn deliver(
        &self,
        m: &Claimed,
        outgoing: &Outgoing,
        waits: &[Option<Duration>],
    ) -> Result<Outcome, StoreError> {
        let route = self.route(m.channel);
        let mut outcome = None;
        let mut rejected: Option<Failure> = None;
        for (i, (provider, wait)) in route.iter().zip(waits).enumerate() {
            if let Some(wait) = wait {
                rejected.get_or_insert(Failure::Retry {
                    code: "circuit_open".into(),
                    after: Some(*wait),
                });
                continue;
            }
            if i > 0 {
                // Failing over: our own list decides, not the failed
                // provider's (it may have known an opt-out the other
                // provider does not).
                if let Some(reason) = self.optouts.check(m.channel, &m.recipient).await? {
                    outcome = Some(consent_outcome(reason));
                    break;
                }
                tracing::info!(
                    message = m.id,
                    from = route[0].name(),
                    to = provider.name(),
                    "failing over"
                );
            }
            let answer =
                tokio::time::timeout(self.settings.send_timeout, provider.send(outgoing)).await;
            let at = millis(&*self.clock);
            match answer {
                Err(_) => {
                    provider_error(provider.name(), "timeout");
                    self.breakers.record(provider.name(), false, at);
                    // It may have it: never fail over after no answer.
                    outcome = Some(Outcome::Unknown {
                        reason: format!(
                            "{} did not answer within {:?}",
                            provider.name(),
                            self.settings.send_timeout
                        ),
                    });
                    break;
                }
                Ok(Ok(accepted)) => {
                    metrics::counter!("turnout_outreach_sent_total", "provider" => provider.name().to_string())
                        .increment(1);
                    self.breakers.record(provider.name(), true, at);
                    outcome = Some(Outcome::Sent {
                        provider: provider.name().to_string(),
                        provider_message_id: accepted.provider_message_id,
                    });
                    break;
                }
                Ok(Err(failure)) => {
                    provider_error(provider.name(), failure.code());
                    let healthy =
                        !matches!(failure, Failure::Retry { .. } | Failure::Unknown { .. });
                    self.breakers.record(provider.name(), healthy, at);
                    match failure {
                        // A definite "not now": the next provider may.
                        Failure::Retry { .. } => rejected = Some(failure),
                        Failure::OptedOut { .. } => {
                            // The carrier knows better than our list: remember it.
                            self.optouts
                                .add(m.channel, &m.recipient, Reason::Carrier, at)
                                .await?;
                            outcome = Some(self.outcome_of(failure, m.attempts));
                            break;
                        }
                        other => {
                            outcome = Some(self.outcome_of(other, m.attempts));
                            break;
                        }
                    }
                }
            }
        }
        Ok(match (outcome, rejected) {
            (Some(o), _) => o,
            (None, Some(failure)) => self.outcome_of(failure, m.attempts),
            (None, None) => Outcome::Postpone {
                until: millis(&*self.clock),
                code: "no_provider".into(),
            },
        })
    }

    fn now_utc(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(millis(&*self.clock)).unwrap_or_default()
    }

    fn outcome_of(&self, failure: Failure, attempts: i64) -> Outcome {
        match failure {
            Failure::OptedOut { code } => Outcome::OptedOut { code },
            Failure::Permanent { code, reason } => Outcome::Failed { code, reason },
            Failure::Unknown { reason } => Outcome::Unknown { reason },
            Failure::Retry { code, after } => {
                let jitter = rand::rng().random::<f64>();
                match self.settings.backoff.delay(attempts, after, jitter) {
                    Some(wait) => Outcome::Retry {
                        at: millis(&*self.clock) + wait.as_millis() as i64,
                        code,
                    },
                    None => Outcome::Failed {
                        reason: format!("gave up after {attempts} attempts"),
                        code,
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_honours_retry_after_and_gives_up() {
        let b = Backoff {
            base: Duration::from_secs(2),
            max: Duration::from_secs(60),
            max_attempts: 5,
        };
        // Equal jitter: between half and all of 2, 4, 8 s.
        assert_eq!(b.delay(1, None, 0.0), Some(Duration::from_secs(1)));
        assert_eq!(b.delay(1, None, 0.999_999).map(|d| d.as_secs()), Some(1));
        assert_eq!(b.delay(2, None, 0.0), Some(Duration::from_secs(2)));
        assert_eq!(b.delay(3, None, 0.5), Some(Duration::from_secs(6)));
        // Capped at max.
        assert_eq!(
            Backoff {
                max_attempts: 50,
                ..b
            }
            .delay(30, None, 0.0),
            Some(Duration::from_secs(30))
        );
        // Retry-After is a floor, never shortened.
        assert_eq!(
            b.delay(1, Some(Duration::from_secs(30)), 0.0),
            Some(Duration::from_secs(30))
        );
        assert_eq!(b.delay(5, None, 0.0), None);
    }
}
