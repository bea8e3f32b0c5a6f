//! A provider's messages-per-second limit within one process, shared by
//! all its workers: GCRA (a theoretical arrival time advanced by one
//! interval per message), taken in batches so that a worker claims only
//! as many messages as it may send. Across processes the limit needs the
//! store or Redis (the outreach issue).

use std::sync::Mutex;

#[derive(Debug)]
pub struct Throttle {
    /// Nanoseconds per message.
    interval: i64,
    /// Messages allowed at once.
    burst: i64,
    /// Theoretical arrival time of the next message, unix nanoseconds.
    tat: Mutex<i64>,
}

impl Throttle {
    pub fn per_second(rate: f64, burst: u32) -> Self {
        Throttle {
            interval: (1e9 / rate.max(1e-9)).round().max(1.0) as i64,
            burst: i64::from(burst.max(1)),
            tat: Mutex::new(i64::MIN),
        }
    }

    /// Takes up to `want` permits at `now` (unix nanoseconds) and returns
    /// how many it got.
    pub fn take(&self, now: i64, want: usize) -> usize {
        let mut tat = self.tat.lock().expect("throttle lock");
        let start = (*tat).max(now);
        // A message may go while its arrival time is within `burst`
        // intervals of now.
        let room = (now + self.burst * self.interval - start) / self.interval;
        let granted = room.clamp(0, want as i64);
        *tat = start + granted * self.interval;
        granted as usize
    }

    /// Returns permits taken but not used (fewer messages were due).
    pub fn give_back(&self, n: usize) {
        let mut tat = self.tat.lock().expect("throttle lock");
        *tat -= n as i64 * self.interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn a_burst_then_the_rate() {
        let t = Throttle::per_second(10.0, 5);
        let t0 = 1_795_000_000 * S;
        assert_eq!(t.take(t0, 64), 5, "the burst");
        assert_eq!(t.take(t0, 64), 0);
        assert_eq!(t.take(t0 + S / 10, 64), 1, "one per 100 ms");
        assert_eq!(t.take(t0 + S / 2, 64), 4);
        // Over any long span: the rate plus the burst, never more.
        let mut sent = 9;
        for ms in (600..=10_500).step_by(37) {
            sent += t.take(t0 + ms * 1_000_000, 64);
        }
        assert!(sent <= 5 + 105, "{sent}");
        assert!(sent >= 100, "{sent}");
    }

    #[test]
    fn unused_permits_come_back() {
        let t = Throttle::per_second(10.0, 5);
        let t0 = 1_795_000_000 * S;
        assert_eq!(t.take(t0, 5), 5);
        t.give_back(3);
        assert_eq!(t.take(t0, 64), 3);
    }
}
