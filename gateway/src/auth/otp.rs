//! One-time sign-in codes: asking for one, and checking one.
//!
//! Asking answers the same 202 whatever happens to the address (sent, on
//! the opt-out list, over its limits, locked out, over the day's SMS
//! budget), so it tells nobody whether a person or an address is known.
//! What the caller can fix is still said: a malformed address, a country
//! codes are not sent to (422), and the caller's own key over its hourly
//! allowance (429).
//!
//! Checking counts the attempt before comparing, in one conditional
//! update, so concurrent guesses can never exceed `max_attempts`; after
//! that the challenge is dead and even the right code fails. Wrong codes
//! also add up per destination across challenges, and too many lock the
//! destination out, which a stream of fresh challenges cannot get around.

use std::sync::Arc;

use serde_json::json;
use turnout_core::store::StoreError;
use turnout_core::{Clock, Store};
use turnout_outreach::codes::{CodeKey, MARK};
use turnout_outreach::consent::optouts::OptOuts;
use turnout_outreach::queue::{Channel, NewMessage, Queue, Status};

use super::config::OtpConfig;
use super::destination::{Destination, SmsCountries};

/// Why no code went out, for logs and metrics only (the client always
/// gets 202).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withheld {
    OptedOut,
    LockedOut,
    TooSoon,
    DestinationLimit,
    SmsBudget,
}

impl Withheld {
    pub fn as_str(self) -> &'static str {
        match self {
            Withheld::OptedOut => "opted_out",
            Withheld::LockedOut => "locked_out",
            Withheld::TooSoon => "too_soon",
            Withheld::DestinationLimit => "destination_limit",
            Withheld::SmsBudget => "sms_budget",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("sign-in codes are not sent to this country")]
    Country,
    #[error("this key has asked for too many sign-in codes; retry in {retry_after_secs} s")]
    KeyLimit { retry_after_secs: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for RequestError {
    fn from(e: sqlx::Error) -> Self {
        RequestError::Store(e.into())
    }
}

pub struct Otp {
    pub store: Store,
    pub codes: Arc<CodeKey>,
    pub queue: Queue,
    pub optouts: OptOuts,
    pub config: OtpConfig,
    pub countries: SmsCountries,
    pub clock: Arc<dyn Clock>,
    /// Woken after a code is queued, so it goes out at once.
    pub wake: Arc<tokio::sync::Notify>,
}

const HOUR_MS: i64 = 3_600_000;

impl Otp {
    fn now_ms(&self) -> i64 {
        self.clock.now_nanos().div_euclid(1_000_000)
    }

    pub fn destination_hash(&self, d: &Destination) -> String {
        self.codes.tag_hex("destination", &d.canonical())
    }

    /// Sends a code if everything allows it. `Ok(None)`: sent;
    /// `Ok(Some(why))`: withheld, silently.
    pub async fn request(
        &self,
        d: &Destination,
        key_id: &str,
    ) -> Result<Option<Withheld>, RequestError> {
        if let Destination::Phone(p) = d
            && !self.countries.allows(p)
        {
            return Err(RequestError::Country);
        }
        let now = self.now_ms();
        let pool = self.store.pool();
        let (key_count, key_oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT count(*), min(created_at) FROM auth_challenges \
             WHERE key_id = $1 AND created_at > $2",
        )
        .bind(key_id)
        .bind(now - HOUR_MS)
        .fetch_one(pool)
        .await?;
        if key_count >= i64::from(self.config.per_key_per_hour) {
            let free_at = key_oldest.unwrap_or(now) + HOUR_MS;
            return Err(RequestError::KeyLimit {
                retry_after_secs: ((free_at - now).max(1000) as u64).div_ceil(1000),
            });
        }

        let dest = self.destination_hash(d);
        if self.locked_until(&dest).await? > now {
            return Ok(Some(Withheld::LockedOut));
        }
        let (count, last): (i64, Option<i64>) = sqlx::query_as(
            "SELECT count(*), max(created_at) FROM auth_challenges \
             WHERE destination = $1 AND created_at > $2",
        )
        .bind(&dest)
        .bind(now - HOUR_MS)
        .fetch_one(pool)
        .await?;
        if last.is_some_and(|l| now - l < self.config.resend_after_secs as i64 * 1000) {
            return Ok(Some(Withheld::TooSoon));
        }
        if count >= i64::from(self.config.per_destination_per_hour) {
            return Ok(Some(Withheld::DestinationLimit));
        }
        let channel = d.channel();
        if self.optouts.check(channel, d.address()).await?.is_some() {
            return Ok(Some(Withheld::OptedOut));
        }

        let id = turnout_core::token::base62(22);
        let payload = match channel {
            Channel::Sms => json!({"body": self.config.text(&self.config.sms_text), "code": id}),
            Channel::Email => json!({
                "subject": self.config.text(&self.config.email_subject),
                "body": self.config.text(&self.config.email_text),
                "code": id,
            }),
        };
        let mut tx = pool.begin().await?;
        if channel == Channel::Sms {
            let day = self.clock.now().format("%Y-%m-%d").to_string();
            sqlx::query(
                "INSERT INTO auth_sms_budget (day, sent) VALUES ($1, 0) ON CONFLICT (day) DO NOTHING",
            )
            .bind(&day)
            .execute(&mut *tx)
            .await?;
            let taken = sqlx::query(
                "UPDATE auth_sms_budget SET sent = sent + 1 WHERE day = $1 AND sent < $2",
            )
            .bind(&day)
            .bind(self.config.sms_daily_budget as i64)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if taken == 0 {
                tracing::warn!(
                    budget = self.config.sms_daily_budget,
                    "the day's SMS budget for sign-in codes is spent; no more codes by SMS today"
                );
                return Ok(Some(Withheld::SmsBudget));
            }
        }
        sqlx::query(
            "INSERT INTO auth_challenges (id, destination, channel, key_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(&dest)
        .bind(channel.as_str())
        .bind(key_id)
        .bind(now)
        .bind(now + self.config.ttl_secs as i64 * 1000)
        .execute(&mut *tx)
        .await?;
        debug_assert!(payload.to_string().contains(MARK));
        self.queue
            .enqueue_in(
                &mut tx,
                &[NewMessage {
                    channel,
                    recipient: d.address().to_string(),
                    campaign_id: None,
                    person_id: None,
                    sender_key: Some(key_id.to_string()),
                    payload: payload.to_string(),
                    not_before: now,
                    status: Status::Queued,
                    error_code: None,
                    error: None,
                }],
                now,
            )
            .await?;
        tx.commit().await?;
        self.wake.notify_one();
        Ok(None)
    }

    async fn locked_until(&self, dest: &str) -> Result<i64, StoreError> {
        let until: Option<i64> =
            sqlx::query_scalar("SELECT locked_until FROM auth_failures WHERE destination = $1")
                .bind(dest)
                .fetch_optional(self.store.pool())
                .await?;
        Ok(until.unwrap_or(0))
    }

    /// Whether `code` is the live code for `d`; a success uses the
    /// challenge up.
    pub async fn verify(&self, d: &Destination, code: &str) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let dest = self.destination_hash(d);
        if self.locked_until(&dest).await? > now {
            return Ok(false);
        }
        let pool = self.store.pool();
        let latest: Option<(String, i64)> = sqlx::query_as(
            "SELECT id, expires_at FROM auth_challenges \
             WHERE destination = $1 AND used_at IS NULL ORDER BY created_at DESC, id LIMIT 1",
        )
        .bind(&dest)
        .fetch_optional(pool)
        .await?;
        let Some((id, expires_at)) = latest else {
            return Ok(false);
        };
        if now >= expires_at {
            return Ok(false);
        }
        let counted = sqlx::query(
            "UPDATE auth_challenges SET attempts = attempts + 1 \
             WHERE id = $1 AND used_at IS NULL AND attempts < $2",
        )
        .bind(&id)
        .bind(i64::from(self.config.max_attempts))
        .execute(pool)
        .await?
        .rows_affected();
        if counted == 0 {
            return Ok(false);
        }
        if self.codes.matches(&id, code.trim()) {
            let used = sqlx::query(
                "UPDATE auth_challenges SET used_at = $1 WHERE id = $2 AND used_at IS NULL",
            )
            .bind(now)
            .bind(&id)
            .execute(pool)
            .await?
            .rows_affected();
            return Ok(used == 1);
        }
        self.failed(&dest, now).await?;
        Ok(false)
    }

    /// Counts a wrong code against the destination, locking it out when
    /// the window's count reaches the limit.
    async fn failed(&self, dest: &str, now: i64) -> Result<(), StoreError> {
        let window = self.config.lockout_window_secs as i64 * 1000;
        let mut tx = self.store.pool().begin().await?;
        sqlx::query(
            "INSERT INTO auth_failures (destination, failures, window_start) VALUES ($1, 0, $2) \
             ON CONFLICT (destination) DO NOTHING",
        )
        .bind(dest)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // A window that has passed starts again at this failure.
        let failures: i64 = sqlx::query_scalar(
            "UPDATE auth_failures SET \
               failures = CASE WHEN window_start <= $2 THEN 1 ELSE failures + 1 END, \
               window_start = CASE WHEN window_start <= $2 THEN $3 ELSE window_start END \
             WHERE destination = $1 RETURNING failures",
        )
        .bind(dest)
        .bind(now - window)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        if failures >= i64::from(self.config.lockout_failures) {
            sqlx::query(
                "UPDATE auth_failures SET locked_until = $2, failures = 0, window_start = $3 \
                 WHERE destination = $1",
            )
            .bind(dest)
            .bind(now + self.config.lockout_secs as i64 * 1000)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tracing::warn!("a sign-in destination is locked out after repeated wrong codes");
        }
        tx.commit().await?;
        Ok(())
    }

    /// Forgets a person's destinations (account erasure).
    pub async fn forget(&self, destinations: &[Destination]) -> Result<(), StoreError> {
        for d in destinations {
            let dest = self.destination_hash(d);
            for sql in [
                "DELETE FROM auth_challenges WHERE destination = $1",
                "DELETE FROM auth_failures WHERE destination = $1",
                "DELETE FROM auth_people WHERE destination = $1",
            ] {
                sqlx::query(sql)
                    .bind(&dest)
                    .execute(self.store.pool())
                    .await?;
            }
        }
        Ok(())
    }
}
