//! Forwarding a request to an upstream group and its answer back.

pub mod headers;
pub mod upstream;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use turnout_core::{Clock, Problem};

use crate::config::ProxyConfig;
use crate::routes::Route;
use upstream::HealthPolicy;

pub struct Proxy {
    client: Client<HttpConnector, Full<Bytes>>,
    health: HealthPolicy,
    proto: HeaderValue,
    clock: Arc<dyn Clock>,
}

/// What the edge knows about the request beyond its head and body.
pub struct Outbound<'a> {
    pub request_id: &'a HeaderValue,
    pub client_ip: IpAddr,
    /// The signed-in person and role, sent on `auth = "user"` routes.
    pub user: Option<(i64, &'static str)>,
}

impl Proxy {
    pub fn new(config: &ProxyConfig, clock: Arc<dyn Clock>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_millis(config.connect_timeout_ms)));
        connector.enforce_http(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(config.pool_idle_per_host)
            .pool_idle_timeout(Duration::from_millis(config.pool_idle_timeout_ms))
            .build(connector);
        Self {
            client,
            health: HealthPolicy::from(config),
            proto: HeaderValue::from_str(&config.forwarded_proto)
                .unwrap_or(HeaderValue::from_static("http")),
            clock,
        }
    }

    /// Sends the request to the route's upstream. A refused connection
    /// moves on to the next candidate target (nothing reached the upstream,
    /// so any method may be retried); anything else is answered as it is.
    pub async fn forward(
        &self,
        route: &Route,
        upstream: &upstream::Upstream,
        parts: &http::request::Parts,
        body: Bytes,
        out: Outbound<'_>,
    ) -> Result<Response<Body>, Problem> {
        let path = route.upstream_path(parts.uri.path());
        let path_and_query = match parts.uri.query().and_then(headers::query_without_key) {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        };
        let head = headers::to_upstream(
            &parts.headers,
            &headers::Forwarded {
                request_id: out.request_id,
                client_ip: out.client_ip,
                proto: &self.proto,
                user: out.user,
            },
        );
        let candidates = upstream.candidates(self.clock.now_nanos());
        let mut last_error = String::new();
        for target in candidates.iter().take(3) {
            let uri = target
                .uri_for(&path_and_query)
                .map_err(|e| Problem::internal(&e))?;
            let mut request = Request::new(Full::new(body.clone()));
            *request.method_mut() = parts.method.clone();
            *request.uri_mut() = uri;
            *request.headers_mut() = head.clone();
            let sent = tokio::time::timeout(upstream.timeout, self.client.request(request)).await;
            let now = self.clock.now_nanos();
            match sent {
                Err(_elapsed) => {
                    self.note_failure(upstream, target, now, "timeout");
                    return Err(Problem::new(
                        StatusCode::GATEWAY_TIMEOUT,
                        "upstream_timeout",
                        format!(
                            "upstream {:?} did not answer within {} ms",
                            upstream.name,
                            upstream.timeout.as_millis()
                        ),
                    ));
                }
                Ok(Err(err)) if err.is_connect() => {
                    self.note_failure(upstream, target, now, "connect");
                    last_error = format!("cannot connect to upstream {:?}", upstream.name);
                    continue;
                }
                Ok(Err(err)) => {
                    self.note_failure(upstream, target, now, "protocol");
                    tracing::warn!(upstream = %upstream.name, target = %target.base, error = %err, "upstream request failed");
                    return Err(Problem::new(
                        StatusCode::BAD_GATEWAY,
                        "upstream_unavailable",
                        format!("upstream {:?} failed to answer", upstream.name),
                    ));
                }
                Ok(Ok(response)) => {
                    if matches!(response.status().as_u16(), 502..=504) {
                        self.note_failure(upstream, target, now, "status");
                    } else {
                        target.succeeded();
                    }
                    let (mut head, incoming) = response.into_parts();
                    headers::from_upstream(&mut head.headers);
                    // Our connection with the client has its own version.
                    head.version = http::Version::HTTP_11;
                    return Ok(Response::from_parts(head, Body::new(incoming)));
                }
            }
        }
        Err(Problem::new(
            StatusCode::BAD_GATEWAY,
            "upstream_unavailable",
            if last_error.is_empty() {
                format!("upstream {:?} has no target to try", upstream.name)
            } else {
                last_error
            },
        ))
    }

    fn note_failure(
        &self,
        upstream: &upstream::Upstream,
        target: &upstream::Target,
        now: i64,
        kind: &'static str,
    ) {
        metrics::counter!("turnout_upstream_errors_total", "upstream" => upstream.name.clone(), "kind" => kind)
            .increment(1);
        if target.failed(now, &self.health) {
            metrics::counter!("turnout_upstream_ejections_total", "upstream" => upstream.name.clone()).increment(1);
            tracing::warn!(upstream = %upstream.name, target = %target.base, "target ejected after repeated failures");
        }
    }
}
