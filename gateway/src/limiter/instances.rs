//! How many gateway instances share the limits: the fallback's divisor.
//!
//! Either fixed in config (`ratelimit.instances`), or counted from
//! heartbeats in the store — the store rather than Redis, because the count
//! is needed exactly when Redis is gone. Each instance writes its row every
//! [`BEAT_EVERY`] and counts the rows seen within [`LIVE_WITHIN_SECS`]; a
//! killed instance drops out of the count after that, and until then the
//! others serve a slightly smaller share, which errs on the safe side.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use turnout_core::clock::Clock;
use turnout_core::{Store, StoreError};

pub const BEAT_EVERY: Duration = Duration::from_secs(5);
pub const LIVE_WITHIN_SECS: i64 = 15;

pub struct Heartbeat {
    store: Store,
    id: String,
    clock: Arc<dyn Clock>,
    count: Arc<AtomicU32>,
}

impl Heartbeat {
    pub fn new(store: Store, id: String, clock: Arc<dyn Clock>, count: Arc<AtomicU32>) -> Self {
        Self {
            store,
            id,
            clock,
            count,
        }
    }

    /// Writes this instance's beat and reads back how many are live.
    pub async fn beat(&self) -> Result<u32, StoreError> {
        let now = self.clock.now().timestamp();
        sqlx::query(
            "INSERT INTO gateway_instances (id, seen_at) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(&self.id)
        .bind(now)
        .execute(self.store.pool())
        .await?;
        let (live,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM gateway_instances WHERE seen_at >= $1")
                .bind(now - LIVE_WITHIN_SECS)
                .fetch_one(self.store.pool())
                .await?;
        let live = u32::try_from(live).unwrap_or(u32::MAX).max(1);
        self.count.store(live, Ordering::Relaxed);
        metrics::gauge!("turnout_gateway_instances").set(f64::from(live));
        Ok(live)
    }

    /// Beats until `stop`, then removes this instance's row so the others'
    /// share grows at once after a clean shutdown.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(BEAT_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(err) = self.beat().await {
                        tracing::warn!(error = %err, "instance heartbeat failed");
                    }
                }
                _ = stop.changed() => break,
            }
        }
        let _ = sqlx::query("DELETE FROM gateway_instances WHERE id = $1")
            .bind(&self.id)
            .execute(self.store.pool())
            .await;
    }
}
