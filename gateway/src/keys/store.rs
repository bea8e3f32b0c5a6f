//! Plans, keys, settings and the audit log in the store.
//!
//! Every write takes the next gateway revision inside its own transaction
//! and writes its audit entry in that same transaction: a change is in the
//! audit log if and only if it happened. Because the revision row is locked
//! until commit, revisions become visible in order, which is what lets
//! [`changes_since`] follow them with a plain `rev > $1`.

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use turnout_core::{Store, StoreError};

use super::model::{ApiKey, KeyStatus, KeyType, Overrides, Plan, PlanSpec};

/// Who changed what, for the audit log.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Everything that changed after a revision.
#[derive(Debug, Default)]
pub struct Changes {
    pub rev: i64,
    pub plans: Vec<Plan>,
    pub keys: Vec<ApiKey>,
    pub settings: Vec<(String, String)>,
}

async fn next_rev(tx: &mut Transaction<'_, Any>) -> Result<i64, StoreError> {
    let row = sqlx::query("UPDATE gateway_revision SET rev = rev + 1 WHERE id = 1 RETURNING rev")
        .fetch_one(&mut **tx)
        .await?;
    Ok(row.try_get(0)?)
}

/// Records one change made outside plans and keys (a person's role, say).
pub async fn record_audit(store: &Store, entry: &AuditEntry, at: i64) -> Result<(), StoreError> {
    let mut tx = store.pool().begin().await?;
    audit(&mut tx, entry, at).await?;
    tx.commit().await?;
    Ok(())
}

async fn audit(
    tx: &mut Transaction<'_, Any>,
    entry: &AuditEntry,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, target, before_json, after_json)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(at)
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(&entry.target)
    .bind(entry.before.as_ref().map(Value::to_string))
    .bind(entry.after.as_ref().map(Value::to_string))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn plan_from_row(row: &AnyRow) -> Result<Plan, StoreError> {
    let spec: String = row.try_get("spec")?;
    Ok(Plan {
        id: row.try_get("id")?,
        spec: serde_json::from_str::<PlanSpec>(&spec)?,
        deleted: row.try_get::<i64, _>("deleted")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn key_from_row(row: &AnyRow) -> Result<ApiKey, StoreError> {
    let key_type: String = row.try_get("key_type")?;
    let status: String = row.try_get("status")?;
    let hash: Vec<u8> = row.try_get("secret_hash")?;
    let scopes: Option<String> = row.try_get("scopes")?;
    let overrides: String = row.try_get("overrides")?;
    Ok(ApiKey {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        plan_id: row.try_get("plan_id")?,
        key_type: KeyType::parse(&key_type)
            .ok_or_else(|| StoreError::Corrupt(format!("key type {key_type:?}")))?,
        status: KeyStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("key status {status:?}")))?,
        secret_hash: hash
            .try_into()
            .map_err(|_| StoreError::Corrupt("secret hash is not 32 bytes".into()))?,
        scopes: scopes.map(|s| serde_json::from_str(&s)).transpose()?,
        overrides: serde_json::from_str::<Overrides>(&overrides)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

macro_rules! plan_columns {
    () => {
        "id, name, spec, deleted, created_at, updated_at"
    };
}
macro_rules! key_columns {
    () => {
        "id, name, plan_id, key_type, status, secret_hash, scopes, overrides, created_at, updated_at"
    };
}

pub async fn insert_plan(store: &Store, plan: &Plan, entry: &AuditEntry) -> Result<(), StoreError> {
    let mut tx = store.pool().begin().await?;
    let rev = next_rev(&mut tx).await?;
    sqlx::query(
        "INSERT INTO plans (id, name, spec, deleted, rev, created_at, updated_at)
         VALUES ($1, $2, $3, 0, $4, $5, $6)",
    )
    .bind(&plan.id)
    .bind(&plan.spec.name)
    .bind(serde_json::to_string(&plan.spec)?)
    .bind(rev)
    .bind(plan.created_at)
    .bind(plan.updated_at)
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        StoreError::conflict_on_unique(e, &format!("a plan named {:?} exists", plan.spec.name))
    })?;
    audit(&mut tx, entry, plan.updated_at).await?;
    tx.commit().await?;
    Ok(())
}

/// Writes a plan's new state (including its deletion).
pub async fn update_plan(store: &Store, plan: &Plan, entry: &AuditEntry) -> Result<(), StoreError> {
    let mut tx = store.pool().begin().await?;
    let rev = next_rev(&mut tx).await?;
    sqlx::query("UPDATE plans SET name = $2, spec = $3, deleted = $4, rev = $5, updated_at = $6 WHERE id = $1")
        .bind(&plan.id)
        .bind(&plan.spec.name)
        .bind(serde_json::to_string(&plan.spec)?)
        .bind(i64::from(plan.deleted))
        .bind(rev)
        .bind(plan.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, &format!("a plan named {:?} exists", plan.spec.name)))?;
    audit(&mut tx, entry, plan.updated_at).await?;
    tx.commit().await?;
    Ok(())
}

/// A live plan by id or by name.
pub async fn find_plan(store: &Store, id_or_name: &str) -> Result<Option<Plan>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        plan_columns!(),
        " FROM plans WHERE deleted = 0 AND (id = $1 OR name = $1)"
    ))
    .bind(id_or_name)
    .fetch_optional(store.pool())
    .await?;
    row.as_ref().map(plan_from_row).transpose()
}

pub async fn list_plans(
    store: &Store,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Plan>, i64), StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        plan_columns!(),
        " FROM plans WHERE deleted = 0 ORDER BY id LIMIT $1 OFFSET $2"
    ))
    .bind(limit)
    .bind(offset)
    .fetch_all(store.pool())
    .await?;
    let count: i64 = sqlx::query("SELECT COUNT(*) FROM plans WHERE deleted = 0")
        .fetch_one(store.pool())
        .await?
        .try_get(0)?;
    Ok((
        rows.iter().map(plan_from_row).collect::<Result<_, _>>()?,
        count,
    ))
}

pub async fn count_keys_on_plan(store: &Store, plan_id: &str) -> Result<i64, StoreError> {
    Ok(
        sqlx::query("SELECT COUNT(*) FROM api_keys WHERE plan_id = $1 AND status <> 'revoked'")
            .bind(plan_id)
            .fetch_one(store.pool())
            .await?
            .try_get(0)?,
    )
}

/// The live keys on a plan, for checking a plan change against them.
pub async fn keys_on_plan(store: &Store, plan_id: &str) -> Result<Vec<ApiKey>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        key_columns!(),
        " FROM api_keys WHERE plan_id = $1 AND status <> 'revoked'"
    ))
    .bind(plan_id)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(key_from_row).collect()
}

pub async fn insert_key(store: &Store, key: &ApiKey, entry: &AuditEntry) -> Result<(), StoreError> {
    let mut tx = store.pool().begin().await?;
    let rev = next_rev(&mut tx).await?;
    sqlx::query(
        "INSERT INTO api_keys (id, name, plan_id, key_type, status, secret_hash, scopes, overrides, rev, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&key.id)
    .bind(&key.name)
    .bind(&key.plan_id)
    .bind(key.key_type.as_str())
    .bind(key.status.as_str())
    .bind(key.secret_hash.to_vec())
    .bind(key.scopes.as_ref().map(serde_json::to_string).transpose()?)
    .bind(serde_json::to_string(&key.overrides)?)
    .bind(rev)
    .bind(key.created_at)
    .bind(key.updated_at)
    .execute(&mut *tx)
    .await
    .map_err(|e| StoreError::conflict_on_unique(e, "key id collision; try again"))?;
    audit(&mut tx, entry, key.updated_at).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn update_key(store: &Store, key: &ApiKey, entry: &AuditEntry) -> Result<(), StoreError> {
    let mut tx = store.pool().begin().await?;
    let rev = next_rev(&mut tx).await?;
    sqlx::query(
        "UPDATE api_keys SET name = $2, plan_id = $3, status = $4, scopes = $5, overrides = $6, rev = $7, updated_at = $8
         WHERE id = $1",
    )
    .bind(&key.id)
    .bind(&key.name)
    .bind(&key.plan_id)
    .bind(key.status.as_str())
    .bind(key.scopes.as_ref().map(serde_json::to_string).transpose()?)
    .bind(serde_json::to_string(&key.overrides)?)
    .bind(rev)
    .bind(key.updated_at)
    .execute(&mut *tx)
    .await?;
    audit(&mut tx, entry, key.updated_at).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn get_key(store: &Store, id: &str) -> Result<Option<ApiKey>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        key_columns!(),
        " FROM api_keys WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(store.pool())
    .await?;
    row.as_ref().map(key_from_row).transpose()
}

pub async fn get_plan_any(store: &Store, id: &str) -> Result<Option<Plan>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        plan_columns!(),
        " FROM plans WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(store.pool())
    .await?;
    row.as_ref().map(plan_from_row).transpose()
}

pub async fn list_keys(
    store: &Store,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ApiKey>, i64), StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        key_columns!(),
        " FROM api_keys ORDER BY id LIMIT $1 OFFSET $2"
    ))
    .bind(limit)
    .bind(offset)
    .fetch_all(store.pool())
    .await?;
    let count: i64 = sqlx::query("SELECT COUNT(*) FROM api_keys")
        .fetch_one(store.pool())
        .await?
        .try_get(0)?;
    Ok((
        rows.iter().map(key_from_row).collect::<Result<_, _>>()?,
        count,
    ))
}

pub async fn get_setting(store: &Store, name: &str) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
        .bind(name)
        .fetch_optional(store.pool())
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// Stores a setting if none is stored yet; returns whether this call did.
/// Used for values generated on first start, where two instances starting
/// together must agree on one.
pub async fn init_setting(
    store: &Store,
    name: &str,
    value: &str,
    entry: &AuditEntry,
    at: i64,
) -> Result<bool, StoreError> {
    let mut tx = store.pool().begin().await?;
    let rev = next_rev(&mut tx).await?;
    let done = sqlx::query(
        "INSERT INTO settings (name, value, rev) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(value)
    .bind(rev)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    audit(&mut tx, entry, at).await?;
    tx.commit().await?;
    Ok(true)
}

pub async fn put_setting(
    store: &Store,
    name: &str,
    value: &str,
    entry: &AuditEntry,
    at: i64,
) -> Result<(), StoreError> {
    let mut tx = store.pool().begin().await?;
    let rev = next_rev(&mut tx).await?;
    sqlx::query(
        "INSERT INTO settings (name, value, rev) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value, rev = excluded.rev",
    )
    .bind(name)
    .bind(value)
    .bind(rev)
    .execute(&mut *tx)
    .await?;
    audit(&mut tx, entry, at).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn current_rev(store: &Store) -> Result<i64, StoreError> {
    Ok(sqlx::query("SELECT rev FROM gateway_revision WHERE id = 1")
        .fetch_one(store.pool())
        .await?
        .try_get(0)?)
}

/// Everything written after `rev` (everything, for `rev = 0`).
pub async fn changes_since(store: &Store, rev: i64) -> Result<Changes, StoreError> {
    // Read the revision first: rows committed after this read carry higher
    // revisions and are picked up by the next call.
    let now_rev = current_rev(store).await?;
    if now_rev <= rev {
        return Ok(Changes {
            rev,
            ..Changes::default()
        });
    }
    let plans = sqlx::query(concat!(
        "SELECT ",
        plan_columns!(),
        " FROM plans WHERE rev > $1 AND rev <= $2"
    ))
    .bind(rev)
    .bind(now_rev)
    .fetch_all(store.pool())
    .await?;
    let keys = sqlx::query(concat!(
        "SELECT ",
        key_columns!(),
        " FROM api_keys WHERE rev > $1 AND rev <= $2"
    ))
    .bind(rev)
    .bind(now_rev)
    .fetch_all(store.pool())
    .await?;
    let settings = sqlx::query("SELECT name, value FROM settings WHERE rev > $1 AND rev <= $2")
        .bind(rev)
        .bind(now_rev)
        .fetch_all(store.pool())
        .await?;
    Ok(Changes {
        rev: now_rev,
        plans: plans.iter().map(plan_from_row).collect::<Result<_, _>>()?,
        keys: keys.iter().map(key_from_row).collect::<Result<_, _>>()?,
        settings: settings
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()?,
    })
}

/// Newest first.
pub async fn list_audit(
    store: &Store,
    offset: i64,
    limit: i64,
) -> Result<(Vec<AuditRecord>, i64), StoreError> {
    let rows = sqlx::query(
        "SELECT id, at, actor, action, target, before_json, after_json FROM audit_log
         ORDER BY id DESC LIMIT $1 OFFSET $2",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(store.pool())
    .await?;
    let count: i64 = sqlx::query("SELECT COUNT(*) FROM audit_log")
        .fetch_one(store.pool())
        .await?
        .try_get(0)?;
    let parse = |s: Option<String>| s.map(|s| serde_json::from_str(&s)).transpose();
    let records = rows
        .iter()
        .map(|r| {
            Ok(AuditRecord {
                id: r.try_get(0)?,
                at: r.try_get(1)?,
                actor: r.try_get(2)?,
                action: r.try_get(3)?,
                target: r.try_get(4)?,
                before: parse(r.try_get(5)?)?,
                after: parse(r.try_get(6)?)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok((records, count))
}
