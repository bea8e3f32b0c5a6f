//! Campaign rows and what is read off them: the status a client sees and
//! the live stats, counted from the messages themselves so every recipient
//! is in exactly one bucket.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;
use turnout_core::Store;
use turnout_core::store::StoreError;

use super::Spec;
use crate::queue::Status;

/// The stored status. `Launching` (the audience is being written) shows
/// as `running`, or `scheduled` before `send_at`; `Running` shows as
/// `scheduled` before `send_at` and `completed` once nothing is pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    Draft,
    Launching,
    Scheduled,
    Running,
    Paused,
    Completed,
    Cancelled,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Draft => "draft",
            CampaignStatus::Launching => "launching",
            CampaignStatus::Scheduled => "scheduled",
            CampaignStatus::Running => "running",
            CampaignStatus::Paused => "paused",
            CampaignStatus::Completed => "completed",
            CampaignStatus::Cancelled => "cancelled",
        }
    }

    fn parse(raw: &str) -> Result<Self, StoreError> {
        [
            CampaignStatus::Draft,
            CampaignStatus::Launching,
            CampaignStatus::Scheduled,
            CampaignStatus::Running,
            CampaignStatus::Paused,
            CampaignStatus::Completed,
            CampaignStatus::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
        .ok_or_else(|| StoreError::Corrupt(format!("campaign status {raw:?}")))
    }
}

#[derive(Debug, Clone)]
pub struct Campaign {
    pub id: i64,
    pub spec: Spec,
    pub stored: CampaignStatus,
    pub send_at: Option<i64>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub launched_at: Option<i64>,
}

/// Message counts by status, every status present (zeros included), plus
/// `recipients`, their sum.
pub type Stats = BTreeMap<&'static str, i64>;

/// Statuses a message may still leave.
pub const PENDING: [Status; 3] = [Status::Queued, Status::Deferred, Status::Sending];

impl Campaign {
    /// The status a client sees at `now` (unix ms), given the stats.
    pub fn status(&self, stats: &Stats, now: i64) -> CampaignStatus {
        let before_send_at = self.send_at.is_some_and(|t| now < t);
        match self.stored {
            CampaignStatus::Launching | CampaignStatus::Running if before_send_at => {
                CampaignStatus::Scheduled
            }
            CampaignStatus::Launching => CampaignStatus::Running,
            CampaignStatus::Running
                if PENDING.iter().all(|s| stats.get(s.as_str()) == Some(&0)) =>
            {
                CampaignStatus::Completed
            }
            other => other,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Campaigns {
    store: Store,
}

/// One row of `GET /v1/campaigns/{id}/messages`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CampaignMessage {
    pub id: i64,
    pub person_id: Option<i64>,
    pub to: String,
    pub status: Status,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub modified_date: chrono::DateTime<chrono::Utc>,
}

impl Campaigns {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub async fn create(
        &self,
        spec: &Spec,
        created_by: &str,
        now: i64,
    ) -> Result<Campaign, StoreError> {
        let mut tx = self.store.pool().begin().await?;
        let id: i64 = sqlx::query_scalar(
            "UPDATE outreach_state SET value = value + 1 WHERE name = 'campaign_id' RETURNING value",
        )
        .fetch_one(&mut *tx)
        .await?;
        let send_at = spec.send_at.map(|t| t.timestamp_millis());
        sqlx::query(
            "INSERT INTO outreach_campaigns (id, spec, status, send_at, created_by, created_at, updated_at) \
             VALUES ($1, $2, 'draft', $3, $4, $5, $5)",
        )
        .bind(id)
        .bind(serde_json::to_string(spec).map_err(|e| StoreError::Corrupt(e.to_string()))?)
        .bind(send_at)
        .bind(created_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Campaign {
            id,
            spec: spec.clone(),
            stored: CampaignStatus::Draft,
            send_at,
            created_by: Some(created_by.to_string()),
            created_at: now,
            updated_at: now,
            launched_at: None,
        })
    }

    pub async fn get(&self, id: i64) -> Result<Option<Campaign>, StoreError> {
        let row = sqlx::query(
            "SELECT id, spec, status, send_at, created_by, created_at, updated_at, launched_at \
             FROM outreach_campaigns WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.store.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let spec: String = r.try_get(1)?;
        Ok(Some(Campaign {
            id: r.try_get(0)?,
            spec: serde_json::from_str(&spec).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            stored: CampaignStatus::parse(&r.try_get::<String, _>(2)?)?,
            send_at: r.try_get(3)?,
            created_by: r.try_get(4)?,
            created_at: r.try_get(5)?,
            updated_at: r.try_get(6)?,
            launched_at: r.try_get(7)?,
        }))
    }

    /// Moves the stored status from one of `from` to `to`; false when the
    /// campaign was in none of them (someone else moved it first).
    pub async fn transition(
        &self,
        id: i64,
        from: &[CampaignStatus],
        to: CampaignStatus,
        now: i64,
    ) -> Result<bool, StoreError> {
        let list: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
        let launched = if to == CampaignStatus::Launching {
            ", launched_at = $2"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE outreach_campaigns SET status = $1, updated_at = $2{launched} \
             WHERE id = $3 AND status IN ({})",
            list.join(", ")
        );
        let n = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(to.as_str())
            .bind(now)
            .bind(id)
            .execute(self.store.pool())
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    pub async fn stats(&self, id: i64) -> Result<Stats, StoreError> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) FROM outreach_messages WHERE campaign_id = $1 GROUP BY status",
        )
        .bind(id)
        .fetch_all(self.store.pool())
        .await?;
        let mut stats: Stats = Status::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        let mut total = 0;
        for r in rows {
            let raw: String = r.try_get(0)?;
            let n: i64 = r.try_get(1)?;
            let status = Status::parse(&raw).ok_or(StoreError::Corrupt(raw))?;
            stats.insert(status.as_str(), n);
            total += n;
        }
        stats.insert("recipients", total);
        Ok(stats)
    }

    /// SMS segments: those sent so far (billed), and those of every
    /// message that went or may still go.
    pub async fn segments(&self, id: i64) -> Result<serde_json::Value, StoreError> {
        let (sent, planned): (i64, i64) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(CASE WHEN status IN ('sent', 'delivered') THEN segments ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN status IN ('queued', 'deferred', 'sending', 'sent', 'delivered', 'unknown') \
               THEN segments ELSE 0 END), 0) AS BIGINT) \
             FROM outreach_messages WHERE campaign_id = $1",
        )
        .bind(id)
        .fetch_one(self.store.pool())
        .await?;
        Ok(serde_json::json!({"sent": sent, "planned": planned}))
    }

    /// Cancels every message not yet claimed; those being sent finish.
    pub async fn cancel_pending(&self, id: i64, now: i64) -> Result<u64, StoreError> {
        let mut tx = self.store.pool().begin().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE outreach_messages SET status = 'cancelled', updated_at = $1 \
             WHERE campaign_id = $2 AND status IN ('queued', 'deferred') RETURNING id",
        )
        .bind(now)
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        crate::queue::log_events(
            &mut tx,
            self.store.dialect(),
            &ids.iter()
                .map(|i| (*i, Status::Cancelled))
                .collect::<Vec<_>>(),
            now,
            Some("campaign cancelled"),
        )
        .await?;
        tx.commit().await?;
        Ok(ids.len() as u64)
    }

    /// A page of the campaign's messages in id order, after `after`.
    /// How many of a campaign's messages are (in `status`), for the
    /// envelope's `count`.
    pub async fn count_messages(&self, id: i64, status: Option<Status>) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM outreach_messages WHERE campaign_id = $1 AND ($2 = '' OR status = $2)",
        )
        .bind(id)
        .bind(status.map_or("", Status::as_str))
        .fetch_one(self.store.pool())
        .await?)
    }

    pub async fn messages(
        &self,
        id: i64,
        status: Option<Status>,
        after: i64,
        limit: usize,
    ) -> Result<Vec<CampaignMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, person_id, recipient, status, error_code, error, updated_at \
             FROM outreach_messages WHERE campaign_id = $1 AND ($2 = '' OR status = $2) AND id > $3 \
             ORDER BY id LIMIT $4",
        )
        .bind(id)
        .bind(status.map_or("", Status::as_str))
        .bind(after)
        .bind(limit as i64)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let s: String = r.try_get(3)?;
                Ok(CampaignMessage {
                    id: r.try_get(0)?,
                    person_id: r.try_get(1)?,
                    to: r.try_get(2)?,
                    status: Status::parse(&s).ok_or(StoreError::Corrupt(s))?,
                    error_code: r.try_get(4)?,
                    error: r.try_get(5)?,
                    modified_date: chrono::DateTime::from_timestamp_millis(r.try_get(6)?)
                        .unwrap_or_default(),
                })
            })
            .collect()
    }
}
