//! Inbound messages: each recorded once by its provider id (providers
//! deliver webhooks at least once), keywords acted on, other replies kept
//! for staff.

use serde::Serialize;
use sqlx::Row;
use turnout_core::Store;
use turnout_core::store::StoreError;

use crate::keywords::Keyword;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Inbound {
    pub id: i64,
    pub channel: String,
    pub from: String,
    pub body: String,
    pub received_date: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone)]
pub struct InboundLog {
    store: Store,
}

fn keyword_name(k: Option<Keyword>) -> Option<&'static str> {
    k.map(|k| match k {
        Keyword::OptOut => "opt_out",
        Keyword::OptIn => "opt_in",
        Keyword::Help => "help",
    })
}

impl InboundLog {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub async fn seen(
        &self,
        provider: &str,
        provider_message_id: &str,
    ) -> Result<bool, StoreError> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM outreach_inbound WHERE provider = $1 AND provider_message_id = $2",
        )
        .bind(provider)
        .bind(provider_message_id)
        .fetch_optional(self.store.pool())
        .await?;
        Ok(id.is_some())
    }

    /// Records an inbound SMS; false when this provider id was recorded
    /// before (a redelivery: do nothing, answer nothing).
    pub async fn record(
        &self,
        sender: &str,
        body: &str,
        keyword: Option<Keyword>,
        provider: &str,
        provider_message_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.store.pool().begin().await?;
        let id: i64 = sqlx::query_scalar(
            "UPDATE outreach_state SET value = value + 1 WHERE name = 'inbound_id' RETURNING value",
        )
        .fetch_one(&mut *tx)
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO outreach_inbound (id, channel, sender, body, keyword, provider, \
             provider_message_id, received_at) VALUES ($1, 'sms', $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (provider, provider_message_id) DO NOTHING",
        )
        .bind(id)
        .bind(sender)
        .bind(body)
        .bind(keyword_name(keyword))
        .bind(provider)
        .bind(provider_message_id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(inserted == 1)
    }

    /// Replies that were not keywords, newest first, before `before` (an
    /// id; 0 for the first page).
    /// How many replies are listed in all (for the envelope's `count`).
    pub async fn count(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM outreach_inbound WHERE keyword IS NULL")
                .fetch_one(self.store.pool())
                .await?,
        )
    }

    pub async fn replies(&self, before: i64, limit: usize) -> Result<Vec<Inbound>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, channel, sender, body, received_at FROM outreach_inbound \
             WHERE keyword IS NULL AND ($1 = 0 OR id < $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(before)
        .bind(limit as i64)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Inbound {
                    id: r.try_get(0)?,
                    channel: r.try_get(1)?,
                    from: r.try_get(2)?,
                    body: r.try_get(3)?,
                    received_date: chrono::DateTime::from_timestamp_millis(r.try_get(4)?)
                        .unwrap_or_default(),
                })
            })
            .collect()
    }
}
