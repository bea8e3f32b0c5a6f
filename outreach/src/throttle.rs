//! A provider's messages-per-second limit, shared by every worker of every
//! process through the store: GCRA (a theoretical arrival time advanced by
//! one interval per message), granted in batches so that a worker claims
//! only as many messages as it may send now. One short transaction per
//! claim keeps the row locked only while the arithmetic runs, never across
//! a send. Redis takes this over when configured (the scale-out issue).

use turnout_core::store::{Store, StoreError};

/// The rule itself, kept apart from storage: from the stored arrival time
/// `tat`, how many of `want` messages may go at `now`, and the new `tat`.
/// A message may go while its arrival time is within `burst` intervals of
/// now.
pub fn grant(tat: i64, now: i64, interval: i64, burst: i64, want: i64) -> (i64, i64) {
    let start = tat.max(now);
    let room = (now + burst * interval - start).div_euclid(interval);
    let granted = room.clamp(0, want.max(0));
    (granted, start + granted * interval)
}

#[derive(Debug, Clone)]
pub struct Throttle {
    store: Store,
    name: String,
    /// Nanoseconds per message.
    interval: i64,
    /// Messages allowed at once.
    burst: i64,
}

impl Throttle {
    /// The limit named `name` (a channel, a campaign); its row is created
    /// by the first `take`.
    pub fn per_second(store: Store, name: &str, rate: f64, burst: u32) -> Self {
        Throttle {
            store,
            name: name.to_string(),
            interval: (1e9 / rate.max(1e-9)).round().max(1.0) as i64,
            burst: i64::from(burst.max(1)),
        }
    }

    /// `rate` per second with a burst of one second's worth (at least
    /// one): a worker can claim whole batches without ever exceeding the
    /// rate over a second.
    pub fn second_burst(store: Store, name: &str, rate: f64) -> Self {
        let burst = rate.ceil().clamp(1.0, f64::from(u32::MAX)) as u32;
        Self::per_second(store, name, rate, burst)
    }

    /// Takes up to `want` permits at `now` (unix nanoseconds) and returns
    /// how many it got.
    pub async fn take(&self, now: i64, want: usize) -> Result<usize, StoreError> {
        let mut tx = self.store.pool().begin().await?;
        // The no-op write takes the row's write lock first (on SQLite the
        // database's), so two workers never read the same arrival time.
        let locked = sqlx::query("UPDATE outreach_throttles SET tat = tat WHERE name = $1")
            .bind(&self.name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if locked == 0 {
            // First use: the insert holds the lock the same way; a
            // concurrent first use waits for it and then finds the row.
            sqlx::query(
                "INSERT INTO outreach_throttles (name, tat) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING",
            )
            .bind(&self.name)
            .execute(&mut *tx)
            .await?;
        }
        let tat: i64 = sqlx::query_scalar("SELECT tat FROM outreach_throttles WHERE name = $1")
            .bind(&self.name)
            .fetch_one(&mut *tx)
            .await?;
        let (granted, tat) = grant(tat, now, self.interval, self.burst, want as i64);
        if granted > 0 {
            sqlx::query("UPDATE outreach_throttles SET tat = $1 WHERE name = $2")
                .bind(tat)
                .bind(&self.name)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(granted as usize)
    }

    /// Returns permits taken but not used (fewer messages were due).
    pub async fn give_back(&self, n: usize) -> Result<(), StoreError> {
        if n == 0 {
            return Ok(());
        }
        sqlx::query("UPDATE outreach_throttles SET tat = tat - $1 WHERE name = $2")
            .bind(n as i64 * self.interval)
            .bind(&self.name)
            .execute(self.store.pool())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn a_burst_then_the_rate() {
        let interval = S / 10;
        let t0 = 1_795_000_000 * S;
        let mut tat = 0;
        let mut take = |now: i64| {
            let (g, t) = grant(tat, now, interval, 5, 64);
            tat = t;
            g
        };
        assert_eq!(take(t0), 5, "the burst");
        assert_eq!(take(t0), 0);
        assert_eq!(take(t0 + S / 10), 1, "one per 100 ms");
        assert_eq!(take(t0 + S / 2), 4);
        // Over any long span: the rate plus the burst, never more.
        let mut sent = 10;
        for ms in (600..=10_500).step_by(37) {
            sent += take(t0 + ms * 1_000_000);
        }
        assert!(sent <= 5 + 105, "{sent}");
        assert!(sent >= 100, "{sent}");
    }
}
