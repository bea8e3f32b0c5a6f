//! `/healthz` (the process answers), `/readyz` (its dependencies answer),
//! `/metrics` (Prometheus text).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{StatusCode, header};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::{Value, json};
use turnout_core::Store;
use turnout_search::engine::Engine;

use crate::limiter::fallback::FallbackLimiter;

/// The process-wide metrics recorder: installed once, shared by every app
/// started in this process (tests start several).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}

#[derive(Clone)]
struct OpsState {
    store: Store,
    engine: Arc<dyn Engine>,
    /// The Redis limiter, when configured.
    ratelimit: Option<Arc<FallbackLimiter>>,
    metrics: PrometheusHandle,
}

pub fn router(
    store: Store,
    engine: Arc<dyn Engine>,
    ratelimit: Option<Arc<FallbackLimiter>>,
) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(OpsState {
            store,
            engine,
            ratelimit,
            metrics: metrics_handle(),
        })
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "healthz",
    security(()),
    responses((status = 200, description = "Up.", body = Health)))]
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// Each dependency's state: `ok ...` or `error: ...`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Checks {
    pub store: String,
    pub index: String,
    pub ratelimit: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: String,
    pub checks: Checks,
}

/// Whether the store, the search index and (where configured) Redis
/// answer.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "readyz",
    security(()),
    responses(
        (status = 200, description = "Ready.", body = Readiness),
        (status = 503, description = "A dependency is down; `checks` names it.", body = Readiness),
    ))]
async fn readyz(State(s): State<OpsState>) -> Response {
    let store = match tokio::time::timeout(Duration::from_secs(2), s.store.ping()).await {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(e)) => format!("error: {e}"),
        Err(_) => "error: no answer within 2 s".to_string(),
    };
    let index = match tokio::time::timeout(Duration::from_secs(2), s.engine.check()).await {
        Ok(Ok(())) => format!("ok ({})", s.engine.name()),
        Ok(Err(e)) => format!("error: {e}"),
        Err(_) => format!("error: {} did not answer within 2 s", s.engine.name()),
    };
    // While Redis is down the gateway still serves "allow" plans at their
    // local share, but it is not fully ready: the limits are not shared.
    let ratelimit = match &s.ratelimit {
        None => "ok (memory)".to_string(),
        Some(limiter) => match limiter.status().await {
            Ok(()) => "ok (redis)".to_string(),
            Err(e) => format!("error: {e}"),
        },
    };
    let ready = store == "ok" && index.starts_with("ok") && ratelimit.starts_with("ok");
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": {"store": store, "index": index, "ratelimit": ratelimit},
    });
    (status, Json(body)).into_response()
}

/// Prometheus metrics: limiter decisions, backend errors, queue depth
/// and age, sends and provider errors.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "metrics",
    security(()),
    responses((status = 200, description = "Prometheus text format.", body = String, content_type = "text/plain")))]
async fn metrics(State(s): State<OpsState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}
