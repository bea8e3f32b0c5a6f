//! A campaign's own `max_per_second`: its messages are claimed apart from
//! the rest, under a limit of their own kept in the store like the
//! channels' (so it holds across workers and processes), and under their
//! channel's limit as well.

use turnout_core::Store;
use turnout_core::store::StoreError;

use super::Spec;
use crate::queue::Channel;
use crate::throttle::Throttle;

/// A running campaign with a limit.
pub struct Limited {
    pub id: i64,
    pub channel: Channel,
    pub throttle: Throttle,
}

/// The limits of the campaigns that may be sending now.
pub async fn running(store: &Store) -> Result<Vec<Limited>, StoreError> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, spec FROM outreach_campaigns WHERE status IN ('launching', 'running')",
    )
    .fetch_all(store.pool())
    .await?;
    let mut out = Vec::new();
    for (id, spec) in rows {
        let Ok(spec) = serde_json::from_str::<Spec>(&spec) else {
            continue;
        };
        if let Some(rate) = spec.max_per_second {
            out.push(Limited {
                id,
                channel: spec.channel,
                throttle: Throttle::second_burst(store.clone(), &format!("campaign:{id}"), rate),
            });
        }
    }
    Ok(out)
}
