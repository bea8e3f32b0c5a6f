//! Usage rolled up for the admin API: minutes merged into the asked
//! granularity, per key and route.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::recorder::{MinuteStats, Row};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Minute,
    Hour,
    Day,
}

impl Granularity {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "minute" => Some(Self::Minute),
            "hour" => Some(Self::Hour),
            "day" => Some(Self::Day),
            _ => None,
        }
    }

    fn minutes(self) -> i64 {
        match self {
            Self::Minute => 1,
            Self::Hour => 60,
            Self::Day => 1440,
        }
    }
}

/// Buckets (UTC-aligned) ordered by start, then key, then route.
pub fn roll_up(
    rows: &[Row],
    granularity: Granularity,
) -> Vec<(i64, Arc<str>, Arc<str>, MinuteStats)> {
    let mut buckets: BTreeMap<(i64, Arc<str>, Arc<str>), MinuteStats> = BTreeMap::new();
    for (minute, key, route, stats) in rows {
        let start = minute - minute.rem_euclid(granularity.minutes());
        buckets
            .entry((start, Arc::clone(key), Arc::clone(route)))
            .or_default()
            .merge(stats);
    }
    buckets
        .into_iter()
        .map(|((m, k, r), s)| (m, k, r, s))
        .collect()
}

pub fn to_json(start_minute: i64, key: &str, route: &str, s: &MinuteStats) -> Value {
    let ms = |us: u64| us as f64 / 1000.0;
    let start = chrono::DateTime::from_timestamp(start_minute * 60, 0).map(|t| t.to_rfc3339());
    json!({
        "start": start,
        "key": key,
        "route": route,
        "calls": s.calls,
        "rejected": s.rejected,
        "status": {"1xx": s.status[0], "2xx": s.status[1], "3xx": s.status[2], "4xx": s.status[3], "5xx": s.status[4]},
        "latency_ms": {
            "p50": ms(s.latency.quantile_us(0.50)),
            "p90": ms(s.latency.quantile_us(0.90)),
            "p99": ms(s.latency.quantile_us(0.99)),
            "max": ms(s.latency.max_us()),
        },
    })
}
