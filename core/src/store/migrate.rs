//! A small migrations runner. Each crate owns its tables and hands its own
//! ordered list here under its own component name, so crates never collide
//! on version numbers. A migration is one SQL text per dialect; its checksum
//! is recorded so an edited migration is caught instead of silently skipped.

use sqlx::Row;

use super::{Dialect, Store, StoreError};
use crate::token::sha256_hex;

#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

impl Migration {
    fn sql(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => self.sqlite,
            Dialect::Postgres => self.postgres,
        }
    }
}

/// Arbitrary but fixed: the PostgreSQL advisory lock that serialises
/// instances migrating the same database at the same moment.
const PG_MIGRATION_LOCK: i64 = 0x0074_7572_6e6f_7574;

pub(super) async fn run(
    store: &Store,
    component: &str,
    migrations: &[Migration],
) -> Result<usize, StoreError> {
    let dialect = store.dialect();
    let mut conn = store.pool().acquire().await?;
    if dialect == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(PG_MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    let result = apply(&mut conn, dialect, component, migrations).await;
    if dialect == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(PG_MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    result
}

async fn apply(
    conn: &mut sqlx::AnyConnection,
    dialect: Dialect,
    component: &str,
    migrations: &[Migration],
) -> Result<usize, StoreError> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS turnout_migrations (
            component TEXT NOT NULL,
            version BIGINT NOT NULL,
            name TEXT NOT NULL,
            checksum TEXT NOT NULL,
            applied_at BIGINT NOT NULL,
            PRIMARY KEY (component, version)
        )",
    )
    .execute(&mut *conn)
    .await?;

    let applied: Vec<(i64, String)> =
        sqlx::query("SELECT version, checksum FROM turnout_migrations WHERE component = $1")
            .bind(component)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()?;

    let mut count = 0;
    for migration in migrations {
        let sql = migration.sql(dialect);
        let checksum = sha256_hex(sql);
        if let Some((_, recorded)) = applied.iter().find(|(v, _)| *v == migration.version) {
            if *recorded != checksum {
                return Err(StoreError::MigrationChanged {
                    component: component.to_string(),
                    version: migration.version,
                    name: migration.name.to_string(),
                });
            }
            continue;
        }
        // Each migration and its bookkeeping row commit together: a crash
        // leaves it either fully applied or not at all (both databases have
        // transactional DDL).
        sqlx::raw_sql("BEGIN").execute(&mut *conn).await?;
        let step = async {
            sqlx::raw_sql(sql).execute(&mut *conn).await?;
            sqlx::query(
                "INSERT INTO turnout_migrations (component, version, name, checksum, applied_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(component)
            .bind(migration.version)
            .bind(migration.name)
            .bind(&checksum)
            .bind(chrono::Utc::now().timestamp())
            .execute(&mut *conn)
            .await?;
            Ok::<_, sqlx::Error>(())
        }
        .await;
        match step {
            Ok(()) => {
                sqlx::raw_sql("COMMIT").execute(&mut *conn).await?;
            }
            Err(err) => {
                let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
                return Err(err.into());
            }
        }
        tracing::info!(
            component,
            version = migration.version,
            name = migration.name,
            "migration applied"
        );
        count += 1;
    }
    Ok(count)
}
