//! The admin API's shapes, for the OpenAPI document. Plans and keys are
//! written out by `views.rs` and read field by field by the service, so
//! what they promise is written here and checked by the contract tests.

use serde::Serialize;
use utoipa::ToSchema;

use crate::keys::model::{KeyStatus, KeyType};
use crate::limiter::BackendErrorPolicy;

/// A plan as written. On `PATCH`, only the fields given change.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "name": "partner", "rate_per_second": 10, "burst": 20,
    "quota_per_day": 100000, "scopes": ["events", "people:read"]
}))]
pub struct PlanWrite {
    /// Unique.
    pub name: String,
    #[schema(exclusive_minimum = 0)]
    pub rate_per_second: f64,
    #[schema(minimum = 1)]
    pub burst: u32,
    pub quota_per_day: Option<u64>,
    pub quota_per_month: Option<u64>,
    /// IANA zone of the quota periods; UTC by default.
    pub timezone: Option<String>,
    /// Built-in scopes (`events`, `events:private`, `events:write`,
    /// `people:read`, `people:write`, `attendances`, `messages:send`,
    /// `campaigns`) or an upstream route's own.
    pub scopes: Vec<String>,
    /// Per signed-in person on this plan.
    pub user_rate_per_second: Option<f64>,
    pub user_burst: Option<u32>,
    /// What to do when the shared limiter (Redis) is down: serve at this
    /// instance's share (`allow`, the default) or answer 503 (`deny`).
    pub on_backend_error: Option<BackendErrorPolicy>,
}

#[derive(Serialize, ToSchema)]
pub struct Plan {
    pub id: String,
    pub name: String,
    pub rate_per_second: f64,
    pub burst: u32,
    pub quota_per_day: Option<u64>,
    pub quota_per_month: Option<u64>,
    pub timezone: String,
    pub scopes: Vec<String>,
    pub user_rate_per_second: Option<f64>,
    pub user_burst: Option<u32>,
    pub on_backend_error: BackendErrorPolicy,
    pub created_date: chrono::DateTime<chrono::Utc>,
    pub modified_date: chrono::DateTime<chrono::Utc>,
}

/// Per-key replacements for the plan's limits.
#[derive(Serialize, ToSchema)]
pub struct Overrides {
    pub rate_per_second: Option<f64>,
    pub burst: Option<u32>,
    pub quota_per_day: Option<u64>,
    pub quota_per_month: Option<u64>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"name": "Field app", "plan": "partner", "type": "public", "scopes": ["events", "attendances"]}))]
pub struct KeyCreate {
    pub name: String,
    /// The plan's name or id.
    pub plan: String,
    /// `confidential` (the default) lives on a partner's server; `public`
    /// ships in an app and may never hold `people:*`, `events:write`,
    /// `messages:send` or `campaigns`.
    #[serde(rename = "type")]
    pub key_type: Option<KeyType>,
    /// Replaces the plan's scopes for this key.
    pub scopes: Option<Vec<String>>,
    pub overrides: Option<Overrides>,
}

/// Only the fields given change; `"scopes": null` returns the key to its
/// plan's scopes. `DELETE` revokes.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "disabled"}))]
pub struct KeyUpdate {
    pub name: Option<String>,
    /// `active` or `disabled`.
    pub status: Option<KeyStatus>,
    pub plan: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub overrides: Option<Overrides>,
}

/// A key, without its secret.
#[derive(Serialize, ToSchema)]
pub struct Key {
    pub id: String,
    pub name: String,
    pub plan: String,
    pub plan_id: String,
    #[serde(rename = "type")]
    pub key_type: KeyType,
    pub status: KeyStatus,
    /// What the key may call: its own scopes, or its plan's.
    pub scopes: Vec<String>,
    pub scopes_override: bool,
    pub overrides: Overrides,
    pub created_date: chrono::DateTime<chrono::Utc>,
    pub modified_date: chrono::DateTime<chrono::Utc>,
}

/// A new key, with its secret in `key`: shown this once.
#[derive(Serialize, ToSchema)]
pub struct KeyCreated {
    #[serde(flatten)]
    pub view: Key,
    #[schema(example = "tk_3f9a1c2b_8Vd0...")]
    pub key: String,
}

turnout_core::list_page!(PlanPage, Plan);

turnout_core::list_page!(KeyPage, Key);

#[derive(Serialize, ToSchema)]
pub struct StatusClasses {
    #[serde(rename = "1xx")]
    pub informational: u64,
    #[serde(rename = "2xx")]
    pub success: u64,
    #[serde(rename = "3xx")]
    pub redirection: u64,
    #[serde(rename = "4xx")]
    pub client_error: u64,
    #[serde(rename = "5xx")]
    pub server_error: u64,
}

#[derive(Serialize, ToSchema)]
pub struct Latency {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

/// One period of one key on one route.
#[derive(Serialize, ToSchema)]
pub struct UsageRow {
    /// The start of the period.
    pub start: chrono::DateTime<chrono::Utc>,
    pub key: String,
    pub route: String,
    pub calls: u64,
    /// Rejected calls by reason (`rate_limited`, `quota_exceeded`, ...).
    pub rejected: std::collections::BTreeMap<String, u64>,
    pub status: StatusClasses,
    pub latency_ms: Latency,
}

turnout_core::list_page!(UsagePage, UsageRow);

#[derive(Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    /// `admin-token`, `cli`, ...
    pub actor: String,
    /// `plan.create`, `key.update`, `person.role`, ...
    pub action: String,
    pub target: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

turnout_core::list_page!(AuditPage, AuditEntry);

#[derive(Serialize, ToSchema)]
pub struct SearchStatus {
    /// `tantivy` or `elasticsearch`.
    pub engine: String,
    /// The last change this instance's index holds.
    pub applied_seq: i64,
    /// The last change in the store.
    pub store_seq: i64,
    pub behind: i64,
    pub generation: i64,
    pub requested_generation: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Reindexing {
    /// The generation every instance now builds.
    pub generation: i64,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"role": "organizer"}))]
pub struct RoleChange {
    pub role: turnout_search::model::resources::Role,
}

/// `reason` is `manual` unless given.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"channel": "sms", "address": "+12155550123"}))]
pub struct SuppressionCreate {
    /// `sms` or `email`.
    pub channel: String,
    /// An E.164 number (sms) or an email address.
    pub address: String,
    /// `manual` (the default), `bounce`, `complaint`, `unsubscribe` or `stop`.
    pub reason: Option<String>,
}

/// An entry of the list. Addresses are kept only as hashes, so `address`
/// appears only when the request named it.
#[derive(Serialize, ToSchema)]
pub struct Suppression {
    pub channel: String,
    /// SHA-256 (hex) of the canonical address: E.164, or the email address
    /// in lower case.
    pub address_hash: String,
    /// `stop`, `carrier` and `unsubscribe` are opt-outs (START lifts the
    /// first two); `bounce`, `complaint` and `manual` are suppressions.
    pub reason: String,
    pub created_date: chrono::DateTime<chrono::Utc>,
    pub address: Option<String>,
}

turnout_core::list_page!(SuppressionPage, Suppression);
