//! Sign-in's request and answer shapes, for the OpenAPI document (the
//! handlers read bodies field by field and answer with `json!`).

use serde::Serialize;
use utoipa::ToSchema;

/// One of `phone` or `email`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"phone": "+12155550123"}))]
pub struct OtpRequest {
    pub phone: Option<String>,
    pub email: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OtpSent {
    /// Seconds the code stays valid.
    pub expires_in: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    Otp,
    RefreshToken,
}

/// `grant_type` `otp` with the `phone` or `email` and the 6-digit `code`,
/// or `refresh_token` with the `refresh_token`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"grant_type": "otp", "phone": "+12155550123", "code": "123456"}))]
pub struct TokenRequest {
    pub grant_type: GrantType,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub code: Option<String>,
    pub refresh_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// An EdDSA-signed JWT; its public key is at `/.well-known/jwks.json`.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Single use: each refresh answers a new one, and reusing an old one
    /// revokes the whole family.
    pub refresh_token: String,
}

/// Without a body, the bearer token's session is signed out.
#[derive(Serialize, ToSchema)]
pub struct LogoutRequest {
    pub refresh_token: Option<String>,
}

/// The fields a person may change about themselves; any other field
/// (role, contact addresses, identifiers, tags) is 422.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"given_name": "Ada", "skills": ["driving"]}))]
pub struct MeUpdate {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub postal_addresses: Option<Vec<turnout_search::model::resources::PostalAddress>>,
    pub languages_spoken: Option<Vec<turnout_search::model::LanguageTag>>,
    pub skills: Option<Vec<String>>,
    pub availability: Option<Vec<turnout_search::model::resources::Span>>,
    pub timezone: Option<String>,
}

/// A JSON Web Key Set (RFC 7517) of the user-token signing keys.
#[derive(Serialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<serde_json::Value>,
}
