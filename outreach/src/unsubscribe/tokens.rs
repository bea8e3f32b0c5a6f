//! Unsubscribe tokens in the store: minted per recipient of a bulk email,
//! kept as hashes, looked up when the link is followed.

use turnout_core::store::StoreError;
use turnout_core::{Store, token};

#[derive(Debug, Clone)]
pub struct Tokens {
    store: Store,
}

impl Tokens {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// A new token for each address, in order.
    pub async fn mint(&self, addresses: &[String], now: i64) -> Result<Vec<String>, StoreError> {
        let tokens: Vec<String> = addresses.iter().map(|_| super::new_token()).collect();
        let dialect = self.store.dialect();
        let mut tx = self.store.pool().begin().await?;
        for (chunk_a, chunk_t) in addresses
            .chunks(dialect.bulk_rows(3))
            .zip(tokens.chunks(dialect.bulk_rows(3)))
        {
            if chunk_a.is_empty() {
                continue;
            }
            let sql = format!(
                "INSERT INTO outreach_unsubscribe_tokens (token_hash, address, created_at) VALUES {}",
                dialect.values_placeholders(chunk_a.len(), 3)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
            for (a, t) in chunk_a.iter().zip(chunk_t) {
                q = q.bind(token::sha256_hex(t)).bind(a.as_str()).bind(now);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(tokens)
    }

    /// The address a token was minted for.
    pub async fn address(&self, token: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT address FROM outreach_unsubscribe_tokens WHERE token_hash = $1",
        )
        .bind(token::sha256_hex(token))
        .fetch_optional(self.store.pool())
        .await?)
    }
}
