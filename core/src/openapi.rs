//! The error shape every service shares, described for the OpenAPI
//! document: the problem+json body. The services
//! build these bodies with `serde_json`; the schemas here are what the
//! contract tests (Schemathesis) hold those bodies to, so a drift between
//! the two fails a test rather than a partner's app. (Each list writes its
//! own envelope schema, `EventPage` and the like, so that its items are
//! typed.)

use serde::Serialize;
use utoipa::ToSchema;

use crate::problem::FieldError;

/// RFC 9457 problem details, served as `application/problem+json`.
#[derive(Serialize, ToSchema)]
#[schema(
    as = Problem,
    example = json!({
        "type": "/problems/validation_failed",
        "title": "Unprocessable Entity",
        "status": 422,
        "detail": "rate_per_second: must be positive",
        "code": "validation_failed",
        "errors": [{"field": "rate_per_second", "message": "must be positive"}]
    })
)]
pub struct ProblemSchema {
    /// A relative URI under `/problems/` naming the same thing as `code`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// The HTTP status's reason phrase.
    pub title: String,
    pub status: u16,
    /// What went wrong, for a person to read.
    pub detail: String,
    /// Stable snake_case code clients branch on: `invalid_api_key`,
    /// `key_disabled`, `forbidden`, `invalid_token`, `rate_limited`,
    /// `quota_exceeded`, `not_found`, `validation_failed`,
    /// `malformed_body`, `upstream_unavailable`, `upstream_timeout`, ...
    pub code: String,
    /// Field-level problems; present on `validation_failed` (422).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}
