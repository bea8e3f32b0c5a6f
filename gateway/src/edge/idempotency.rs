//! `Idempotency-Key` on the built-in writes (`POST`, `PATCH`, `DELETE`):
//! the same key and request within 24 hours gets the first response again
//! and does nothing again; the same key with another request is 422.
//! Keys are scoped to the API key that sent them.
//!
//! The key is claimed in the store before the request runs (a row with no
//! response yet), so two copies of a request racing each other cannot both
//! run: the second gets 409 and may retry. A first response of 5xx
//! releases the claim, so a retry after a failure of ours runs again.

use axum::body::Body;
use axum::response::IntoResponse;
use http::{HeaderValue, Method, Response, StatusCode, header};
use sqlx::Row;
use turnout_core::store::StoreError;
use turnout_core::{Problem, Store};

pub const HEADER: &str = "idempotency-key";
/// How long a first response is kept.
pub const TTL_SECS: i64 = 86_400;
/// Responses larger than this are not kept (ours are far smaller).
const MAX_KEPT_BYTES: usize = 1 << 20;

/// The request's `Idempotency-Key`, for a method that writes: 1 to 255
/// visible ASCII characters.
pub fn key_of(method: &Method, headers: &http::HeaderMap) -> Result<Option<String>, Problem> {
    let Some(raw) = headers.get(HEADER) else {
        return Ok(None);
    };
    if !matches!(*method, Method::POST | Method::PATCH | Method::DELETE) {
        return Ok(None);
    }
    let ok =
        raw.len() <= 255 && !raw.is_empty() && raw.as_bytes().iter().all(|b| b.is_ascii_graphic());
    if !ok {
        return Err(Problem::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(raw.to_str().unwrap_or_default().to_string()))
}

/// What makes two requests "the same": method, path and query, body.
pub fn request_hash(parts: &http::request::Parts, body: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(body.len() + 64);
    bytes.extend_from_slice(parts.method.as_str().as_bytes());
    bytes.push(b' ');
    bytes.extend_from_slice(
        parts
            .uri
            .path_and_query()
            .map_or("", |p| p.as_str())
            .as_bytes(),
    );
    bytes.push(b'\n');
    bytes.extend_from_slice(body);
    turnout_core::token::sha256_hex_bytes(&bytes)
}

pub struct Claim<'a> {
    pub store: &'a Store,
    pub key_id: &'a str,
    pub idem_key: &'a str,
    pub hash: &'a str,
    /// Unix seconds.
    pub now: i64,
}

impl Claim<'_> {
    /// Runs `run` once per key and request; replays its response after.
    pub async fn run<F>(self, run: F) -> Result<Response<Body>, Problem>
    where
        F: std::future::Future<Output = Response<Body>>,
    {
        if !self.claim().await? {
            return self.answer_again().await;
        }
        let response = run.await;
        Ok(self.keep(response).await)
    }

    /// True when this request now holds the key.
    async fn claim(&self) -> Result<bool, Problem> {
        // An expired first response no longer counts.
        sqlx::query(
            "DELETE FROM gateway_idempotency WHERE key_id = $1 AND idem_key = $2 AND created_at <= $3",
        )
        .bind(self.key_id)
        .bind(self.idem_key)
        .bind(self.now - TTL_SECS)
        .execute(self.store.pool())
        .await
        .map_err(StoreError::from)?;
        let inserted = sqlx::query(
            "INSERT INTO gateway_idempotency (key_id, idem_key, request_hash, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (key_id, idem_key) DO NOTHING",
        )
        .bind(self.key_id)
        .bind(self.idem_key)
        .bind(self.hash)
        .bind(self.now)
        .execute(self.store.pool())
        .await
        .map_err(StoreError::from)?
        .rows_affected();
        Ok(inserted == 1)
    }

    async fn answer_again(&self) -> Result<Response<Body>, Problem> {
        let row = sqlx::query(
            "SELECT request_hash, status, content_type, body FROM gateway_idempotency \
             WHERE key_id = $1 AND idem_key = $2",
        )
        .bind(self.key_id)
        .bind(self.idem_key)
        .fetch_optional(self.store.pool())
        .await
        .map_err(StoreError::from)?;
        let Some(row) = row else {
            // Released between our insert and our read: a retry will run.
            return Err(in_progress());
        };
        let hash: String = row.try_get(0).map_err(StoreError::from)?;
        if hash != self.hash {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used with another request in the last 24 hours",
            ));
        }
        let status: Option<i64> = row.try_get(1).map_err(StoreError::from)?;
        let Some(status) = status else {
            return Err(in_progress());
        };
        let content_type: Option<String> = row.try_get(2).map_err(StoreError::from)?;
        let body: Option<String> = row.try_get(3).map_err(StoreError::from)?;
        let mut response = Response::new(Body::from(body.unwrap_or_default()));
        *response.status_mut() =
            StatusCode::from_u16(status as u16).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let Some(ct) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        Ok(response)
    }

    /// Stores the first response (or releases the key after a 5xx) and
    /// hands the response on.
    async fn keep(&self, response: Response<Body>) -> Response<Body> {
        let (parts, body) = response.into_parts();
        let bytes = match axum::body::to_bytes(body, MAX_KEPT_BYTES).await {
            Ok(b) => b,
            Err(_) => {
                self.release().await;
                return Problem::internal(&"a response too large to keep for Idempotency-Key")
                    .into_response();
            }
        };
        let text = std::str::from_utf8(&bytes).ok();
        if parts.status.is_server_error() || text.is_none() {
            self.release().await;
        } else {
            let stored = sqlx::query(
                "UPDATE gateway_idempotency SET status = $1, content_type = $2, body = $3 \
                 WHERE key_id = $4 AND idem_key = $5",
            )
            .bind(parts.status.as_u16() as i64)
            .bind(
                parts
                    .headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok()),
            )
            .bind(text)
            .bind(self.key_id)
            .bind(self.idem_key)
            .execute(self.store.pool())
            .await;
            if let Err(e) = stored {
                // The write happened; a retry would run it again. Say so.
                tracing::error!(error = %e, "could not keep a response for its Idempotency-Key");
                self.release().await;
            }
        }
        Response::from_parts(parts, Body::from(bytes))
    }

    async fn release(&self) {
        let _ = sqlx::query("DELETE FROM gateway_idempotency WHERE key_id = $1 AND idem_key = $2")
            .bind(self.key_id)
            .bind(self.idem_key)
            .execute(self.store.pool())
            .await;
    }
}

fn in_progress() -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "idempotency_in_progress",
        "a request with this Idempotency-Key is still running; retry shortly",
    )
    .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
}

/// Forgets first responses older than [`TTL_SECS`].
pub async fn prune(store: &Store, now: i64) -> Result<u64, StoreError> {
    Ok(
        sqlx::query("DELETE FROM gateway_idempotency WHERE created_at <= $1")
            .bind(now - TTL_SECS)
            .execute(store.pool())
            .await?
            .rows_affected(),
    )
}
