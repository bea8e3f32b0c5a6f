//! Time, injectable. Every deadline in Turnout (rate limits, quota periods,
//! ejections, expiries) reads the time from a [`Clock`], so tests move time
//! forward by hand instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use chrono::{DateTime, Utc};

/// Nanoseconds since the Unix epoch. `i64` lasts until the year 2262.
pub type Nanos = i64;

pub const NANOS_PER_SEC: i64 = 1_000_000_000;

pub trait Clock: Send + Sync + 'static {
    /// Wall-clock time in nanoseconds since the Unix epoch.
    fn now_nanos(&self) -> Nanos;

    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.now_nanos())
    }
}

/// The production clock: wall time read once at start, then advanced by the
/// monotonic clock, so a rate limiter never sees time go backwards when NTP
/// steps the wall clock.
#[derive(Debug, Clone)]
pub struct SystemClock {
    wall_at_start: Nanos,
    start: Instant,
}

impl SystemClock {
    pub fn new() -> Self {
        Self {
            wall_at_start: Utc::now().timestamp_nanos_opt().unwrap_or(0),
            start: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now_nanos(&self) -> Nanos {
        self.wall_at_start + self.start.elapsed().as_nanos() as i64
    }
}

/// A clock that only moves when told to; shared between a test and the app.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<AtomicI64>,
}

impl ManualClock {
    pub fn at(time: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(AtomicI64::new(time.timestamp_nanos_opt().unwrap_or(0))),
        }
    }

    pub fn set(&self, time: DateTime<Utc>) {
        self.now
            .store(time.timestamp_nanos_opt().unwrap_or(0), Ordering::SeqCst);
    }

    pub fn advance(&self, by: std::time::Duration) {
        self.now.fetch_add(by.as_nanos() as i64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_nanos(&self) -> Nanos {
        self.now.load(Ordering::SeqCst)
    }
}
