//! The admin API under `/admin/v1/`, for operators: plans, keys, usage and
//! the audit log, behind the admin token.

pub mod doc;
mod extract;
pub(crate) mod handlers;
pub mod paging;
pub(crate) mod search;
pub mod service;
pub(crate) mod suppressions;
pub(crate) mod usage;
pub mod views;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::keys::Registry;
use crate::keys::sync::Follower;
use crate::usage::UsageRecorder;
pub use service::{Admin, AdminError};

#[derive(Clone)]
pub struct AdminState {
    pub admin: Admin,
    pub registry: Arc<Registry>,
    pub follower: Arc<Follower>,
    pub usage: Arc<UsageRecorder>,
    pub public_url: Option<String>,
    pub search: Arc<turnout_search::http::SearchApi>,
}

pub fn router(state: AdminState) -> Router {
    Router::new()
        .route(
            "/admin/v1/plans",
            get(handlers::list_plans).post(handlers::create_plan),
        )
        .route(
            "/admin/v1/plans/{id}",
            get(handlers::get_plan)
                .patch(handlers::update_plan)
                .delete(handlers::delete_plan),
        )
        .route(
            "/admin/v1/keys",
            get(handlers::list_keys).post(handlers::create_key),
        )
        .route(
            "/admin/v1/keys/{id}",
            get(handlers::get_key)
                .patch(handlers::update_key)
                .delete(handlers::revoke_key),
        )
        .route("/admin/v1/usage", get(usage::get_usage))
        .route("/admin/v1/audit", get(handlers::list_audit))
        .route(
            "/admin/v1/import/people",
            axum::routing::post(search::import_people),
        )
        .route(
            "/admin/v1/import/events",
            axum::routing::post(search::import_events),
        )
        .route("/admin/v1/search", get(search::status))
        .route(
            "/admin/v1/suppressions",
            get(suppressions::list)
                .post(suppressions::create)
                .delete(suppressions::remove),
        )
        .route(
            "/admin/v1/people/{id}",
            axum::routing::patch(search::set_role),
        )
        .route(
            "/admin/v1/search/reindex",
            axum::routing::post(search::reindex),
        )
        .with_state(state)
}

/// Scheme and authority for absolute links.
pub(crate) fn base_url(state: &AdminState, headers: &http::HeaderMap) -> String {
    if let Some(url) = &state.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}
