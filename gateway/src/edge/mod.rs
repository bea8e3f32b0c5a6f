//! The edge: what every request under `/v1/` goes through, in order.
//!
//! ```text
//! request id ─► path check ─► identify (API key) ─► route ─► authorize (scopes)
//!            ─► authenticate (user token, role) ─► rate limit (per user, per key)
//!            + quotas ─► read body ─► proxy or built-in ─► usage + headers
//! ```
//!
//! Each step is a function in its own module; this file only runs them in
//! order. The steps are plain async functions rather than tower layers: every
//! route needs the same sequence, and a straight line of calls is both the
//! clearest statement of it and the cheapest path per request.
//!
//! Anything else (`/admin/v1/`, `/healthz`, `/metrics`, ...) goes to the
//! axum router built in `app.rs`.

pub mod authenticate;
pub mod authorize;
pub mod body;
pub mod idempotency;
pub mod identify;
pub mod ratelimit;
pub mod request_id;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::IntoResponse;
use http::{HeaderName, Request, Response, StatusCode};
use hyper::body::Incoming;
use tower::ServiceExt;
use turnout_core::{Clock, Problem};

use crate::keys::Registry;
use crate::keys::registry::IdentifyError;
use crate::limiter::{Decision, Limiter};
use crate::proxy::{Outbound, Proxy};
use crate::routes::{BuiltIn, RouteTable, Target, check_path};
use crate::usage::{Outcome, UsageRecorder};

/// What every worker shares.
pub struct Shared {
    pub registry: Arc<Registry>,
    pub routes: RouteTable,
    pub limiter: Arc<dyn Limiter>,
    pub usage: Arc<UsageRecorder>,
    pub clock: Arc<dyn Clock>,
    /// Admin API, health, metrics: run on `control`, the runtime that owns
    /// the store's connections and the background tasks, not on a worker.
    pub local: axum::Router,
    /// People, events and attendances (the search crate), also run on
    /// `control`.
    pub search: axum::Router,
    /// Messages (the outreach crate), also run on `control`.
    pub outreach: axum::Router,
    /// Sign-in and `/v1/me` (auth/http.rs), also run on `control`.
    pub auth: axum::Router,
    /// Verifies user tokens.
    pub tokens: Arc<crate::auth::tokens::Tokens>,
    /// For `Idempotency-Key` on the built-in writes.
    pub store: turnout_core::Store,
    pub control: tokio::runtime::Handle,
    pub max_body_bytes: usize,
    pub body_read_timeout: Duration,
    pub access_log: bool,
    /// Sees every limiter decision with the time it was made; for tests
    /// that check the limiter's bound against its own clock readings.
    pub observer: Option<DecisionObserver>,
    pub counters: Counters,
}

/// One worker's gateway: the shared state and the worker's own upstream
/// connection pool.
pub struct Gateway {
    pub shared: Arc<Shared>,
    pub proxy: Proxy,
}

impl std::ops::Deref for Gateway {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.shared
    }
}

/// The per-request metrics, registered once: a `counter!` call with labels
/// looks its series up in the registry every time.
pub struct Counters {
    by_outcome: Vec<(&'static str, metrics::Counter)>,
    allow: metrics::Counter,
    deny: metrics::Counter,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            by_outcome: std::iter::once("served")
                .chain(REJECTION_CODES)
                .chain(std::iter::once("other"))
                .map(|o| {
                    (
                        o,
                        metrics::counter!("turnout_requests_total", "outcome" => o),
                    )
                })
                .collect(),
            allow: metrics::counter!("turnout_limiter_decisions_total", "decision" => "allow"),
            deny: metrics::counter!("turnout_limiter_decisions_total", "decision" => "deny"),
        }
    }
}

impl Counters {
    fn request(&self, outcome: Outcome) {
        let name = match outcome {
            Outcome::Served => "served",
            Outcome::Rejected(reason) => reason,
        };
        if let Some((_, c)) = self.by_outcome.iter().find(|(o, _)| *o == name) {
            c.increment(1);
        }
    }

    fn decision(&self, allowed: bool) {
        if allowed { &self.allow } else { &self.deny }.increment(1);
    }
}

pub type DecisionObserver = Arc<dyn Fn(&str, turnout_core::clock::Nanos, &Decision) + Send + Sync>;

/// Usage and log labels for requests that have no key or no route.
fn unknown() -> Arc<str> {
    static UNKNOWN: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
    Arc::clone(UNKNOWN.get_or_init(|| Arc::from("-")))
}

/// What the pipeline learned, for usage, logs and headers.
struct Trail {
    key: Option<Arc<crate::keys::KeyEntry>>,
    route: Option<Arc<str>>,
    decision: Option<Decision>,
    /// The signed-in user's own limit, when the plan sets one.
    user_decision: Option<Decision>,
    outcome: Outcome,
}

impl Gateway {
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<Body> {
        let started = Instant::now();
        let request_id = request_id::from_request(req.headers());
        let method = req.method().clone();
        let path_for_log = self.access_log.then(|| loggable_path(req.uri()));
        let is_api = req.uri().path() == "/v1" || req.uri().path().starts_with("/v1/");

        let (mut response, trail) = if is_api {
            self.api(req, &request_id, peer).await
        } else {
            let response = self.on_control(&self.local, req.map(Body::new)).await;
            (
                response,
                Trail {
                    key: None,
                    route: None,
                    decision: None,
                    user_decision: None,
                    outcome: Outcome::Served,
                },
            )
        };

        if let Some(key) = &trail.key {
            let policy = match (&trail.user_decision, &key.user_policy_header) {
                (Some(_), Some(with_user)) => with_user,
                _ => &key.policy_header,
            };
            ratelimit::apply(
                response.headers_mut(),
                policy,
                trail.decision.as_ref(),
                trail.user_decision.as_ref(),
            );
        }
        response.headers_mut().insert(
            HeaderName::from_static(request_id::HEADER),
            request_id.clone(),
        );

        let latency = started.elapsed();
        let status = response.status().as_u16();
        if is_api {
            let key_id = trail
                .key
                .as_ref()
                .map(|k| Arc::clone(&k.id))
                .unwrap_or_else(unknown);
            let route = trail.route.clone().unwrap_or_else(unknown);
            let minute = self.clock.now_nanos().div_euclid(60_000_000_000);
            self.usage.record(
                minute,
                &key_id,
                &route,
                status,
                latency.as_micros() as u64,
                trail.outcome,
            );
            self.counters.request(trail.outcome);
        }
        if let Some(path) = path_for_log {
            tracing::info!(
                target: "turnout::access",
                request_id = request_id.to_str().unwrap_or_default(),
                method = %method,
                path = %path,
                status,
                route = trail.route.as_deref().unwrap_or("-"),
                key = trail.key.as_ref().map(|k| &*k.id).unwrap_or("-"),
                latency_us = latency.as_micros() as u64,
            );
        }
        response
    }

    async fn api(
        &self,
        req: Request<Incoming>,
        request_id: &http::HeaderValue,
        peer: SocketAddr,
    ) -> (Response<Body>, Trail) {
        let mut trail = Trail {
            key: None,
            route: None,
            decision: None,
            user_decision: None,
            outcome: Outcome::Served,
        };
        match self.api_steps(req, request_id, peer, &mut trail).await {
            Ok(response) => (response, trail),
            Err(problem) => {
                if matches!(trail.outcome, Outcome::Served) && problem.status < 500 {
                    trail.outcome = Outcome::Rejected(static_code(&problem.code));
                }
                (problem.into_response(), trail)
            }
        }
    }

    async fn api_steps(
        &self,
        req: Request<Incoming>,
        request_id: &http::HeaderValue,
        peer: SocketAddr,
        trail: &mut Trail,
    ) -> Result<Response<Body>, Problem> {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path();
        check_path(path).map_err(|bad| {
            Problem::bad_request(
                "invalid_path",
                format!(
                    "the path is refused ({bad:?}): no '.' or '..' segments, no encoded '/' or '\\'"
                ),
            )
        })?;

        let raw = identify::presented_key(&parts).ok_or_else(|| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid_api_key",
                "an API key is required: send it in X-Api-Key or the api_key query parameter",
            )
        })?;
        let key = self.registry.identify(&raw).map_err(|err| match err {
            IdentifyError::Unknown => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid_api_key",
                "the API key is not valid",
            ),
            IdentifyError::Disabled => Problem::new(
                StatusCode::FORBIDDEN,
                "key_disabled",
                "this API key has been disabled or revoked",
            ),
        })?;
        trail.key = Some(Arc::clone(&key));
        let now = self.clock.now_nanos();

        let Some(route) = self.routes.find(path) else {
            trail.decision = self.limiter.peek(&key.id, &key.limits, now).await.ok();
            return Err(Problem::not_found(format!("no route serves {path}")));
        };
        trail.route = Some(Arc::clone(&route.prefix));
        let user = match authorize::check(&key, route)
            .and_then(|()| authenticate::authenticate(&self.tokens, &parts, route))
        {
            Ok(user) => user,
            Err(problem) => {
                trail.decision = self.limiter.peek(&key.id, &key.limits, now).await.ok();
                return Err(problem);
            }
        };

        // The user's own limit first, then the key's; a request the key
        // refuses gives the user's unit back, so a rejected request
        // consumes nothing.
        let user_limit = match (&user, &key.user_limits) {
            (Some(u), Some(limits)) => Some((format!("u:{}:{}", key.plan_id, u.person_id), limits)),
            _ => None,
        };
        if let Some((subject, limits)) = &user_limit {
            let decision = self
                .limiter
                .check(subject, limits, now)
                .await
                .map_err(limiter_unavailable)?;
            let allowed = decision.allowed();
            self.counters.decision(allowed);
            trail.user_decision = Some(decision);
            if !allowed {
                trail.decision = self.limiter.peek(&key.id, &key.limits, now).await.ok();
                let refused = trail.user_decision.as_ref().expect("just set");
                trail.outcome = Outcome::Rejected("rate_limited");
                return Err(ratelimit::user_rejection(refused));
            }
        }
        let decision = self
            .limiter
            .check(&key.id, &key.limits, now)
            .await
            .map_err(limiter_unavailable)?;
        if let Some(observe) = &self.observer {
            observe(&key.id, now, &decision);
        }
        let allowed = decision.allowed();
        self.counters.decision(allowed);
        trail.decision = Some(decision);
        if !allowed {
            if let Some((subject, limits)) = &user_limit {
                let _ = self.limiter.refund(subject, limits, now).await;
            }
            let (code, response) =
                ratelimit::rejection_response(trail.decision.as_ref().expect("just set"));
            trail.outcome = Outcome::Rejected(code);
            return Ok(response);
        }

        let bytes = body::read(
            body,
            body::declared_length(&parts.headers),
            self.max_body_bytes,
            self.body_read_timeout,
        )
        .await?;
        match &route.target {
            Target::Upstream(upstream) => {
                self.proxy
                    .forward(
                        route,
                        upstream,
                        &parts,
                        bytes,
                        Outbound {
                            request_id,
                            client_ip: peer.ip(),
                            user: user
                                .as_ref()
                                .filter(|_| route.auth == crate::config::RouteAuth::User)
                                .map(|u| (u.person_id, u.role.as_str())),
                        },
                    )
                    .await
            }
            Target::BuiltIn(service) => {
                let idem_key = idempotency::key_of(&parts.method, &parts.headers)?;
                let hash = idem_key
                    .as_ref()
                    .map(|_| idempotency::request_hash(&parts, &bytes));
                let mut req = Request::from_parts(parts, Body::from(bytes));
                let router = match service {
                    BuiltIn::Search => {
                        req.extensions_mut()
                            .insert(authorize::search_access(&key, user.as_ref()));
                        &self.search
                    }
                    BuiltIn::Outreach => {
                        req.extensions_mut().insert(authorize::sender(&key));
                        &self.outreach
                    }
                    BuiltIn::Auth => {
                        req.extensions_mut().insert(authorize::caller(&key, user));
                        &self.auth
                    }
                };
                let call = router.clone().oneshot(req);
                let (store, key_id, now) = (
                    self.store.clone(),
                    Arc::clone(&key.id),
                    self.clock.now().timestamp(),
                );
                let run = async move {
                    let call = async move {
                        match call.await {
                            Ok(r) => r,
                            Err(never) => match never {},
                        }
                    };
                    match (idem_key, hash) {
                        (Some(idem_key), Some(hash)) => idempotency::Claim {
                            store: &store,
                            key_id: &key_id,
                            idem_key: &idem_key,
                            hash: &hash,
                            now,
                        }
                        .run(call)
                        .await
                        .unwrap_or_else(IntoResponse::into_response),
                        _ => call.await,
                    }
                };
                Ok(self.run_on_control(run).await)
            }
        }
    }

    /// Runs a router on the control runtime, which owns the store's
    /// connections.
    async fn on_control(&self, router: &axum::Router, req: Request<Body>) -> Response<Body> {
        let call = router.clone().oneshot(req);
        self.run_on_control(async move {
            match call.await {
                Ok(r) => r,
                Err(never) => match never {},
            }
        })
        .await
    }

    async fn run_on_control(
        &self,
        work: impl std::future::Future<Output = Response<Body>> + Send + 'static,
    ) -> Response<Body> {
        match self.control.spawn(work).await {
            Ok(r) => r,
            Err(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the server is shutting down",
            )
            .into_response(),
        }
    }
}

fn limiter_unavailable(err: crate::limiter::LimiterError) -> Problem {
    metrics::counter!("turnout_limiter_errors_total").increment(1);
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "rate_limiter_unavailable",
        err.to_string(),
    )
    .with_header(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("1"),
    )
}

/// Usage keeps rejection reasons as `&'static str`; problem codes are
/// mapped back to the fixed set the edge produces.
fn static_code(code: &str) -> &'static str {
    REJECTION_CODES
        .iter()
        .find(|c| **c == code)
        .copied()
        .unwrap_or("other")
}

const REJECTION_CODES: [&str; 13] = [
    "invalid_path",
    "invalid_api_key",
    "invalid_token",
    "key_disabled",
    "not_found",
    "forbidden",
    "rate_limited",
    "quota_exceeded",
    "payload_too_large",
    "request_timeout",
    "malformed_body",
    "upstream_unavailable",
    "upstream_timeout",
];

/// The path and query as logged: without the `api_key` parameter.
fn loggable_path(uri: &http::Uri) -> String {
    match uri
        .query()
        .and_then(crate::proxy::headers::query_without_key)
    {
        Some(q) => format!("{}?{}", uri.path(), q),
        None => uri.path().to_string(),
    }
}
