//! What outreach forgets when a person erases their account: the bodies
//! and addresses of every message sent to them (found by person and by
//! address, since sign-in codes go to a bare address), the history
//! details of those messages, their inbound texts, their unsubscribe
//! tokens, and their lines in the `log` provider's outbox. Messages not
//! yet sent are cancelled first.
//!
//! The opt-out and suppression list stays: it holds hashes only, and a
//! deleted number that had opted out must stay opted out.

use std::collections::HashSet;
use std::path::Path;

use turnout_core::Store;
use turnout_core::store::StoreError;

/// A person's addresses as outreach knows them: E.164 numbers and email
/// addresses.
#[derive(Debug, Clone, Default)]
pub struct Addresses {
    pub phones: Vec<String>,
    pub emails: Vec<String>,
}

/// What was erased, for the caller's log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Erased {
    pub messages: usize,
    pub inbound: u64,
    pub outbox_lines: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("rewriting the outbox: {0}")]
    Outbox(#[from] std::io::Error),
}

impl From<sqlx::Error> for ErasureError {
    fn from(e: sqlx::Error) -> Self {
        ErasureError::Store(e.into())
    }
}

/// Erases what outreach holds about `person_id` and `addresses`.
/// `outbox_dir`: the data dir of the `log` provider, when it is in use.
pub async fn erase(
    store: &Store,
    person_id: i64,
    addresses: &Addresses,
    outbox_dir: Option<&Path>,
) -> Result<Erased, ErasureError> {
    let dialect = store.dialect();
    let emails: Vec<String> = addresses.emails.iter().map(|e| e.to_lowercase()).collect();
    let all: Vec<&str> = addresses
        .phones
        .iter()
        .chain(&emails)
        .map(String::as_str)
        .collect();

    // The messages: by person (campaigns, reminders, sends to a person)
    // and by address (sign-in codes and other sends to a bare address).
    // Deletion is rare, so these scans go without an index of their own
    // rather than slowing every enqueue.
    let mut ids: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM outreach_messages WHERE person_id = $1")
            .bind(person_id)
            .fetch_all(store.pool())
            .await?;
    if !all.is_empty() {
        let sql = format!(
            "SELECT id FROM outreach_messages WHERE lower(recipient) IN ({})",
            dialect.list_placeholders(all.len())
        );
        let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).persistent(false);
        for a in &all {
            q = q.bind(a.to_lowercase());
        }
        ids.extend(q.fetch_all(store.pool()).await?);
    }
    ids.sort_unstable();
    ids.dedup();

    let mut tx = store.pool().begin().await?;
    for chunk in ids.chunks(dialect.bulk_rows(1)) {
        let list = dialect.list_placeholders(chunk.len());
        let statements = [
            format!(
                "UPDATE outreach_messages SET status = 'cancelled' \
                 WHERE status IN ('queued', 'deferred') AND id IN ({list})"
            ),
            format!(
                "UPDATE outreach_messages SET recipient = '', payload = '{{\"erased\":true}}', \
                 person_id = NULL, error = NULL WHERE id IN ({list})"
            ),
            format!(
                "UPDATE outreach_message_events SET detail = NULL WHERE message_id IN ({list})"
            ),
        ];
        for sql in statements {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
            for id in chunk {
                q = q.bind(*id);
            }
            q.execute(&mut *tx).await?;
        }
    }
    let mut inbound = 0;
    if !addresses.phones.is_empty() {
        let sql = format!(
            "DELETE FROM outreach_inbound WHERE sender IN ({})",
            dialect.list_placeholders(addresses.phones.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
        for p in &addresses.phones {
            q = q.bind(p.as_str());
        }
        inbound = q.execute(&mut *tx).await?.rows_affected();
    }
    if !emails.is_empty() {
        let sql = format!(
            "DELETE FROM outreach_unsubscribe_tokens WHERE lower(address) IN ({})",
            dialect.list_placeholders(emails.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
        for e in &emails {
            q = q.bind(e.as_str());
        }
        q.execute(&mut *tx).await?;
    }
    tx.commit().await?;

    let mut outbox_lines = 0;
    if let Some(dir) = outbox_dir {
        let id_texts: HashSet<String> = ids.iter().map(i64::to_string).collect();
        let addrs: HashSet<String> = all.iter().map(|a| a.to_lowercase()).collect();
        let dir = dir.to_path_buf();
        outbox_lines = tokio::task::spawn_blocking(move || {
            crate::providers::log::erase(&dir, |line| {
                let id = line.get("id").and_then(|v| v.as_str());
                let to = line.get("to").and_then(|v| v.as_str());
                id.is_some_and(|i| id_texts.contains(i))
                    || to.is_some_and(|t| addrs.contains(&t.to_lowercase()))
            })
        })
        .await
        .map_err(std::io::Error::other)??;
    }
    Ok(Erased {
        messages: ids.len(),
        inbound,
        outbox_lines,
    })
}
