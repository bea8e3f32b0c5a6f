//! A circuit breaker per provider, within one process: after `failures`
//! answers in a row that were not answers (5xx, throttling, refused
//! connections, timeouts), the provider is left alone for `open_for`, and
//! then one message tries it again. While it is open, messages are not
//! sent to it: they wait in the queue (or fail over, where configured)
//! instead of piling up timeouts against a provider that is down.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: i64,
    },
    /// One trial call is out; others wait.
    HalfOpen,
}

#[derive(Debug)]
pub struct Breakers {
    failures: u32,
    open_for: Duration,
    states: Mutex<HashMap<&'static str, State>>,
}

/// Whether a call may go now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    Go,
    /// Open: try again after this long.
    Wait(Duration),
}

impl Breakers {
    pub fn new(failures: u32, open_for: Duration) -> Self {
        Breakers {
            failures: failures.max(1),
            open_for,
            states: Mutex::new(HashMap::new()),
        }
    }

    /// May a call to `provider` go at `now` (unix ms)?
    pub fn permit(&self, provider: &'static str, now: i64) -> Permit {
        let mut states = self.states.lock().expect("breaker lock");
        let state = states
            .entry(provider)
            .or_insert(State::Closed { failures: 0 });
        match *state {
            State::Closed { .. } => Permit::Go,
            State::Open { until } if now >= until => {
                *state = State::HalfOpen;
                Permit::Go
            }
            State::Open { until } => Permit::Wait(Duration::from_millis((until - now) as u64)),
            State::HalfOpen => Permit::Wait(Duration::from_secs(1)),
        }
    }

    /// Records how a permitted call went: `healthy` when the provider
    /// answered (accepted, or refused the message itself).
    pub fn record(&self, provider: &'static str, healthy: bool, now: i64) {
        let mut states = self.states.lock().expect("breaker lock");
        let state = states
            .entry(provider)
            .or_insert(State::Closed { failures: 0 });
        *state = match (*state, healthy) {
            (_, true) => State::Closed { failures: 0 },
            (State::Closed { failures }, false) if failures + 1 < self.failures => State::Closed {
                failures: failures + 1,
            },
            (_, false) => {
                tracing::warn!(provider, "circuit open: the provider keeps failing");
                State::Open {
                    until: now + self.open_for.as_millis() as i64,
                }
            }
        };
    }

    pub fn is_open(&self, provider: &'static str, now: i64) -> bool {
        let states = self.states.lock().expect("breaker lock");
        matches!(states.get(provider), Some(State::Open { until }) if now < *until)
    }
}

impl Default for Breakers {
    fn default() -> Self {
        Breakers::new(5, Duration::from_secs(30))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_failures_in_a_row_then_lets_one_trial_through() {
        let b = Breakers::new(3, Duration::from_secs(30));
        let t = 1_000_000;
        for _ in 0..2 {
            assert_eq!(b.permit("twilio", t), Permit::Go);
            b.record("twilio", false, t);
        }
        // A good answer resets the count.
        b.record("twilio", true, t);
        for _ in 0..3 {
            assert_eq!(b.permit("twilio", t), Permit::Go);
            b.record("twilio", false, t);
        }
        assert_eq!(
            b.permit("twilio", t + 1_000),
            Permit::Wait(Duration::from_secs(29))
        );
        assert_eq!(b.permit("sns", t), Permit::Go, "per provider");
        // After 30 s: one trial; the others wait for its answer.
        assert_eq!(b.permit("twilio", t + 30_000), Permit::Go);
        assert!(matches!(b.permit("twilio", t + 30_001), Permit::Wait(_)));
        b.record("twilio", false, t + 30_100);
        assert!(
            b.is_open("twilio", t + 30_200),
            "a failed trial opens it again"
        );
        assert_eq!(b.permit("twilio", t + 60_100), Permit::Go);
        b.record("twilio", true, t + 60_200);
        assert_eq!(b.permit("twilio", t + 60_300), Permit::Go);
    }
}
