//! The HTTP face of the search crate: the axum router the gateway mounts
//! under `/v1`. The gateway has already identified the caller, checked its
//! rate and read the body; it passes what the caller may do as an
//! [`Access`] in the request's extensions, and every handler asks that one
//! value, so the rules live in one place on each side.

mod attendances;
mod body;
pub mod doc;
mod errors;
mod events;
mod lists;
mod people;
mod writes;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, patch};
use tokio::sync::Notify;
use turnout_core::{Clock, Problem};

use crate::engine::Engine;
use crate::records::Records;

/// What a caller may do here, decided by the gateway from its key and
/// its user token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Access {
    /// Read and search PUBLIC events.
    pub events: bool,
    /// Also PRIVATE events.
    pub private_events: bool,
    pub events_write: bool,
    /// Read and search people, with their personal data; list
    /// attendances.
    pub people_read: bool,
    /// Create, edit and delete people and attendances.
    pub people_write: bool,
    /// The key holds `attendances`: a signed-in person may register and
    /// cancel for themselves, and list their own attendances.
    pub attend: bool,
    /// The signed-in person, when a user token came with the request.
    pub person: Option<i64>,
}

impl Access {
    fn require(&self, allowed: bool, what: &str) -> Result<(), Problem> {
        if allowed {
            Ok(())
        } else {
            Err(Problem::forbidden(format!("this key may not {what}")))
        }
    }
}

pub struct SearchApi {
    pub records: Records,
    pub engine: Arc<dyn Engine>,
    /// Woken after every write, so the follower indexes it at once.
    pub wake: Arc<Notify>,
    /// Fired by the follower after each batch it indexes.
    pub applied: Arc<Notify>,
    /// How long a write waits for its change to be searchable here before
    /// answering anyway (`search.visible_timeout_ms`).
    pub visible_within: std::time::Duration,
    /// Where `next` and `previous` links point, without a trailing slash.
    pub public_url: String,
    pub clock: Arc<dyn Clock>,
}

impl SearchApi {
    /// After a write: wakes the follower, then waits (up to
    /// `visible_within`) until this instance's index holds the change, so
    /// a client that writes and then searches finds what it wrote. Past
    /// the wait the write still stands; the index catches up shortly.
    async fn written(&self) {
        self.wake.notify_one();
        if self.visible_within.is_zero() {
            return;
        }
        let Ok(target) = self.records.store.last_seq().await else {
            return;
        };
        let deadline = tokio::time::Instant::now() + self.visible_within;
        loop {
            let applied = self.applied.notified();
            tokio::pin!(applied);
            applied.as_mut().enable();
            if self.engine.position().seq >= target {
                return;
            }
            if tokio::time::timeout_at(deadline, applied).await.is_err() {
                tracing::debug!(target, "a write was answered before the index caught up");
                return;
            }
        }
    }

    fn now_unix(&self) -> i64 {
        self.clock.now_nanos().div_euclid(1_000_000_000)
    }
}

/// The routes of API.md's "Volunteers, events, attendances".
pub fn router(api: Arc<SearchApi>) -> Router {
    Router::new()
        .route("/v1/people", get(people::search).post(people::create))
        .route("/v1/people/deleted", get(people::deleted))
        .route(
            "/v1/people/{id}",
            get(people::read)
                .patch(people::update)
                .delete(people::delete),
        )
        .route("/v1/events", get(events::search).post(events::create))
        .route("/v1/events/deleted", get(events::deleted))
        .route(
            "/v1/events/{id}",
            get(events::read)
                .patch(events::update)
                .delete(events::delete),
        )
        .route(
            "/v1/events/{id}/attendances",
            get(attendances::list).post(attendances::create),
        )
        .route(
            "/v1/attendances/{id}",
            patch(attendances::update).get(attendances::read),
        )
        .route("/v1/me/attendances", get(attendances::mine))
        .fallback(|| async { Problem::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async { Problem::method_not_allowed() })
        .with_state(api)
}
