//! Following the store's change log into the engine.
//!
//! Each serving process runs one [`Follower`]: it polls for changes after
//! the engine's position (and is woken at once by writes made in this
//! process), applies them in batches, and records the new position in
//! the same commit as the documents, so a restart resumes where it
//! stopped. Only this task writes the index.
//!
//! A reindex request (a higher `reindex` generation in the store) builds
//! a new index beside the live one while the live one keeps following the
//! log and serving; at the end the new index catches up and is swapped in
//! under the same lock the follower takes, so no change falls between.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, Notify};
use turnout_core::store::StoreError;

use crate::engine::{Engine, EngineError, IndexDoc, Position, Removal};
use crate::store::{Change, RecordKind, SearchStore};

/// Changes read per store round trip.
const BATCH: usize = 20_000;
/// How often the log is polled when no local write wakes the follower;
/// writes made by other instances are visible within this.
pub const POLL: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

#[derive(Clone)]
pub struct Follower {
    store: SearchStore,
    engine: Arc<dyn Engine>,
    /// Held while applying to the live index and while swapping in a
    /// rebuilt one.
    apply_lock: Arc<Mutex<()>>,
    rebuilding: Arc<std::sync::atomic::AtomicBool>,
    /// Fired after every batch applied, for writers waiting to see their
    /// change searchable ([`crate::http::SearchApi`]).
    applied: Arc<Notify>,
}

/// Splits changes into the documents to write and the ids to delete,
/// keeping the last state of each record.
fn split(changes: Vec<Change>) -> (Vec<IndexDoc>, Vec<Removal>) {
    let mut last: HashMap<i64, (RecordKind, Option<String>, i64)> = HashMap::new();
    for c in changes {
        last.insert(c.id, (c.kind, c.doc, c.version));
    }
    let mut upserts = Vec::new();
    let mut deletes = Vec::new();
    for (id, (kind, doc, version)) in last {
        match doc.map(|d| IndexDoc::from_source(kind, d, version)) {
            Some(Ok(d)) => upserts.push(d),
            Some(Err(e)) => {
                tracing::error!(id, error = %e, "a stored record cannot be read; it is left out of the index");
                deletes.push(Removal { id, version });
            }
            None => deletes.push(Removal { id, version }),
        }
    }
    (upserts, deletes)
}

impl Follower {
    pub fn new(store: SearchStore, engine: Arc<dyn Engine>) -> Self {
        Self {
            store,
            engine,
            apply_lock: Arc::new(Mutex::new(())),
            rebuilding: Arc::default(),
            applied: Arc::new(Notify::new()),
        }
    }

    /// Fires (to every waiter) each time a batch reaches the index.
    pub fn applied(&self) -> Arc<Notify> {
        Arc::clone(&self.applied)
    }

    /// Applies every change after the engine's position; returns how many.
    pub async fn catch_up(&self) -> Result<usize, FollowError> {
        let _guard = self.apply_lock.lock().await;
        let mut applied = 0;
        loop {
            let from = self.engine.position().seq;
            let changes = self.store.changes_after(from, BATCH).await?;
            let Some(last) = changes.last().map(|c| c.seq) else {
                return Ok(applied);
            };
            applied += changes.len();
            let (upserts, deletes) = split(changes);
            self.engine.apply(upserts, deletes, last).await?;
            self.applied.notify_waiters();
        }
    }

    /// Whether the store asks for a newer index than the live one.
    pub async fn reindex_due(&self) -> Result<Option<i64>, FollowError> {
        let wanted = self.store.reindex_generation().await?;
        Ok((wanted > self.engine.position().generation).then_some(wanted))
    }

    /// Builds a fresh index from the store and swaps it in.
    pub async fn rebuild(&self, generation: i64) -> Result<(), FollowError> {
        use std::sync::atomic::Ordering;
        if self.rebuilding.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let result = self.rebuild_inner(generation).await;
        self.rebuilding.store(false, Ordering::SeqCst);
        result
    }

    async fn rebuild_inner(&self, generation: i64) -> Result<(), FollowError> {
        let started = std::time::Instant::now();
        // Changes logged from here on are replayed into the new index;
        // replaying one whose record the scan already saw is harmless.
        let seq = self.store.last_seq().await?;
        let mut builder = self.engine.rebuild()?;
        let mut after = 0;
        let mut records = 0usize;
        loop {
            let rows = self.store.scan(after, BATCH).await?;
            let Some(last) = rows.last().map(|r| r.id) else {
                break;
            };
            after = last;
            records += rows.len();
            let docs = rows
                .into_iter()
                .filter_map(|r| match IndexDoc::from_source(r.kind, r.doc, r.version) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        tracing::error!(id = r.id, error = %e, "a stored record cannot be read; it is left out of the index");
                        None
                    }
                })
                .collect();
            builder = blocking(builder, move |b| b.add(docs)).await?;
        }
        // Catch up without the lock (the bulk), then once more under it
        // (what arrived meanwhile), and swap while still holding it.
        let (builder, seq) = self.replay(builder, seq).await?;
        let _guard = self.apply_lock.lock().await;
        let (builder, seq) = self.replay(builder, seq).await?;
        tokio::task::spawn_blocking(move || builder.finish(Position { seq, generation }))
            .await
            .map_err(|e| EngineError::Index(e.to_string()))??;
        tracing::info!(
            records,
            generation,
            seconds = started.elapsed().as_secs_f64(),
            "search index rebuilt"
        );
        Ok(())
    }

    /// Applies every change after `seq` to a rebuild; returns the new `seq`.
    async fn replay(
        &self,
        mut builder: Box<dyn crate::engine::Rebuild>,
        mut seq: i64,
    ) -> Result<(Box<dyn crate::engine::Rebuild>, i64), FollowError> {
        loop {
            let changes = self.store.changes_after(seq, BATCH).await?;
            let Some(last) = changes.last().map(|c| c.seq) else {
                return Ok((builder, seq));
            };
            seq = last;
            let (upserts, deletes) = split(changes);
            builder = blocking(builder, move |b| b.apply(upserts, deletes)).await?;
        }
    }

    /// Follows the log until `stop` resolves: catches up whenever `wake`
    /// fires or `POLL` passes, and rebuilds when a reindex is requested
    /// (in the background, so the live index keeps following).
    pub async fn run(self, wake: Arc<Notify>, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            if let Err(e) = self.catch_up().await {
                tracing::error!(error = %e, "search index follower");
            }
            match self.reindex_due().await {
                Ok(Some(generation))
                    if !self.rebuilding.load(std::sync::atomic::Ordering::SeqCst) =>
                {
                    let me = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = me.rebuild(generation).await {
                            tracing::error!(error = %e, "search reindex failed; will retry");
                        }
                    });
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "search index follower"),
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

/// Runs a step of a rebuild on the blocking pool, handing the builder
/// back.
async fn blocking<F>(
    mut builder: Box<dyn crate::engine::Rebuild>,
    step: F,
) -> Result<Box<dyn crate::engine::Rebuild>, EngineError>
where
    F: FnOnce(&mut Box<dyn crate::engine::Rebuild>) -> Result<(), EngineError> + Send + 'static,
{
    tokio::task::spawn_blocking(move || step(&mut builder).map(|()| builder))
        .await
        .map_err(|e| EngineError::Index(e.to_string()))?
}
