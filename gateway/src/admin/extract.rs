//! Request extractors that answer in problem+json: the admin token, the
//! query string (422 when it does not read as the parameters), and a JSON
//! object body (415 for another media type, 400 for broken JSON, 422 for
//! JSON that is not an object).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value};
use turnout_core::Problem;
use turnout_core::problem::FieldError;

use super::AdminState;

/// Proof that the request carried the admin token; names the actor for the
/// audit log.
pub struct AdminCaller {
    pub actor: String,
}

impl FromRequestParts<AdminState> for AdminCaller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, Problem> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        match token {
            Some(t) if state.registry.admin_token_matches(t) => Ok(AdminCaller {
                actor: "admin-api".into(),
            }),
            _ => Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid_admin_token",
                "the admin API needs `Authorization: Bearer <admin token>`",
            )
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))),
        }
    }
}

/// Query parameters, read like axum's `Query` but refused in problem+json:
/// axum's own rejection is plain text, which no client of this API expects.
pub struct QueryParams<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(QueryParams)
            .map_err(|e| {
                Problem::validation(vec![FieldError::new(
                    "query",
                    format!("the parameters do not read: {e}"),
                )])
            })
    }
}

pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if !is_json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            Problem::new(
                e.status(),
                "malformed_body",
                format!("the request body could not be read: {}", e.body_text()),
            )
        })?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(JsonObject(map)),
            Ok(_) => Err(Problem::validation(vec![FieldError::new(
                "",
                "the body must be a JSON object",
            )])),
            Err(e) => Err(Problem::bad_request(
                "malformed_body",
                format!("the body is not valid JSON: {e}"),
            )),
        }
    }
}
