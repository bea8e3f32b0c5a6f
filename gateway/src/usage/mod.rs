//! Usage analytics per key, route and minute: calls, rejections by reason,
//! status classes, latency. Recorded in memory on the request path (one
//! short lock, no I/O), written to the store in batches by a background
//! task, read back merged by the admin API.

pub mod histogram;
pub mod recorder;
pub mod report;
pub mod store;

pub use recorder::{Outcome, UsageRecorder};

use turnout_core::{Clock, Store};

/// Writes this instance's changed usage rows (those of the current minute
/// only with `include_current`); on failure they stay in memory for the
/// next attempt.
pub async fn flush(
    store: &Store,
    recorder: &UsageRecorder,
    clock: &dyn Clock,
    include_current: bool,
) {
    let current_minute = clock.now_nanos().div_euclid(60_000_000_000);
    let rows = recorder.take_dirty(current_minute, include_current);
    if rows.is_empty() {
        return;
    }
    if let Err(err) = store::write(store, &recorder.instance, &rows).await {
        tracing::warn!(error = %err, rows = rows.len(), "usage flush failed; will retry");
        recorder.restore(rows);
    }
}
