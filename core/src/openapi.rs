//! The wire shapes every service shares, described for the OpenAPI
//! document: the problem+json body, and the list envelope (one schema per
//! kind of item, through [`list_page!`], so each list's items are typed).
//! The services build these bodies with `serde_json`; the schemas here are
//! what the contract tests (Schemathesis) hold those bodies to, so a drift
//! between the two fails a test rather than a partner's app.

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

/// Declares the list envelope schema of one kind of item, `{"data",
/// "count", "next", "previous"}`: `count` is every match, not the page;
/// `next` and `previous` are absolute links, or null. One macro rather
/// than a generic type, so each list keeps its own schema name.
#[macro_export]
macro_rules! list_page {
    ($name:ident, $item:ty) => {
        #[derive(::serde::Serialize, ::utoipa::ToSchema)]
        pub struct $name {
            pub data: Vec<$item>,
            pub count: u64,
            pub next: Option<String>,
            pub previous: Option<String>,
        }
    };
}
