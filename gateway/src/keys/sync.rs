//! Keeps this instance's [`Registry`] in step with the store.
//!
//! Every write to plans, keys and settings carries a revision number; the
//! follower asks for rows above the last one it saw, applies them to its own
//! copy of the raw rows, and swaps in a freshly built snapshot. It polls
//! every `sync.poll_ms` (250 ms by default), which is how a change made on
//! one instance is in force on all of them within a second; an instance's
//! own admin writes call [`Follower::applied`] so they apply at once, and,
//! with Redis configured, announce themselves so the others look at once
//! too ([`super::announce`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use turnout_core::{Store, StoreError};

use super::model::{ApiKey, Plan};
use super::registry::{Registry, Snapshot, entry_for};
use super::store;

pub const ADMIN_TOKEN_SETTING: &str = "admin_token_sha256";

#[derive(Default)]
struct Rows {
    rev: i64,
    plans: HashMap<String, Plan>,
    keys: HashMap<String, ApiKey>,
    settings: HashMap<String, String>,
}

pub struct Follower {
    store: Store,
    registry: Arc<Registry>,
    rows: Mutex<Rows>,
    /// An admin token from config wins over the stored one.
    configured_admin_sha256: Option<String>,
    /// Tells the other instances when this one changed something.
    announcer: Option<super::announce::Announcer>,
}

impl Follower {
    pub fn new(
        store: Store,
        registry: Arc<Registry>,
        configured_admin_sha256: Option<String>,
    ) -> Self {
        Self {
            store,
            registry,
            rows: Mutex::new(Rows::default()),
            configured_admin_sha256,
            announcer: None,
        }
    }

    pub fn with_announcer(mut self, announcer: super::announce::Announcer) -> Self {
        self.announcer = Some(announcer);
        self
    }

    /// After this instance's own write: apply it here at once, and tell
    /// the others.
    pub async fn applied(&self) -> Result<usize, StoreError> {
        let n = self.catch_up().await;
        if let Some(a) = &self.announcer {
            a.announce().await;
        }
        n
    }

    /// Applies every change since the last call; returns how many rows
    /// changed.
    pub async fn catch_up(&self) -> Result<usize, StoreError> {
        let mut rows = self.rows.lock().await;
        let changes = store::changes_since(&self.store, rows.rev).await?;
        let n = changes.plans.len() + changes.keys.len() + changes.settings.len();
        if changes.rev == rows.rev {
            return Ok(0);
        }
        rows.rev = changes.rev;
        for plan in changes.plans {
            rows.plans.insert(plan.id.clone(), plan);
        }
        for key in changes.keys {
            rows.keys.insert(key.id.clone(), key);
        }
        for (name, value) in changes.settings {
            rows.settings.insert(name, value);
        }
        self.registry.replace(self.build(&rows));
        metrics::gauge!("turnout_keys_loaded").set(rows.keys.len() as f64);
        Ok(n)
    }

    fn build(&self, rows: &Rows) -> Snapshot {
        let keys = rows
            .keys
            .values()
            .filter_map(|key| {
                let plan = rows.plans.get(&key.plan_id)?;
                Some((key.id.clone(), Arc::new(entry_for(key, plan))))
            })
            .collect();
        Snapshot {
            keys,
            admin_token_sha256: self
                .configured_admin_sha256
                .clone()
                .or_else(|| rows.settings.get(ADMIN_TOKEN_SETTING).cloned()),
        }
    }

    /// Polls until `shutdown` fires. Store errors are logged and retried:
    /// the last good snapshot keeps serving meanwhile.
    pub async fn run(
        self: Arc<Self>,
        every: Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(err) = self.catch_up().await {
                        metrics::counter!("turnout_sync_errors_total").increment(1);
                        tracing::warn!(error = %err, "key sync failed; serving the last snapshot");
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}
