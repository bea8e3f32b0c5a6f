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
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Stop => "stop",
            Reason::Carrier => "carrier",
            Reason::Unsubscribe => "unsubscribe",
            Reason::Bounce => "bounce",
            Reason::Complaint => "complaint",
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

    fn parse(raw: &str) -> Option<Reason> {
        [
            Reason::Stop,
            Reason::Carrier,
            Reason::Unsubscribe,
            Reason::Bounce,
            Reason::Complaint,
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

#[derive(Debug, Clone)]
pub struct OptOuts {
    store: Store,
}

impl OptOuts {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Records an opt-out or suppression; the first reason recorded stays.
    pub async fn add(
        &self,
        channel: Channel,
        address: &str,
        reason: Reason,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO outreach_optouts (channel, address_hash, reason, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (channel, address_hash) DO NOTHING",
        )
        .bind(channel.as_str())
        .bind(address_hash(channel, address))
        .bind(reason.as_str())
        .bind(now_ms)
        .execute(self.store.pool())
        .await?;
        Ok(())
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
