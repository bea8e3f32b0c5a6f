//! A latency histogram that can be added to another: log-linear buckets
//! (8 per power of two of microseconds, so any value is within 12.5% of
//! its bucket's bounds). An hour's p99 is computed from the sum of its
//! minutes' buckets, never by averaging the minutes' percentiles.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    /// Bucket index → count; only touched buckets are kept.
    buckets: BTreeMap<u16, u64>,
    count: u64,
    max_us: u64,
}

const SUB: u64 = 8;

fn index(us: u64) -> u16 {
    if us < SUB {
        return us as u16;
    }
    let exp = 63 - u64::from(us.leading_zeros()); // >= 3
    let sub = (us >> (exp - 3)) & (SUB - 1);
    (SUB + (exp - 3) * SUB + sub) as u16
}

/// The smallest value that lands in bucket `i`.
fn lower_bound(i: u16) -> u64 {
    let i = u64::from(i);
    if i < SUB {
        return i;
    }
    let exp = (i - SUB) / SUB + 3;
    let sub = (i - SUB) % SUB;
    (SUB + sub) << (exp - 3)
}

impl Histogram {
    pub fn record(&mut self, us: u64) {
        *self.buckets.entry(index(us)).or_default() += 1;
        self.count += 1;
        self.max_us = self.max_us.max(us);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (i, n) in &other.buckets {
            *self.buckets.entry(*i).or_default() += n;
        }
        self.count += other.count;
        self.max_us = self.max_us.max(other.max_us);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max_us(&self) -> u64 {
        self.max_us
    }

    /// The value at quantile `q` (0..=1), in microseconds: the upper bound
    /// of the bucket holding it, capped at the largest value seen.
    pub fn quantile_us(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return (lower_bound(i + 1).saturating_sub(1)).min(self.max_us);
            }
        }
        self.max_us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        for us in [0u64, 1, 7, 8, 9, 15, 16, 100, 1_000, 123_456, 10_000_000] {
            let i = index(us);
            assert!(
                lower_bound(i) <= us && us < lower_bound(i + 1),
                "{us} in bucket {i}"
            );
            let width = lower_bound(i + 1) - lower_bound(i);
            assert!(
                width as f64 <= (us as f64 * 0.125).max(1.0),
                "{us}: width {width}"
            );
        }
    }

    #[test]
    fn merged_quantiles_equal_the_quantiles_of_all_values() {
        let mut whole = Histogram::default();
        let mut parts = vec![Histogram::default(); 4];
        for v in 1..=10_000u64 {
            let us = v * 37 % 50_000 + 100;
            whole.record(us);
            parts[(v % 4) as usize].record(us);
        }
        let mut merged = Histogram::default();
        for p in &parts {
            merged.merge(p);
        }
        assert_eq!(merged, whole);
        let p99 = merged.quantile_us(0.99);
        // The exact p99 of these values is about 49_600 µs.
        assert!((43_000..=50_100).contains(&p99), "{p99}");
    }
}
