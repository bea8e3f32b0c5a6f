//! The in-memory side of usage: aggregates per (minute, key, route) that a
//! flusher writes whole to the store. Each instance writes only its own
//! rows, so a flush replaces a row rather than adding to it, and a retried
//! flush can never double-count.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::histogram::Histogram;

const SHARDS: usize = 16;

/// Why the gateway itself refused a request (or that it did not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Served,
    Rejected(&'static str),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MinuteStats {
    pub calls: u64,
    /// Rejection reason (the problem `code`) → count.
    pub rejected: std::collections::BTreeMap<String, u64>,
    /// Index 0 = 1xx … 4 = 5xx.
    pub status: [u64; 5],
    pub latency: Histogram,
}

impl MinuteStats {
    pub fn merge(&mut self, other: &MinuteStats) {
        self.calls += other.calls;
        for (k, v) in &other.rejected {
            *self.rejected.entry(k.clone()).or_default() += v;
        }
        for (a, b) in self.status.iter_mut().zip(other.status) {
            *a += b;
        }
        self.latency.merge(&other.latency);
    }
}

/// One row to write: `(minute, key id, route, stats)`.
pub type Row = (i64, Arc<str>, Arc<str>, MinuteStats);

#[derive(Default)]
struct Cell {
    stats: MinuteStats,
    dirty: bool,
}

type Shard = HashMap<(i64, Arc<str>, Arc<str>), Cell, foldhash::fast::FixedState>;

pub struct UsageRecorder {
    pub instance: String,
    shards: Box<[Mutex<Shard>]>,
    /// Subjects are our own key ids, never client-chosen strings, so a fast
    /// hash without flooding resistance is safe here.
    hasher: foldhash::fast::FixedState,
}

impl UsageRecorder {
    pub fn new(instance: String) -> Self {
        Self {
            instance,
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
            // A seed of its own: the shard's maps hash with the default
            // one, and entries of a shard must not share low hash bits.
            hasher: foldhash::fast::FixedState::with_seed(0x9e37_79b9_7f4a_7c15),
        }
    }

    fn shard(
        &self,
        minute: i64,
        key: &Arc<str>,
        route: &Arc<str>,
    ) -> std::sync::MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one((minute, key, route)) as usize) % SHARDS;
        self.shards[i].lock().expect("usage shard lock")
    }

    pub fn record(
        &self,
        minute: i64,
        key: &Arc<str>,
        route: &Arc<str>,
        status: u16,
        latency_us: u64,
        outcome: Outcome,
    ) {
        let mut shard = self.shard(minute, key, route);
        let cell = shard
            .entry((minute, Arc::clone(key), Arc::clone(route)))
            .or_default();
        let s = &mut cell.stats;
        s.calls += 1;
        if let Outcome::Rejected(reason) = outcome {
            match s.rejected.get_mut(reason) {
                Some(n) => *n += 1,
                None => {
                    s.rejected.insert(reason.to_string(), 1);
                }
            }
        }
        let class = usize::from((status / 100).clamp(1, 5) - 1);
        s.status[class] += 1;
        s.latency.record(latency_us);
        cell.dirty = true;
    }

    /// The rows changed since the last call. Rows of minutes before
    /// `current_minute` are finished: they are handed out one last time and
    /// dropped from memory. Rows of the current minute are handed out only
    /// with `include_current` (a report asked for them, or shutdown):
    /// rewriting every active key's row every few seconds cost more CPU than
    /// serving the requests it counted.
    pub fn take_dirty(&self, current_minute: i64, include_current: bool) -> Vec<Row> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let mut shard = shard.lock().expect("usage shard lock");
            shard.retain(|(minute, key, route), cell| {
                let finished = *minute < current_minute;
                if cell.dirty && (finished || include_current) {
                    out.push((
                        *minute,
                        Arc::clone(key),
                        Arc::clone(route),
                        cell.stats.clone(),
                    ));
                    cell.dirty = false;
                }
                !finished
            });
        }
        out
    }

    /// Puts back rows whose write failed so the next flush carries them.
    pub fn restore(&self, rows: Vec<Row>) {
        for (minute, key, route, stats) in rows {
            let mut shard = self.shard(minute, &key, &route);
            let cell = shard.entry((minute, key, route)).or_default();
            // The row in memory (if any) already holds everything in
            // `stats` plus what came after; only a dropped row needs it back.
            if cell.stats.calls < stats.calls {
                cell.stats = stats;
            }
            cell.dirty = true;
        }
    }
}
