//! How plans, keys and audit entries look in JSON, in the admin API, the
//! CLI and the audit log alike.

use serde_json::{Value, json};

use crate::keys::{ApiKey, Plan};

fn time(secs: i64) -> Value {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| Value::String(t.to_rfc3339()))
        .unwrap_or(Value::Null)
}

pub fn plan(p: &Plan) -> Value {
    let s = &p.spec;
    json!({
        "id": p.id,
        "name": s.name,
        "rate_per_second": s.rate_per_second,
        "burst": s.burst,
        "quota_per_day": s.quota_per_day,
        "quota_per_month": s.quota_per_month,
        "timezone": s.timezone.name(),
        "scopes": s.scopes,
        "user_rate_per_second": s.user_rate_per_second,
        "user_burst": s.user_burst,
        "on_backend_error": s.on_backend_error,
        "created_date": time(p.created_at),
        "modified_date": time(p.updated_at),
    })
}

/// A key without its secret (which is never stored, so never shown again).
pub fn key(k: &ApiKey, p: &Plan) -> Value {
    json!({
        "id": k.id,
        "name": k.name,
        "plan": p.spec.name,
        "plan_id": p.id,
        "type": k.key_type,
        "status": k.status,
        "scopes": k.effective_scopes(&p.spec),
        "scopes_override": k.scopes.is_some(),
        "overrides": k.overrides,
        "created_date": time(k.created_at),
        "modified_date": time(k.updated_at),
    })
}
