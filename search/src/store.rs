//! The search crate's tables: records (people and events), their
//! identifiers, attendances, and the change log the index follows.
//!
//! Every write runs in one transaction that starts by taking the change
//! log's sequence numbers from the locked `seq` row. That first statement
//! is a write, so SQLite takes its write lock at once (no read-to-write
//! upgrade that could fail under contention), and PostgreSQL holds the row
//! lock until commit, so sequence order is commit order: a follower that
//! has applied everything up to N can never later see a change below N.

use std::collections::HashMap;

use sqlx::{Any, AnyPool, Row, Transaction};
use turnout_core::store::{MAX_BATCH_PARAMS, Migration, Store, StoreError};

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "search",
        sqlite: include_str!("../migrations/0001_search.sql"),
        postgres: include_str!("../migrations/0001_search.sql"),
    },
    Migration {
        version: 2,
        name: "attendances_by_person",
        sqlite: include_str!("../migrations/0002_attendances_by_person.sql"),
        postgres: include_str!("../migrations/0002_attendances_by_person.sql"),
    },
    Migration {
        version: 3,
        name: "record_versions",
        sqlite: include_str!("../migrations/0003_record_versions.sql"),
        postgres: include_str!("../migrations/0003_record_versions.sql"),
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Person,
    Event,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Person => "person",
            RecordKind::Event => "event",
        }
    }

    fn parse(raw: &str) -> Result<Self, StoreError> {
        match raw {
            "person" => Ok(RecordKind::Person),
            "event" => Ok(RecordKind::Event),
            other => Err(StoreError::Corrupt(format!(
                "unknown record kind {other:?}"
            ))),
        }
    }
}

/// A live record as stored.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    pub id: i64,
    pub doc: String,
    pub timezone_given: bool,
}

/// One record to insert or replace.
#[derive(Debug, Clone)]
pub struct RecordWrite {
    pub id: i64,
    pub doc: String,
    pub timezone_given: bool,
    /// Unix milliseconds.
    pub created_at: i64,
    pub modified_at: i64,
    /// The record's full set of identifiers after the write.
    pub identifiers: Vec<String>,
}

/// One entry of the change log, with the record's state now: `doc` is
/// `None` when the record has been deleted since.
#[derive(Debug, Clone)]
pub struct Change {
    pub seq: i64,
    pub id: i64,
    pub kind: RecordKind,
    pub doc: Option<String>,
    /// The record's version with this state (see migration 0003).
    pub version: i64,
}

/// A live record as a rebuild reads it.
#[derive(Debug, Clone)]
pub struct ScannedRecord {
    pub id: i64,
    pub kind: RecordKind,
    pub doc: String,
    pub version: i64,
}

#[derive(Debug, Clone)]
pub struct AttendanceRow {
    pub id: i64,
    pub event_id: i64,
    pub timeslot_id: i64,
    pub person_id: i64,
    pub status: String,
    pub attended: bool,
    pub created_at: i64,
    pub modified_at: i64,
}

/// A write transaction that holds the change log's `seq` row.
pub struct WriteTx {
    pub tx: Transaction<'static, Any>,
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit().await?)
    }
}

#[derive(Debug, Clone)]
pub struct SearchStore {
    store: Store,
}

impl SearchStore {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    fn pool(&self) -> &AnyPool {
        self.store.pool()
    }

    /// Opens a write transaction, locking the change log's `seq` row.
    pub async fn begin(&self) -> Result<WriteTx, StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE search_state SET value = value WHERE name = 'seq'")
            .execute(&mut *tx)
            .await?;
        Ok(WriteTx { tx })
    }

    /// Reserves `n` fresh ids.
    pub async fn allocate_ids(&self, w: &mut WriteTx, n: usize) -> Result<i64, StoreError> {
        let last: i64 = sqlx::query_scalar(
            "UPDATE search_state SET value = value + $1 WHERE name = 'id' RETURNING value",
        )
        .bind(n as i64)
        .fetch_one(&mut *w.tx)
        .await?;
        Ok(last - n as i64 + 1)
    }

    pub async fn get(&self, kind: RecordKind, id: i64) -> Result<Option<StoredRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, doc, timezone_given FROM search_records \
             WHERE id = $1 AND kind = $2 AND deleted_at IS NULL",
        )
        .bind(id)
        .bind(kind.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| stored(&r)).transpose()
    }

    /// The live records among `ids`, inside a write transaction.
    pub async fn get_many(
        &self,
        w: &mut WriteTx,
        kind: RecordKind,
        ids: &[i64],
    ) -> Result<HashMap<i64, StoredRecord>, StoreError> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(MAX_BATCH_PARAMS - 1) {
            let sql = format!(
                "SELECT id, doc, timezone_given FROM search_records \
                 WHERE kind = $1 AND deleted_at IS NULL AND id IN ({})",
                placeholders_from(2, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(kind.as_str());
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&mut *w.tx).await? {
                let s = stored(&r)?;
                out.insert(s.id, s);
            }
        }
        Ok(out)
    }

    /// Which records the given identifiers already name.
    pub async fn find_identifiers(
        &self,
        w: &mut WriteTx,
        kind: RecordKind,
        identifiers: &[String],
    ) -> Result<HashMap<String, i64>, StoreError> {
        let mut out = HashMap::new();
        for chunk in identifiers.chunks(MAX_BATCH_PARAMS - 1) {
            let sql = format!(
                "SELECT identifier, record_id FROM search_identifiers \
                 WHERE kind = $1 AND identifier IN ({})",
                placeholders_from(2, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(kind.as_str());
            for i in chunk {
                q = q.bind(i.as_str());
            }
            for r in q.fetch_all(&mut *w.tx).await? {
                out.insert(r.try_get(0)?, r.try_get(1)?);
            }
        }
        Ok(out)
    }

    /// Inserts or replaces records, replaces their identifiers, and logs
    /// one change each. An identifier another record holds is a
    /// [`StoreError::Conflict`].
    pub async fn write(
        &self,
        w: &mut WriteTx,
        kind: RecordKind,
        writes: &[RecordWrite],
    ) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let dialect = self.store.dialect();
        // Documents are long: statements are cut by size as well as rows
        // (see `Dialect::chunks`).
        for chunk in dialect.chunks(writes, 6, |r| r.doc.len() + 48) {
            let sql = format!(
                "INSERT INTO search_records (id, kind, doc, timezone_given, created_at, modified_at) \
                 VALUES {} ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, \
                 timezone_given = excluded.timezone_given, modified_at = excluded.modified_at, \
                 version = search_records.version + 1",
                dialect.values_placeholders(chunk.len(), 6)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                q = q
                    .bind(r.id)
                    .bind(kind.as_str())
                    .bind(r.doc.as_str())
                    .bind(r.timezone_given as i64)
                    .bind(r.created_at)
                    .bind(r.modified_at);
            }
            q.execute(&mut *w.tx).await?;

            let sql = format!(
                "DELETE FROM search_identifiers WHERE record_id IN ({})",
                dialect.list_placeholders(chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                q = q.bind(r.id);
            }
            q.execute(&mut *w.tx).await?;

            let pairs: Vec<(&str, i64)> = chunk
                .iter()
                .flat_map(|r| r.identifiers.iter().map(move |i| (i.as_str(), r.id)))
                .collect();
            for pairs in dialect.chunks(&pairs, 3, |(i, _)| i.len() + 24) {
                let sql = format!(
                    "INSERT INTO search_identifiers (kind, identifier, record_id) VALUES {}",
                    dialect.values_placeholders(pairs.len(), 3)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (identifier, id) in pairs {
                    q = q.bind(kind.as_str()).bind(*identifier).bind(*id);
                }
                q.execute(&mut *w.tx).await.map_err(|e| {
                    StoreError::conflict_on_unique(e, "an identifier already names another record")
                })?;
            }
        }
        let ids: Vec<i64> = writes.iter().map(|r| r.id).collect();
        self.log_changes(w, &ids).await
    }

    async fn log_changes(&self, w: &mut WriteTx, ids: &[i64]) -> Result<(), StoreError> {
        let last: i64 = sqlx::query_scalar(
            "UPDATE search_state SET value = value + $1 WHERE name = 'seq' RETURNING value",
        )
        .bind(ids.len() as i64)
        .fetch_one(&mut *w.tx)
        .await?;
        let mut seq = last - ids.len() as i64;
        let dialect = self.store.dialect();
        for chunk in ids.chunks(dialect.bulk_rows(2)) {
            let sql = format!(
                "INSERT INTO search_changes (seq, record_id) VALUES {}",
                dialect.values_placeholders(chunk.len(), 2)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                seq += 1;
                q = q.bind(seq).bind(*id);
            }
            q.execute(&mut *w.tx).await?;
        }
        Ok(())
    }

    /// Deletes a record: its row stays as a tombstone for the `deleted`
    /// feed, without its document; its identifiers are freed and its
    /// attendances removed. Returns the events whose attendances were
    /// removed (their `is_full` flags may have changed), or `None` when
    /// there was no such live record.
    pub async fn delete(
        &self,
        w: &mut WriteTx,
        kind: RecordKind,
        id: i64,
        now_ms: i64,
    ) -> Result<Option<Vec<i64>>, StoreError> {
        let gone = sqlx::query(
            "UPDATE search_records SET doc = NULL, deleted_at = $1, modified_at = $1, \
             version = version + 1 WHERE id = $2 AND kind = $3 AND deleted_at IS NULL",
        )
        .bind(now_ms)
        .bind(id)
        .bind(kind.as_str())
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        if gone == 0 {
            return Ok(None);
        }
        sqlx::query("DELETE FROM search_identifiers WHERE record_id = $1")
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
        let mut touched = Vec::new();
        match kind {
            RecordKind::Person => {
                touched = sqlx::query_scalar(
                    "SELECT DISTINCT event_id FROM search_attendances \
                     WHERE person_id = $1 AND status <> 'CANCELLED'",
                )
                .bind(id)
                .fetch_all(&mut *w.tx)
                .await?;
                sqlx::query("DELETE FROM search_attendances WHERE person_id = $1")
                    .bind(id)
                    .execute(&mut *w.tx)
                    .await?;
            }
            RecordKind::Event => {
                sqlx::query("DELETE FROM search_attendances WHERE event_id = $1")
                    .bind(id)
                    .execute(&mut *w.tx)
                    .await?;
            }
        }
        self.log_changes(w, &[id]).await?;
        Ok(Some(touched))
    }

    /// Changes after `seq`, oldest first, each with its record's current
    /// state.
    pub async fn changes_after(&self, seq: i64, limit: usize) -> Result<Vec<Change>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.seq, r.id, r.kind, r.doc, r.version FROM search_changes c \
             JOIN search_records r ON r.id = c.record_id \
             WHERE c.seq > $1 ORDER BY c.seq LIMIT $2",
        )
        .bind(seq)
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Change {
                    seq: r.try_get(0)?,
                    id: r.try_get(1)?,
                    kind: RecordKind::parse(&r.try_get::<String, _>(2)?)?,
                    doc: r.try_get(3)?,
                    version: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// The highest sequence number handed out so far.
    pub async fn last_seq(&self) -> Result<i64, StoreError> {
        self.state("seq").await
    }

    /// Bumped by `turnout reindex`: every serving process rebuilds its
    /// index when it sees a higher value than the one it built.
    pub async fn reindex_generation(&self) -> Result<i64, StoreError> {
        self.state("reindex").await
    }

    pub async fn request_reindex(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "UPDATE search_state SET value = value + 1 WHERE name = 'reindex' RETURNING value",
        )
        .fetch_one(self.pool())
        .await?)
    }

    async fn state(&self, name: &str) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM search_state WHERE name = $1")
                .bind(name)
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// Live records in id order after `after_id`, for rebuilding an index.
    pub async fn scan(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<ScannedRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, doc, version FROM search_records \
             WHERE id > $1 AND deleted_at IS NULL ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ScannedRecord {
                    id: r.try_get(0)?,
                    kind: RecordKind::parse(&r.try_get::<String, _>(1)?)?,
                    doc: r.try_get(2)?,
                    version: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// Deletions at or after `since_ms`, ordered by (time, id), after the
    /// cursor position `after`.
    pub async fn deleted_since(
        &self,
        kind: RecordKind,
        since_ms: i64,
        after: Option<(i64, i64)>,
        limit: usize,
    ) -> Result<(Vec<(i64, i64)>, i64), StoreError> {
        let (after_at, after_id) = after.unwrap_or((i64::MIN, i64::MIN));
        let rows = sqlx::query(
            "SELECT id, deleted_at FROM search_records \
             WHERE kind = $1 AND deleted_at IS NOT NULL AND deleted_at >= $2 \
               AND (deleted_at > $3 OR (deleted_at = $3 AND id > $4)) \
             ORDER BY deleted_at, id LIMIT $5",
        )
        .bind(kind.as_str())
        .bind(since_ms)
        .bind(after_at)
        .bind(after_id)
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM search_records \
             WHERE kind = $1 AND deleted_at IS NOT NULL AND deleted_at >= $2",
        )
        .bind(kind.as_str())
        .bind(since_ms)
        .fetch_one(self.pool())
        .await?;
        let rows = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, StoreError>>()?;
        Ok((rows, count))
    }

    /// Active attendances per (event, timeslot) for the given events.
    pub async fn taken_places(
        &self,
        w: &mut WriteTx,
        event_ids: &[i64],
    ) -> Result<HashMap<(i64, i64), u32>, StoreError> {
        let mut out = HashMap::new();
        for chunk in event_ids.chunks(MAX_BATCH_PARAMS - 1) {
            let sql = format!(
                "SELECT event_id, timeslot_id, COUNT(*) FROM search_attendances \
                 WHERE status <> 'CANCELLED' AND event_id IN ({}) \
                 GROUP BY event_id, timeslot_id",
                placeholders_from(1, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&mut *w.tx).await? {
                let n: i64 = r.try_get(2)?;
                out.insert((r.try_get(0)?, r.try_get(1)?), n as u32);
            }
        }
        Ok(out)
    }

    pub async fn attendance(&self, id: i64) -> Result<Option<AttendanceRow>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT id, event_id, timeslot_id, person_id, status, attended, created_at, modified_at ",
            "FROM search_attendances WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| attendance(&r)).transpose()
    }

    pub async fn attendance_in(
        &self,
        w: &mut WriteTx,
        event_id: i64,
        timeslot_id: i64,
        person_id: i64,
    ) -> Result<Option<AttendanceRow>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT id, event_id, timeslot_id, person_id, status, attended, created_at, modified_at ",
            "FROM search_attendances WHERE event_id = $1 AND timeslot_id = $2 AND person_id = $3"
        ))
        .bind(event_id)
        .bind(timeslot_id)
        .bind(person_id)
        .fetch_optional(&mut *w.tx)
        .await?;
        row.map(|r| attendance(&r)).transpose()
    }

    pub async fn put_attendance(
        &self,
        w: &mut WriteTx,
        a: &AttendanceRow,
    ) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO search_attendances ",
            "(id, event_id, timeslot_id, person_id, status, attended, created_at, modified_at) ",
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET ",
            "status = excluded.status, attended = excluded.attended, modified_at = excluded.modified_at"
        ))
        .bind(a.id)
        .bind(a.event_id)
        .bind(a.timeslot_id)
        .bind(a.person_id)
        .bind(a.status.as_str())
        .bind(a.attended as i64)
        .bind(a.created_at)
        .bind(a.modified_at)
        .execute(&mut *w.tx)
        .await?;
        Ok(())
    }

    /// An event's attendances in id order after `after_id`, and how many
    /// it has in all.
    pub async fn attendances_of(
        &self,
        event_id: i64,
        after_id: i64,
        limit: usize,
    ) -> Result<(Vec<AttendanceRow>, i64), StoreError> {
        self.attendances_where("event_id", event_id, after_id, limit)
            .await
    }

    /// A person's attendances, the same way.
    pub async fn attendances_of_person(
        &self,
        person_id: i64,
        after_id: i64,
        limit: usize,
    ) -> Result<(Vec<AttendanceRow>, i64), StoreError> {
        self.attendances_where("person_id", person_id, after_id, limit)
            .await
    }

    async fn attendances_where(
        &self,
        column: &'static str,
        value: i64,
        after_id: i64,
        limit: usize,
    ) -> Result<(Vec<AttendanceRow>, i64), StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, event_id, timeslot_id, person_id, status, attended, created_at, modified_at \
             FROM search_attendances WHERE {column} = $1 AND id > $2 ORDER BY id LIMIT $3"
        )))
        .bind(value)
        .bind(after_id)
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM search_attendances WHERE {column} = $1"
        )))
        .bind(value)
        .fetch_one(self.pool())
        .await?;
        Ok((
            rows.iter().map(attendance).collect::<Result<_, _>>()?,
            count,
        ))
    }

    /// Logs a change for a record whose document was rewritten in place
    /// (an event whose `is_full` flags moved with its attendances).
    pub async fn rewrite_doc(
        &self,
        w: &mut WriteTx,
        id: i64,
        doc: &str,
        modified_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE search_records SET doc = $1, modified_at = $2, version = version + 1 WHERE id = $3",
        )
            .bind(doc)
            .bind(modified_at)
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
        self.log_changes(w, &[id]).await
    }
}

fn stored(r: &sqlx::any::AnyRow) -> Result<StoredRecord, StoreError> {
    Ok(StoredRecord {
        id: r.try_get(0)?,
        doc: r.try_get(1)?,
        timezone_given: r.try_get::<i64, _>(2)? != 0,
    })
}

fn attendance(r: &sqlx::any::AnyRow) -> Result<AttendanceRow, StoreError> {
    Ok(AttendanceRow {
        id: r.try_get(0)?,
        event_id: r.try_get(1)?,
        timeslot_id: r.try_get(2)?,
        person_id: r.try_get(3)?,
        status: r.try_get(4)?,
        attended: r.try_get::<i64, _>(5)? != 0,
        created_at: r.try_get(6)?,
        modified_at: r.try_get(7)?,
    })
}

/// `$first, $first+1, …` for an `IN (…)` list.
fn placeholders_from(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
