//! The opt-out and suppression list: numbers that replied STOP or that a
//! carrier reported opted out, addresses that unsubscribed, bounced or
//! complained. Checked right before every provider call, so an opt-out
//! stops messages already queued.

use turnout_core::store::StoreError;
use turnout_core::{Store, token};

use crate::queue::{Channel, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A STOP-type keyword from the recipient.
    Stop,
    /// The provider or carrier says the number opted out.
    Carrier,
    Unsubscribe,
    Bounce,
    Complaint,
    /// Put on the list by an operator (`POST /admin/v1/suppressions`).
    Manual,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Stop => "stop",
            Reason::Carrier => "carrier",
            Reason::Unsubscribe => "unsubscribe",
            Reason::Bounce => "bounce",
            Reason::Complaint => "complaint",
            Reason::Manual => "manual",
        }
    }

    /// Opted out by the recipient's choice, as against suppressed for
    /// deliverability.
    pub fn is_opt_out(self) -> bool {
        matches!(self, Reason::Stop | Reason::Carrier | Reason::Unsubscribe)
    }

    /// The status of a message not sent for this reason.
    pub fn status(self) -> Status {
        if self.is_opt_out() {
            Status::OptedOut
        } else {
            Status::Suppressed
        }
    }

    pub fn parse(raw: &str) -> Option<Reason> {
        [
            Reason::Stop,
            Reason::Carrier,
            Reason::Unsubscribe,
            Reason::Bounce,
            Reason::Complaint,
            Reason::Manual,
        ]
        .into_iter()
        .find(|r| r.as_str() == raw)
    }
}

/// The hash an address is kept as.
fn address_hash(channel: Channel, address: &str) -> String {
    let canonical = match channel {
        Channel::Sms => address.trim().to_string(),
        Channel::Email => address.trim().to_lowercase(),
    };
    token::sha256_hex(&canonical)
}

/// One entry of the list, as operators see it: never the address, which
/// is not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub channel: Channel,
    pub address_hash: String,
    pub reason: Reason,
    /// Unix ms.
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct OptOuts {
    store: Store,
}

impl OptOuts {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Records an opt-out or suppression; the first reason recorded stays.
    /// Whether the address was new to the list.
    pub async fn add(
        &self,
        channel: Channel,
        address: &str,
        reason: Reason,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "INSERT INTO outreach_optouts (channel, address_hash, reason, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (channel, address_hash) DO NOTHING",
        )
        .bind(channel.as_str())
        .bind(address_hash(channel, address))
        .bind(reason.as_str())
        .bind(now_ms)
        .execute(self.store.pool())
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// The entry for an address, whatever its reason.
    pub async fn find(&self, channel: Channel, address: &str) -> Result<Option<Entry>, StoreError> {
        let row: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT address_hash, reason, created_at FROM outreach_optouts \
             WHERE channel = $1 AND address_hash = $2",
        )
        .bind(channel.as_str())
        .bind(address_hash(channel, address))
        .fetch_optional(self.store.pool())
        .await?;
        Ok(row.and_then(|(address_hash, reason, created_at)| {
            Some(Entry {
                channel,
                address_hash,
                reason: Reason::parse(&reason)?,
                created_at,
            })
        }))
    }

    /// One page of the list, newest first, and how many entries it has.
    pub async fn list(
        &self,
        channel: Option<Channel>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Entry>, i64), StoreError> {
        let filter = channel.map(|c| c.as_str()).unwrap_or("%");
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT channel, address_hash, reason, created_at FROM outreach_optouts \
             WHERE channel LIKE $1 ORDER BY created_at DESC, channel, address_hash \
             LIMIT $2 OFFSET $3",
        )
        .bind(filter)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.store.pool())
        .await?;
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM outreach_optouts WHERE channel LIKE $1")
                .bind(filter)
                .fetch_one(self.store.pool())
                .await?;
        let entries = rows
            .into_iter()
            .filter_map(|(channel, address_hash, reason, created_at)| {
                Some(Entry {
                    channel: Channel::parse(&channel).ok()?,
                    address_hash,
                    reason: Reason::parse(&reason)?,
                    created_at,
                })
            })
            .collect();
        Ok((entries, count))
    }

    /// Lifts an address's entry, whatever its reason.
    pub async fn remove(&self, channel: Channel, address: &str) -> Result<bool, StoreError> {
        let n =
            sqlx::query("DELETE FROM outreach_optouts WHERE channel = $1 AND address_hash = $2")
                .bind(channel.as_str())
                .bind(address_hash(channel, address))
                .execute(self.store.pool())
                .await?
                .rows_affected();
        Ok(n > 0)
    }

    /// START: the recipient opts back in. Suppressions for bounces and
    /// complaints are not lifted this way.
    pub async fn opt_in(&self, channel: Channel, address: &str) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "DELETE FROM outreach_optouts WHERE channel = $1 AND address_hash = $2 \
             AND reason IN ('stop', 'carrier', 'unsubscribe')",
        )
        .bind(channel.as_str())
        .bind(address_hash(channel, address))
        .execute(self.store.pool())
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// [`OptOuts::check`] for many addresses in one query: those that
    /// must not be messaged, with why.
    pub async fn check_many(
        &self,
        channel: Channel,
        addresses: &[String],
    ) -> Result<std::collections::HashMap<String, Reason>, StoreError> {
        let mut found = std::collections::HashMap::new();
        let dialect = self.store.dialect();
        // A hash is 64 characters: count it as several parameters, so
        // the statement stays small (see `Dialect::bulk_rows`).
        for chunk in addresses.chunks(dialect.bulk_rows(8)) {
            if chunk.is_empty() {
                continue;
            }
            let hashes: Vec<String> = chunk.iter().map(|a| address_hash(channel, a)).collect();
            let sql = format!(
                "SELECT address_hash, reason FROM outreach_optouts WHERE channel = '{}' \
                 AND address_hash IN ({})",
                channel.as_str(),
                dialect.list_placeholders(hashes.len())
            );
            let mut q =
                sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql)).persistent(false);
            for h in &hashes {
                q = q.bind(h.as_str());
            }
            let by_hash: std::collections::HashMap<String, Reason> = q
                .fetch_all(self.store.pool())
                .await?
                .into_iter()
                .filter_map(|(h, r)| Some((h, Reason::parse(&r)?)))
                .collect();
            for (address, hash) in chunk.iter().zip(&hashes) {
                if let Some(r) = by_hash.get(hash) {
                    found.insert(address.clone(), *r);
                }
            }
        }
        Ok(found)
    }

    /// Why this address must not be messaged, if it must not.
    pub async fn check(
        &self,
        channel: Channel,
        address: &str,
    ) -> Result<Option<Reason>, StoreError> {
        let reason: Option<String> = sqlx::query_scalar(
            "SELECT reason FROM outreach_optouts WHERE channel = $1 AND address_hash = $2",
        )
        .bind(channel.as_str())
        .bind(address_hash(channel, address))
        .fetch_optional(self.store.pool())
        .await?;
        Ok(reason.as_deref().and_then(Reason::parse))
    }
}
