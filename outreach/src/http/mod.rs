//! The HTTP face of outreach: transactional messages, named templates and
//! campaigns. The gateway has already identified the caller and decided
//! what it may do ([`Sender`]).

pub mod campaigns;
pub mod doc;
pub mod inbound;
pub mod messages;
pub mod templates;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use turnout_core::{Clock, Problem};
use turnout_search::engine::Engine;
use turnout_search::records::Records;

use crate::campaigns::Campaigns;
use crate::consent::optouts::OptOuts;
use crate::queue::Queue;
use crate::templates::named::NamedTemplates;

/// What the caller may do, decided by the gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sender {
    /// The API key's id: transactional messages belong to it.
    pub key_id: String,
    /// `messages:send`.
    pub may_send: bool,
    /// `campaigns` on a confidential key: campaigns, named templates and
    /// inbound replies (staff work, with personal data).
    pub campaigns: bool,
}

impl Sender {
    fn require_campaigns(&self) -> Result<(), Problem> {
        if self.campaigns {
            Ok(())
        } else {
            Err(Problem::forbidden(
                "this key may not manage campaigns or templates (it needs the campaigns scope on a confidential key)",
            ))
        }
    }
}

pub struct OutreachApi {
    pub queue: Queue,
    pub records: Records,
    /// The people search a campaign's audience runs on.
    pub engine: Arc<dyn Engine>,
    pub optouts: OptOuts,
    pub templates: NamedTemplates,
    pub campaigns: Campaigns,
    pub inbound: crate::webhooks::inbound::InboundLog,
    pub unsubscribe: crate::unsubscribe::tokens::Tokens,
    /// Appended to a person's first campaign SMS.
    pub footer: String,
    /// Replace look-alike Unicode in SMS bodies with GSM-7.
    pub smart_encoding: bool,
    /// Where links in answers point, without a trailing slash.
    pub public_url: String,
    pub clock: Arc<dyn Clock>,
    /// Woken after messages are queued, so a worker sends them at once.
    pub wake: Arc<tokio::sync::Notify>,
}

impl OutreachApi {
    fn now_ms(&self) -> i64 {
        self.clock.now_nanos().div_euclid(1_000_000)
    }
}

pub fn router(api: Arc<OutreachApi>) -> Router {
    Router::new()
        .route("/v1/messages", post(messages::create))
        .route("/v1/messages/{id}", get(messages::read))
        .route(
            "/v1/templates",
            post(templates::create).get(templates::list),
        )
        .route(
            "/v1/templates/{name}",
            get(templates::read)
                .put(templates::replace)
                .delete(templates::delete),
        )
        .route("/v1/inbound", get(inbound::list))
        .route("/v1/campaigns", post(campaigns::create))
        .route("/v1/campaigns/{id}", get(campaigns::read))
        .route("/v1/campaigns/{id}/messages", get(campaigns::messages))
        .route("/v1/campaigns/{id}/preview", post(campaigns::preview))
        .route("/v1/campaigns/{id}/test", post(campaigns::test))
        .route("/v1/campaigns/{id}/launch", post(campaigns::launch))
        .route("/v1/campaigns/{id}/pause", post(campaigns::pause))
        .route("/v1/campaigns/{id}/resume", post(campaigns::resume))
        .route("/v1/campaigns/{id}/cancel", post(campaigns::cancel))
        .fallback(|| async { Problem::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async { Problem::method_not_allowed() })
        .with_state(api)
}
