//! Helpers for test suites that must run against both stores: each call
//! hands out a brand-new, empty database, so tests never see each other's
//! rows.

use std::path::PathBuf;

use sqlx::Connection;

/// The PostgreSQL server tests create their databases on
/// (`TURNOUT_TEST_POSTGRES_URL`, default the local `test` database).
pub fn postgres_admin_url() -> String {
    std::env::var("TURNOUT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// Creates an empty PostgreSQL database and returns its URL.
pub async fn fresh_postgres_url() -> String {
    sqlx::any::install_default_drivers();
    let admin = postgres_admin_url();
    let name = format!("turnout_t_{}", crate::token::lower36(16));
    let mut conn = sqlx::AnyConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is needed by this test: {e}"));
    // The name is ours: a fixed prefix and base36 characters.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let _ = conn.close().await;
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{name}")
}

/// A fresh empty directory under the system temp dir (not removed: test
/// data dirs are small and useful after a failure).
pub fn fresh_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("turnout-{label}-{}", crate::token::lower36(10)));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// The two kinds of store every store suite runs against.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// A store URL for a fresh, empty store of this kind (`None` for
    /// SQLite means "the default file in the data dir").
    pub async fn fresh_url(self) -> Option<String> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some(fresh_postgres_url().await),
        }
    }
}

/// Runs each named `async fn(Backend)` as two tests, `sqlite::name` and
/// `postgres::name`, each on a two-thread runtime: the one way every suite
/// in the workspace covers both stores.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::store::testing::Backend::Sqlite).await
            })*
        }
        mod postgres {
            $(#[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::store::testing::Backend::Postgres).await
            })*
        }
    };
}
