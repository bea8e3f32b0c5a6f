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
use serde_json::json;
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
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(OpsState {
            store,
            engine,
            ratelimit,
            metrics: metrics_handle(),
        })
}

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

async fn metrics(State(s): State<OpsState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}
