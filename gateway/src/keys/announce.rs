//! Key and plan changes pushed to every instance through Redis pub/sub, so
//! a change is in force everywhere in milliseconds rather than at the next
//! poll. Polling ([`super::sync::Follower::run`]) stays as the safety net:
//! a message lost while an instance was disconnected, or a change written
//! by the CLI (which publishes nothing), still arrives within `poll_ms`.
//!
//! The message carries nothing but "look": each instance reads the change
//! from the store itself, so a forged or stale message can at worst cause
//! one extra read.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::watch;

use super::sync::Follower;

pub struct Announcer {
    conn: ConnectionManager,
    channel: String,
}

impl Announcer {
    pub fn new(url: &str, channel: String) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1);
        Ok(Self {
            conn: ConnectionManager::new_lazy_with_config(client, config)?,
            channel,
        })
    }

    /// Tells the other instances to look. Failure only delays them until
    /// their next poll, so it is logged, not returned.
    pub async fn announce(&self) {
        let mut conn = self.conn.clone();
        let sent: Result<i64, _> = redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg("changed")
            .query_async(&mut conn)
            .await;
        if let Err(err) = sent {
            tracing::warn!(error = %err, "could not announce a key change; other instances will poll it");
        }
    }
}

/// Listens for announcements until `stop`, catching up on each, and once
/// after every (re)subscription for whatever was missed meanwhile.
pub async fn listen(
    follower: Arc<Follower>,
    url: String,
    channel: String,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let subscribed = async {
            let client = redis::Client::open(url.as_str())?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::select! {
            r = subscribed => r,
            _ = stop.changed() => return,
        };
        match pubsub {
            Ok(pubsub) => {
                let _ = follower.catch_up().await;
                let mut messages = pubsub.into_on_message();
                loop {
                    tokio::select! {
                        m = messages.next() => match m {
                            Some(_) => {
                                if let Err(err) = follower.catch_up().await {
                                    tracing::warn!(error = %err, "key sync after an announcement failed");
                                }
                            }
                            None => break,
                        },
                        _ = stop.changed() => return,
                    }
                }
            }
            Err(err) => {
                tracing::debug!(error = %err, "key announcements: cannot subscribe yet");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.changed() => return,
        }
    }
}
