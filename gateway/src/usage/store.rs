//! Usage rows in the store.

use std::sync::Arc;

use sqlx::Row;
use turnout_core::{Store, StoreError};

use super::recorder::{MinuteStats, Row as UsageRow};

pub async fn write(store: &Store, instance: &str, rows: &[UsageRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut tx = store.pool().begin().await?;
    for (minute, key, route, stats) in rows {
        sqlx::query(
            "INSERT INTO usage_minutes (minute, key_id, route, instance, stats) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (minute, key_id, route, instance) DO UPDATE SET stats = excluded.stats",
        )
        .bind(minute)
        .bind(key.as_ref())
        .bind(route.as_ref())
        .bind(instance)
        .bind(serde_json::to_string(stats)?)
        .execute(&mut *tx)
        .await?;
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
