//! Quota counts in the store: deltas added every second, current periods
//! read back at start. A crash loses at most the counts of one flush
//! interval (`ratelimit.quota_flush_ms`, 1 s by default).

use sqlx::{AssertSqlSafe, Row};
use turnout_core::store::{MAX_BATCH_PARAMS, values_placeholders};
use turnout_core::{Store, StoreError};

use super::Window;
use super::memory::QuotaCount;

/// Adds each delta to its stored count, all in one transaction.
pub async fn add(store: &Store, deltas: &[QuotaCount], now_secs: i64) -> Result<(), StoreError> {
    if deltas.is_empty() {
        return Ok(());
    }
    const COLUMNS: usize = 5;
    // One row per (subject, window, period) in a statement: PostgreSQL
    // refuses an upsert that touches the same row twice.
    let mut merged: std::collections::BTreeMap<(&str, &str, &str), u64> = Default::default();
    for d in deltas {
        *merged
            .entry((&d.subject, d.window.as_str(), &d.period))
            .or_default() += d.count;
    }
    let merged: Vec<_> = merged.into_iter().collect();
    let mut tx = store.pool().begin().await?;
    for batch in merged.chunks(MAX_BATCH_PARAMS / COLUMNS) {
        // Generated placeholders only; every value is bound.
        let sql = format!(
            "INSERT INTO quota_counts (key_id, period, period_start, count, updated_at) VALUES {}
             ON CONFLICT (key_id, period, period_start)
             DO UPDATE SET count = quota_counts.count + excluded.count, updated_at = excluded.updated_at",
            values_placeholders(batch.len(), COLUMNS)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for ((subject, window, period), count) in batch {
            query = query
                .bind(subject.to_string())
                .bind(window.to_string())
                .bind(period.to_string())
                .bind(*count as i64)
                .bind(now_secs);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Counts touched in the last `max_age_secs`: enough to cover every period
/// still current (a month at most), whatever each plan's timezone.
pub async fn load_recent(
    store: &Store,
    now_secs: i64,
    max_age_secs: i64,
) -> Result<Vec<QuotaCount>, StoreError> {
    let rows = sqlx::query(
        "SELECT key_id, period, period_start, count FROM quota_counts WHERE updated_at >= $1",
    )
    .bind(now_secs - max_age_secs)
    .fetch_all(store.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let window: String = row.try_get(1)?;
        let Some(window) = Window::parse(&window) else {
            return Err(StoreError::Corrupt(format!("quota period {window:?}")));
        };
        let count: i64 = row.try_get(3)?;
        out.push(QuotaCount {
            subject: row.try_get(0)?,
            window,
            period: row.try_get(2)?,
            count: count.max(0) as u64,
        });
    }
    // Several rows per subject and window (older periods): keep the newest
    // period, which is the only one that can still be current.
    out.sort_by(|a, b| {
        (&a.subject, a.window.as_str(), &b.period).cmp(&(&b.subject, b.window.as_str(), &a.period))
    });
    out.dedup_by(|later, first| later.subject == first.subject && later.window == first.window);
    Ok(out)
}

/// Drops counts of periods long over.
pub async fn prune(store: &Store, now_secs: i64, keep_secs: i64) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM quota_counts WHERE updated_at < $1")
        .bind(now_secs - keep_secs)
        .execute(store.pool())
        .await?;
    Ok(done.rows_affected())
}
