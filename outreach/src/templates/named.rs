//! Named templates (`/v1/templates`), kept in the store so campaigns and
//! transactional messages can refer to them by name. A template is
//! compiled when it is saved, so a saved template always compiles.

use serde::Serialize;
use sqlx::Row;
use turnout_core::Store;
use turnout_core::store::StoreError;

use super::Source;
use crate::queue::Channel;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = Template)]
pub struct Named {
    pub name: String,
    pub channel: Channel,
    #[serde(flatten)]
    pub source: Source,
    pub created_date: chrono::DateTime<chrono::Utc>,
    pub modified_date: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone)]
pub struct NamedTemplates {
    store: Store,
}

fn date(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl NamedTemplates {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Creates or replaces; true when it was created.
    pub async fn put(
        &self,
        name: &str,
        channel: Channel,
        source: &Source,
        now: i64,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE outreach_templates SET channel = $1, subject = $2, body = $3, html = $4, \
             updated_at = $5 WHERE name = $6",
        )
        .bind(channel.as_str())
        .bind(source.subject.as_deref())
        .bind(source.body.as_str())
        .bind(source.html.as_deref())
        .bind(now)
        .bind(name)
        .execute(self.store.pool())
        .await?
        .rows_affected();
        if updated == 1 {
            return Ok(false);
        }
        let inserted = sqlx::query(
            "INSERT INTO outreach_templates (name, channel, subject, body, html, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(channel.as_str())
        .bind(source.subject.as_deref())
        .bind(source.body.as_str())
        .bind(source.html.as_deref())
        .bind(now)
        .execute(self.store.pool())
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    pub async fn get(&self, name: &str) -> Result<Option<Named>, StoreError> {
        let row = sqlx::query(
            "SELECT name, channel, subject, body, html, created_at, updated_at \
             FROM outreach_templates WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(self.store.pool())
        .await?;
        row.map(|r| read(&r)).transpose()
    }

    pub async fn list(&self) -> Result<Vec<Named>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, channel, subject, body, html, created_at, updated_at \
             FROM outreach_templates ORDER BY name",
        )
        .fetch_all(self.store.pool())
        .await?;
        rows.iter().map(read).collect()
    }

    pub async fn delete(&self, name: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM outreach_templates WHERE name = $1")
            .bind(name)
            .execute(self.store.pool())
            .await?
            .rows_affected();
        Ok(n == 1)
    }
}

fn read(r: &sqlx::any::AnyRow) -> Result<Named, StoreError> {
    Ok(Named {
        name: r.try_get(0)?,
        channel: Channel::parse(&r.try_get::<String, _>(1)?)?,
        source: Source {
            subject: r.try_get(2)?,
            body: r.try_get(3)?,
            html: r.try_get(4)?,
        },
        created_date: date(r.try_get(5)?),
        modified_date: date(r.try_get(6)?),
    })
}
