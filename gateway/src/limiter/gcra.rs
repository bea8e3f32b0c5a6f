//! The generic cell rate algorithm, as arithmetic on one number per key:
//! the theoretical arrival time (TAT) of the next request. A request at
//! `now` conforms when `max(TAT, now) + T - burst·T <= now`, where T is the
//! emission interval (1/rate). That admits `burst` requests at once and one
//! every T after, so over any span `elapsed` at most
//! `burst + rate·elapsed` requests conform — the bound the tests check.

use turnout_core::clock::Nanos;

use super::{RateState, ceil_secs};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// Emission interval T in nanoseconds.
    pub interval: i64,
    /// Burst tolerance: `burst · T`.
    pub tolerance: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Conforms; store `new_tat`.
    Allow { new_tat: Nanos, state: RateState },
    /// Does not conform; the TAT stays as it was.
    Deny { retry_after: i64, state: RateState },
}

impl Gcra {
    pub fn new(rate_per_second: f64, burst: u32) -> Self {
        let interval = ((1e9 / rate_per_second).round() as i64).max(1);
        Self {
            interval,
            tolerance: interval.saturating_mul(i64::from(burst.max(1))),
        }
    }

    /// `tat` is the stored TAT, `None` for a key never seen.
    pub fn check(&self, tat: Option<Nanos>, now: Nanos) -> Outcome {
        let tat = tat.map_or(now, |t| t.max(now));
        let new_tat = tat + self.interval;
        let allow_at = new_tat - self.tolerance;
        if now < allow_at {
            Outcome::Deny {
                retry_after: allow_at - now,
                state: RateState {
                    remaining: 0,
                    reset_secs: ceil_secs(tat - now),
                },
            }
        } else {
            let spare = (now + self.tolerance - new_tat) / self.interval;
            Outcome::Allow {
                new_tat,
                state: RateState {
                    remaining: spare.max(0) as u64,
                    reset_secs: ceil_secs(new_tat - now),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn run(g: &Gcra, tat: &mut Option<Nanos>, now: Nanos) -> bool {
        match g.check(*tat, now) {
            Outcome::Allow { new_tat, .. } => {
                *tat = Some(new_tat);
                true
            }
            Outcome::Deny { .. } => false,
        }
    }

    #[test]
    fn admits_the_burst_at_once_then_the_rate() {
        let g = Gcra::new(10.0, 5);
        let mut tat = None;
        let t0 = 1_000 * S;
        let admitted = (0..20).filter(|_| run(&g, &mut tat, t0)).count();
        assert_eq!(admitted, 5);
        // One interval later exactly one more conforms.
        assert!(run(&g, &mut tat, t0 + S / 10));
        assert!(!run(&g, &mut tat, t0 + S / 10));
    }

    #[test]
    fn never_admits_more_than_burst_plus_rate_times_elapsed() {
        let g = Gcra::new(7.0, 3);
        let mut tat = None;
        let t0 = 5 * S;
        let mut admitted = 0u64;
        // A request every millisecond for 10 s.
        for ms in 0..10_000 {
            if run(&g, &mut tat, t0 + ms * 1_000_000) {
                admitted += 1;
            }
        }
        let bound = 3.0 + 7.0 * 10.0;
        assert!(admitted as f64 <= bound, "{admitted} > {bound}");
        assert!(
            admitted as f64 >= bound - 2.0,
            "{admitted} far below {bound}"
        );
    }

    #[test]
    fn remaining_and_retry_after_are_reported() {
        let g = Gcra::new(1.0, 2);
        let t0 = 100 * S;
        match g.check(None, t0) {
            Outcome::Allow { state, .. } => assert_eq!(state.remaining, 1),
            other => panic!("{other:?}"),
        }
        let tat = Some(t0 + 2 * S);
        match g.check(tat, t0) {
            Outcome::Deny { retry_after, state } => {
                assert_eq!(retry_after, S);
                assert_eq!(state.remaining, 0);
                assert_eq!(state.reset_secs, 2);
            }
            other => panic!("{other:?}"),
        }
    }
}
