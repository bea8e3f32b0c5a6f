//! Usage rows in the store.

use std::sync::Arc;

use sqlx::{AssertSqlSafe, Row};
use turnout_core::store::{MAX_BATCH_PARAMS, values_placeholders};
use turnout_core::{Store, StoreError};

use super::recorder::{MinuteStats, Row as UsageRow};

pub async fn write(store: &Store, instance: &str, rows: &[UsageRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    const COLUMNS: usize = 5;
    let mut tx = store.pool().begin().await?;
    for batch in rows.chunks(MAX_BATCH_PARAMS / COLUMNS) {
        // Generated placeholders only; every value is bound.
        let sql = format!(
            "INSERT INTO usage_minutes (minute, key_id, route, instance, stats) VALUES {}
             ON CONFLICT (minute, key_id, route, instance) DO UPDATE SET stats = excluded.stats",
            values_placeholders(batch.len(), COLUMNS)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (minute, key, route, stats) in batch {
            query = query
                .bind(*minute)
                .bind(key.to_string())
                .bind(route.to_string())
                .bind(instance.to_string())
                .bind(serde_json::to_string(stats)?);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Rows of minutes in `[from, to)`, optionally for one key and one route,
/// one per instance (the caller merges).
pub async fn read(
    store: &Store,
    from_minute: i64,
    to_minute: i64,
    key: Option<&str>,
    route: Option<&str>,
) -> Result<Vec<UsageRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT minute, key_id, route, stats FROM usage_minutes
         WHERE minute >= $1 AND minute < $2 AND ($3 = '' OR key_id = $3) AND ($4 = '' OR route = $4)
         ORDER BY minute",
    )
    .bind(from_minute)
    .bind(to_minute)
    .bind(key.unwrap_or(""))
    .bind(route.unwrap_or(""))
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let stats: String = r.try_get(3)?;
            let key: String = r.try_get(1)?;
            let route: String = r.try_get(2)?;
            Ok((
                r.try_get(0)?,
                Arc::from(key),
                Arc::from(route),
                serde_json::from_str::<MinuteStats>(&stats)?,
            ))
        })
        .collect()
}
