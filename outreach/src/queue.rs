//! The durable message queue, in the store.
//!
//! A message moves `queued`/`deferred` → `sending` (claimed under a lease)
//! → a terminal status, or back to `queued` for a retry. The order of a
//! send is: claim (commit) → [`Queue::hand_over`] (commit) → provider call
//! → [`Queue::finish`]. No transaction is held open across the provider
//! call. If the worker dies, its leases run out and [`Queue::reap`] decides:
//! a message never handed over is queued again (nothing left us), and one
//! handed over ends `unknown` (the provider may have it), because sending
//! it again could send it twice.
//!
//! Claims take due rows in `not_before` order with `FOR UPDATE SKIP LOCKED`
//! on PostgreSQL, so any number of workers in any number of processes each
//! get distinct rows. On SQLite the claiming statement holds the database
//! write lock.
//!
//! Statements whose text changes with the batch (row lists, id lists) are
//! sent unprepared (`persistent(false)`): preparing each would cost a
//! round trip and churn the connection's statement cache for a text that
//! never comes back.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use turnout_core::store::{Dialect, Migration, Store, StoreError};

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "outreach",
        sqlite: include_str!("../migrations/sqlite/0001_outreach.sql"),
        postgres: include_str!("../migrations/postgres/0001_outreach.sql"),
    },
    Migration {
        version: 2,
        name: "optouts",
        sqlite: include_str!("../migrations/0002_optouts.sql"),
        postgres: include_str!("../migrations/0002_optouts.sql"),
    },
    Migration {
        version: 3,
        name: "throttles",
        sqlite: include_str!("../migrations/0003_throttles.sql"),
        postgres: include_str!("../migrations/0003_throttles.sql"),
    },
    Migration {
        version: 4,
        name: "campaigns",
        sqlite: include_str!("../migrations/0004_campaigns.sql"),
        postgres: include_str!("../migrations/0004_campaigns.sql"),
    },
    Migration {
        version: 5,
        name: "inbound",
        sqlite: include_str!("../migrations/0005_inbound.sql"),
        postgres: include_str!("../migrations/0005_inbound.sql"),
    },
    Migration {
        version: 6,
        name: "unsubscribe",
        sqlite: include_str!("../migrations/0006_unsubscribe.sql"),
        postgres: include_str!("../migrations/0006_unsubscribe.sql"),
    },
    Migration {
        version: 7,
        name: "webhook_events",
        sqlite: include_str!("../migrations/0007_webhook_events.sql"),
        postgres: include_str!("../migrations/0007_webhook_events.sql"),
    },
    Migration {
        version: 8,
        name: "segments",
        sqlite: include_str!("../migrations/0008_segments.sql"),
        postgres: include_str!("../migrations/0008_segments.sql"),
    },
    Migration {
        version: 9,
        name: "reminders",
        sqlite: include_str!("../migrations/0009_reminders.sql"),
        postgres: include_str!("../migrations/0009_reminders.sql"),
    },
    Migration {
        version: 10,
        name: "ready_index",
        sqlite: include_str!("../migrations/0010_ready_index.sql"),
        postgres: include_str!("../migrations/0010_ready_index.sql"),
    },
    Migration {
        version: 11,
        name: "secrets",
        sqlite: include_str!("../migrations/0011_secrets.sql"),
        postgres: include_str!("../migrations/0011_secrets.sql"),
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = MessageStatus)]
pub enum Status {
    Queued,
    Deferred,
    Sending,
    Sent,
    Delivered,
    Failed,
    Bounced,
    Complained,
    OptedOut,
    Suppressed,
    Cancelled,
    Unknown,
}

impl Status {
    pub const ALL: [Status; 12] = [
        Status::Queued,
        Status::Deferred,
        Status::Sending,
        Status::Sent,
        Status::Delivered,
        Status::Failed,
        Status::Bounced,
        Status::Complained,
        Status::OptedOut,
        Status::Suppressed,
        Status::Cancelled,
        Status::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Deferred => "deferred",
            Status::Sending => "sending",
            Status::Sent => "sent",
            Status::Delivered => "delivered",
            Status::Failed => "failed",
            Status::Bounced => "bounced",
            Status::Complained => "complained",
            Status::OptedOut => "opted_out",
            Status::Suppressed => "suppressed",
            Status::Cancelled => "cancelled",
            Status::Unknown => "unknown",
        }
    }

    pub fn parse(raw: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Sms,
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }

    pub fn parse(raw: &str) -> Result<Channel, StoreError> {
        match raw {
            "sms" => Ok(Channel::Sms),
            "email" => Ok(Channel::Email),
            other => Err(StoreError::Corrupt(format!("channel {other:?}"))),
        }
    }
}

/// Which messages a claim takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub channel: Option<Channel>,
    /// Only this campaign's.
    pub campaign: Option<i64>,
    /// Not these campaigns' (they are claimed under their own limits).
    pub except_campaigns: Vec<i64>,
}

/// A message to enqueue.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub channel: Channel,
    pub recipient: String,
    pub campaign_id: Option<i64>,
    pub person_id: Option<i64>,
    pub sender_key: Option<String>,
    /// JSON: body, subject, html, headers.
    pub payload: String,
    /// Unix ms; now for "as soon as possible".
    pub not_before: i64,
    /// `Queued`, or `Deferred` when it waits for a send window; a
    /// terminal status for a campaign recipient excluded at launch.
    pub status: Status,
    /// Why an excluded recipient was excluded.
    pub error_code: Option<String>,
    pub error: Option<String>,
}

/// A message a worker holds under its lease.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub id: i64,
    pub channel: Channel,
    pub recipient: String,
    pub campaign_id: Option<i64>,
    pub person_id: Option<i64>,
    pub payload: String,
    /// Including this one.
    pub attempts: i64,
}

/// How a send ended, as the worker reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Sent {
        provider: String,
        provider_message_id: String,
    },
    /// Try again at `at` (unix ms).
    Retry {
        at: i64,
        code: String,
    },
    /// Wait for the recipient's send window (not an attempt).
    Defer {
        until: i64,
    },
    /// Not tried: wait until `until` (a circuit is open); not an attempt.
    Postpone {
        until: i64,
        code: String,
    },
    Failed {
        code: String,
        reason: String,
    },
    OptedOut {
        code: String,
    },
    Suppressed {
        reason: String,
    },
    Unknown {
        reason: String,
    },
}

/// The columns an outcome writes.
struct Columns<'a> {
    status: Status,
    not_before: Option<i64>,
    provider: Option<&'a str>,
    provider_id: Option<&'a str>,
    code: Option<&'a str>,
    error: Option<&'a str>,
    /// Not an attempt (a deferral or postponement): give the claim's
    /// attempt back.
    attempt_back: bool,
}

impl<'a> Columns<'a> {
    fn of(outcome: &'a Outcome) -> Columns<'a> {
        let plain = |status| Columns {
            status,
            not_before: None,
            provider: None,
            provider_id: None,
            code: None,
            error: None,
            attempt_back: false,
        };
        match outcome {
            Outcome::Sent {
                provider,
                provider_message_id,
            } => Columns {
                provider: Some(provider),
                provider_id: Some(provider_message_id),
                ..plain(Status::Sent)
            },
            Outcome::Retry { at, code } => Columns {
                not_before: Some(*at),
                code: Some(code),
                ..plain(Status::Queued)
            },
            Outcome::Defer { until } => Columns {
                not_before: Some(*until),
                attempt_back: true,
                ..plain(Status::Deferred)
            },
            Outcome::Postpone { until, code } => Columns {
                not_before: Some(*until),
                code: Some(code),
                attempt_back: true,
                ..plain(Status::Queued)
            },
            Outcome::Failed { code, reason } => Columns {
                code: Some(code),
                error: Some(reason),
                ..plain(Status::Failed)
            },
            Outcome::OptedOut { code } => Columns {
                code: Some(code),
                ..plain(Status::OptedOut)
            },
            Outcome::Suppressed { reason } => Columns {
                error: Some(reason),
                ..plain(Status::Suppressed)
            },
            Outcome::Unknown { reason } => Columns {
                error: Some(reason),
                ..plain(Status::Unknown)
            },
        }
    }
}

/// A message's row, for reading back.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageView {
    pub id: i64,
    pub channel: Channel,
    pub recipient: String,
    pub status: Status,
    pub sender_key: Option<String>,
    pub campaign_id: Option<i64>,
    pub person_id: Option<i64>,
    pub attempts: i64,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub segments: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Queue {
    store: Store,
}

/// `reap`'s count of what it found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reaped {
    pub requeued: u64,
    pub unknown: u64,
}

impl Queue {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub async fn enqueue(&self, messages: &[NewMessage], now: i64) -> Result<Vec<i64>, StoreError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.store.pool().begin().await?;
        let ids = self.enqueue_in(&mut tx, messages, now).await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// [`Queue::enqueue`] inside the caller's transaction, so a message
    /// and the record of why it was queued commit together.
    pub async fn enqueue_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        messages: &[NewMessage],
        now: i64,
    ) -> Result<Vec<i64>, StoreError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let last: i64 = sqlx::query_scalar(
            "UPDATE outreach_state SET value = value + $1 WHERE name = 'id' RETURNING value",
        )
        .bind(messages.len() as i64)
        .fetch_one(&mut **tx)
        .await?;
        let first = last - messages.len() as i64 + 1;
        let ids: Vec<i64> = (first..=last).collect();
        let dialect = self.store.dialect();
        let columns = 14;
        let mut offset = 0;
        for chunk in dialect.chunks(messages, columns, |m| {
            m.payload.len() + m.recipient.len() + 96
        }) {
            let chunk_ids = &ids[offset..offset + chunk.len()];
            offset += chunk.len();
            let sql = format!(
                "INSERT INTO outreach_messages (id, channel, recipient, campaign_id, person_id, \
                 sender_key, payload, status, not_before, created_at, updated_at, error_code, error, \
                 segments) \
                 VALUES {}",
                dialect.values_placeholders(chunk.len(), columns)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
            for (id, m) in chunk_ids.iter().zip(chunk) {
                q = q
                    .bind(*id)
                    .bind(m.channel.as_str())
                    .bind(m.recipient.as_str())
                    .bind(m.campaign_id)
                    .bind(m.person_id)
                    .bind(m.sender_key.as_deref())
                    .bind(m.payload.as_str())
                    .bind(m.status.as_str())
                    .bind(m.not_before)
                    .bind(now)
                    .bind(now)
                    .bind(m.error_code.as_deref())
                    .bind(m.error.as_deref())
                    .bind(sms_segments(m));
            }
            q.execute(&mut **tx).await?;
            let statuses: Vec<(i64, Status)> = chunk_ids
                .iter()
                .zip(chunk)
                .map(|(id, m)| (*id, m.status))
                .collect();
            log_events(tx, dialect, &statuses, now, None).await?;
        }
        Ok(ids)
    }

    /// Claims up to `limit` due messages for `owner` until `lease_until`.
    pub async fn claim(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        self.claim_scope(owner, &Scope::default(), now, lease_until, limit)
            .await
    }

    /// [`Queue::claim`] of the messages in `scope` only.
    pub async fn claim_scope(
        &self,
        owner: &str,
        scope: &Scope,
        now: i64,
        lease_until: i64,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Only enum names and ids go into the text.
        let mut only = String::new();
        if let Some(c) = scope.channel {
            only.push_str(&format!(" AND channel = '{}'", c.as_str()));
        }
        if let Some(id) = scope.campaign {
            only.push_str(&format!(" AND campaign_id = {id}"));
        }
        if !scope.except_campaigns.is_empty() {
            let ids: Vec<String> = scope.except_campaigns.iter().map(i64::to_string).collect();
            only.push_str(&format!(
                " AND (campaign_id IS NULL OR campaign_id NOT IN ({}))",
                ids.join(", ")
            ));
        }
        let dialect = self.store.dialect();
        let lock = match dialect {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE outreach_messages SET status = 'sending', lease_owner = $1, lease_until = $2, \
             attempts = attempts + 1, handed_over = 0, updated_at = $3 \
             WHERE id IN (SELECT id FROM outreach_messages \
               WHERE status IN ('queued', 'deferred') AND not_before <= $3{only} \
               AND (campaign_id IS NULL OR campaign_id NOT IN \
                    (SELECT id FROM outreach_campaigns WHERE status = 'paused')) \
               ORDER BY not_before, id LIMIT $4{lock}) \
             RETURNING id, channel, recipient, campaign_id, person_id, payload, attempts"
        );
        let mut tx = self.store.pool().begin().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(lease_until)
            .bind(now)
            .bind(limit as i64)
            .fetch_all(&mut *tx)
            .await?;
        let mut claimed = rows
            .iter()
            .map(|r| {
                Ok(Claimed {
                    id: r.try_get(0)?,
                    channel: Channel::parse(&r.try_get::<String, _>(1)?)?,
                    recipient: r.try_get(2)?,
                    campaign_id: r.try_get(3)?,
                    person_id: r.try_get(4)?,
                    payload: r.try_get(5)?,
                    attempts: r.try_get(6)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        claimed.sort_by_key(|c| c.id);
        let events: Vec<(i64, Status)> = claimed.iter().map(|c| (c.id, Status::Sending)).collect();
        log_events(&mut tx, dialect, &events, now, None).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Marks the message as handed to the provider, committed before the
    /// call. False when the lease is no longer `owner`'s: do not send.
    pub async fn hand_over(&self, id: i64, owner: &str, now: i64) -> Result<bool, StoreError> {
        Ok(self.hand_over_many(&[id], owner, now).await?.contains(&id))
    }

    /// [`Queue::hand_over`] for a batch, in one statement: the ids whose
    /// lease is still `owner`'s (only those may be sent).
    pub async fn hand_over_many(
        &self,
        ids: &[i64],
        owner: &str,
        now: i64,
    ) -> Result<std::collections::HashSet<i64>, StoreError> {
        let mut handed = std::collections::HashSet::with_capacity(ids.len());
        // Ids as literals: 500 keep the statement small (see
        // `Dialect::bulk_rows`).
        for chunk in ids.chunks(500) {
            if chunk.is_empty() {
                continue;
            }
            // Ids as literals and no condition on status, as in
            // `finish_many`, so the rows are found by primary key.
            let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
            let sql = format!(
                "UPDATE outreach_messages SET handed_over = 1, updated_at = $1 \
                 WHERE lease_owner = $2 AND lease_until > $1 AND id IN ({}) RETURNING id",
                list.join(", ")
            );
            handed.extend(
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                    .persistent(false)
                    .bind(now)
                    .bind(owner)
                    .fetch_all(self.store.pool())
                    .await?,
            );
        }
        Ok(handed)
    }

    /// Records how a send ended. False when the lease was lost meanwhile
    /// (the reaper has decided for this message; nothing changes).
    pub async fn finish(
        &self,
        id: i64,
        owner: &str,
        outcome: &Outcome,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = self
            .finish_many(owner, &[(id, outcome.clone())], now)
            .await?;
        Ok(done == 1)
    }

    /// Records how each send of a batch ended, in one transaction. Returns
    /// how many were recorded (a message whose lease was lost meanwhile is
    /// the reaper's: nothing changes for it).
    pub async fn finish_many(
        &self,
        owner: &str,
        outcomes: &[(i64, Outcome)],
        now: i64,
    ) -> Result<usize, StoreError> {
        if outcomes.is_empty() {
            return Ok(0);
        }
        let dialect = self.store.dialect();
        let mut tx = self.store.pool().begin().await?;
        let mut events: Vec<(i64, Status, Option<&str>)> = Vec::with_capacity(outcomes.len());
        // One statement per chunk: every row's new values in a VALUES
        // list, joined on id (both dialects take UPDATE … FROM).
        const COLUMNS: usize = 8;
        for chunk in outcomes.chunks(dialect.bulk_rows(COLUMNS)) {
            let columns: Vec<Columns<'_>> = chunk.iter().map(|(_, o)| Columns::of(o)).collect();
            let sql = format!(
                "WITH v (id, status, not_before, provider, provider_id, code, error, back) AS MATERIALIZED (VALUES {}) \
                 UPDATE outreach_messages SET status = v.status, \
                   not_before = COALESCE(v.not_before, outreach_messages.not_before), \
                   provider = COALESCE(v.provider, outreach_messages.provider), \
                   provider_message_id = COALESCE(v.provider_id, outreach_messages.provider_message_id), \
                   error_code = v.code, error = v.error, attempts = outreach_messages.attempts - v.back, \
                   lease_owner = NULL, lease_until = NULL, handed_over = 0, updated_at = {now_p} \
                 FROM v WHERE outreach_messages.id = v.id AND outreach_messages.lease_owner = {owner_p} \
                   AND outreach_messages.id IN ({ids}) \
                 RETURNING outreach_messages.id",
                dialect.values_placeholders(chunk.len(), COLUMNS),
                now_p = dialect.placeholder(chunk.len() * COLUMNS + 1),
                owner_p = dialect.placeholder(chunk.len() * COLUMNS + 2),
                // MATERIALIZED: the rows' values are computed once; a plan
                // that loops over them (PostgreSQL picks one while the
                // table's statistics are young) then reads a stored list
                // instead of evaluating 2,000 parameters per row (28 ms a
                // batch of 256 → 2 ms).
                // The ids again, as literals, and no condition on status (a
                // row leased to `owner` is 'sending'): PostgreSQL then finds
                // the rows by primary key instead of walking the partial
                // index of 'sending' rows, dead versions included (30 ms a
                // batch after 30k messages).
                ids = chunk
                    .iter()
                    .map(|(id, _)| id.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).persistent(false);
            for ((id, _), c) in chunk.iter().zip(&columns) {
                q = q
                    .bind(*id)
                    .bind(c.status.as_str())
                    .bind(c.not_before)
                    .bind(c.provider)
                    .bind(c.provider_id)
                    .bind(c.code)
                    .bind(c.error)
                    .bind(i64::from(c.attempt_back));
            }
            let updated: std::collections::HashSet<i64> = q
                .bind(now)
                .bind(owner)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
            for ((id, _), c) in chunk.iter().zip(columns) {
                if updated.contains(id) {
                    events.push((*id, c.status, c.code.or(c.error)));
                }
            }
        }
        log_events_detailed(&mut tx, dialect, &events, now).await?;
        tx.commit().await?;
        Ok(events.len())
    }

    /// Settles messages whose lease ran out: back to `queued` when never
    /// handed over, `unknown` when they were.
    pub async fn reap(&self, now: i64) -> Result<Reaped, StoreError> {
        let mut tx = self.store.pool().begin().await?;
        let mut out = Reaped::default();
        for (handed, status) in [(0i64, Status::Queued), (1, Status::Unknown)] {
            let ids: Vec<i64> = sqlx::query_scalar(
                "UPDATE outreach_messages SET status = $1, lease_owner = NULL, lease_until = NULL, \
                 handed_over = 0, updated_at = $2, \
                 error = CASE WHEN $3 = 1 THEN 'the worker stopped after handing it to the provider' ELSE error END \
                 WHERE status = 'sending' AND lease_until <= $2 AND handed_over = $3 RETURNING id",
            )
            .bind(status.as_str())
            .bind(now)
            .bind(handed)
            .fetch_all(&mut *tx)
            .await?;
            let events: Vec<(i64, Status)> = ids.iter().map(|id| (*id, status)).collect();
            log_events(
                &mut tx,
                self.store.dialect(),
                &events,
                now,
                Some("lease expired"),
            )
            .await?;
            match status {
                Status::Queued => out.requeued = ids.len() as u64,
                _ => out.unknown = ids.len() as u64,
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    /// A provider's delivery report for a message it accepted (`sent`
    /// becomes `delivered`, `failed`, `bounced`; a complaint can follow a
    /// delivery), applied only while the message is in one of `from`.
    /// Returns the message's id when the report changed it (a repeated or
    /// late report changes nothing).
    pub async fn settle(
        &self,
        provider: &str,
        provider_message_id: &str,
        status: Status,
        code: Option<&str>,
        from: &[Status],
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let from: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
        let sql = format!(
            "UPDATE outreach_messages SET status = $1, error_code = COALESCE($2, error_code), \
             updated_at = $3 WHERE provider = $4 AND provider_message_id = $5 AND status IN ({}) \
             RETURNING id",
            from.join(", ")
        );
        let mut tx = self.store.pool().begin().await?;
        let id: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(status.as_str())
            .bind(code)
            .bind(now)
            .bind(provider)
            .bind(provider_message_id)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(id) = id {
            log_events(&mut tx, self.store.dialect(), &[(id, status)], now, code).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// A message as its sender may see it.
    /// Messages waiting to be sent that are due by `now`, and how long the
    /// oldest of them has been due (ms): the backlog a dashboard watches.
    pub async fn backlog(&self, now: i64) -> Result<(i64, i64), StoreError> {
        let (depth, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(not_before) FROM outreach_messages
             WHERE status IN ('queued', 'deferred') AND not_before <= $1",
        )
        .bind(now)
        .fetch_one(self.store.pool())
        .await?;
        Ok((depth, oldest.map_or(0, |t| (now - t).max(0))))
    }

    pub async fn get(&self, id: i64) -> Result<Option<MessageView>, StoreError> {
        let row = sqlx::query(
            "SELECT id, channel, recipient, status, sender_key, campaign_id, person_id, \
             attempts, error_code, error, created_at, updated_at, segments \
             FROM outreach_messages WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.store.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let status: String = r.try_get(3)?;
        Ok(Some(MessageView {
            id: r.try_get(0)?,
            channel: Channel::parse(&r.try_get::<String, _>(1)?)?,
            recipient: r.try_get(2)?,
            status: Status::parse(&status).ok_or(StoreError::Corrupt(status))?,
            sender_key: r.try_get(4)?,
            campaign_id: r.try_get(5)?,
            person_id: r.try_get(6)?,
            attempts: r.try_get(7)?,
            error_code: r.try_get(8)?,
            error: r.try_get(9)?,
            created_at: r.try_get(10)?,
            updated_at: r.try_get(11)?,
            segments: r.try_get(12)?,
        }))
    }

    pub async fn status(&self, id: i64) -> Result<Option<Status>, StoreError> {
        let raw: Option<String> =
            sqlx::query_scalar("SELECT status FROM outreach_messages WHERE id = $1")
                .bind(id)
                .fetch_optional(self.store.pool())
                .await?;
        Ok(raw.and_then(|s| Status::parse(&s)))
    }

    /// The statuses a message went through, oldest first, with their time
    /// (unix ms) and detail.
    pub async fn history(&self, id: i64) -> Result<Vec<(i64, Status, Option<String>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, status, detail FROM outreach_message_events WHERE message_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let s: String = r.try_get(1)?;
                Ok((
                    r.try_get(0)?,
                    Status::parse(&s).ok_or_else(|| StoreError::Corrupt(s.clone()))?,
                    r.try_get(2)?,
                ))
            })
            .collect()
    }
}

/// Segments of an SMS message's body, from its payload.
fn sms_segments(m: &NewMessage) -> Option<i64> {
    #[derive(Deserialize)]
    struct Body<'a> {
        #[serde(borrow)]
        body: std::borrow::Cow<'a, str>,
    }
    if m.channel != Channel::Sms {
        return None;
    }
    let body: Body<'_> = serde_json::from_str(&m.payload).ok()?;
    Some(crate::segments::count(&body.body).count as i64)
}

/// [`log_events`] with a detail per event.
async fn log_events_detailed(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    dialect: Dialect,
    events: &[(i64, Status, Option<&str>)],
    now: i64,
) -> Result<(), StoreError> {
    for chunk in events.chunks(dialect.bulk_rows(4)) {
        if chunk.is_empty() {
            continue;
        }
        let sql = format!(
            "INSERT INTO outreach_message_events (message_id, at, status, detail) VALUES {}",
            dialect.values_placeholders(chunk.len(), 4)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
        for (id, status, detail) in chunk {
            q = q.bind(*id).bind(now).bind(status.as_str()).bind(*detail);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Records that each of `events` entered its status at `now`, all with
/// the same detail.
pub(crate) async fn log_events(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    dialect: Dialect,
    events: &[(i64, Status)],
    now: i64,
    detail: Option<&str>,
) -> Result<(), StoreError> {
    let detailed: Vec<(i64, Status, Option<&str>)> =
        events.iter().map(|(id, s)| (*id, *s, detail)).collect();
    log_events_detailed(tx, dialect, &detailed, now).await
}
