//! The system of record: one [`Store`] over SQLite (the embedded default, a
//! file in the data dir) or PostgreSQL (shared by many instances).
//!
//! Both speak through sqlx's `Any` driver, so each query is written once.
//! The two databases differ in DDL and in a handful of statements; those
//! differences live in the migrations (one SQL text per dialect) and in
//! [`Dialect`], and nowhere else. Column types are kept to what both agree
//! on: BIGINT for integers and flags, DOUBLE PRECISION for reals, TEXT for
//! strings and JSON, BLOB/BYTEA for bytes; times are unix nanoseconds or
//! seconds in BIGINT columns.

mod migrate;
pub mod testing;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

pub use migrate::Migration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration {component}/{version} ({name}) was changed after it was applied")]
    MigrationChanged {
        component: String,
        version: i64,
        name: String,
    },
    /// A write broke a uniqueness rule (a name already taken, say).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
    #[error("cannot open the store: {0}")]
    Open(String),
}

impl From<serde_json::Error> for StoreError {
    fn from(err: serde_json::Error) -> Self {
        StoreError::Corrupt(err.to_string())
    }
}

impl StoreError {
    /// Maps a unique-constraint violation to [`StoreError::Conflict`] with
    /// `what` as its message; other errors pass through.
    pub fn conflict_on_unique(err: sqlx::Error, what: &str) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation => {
                StoreError::Conflict(what.to_string())
            }
            _ => StoreError::Database(err),
        }
    }
}

/// `($1, $2), ($3, $4), …` for a multi-row `INSERT … VALUES`: one statement
/// per batch instead of one per row, which is what makes a flush of ten
/// thousand rows cheap. Both databases accept far more parameters per
/// statement than [`MAX_BATCH_PARAMS`].
pub fn values_placeholders(rows: usize, columns: usize) -> String {
    let mut out = String::with_capacity(rows * columns * 5);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..columns {
            if c > 0 {
                out.push_str(", ");
            }
            out.push('$');
            out.push_str(&(r * columns + c + 1).to_string());
        }
        out.push(')');
    }
    out
}

/// Parameters per batched statement. Far below either database's limit on
/// purpose: SQLite finds a `$N` parameter's name by a linear scan, so
/// binding costs grow with the square of the parameters in a statement
/// (at 3,000 parameters binding took half of an import's time); at a few
/// hundred it is noise, and the statements are still few.
pub const MAX_BATCH_PARAMS: usize = 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }

    /// [`values_placeholders`] for a statement that has no other
    /// parameters: plain `?` on SQLite, whose binding cost does not grow
    /// with the statement as it does for `$N` names, so bulk writes can
    /// use long statements there ([`BULK_PARAMS`]).
    pub fn values_placeholders(self, rows: usize, columns: usize) -> String {
        match self {
            Dialect::Postgres => values_placeholders(rows, columns),
            Dialect::Sqlite => {
                let row = format!("({})", self.list_placeholders(columns));
                vec![row; rows].join(", ")
            }
        }
    }

    /// The `n`th parameter (from 1): `$n`, or `?` on SQLite, where
    /// parameters are numbered in the order they appear, so a statement
    /// built with these must use each one once, in order.
    pub fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}"),
            Dialect::Sqlite => "?".to_string(),
        }
    }

    /// Rows of `columns` parameters each that one bulk statement should
    /// carry. SQLite: as many as [`BULK_PARAMS`] allows (no network, and
    /// fewer statements are faster). PostgreSQL: about [`NET_PARAMS`]
    /// parameters (a few KB), because sqlx does not set TCP_NODELAY: a
    /// message larger than the connection's first send window (16 KB)
    /// leaves a tail that Nagle's algorithm holds until the server's
    /// delayed ACK, 40 ms a statement. Measured on a queue worker: 1.7k
    /// messages/s with 2,000-parameter statements, 10k/s under 16 KB. A
    /// column of long text (a 64-character hash, say) should count as
    /// several.
    pub fn bulk_rows(self, columns: usize) -> usize {
        let params = match self {
            Dialect::Sqlite => BULK_PARAMS,
            Dialect::Postgres => NET_PARAMS,
        };
        (params / columns.max(1)).max(1)
    }

    /// `items` cut into statements' worth: at most [`Dialect::bulk_rows`]
    /// rows each and, on PostgreSQL, about [`NET_BYTES`] of `size` (the
    /// bytes a row's values take), for rows that carry long text such as
    /// a stored document. Every piece has at least one row.
    pub fn chunks<T>(self, items: &[T], columns: usize, size: impl Fn(&T) -> usize) -> Vec<&[T]> {
        let rows = self.bulk_rows(columns);
        let bytes = match self {
            Dialect::Sqlite => usize::MAX,
            Dialect::Postgres => NET_BYTES,
        };
        let mut out = Vec::new();
        let (mut start, mut used) = (0usize, 0usize);
        for (i, item) in items.iter().enumerate() {
            let n = size(item);
            if i > start && (i - start >= rows || used.saturating_add(n) > bytes) {
                out.push(&items[start..i]);
                (start, used) = (i, 0);
            }
            used = used.saturating_add(n);
        }
        if start < items.len() {
            out.push(&items[start..]);
        }
        out
    }

    /// `?, ?, ?` or `$1, $2, $3`, for an `IN (…)` that is the statement's
    /// only parameters.
    pub fn list_placeholders(self, n: usize) -> String {
        match self {
            Dialect::Postgres => (1..=n)
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", "),
            Dialect::Sqlite => vec!["?"; n].join(", "),
        }
    }
}

/// Parameters per statement built with the [`Dialect`] placeholders:
/// under SQLite's limit (32766) and PostgreSQL's (65535).
pub const BULK_PARAMS: usize = 30_000;

/// Parameters per bulk statement over a network connection (PostgreSQL);
/// see [`Dialect::bulk_rows`].
pub const NET_PARAMS: usize = 500;

/// Bytes of values per bulk statement over a network connection; see
/// [`Dialect::bulk_rows`] (the first send window is 16 KB).
pub const NET_BYTES: usize = 12 * 1024;

#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
}

impl Store {
    /// Opens the store at `url` (`postgres://…`), or, with no URL, the SQLite
    /// file `turnout.db` inside `data_dir`, creating it on first start.
    pub async fn open(
        url: Option<&str>,
        data_dir: &Path,
        max_connections: u32,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        match url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Self::open_postgres(url, max_connections).await
            }
            Some(url) if url.starts_with("sqlite:") => {
                Self::open_sqlite(url, max_connections).await
            }
            Some(other) => Err(StoreError::Open(format!(
                "store.url must start with postgres:// or sqlite:, got {:?}",
                other.split(':').next().unwrap_or_default()
            ))),
            None => {
                std::fs::create_dir_all(data_dir).map_err(|e| {
                    StoreError::Open(format!("cannot create {}: {e}", data_dir.display()))
                })?;
                let path = data_dir.join("turnout.db");
                let url = format!("sqlite://{}?mode=rwc", path.display());
                Self::open_sqlite(&url, max_connections).await
            }
        }
    }

    async fn open_postgres(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            dialect: Dialect::Postgres,
        })
    }

    async fn open_sqlite(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
        // WAL lets readers run beside the one writer; busy_timeout makes a
        // second writer wait instead of failing with SQLITE_BUSY.
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.clamp(1, 8))
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            dialect: Dialect::Sqlite,
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Applies the component's migrations that have not run yet. Safe to
    /// call from several instances at once.
    pub async fn migrate(
        &self,
        component: &str,
        migrations: &[Migration],
    ) -> Result<usize, StoreError> {
        migrate::run(self, component, migrations).await
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn chunks_keep_postgres_statements_small_and_sqlite_ones_long() {
        use super::Dialect;
        let docs: Vec<usize> = vec![5_000; 10];
        let pg = Dialect::Postgres.chunks(&docs, 6, |d| *d);
        assert_eq!(
            pg.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [2, 2, 2, 2, 2]
        );
        assert_eq!(Dialect::Sqlite.chunks(&docs, 6, |d| *d).len(), 1);
        // A row larger than the budget still goes, alone.
        let huge = [50_000usize, 1, 1];
        assert_eq!(
            Dialect::Postgres
                .chunks(&huge, 1, |d| *d)
                .iter()
                .map(|c| c.len())
                .collect::<Vec<_>>(),
            [1, 2]
        );
        // The row count applies too.
        let small = vec![1usize; 1_000];
        assert_eq!(Dialect::Postgres.chunks(&small, 10, |d| *d).len(), 20);
        assert!(
            Dialect::Postgres
                .chunks(&Vec::<usize>::new(), 1, |d| *d)
                .is_empty()
        );
    }

    #[test]
    fn sqlite_bulk_placeholders_are_anonymous() {
        assert_eq!(
            super::Dialect::Sqlite.values_placeholders(2, 2),
            "(?, ?), (?, ?)"
        );
        assert_eq!(
            super::Dialect::Postgres.values_placeholders(1, 2),
            "($1, $2)"
        );
    }

    #[test]
    fn placeholders_number_rows_then_columns() {
        assert_eq!(
            super::values_placeholders(2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(super::values_placeholders(1, 1), "($1)");
    }
}
