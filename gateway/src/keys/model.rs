//! Plans and keys as the rest of the gateway sees them: parsed, validated,
//! and trusted from here on. JSON input (admin API, CLI) becomes these
//! types through `PlanSpec::from_input` / `Overrides::from_input`, which
//! report every bad field at once.

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use turnout_core::problem::FieldError;

use super::scope::Scope;
use crate::limiter::Limits;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    #[default]
    Confidential,
    Public,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Confidential => "confidential",
            KeyType::Public => "public",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "confidential" => Some(KeyType::Confidential),
            "public" => Some(KeyType::Public),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Disabled,
    Revoked,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Disabled => "disabled",
            KeyStatus::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(KeyStatus::Active),
            "disabled" => Some(KeyStatus::Disabled),
            "revoked" => Some(KeyStatus::Revoked),
            _ => None,
        }
    }
}

pub use crate::limiter::BackendErrorPolicy;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanSpec {
    pub name: String,
    pub rate_per_second: f64,
    pub burst: u32,
    #[serde(default)]
    pub quota_per_day: Option<u64>,
    #[serde(default)]
    pub quota_per_month: Option<u64>,
    #[serde(with = "tz_name")]
    pub timezone: Tz,
    pub scopes: Vec<Scope>,
    #[serde(default)]
    pub user_rate_per_second: Option<f64>,
    #[serde(default)]
    pub user_burst: Option<u32>,
    #[serde(default)]
    pub on_backend_error: BackendErrorPolicy,
}

/// Per-key replacements for a plan's limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Overrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_second: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_per_day: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_per_month: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub id: String,
    pub spec: PlanSpec,
    pub deleted: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub plan_id: String,
    pub key_type: KeyType,
    pub status: KeyStatus,
    pub secret_hash: [u8; 32],
    /// Replaces the plan's scopes when set.
    pub scopes: Option<Vec<Scope>>,
    pub overrides: Overrides,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ApiKey {
    pub fn effective_scopes<'a>(&'a self, plan: &'a PlanSpec) -> &'a [Scope] {
        self.scopes.as_deref().unwrap_or(&plan.scopes)
    }

    pub fn effective_limits(&self, plan: &PlanSpec) -> Limits {
        Limits {
            rate_per_second: self
                .overrides
                .rate_per_second
                .unwrap_or(plan.rate_per_second),
            burst: self.overrides.burst.unwrap_or(plan.burst),
            quota_per_day: self.overrides.quota_per_day.or(plan.quota_per_day),
            quota_per_month: self.overrides.quota_per_month.or(plan.quota_per_month),
            timezone: plan.timezone,
            on_backend_error: plan.on_backend_error,
        }
    }
}

impl PlanSpec {
    /// The limit each signed-in user gets on this plan, when it sets one:
    /// a rate only (no quotas); the burst defaults to one second's worth.
    pub fn user_limits(&self) -> Option<Limits> {
        let rate = self.user_rate_per_second?;
        Some(Limits {
            rate_per_second: rate,
            burst: self
                .user_burst
                .unwrap_or_else(|| (rate.ceil() as u32).max(1)),
            quota_per_day: None,
            quota_per_month: None,
            timezone: self.timezone,
            on_backend_error: self.on_backend_error,
        })
    }
}

/// The scopes of `scopes` that a public key may not hold, for the 422.
pub fn forbidden_for_public(scopes: &[Scope]) -> Vec<&str> {
    scopes
        .iter()
        .filter(|s| s.is_forbidden_for_public_keys())
        .map(Scope::as_str)
        .collect()
}

mod tz_name {
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tz.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// Reads typed fields out of a JSON object, collecting every problem
/// instead of stopping at the first.
pub struct FieldReader<'a> {
    obj: &'a Map<String, Value>,
    pub errors: Vec<FieldError>,
}

impl<'a> FieldReader<'a> {
    pub fn new(obj: &'a Map<String, Value>, allowed: &[&str]) -> Self {
        Self {
            obj,
            errors: FieldError::unknown_fields(obj, allowed),
        }
    }

    pub fn has(&self, field: &str) -> bool {
        self.obj.contains_key(field)
    }

    fn fail<T>(&mut self, field: &str, message: &str) -> Option<T> {
        self.errors.push(FieldError::new(field, message));
        None
    }

    /// `None` when absent (or null); records an error when present but wrong.
    pub fn string(&mut self, field: &str, max_len: usize) -> Option<String> {
        match self.obj.get(field)? {
            Value::Null => None,
            Value::String(s) if s.trim().is_empty() => self.fail(field, "must not be empty"),
            Value::String(s) if s.chars().count() > max_len => {
                self.fail(field, &format!("must be at most {max_len} characters"))
            }
            Value::String(s) => Some(s.trim().to_string()),
            _ => self.fail(field, "must be a string"),
        }
    }

    pub fn positive_f64(&mut self, field: &str, max: f64) -> Option<f64> {
        match self.obj.get(field)? {
            Value::Null => None,
            Value::Number(n) => match n.as_f64() {
                Some(v) if v > 0.0 && v <= max && v.is_finite() => Some(v),
                _ => self.fail(
                    field,
                    &format!("must be a number above 0 and at most {max}"),
                ),
            },
            _ => self.fail(field, "must be a number"),
        }
    }

    pub fn positive_u64(&mut self, field: &str, max: u64) -> Option<u64> {
        match self.obj.get(field)? {
            Value::Null => None,
            Value::Number(n) => match n.as_u64() {
                Some(v) if v >= 1 && v <= max => Some(v),
                _ => self.fail(field, &format!("must be a whole number from 1 to {max}")),
            },
            _ => self.fail(field, "must be a whole number"),
        }
    }

    pub fn scopes(&mut self, field: &str) -> Option<Vec<Scope>> {
        match self.obj.get(field)? {
            Value::Null => None,
            Value::Array(items) => {
                let mut scopes = Vec::with_capacity(items.len());
                for item in items {
                    match item.as_str().map(|s| Scope::try_from(s.to_string())) {
                        Some(Ok(scope)) if !scopes.contains(&scope) => scopes.push(scope),
                        Some(Ok(_)) => {}
                        Some(Err(msg)) => return self.fail(field, &msg),
                        None => return self.fail(field, "must be an array of strings"),
                    }
                }
                Some(scopes)
            }
            _ => self.fail(field, "must be an array of strings"),
        }
    }

    pub fn timezone(&mut self, field: &str) -> Option<Tz> {
        let name = self.string(field, 64)?;
        match name.parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => self.fail(
                field,
                "must be an IANA time zone name such as America/New_York",
            ),
        }
    }

    pub fn one_of<T>(
        &mut self,
        field: &str,
        parse: fn(&str) -> Option<T>,
        expected: &str,
    ) -> Option<T> {
        let raw = self.string(field, 32)?;
        match parse(&raw) {
            Some(v) => Some(v),
            None => self.fail(field, &format!("must be one of {expected}")),
        }
    }

    pub fn object(&mut self, field: &str) -> Option<&'a Map<String, Value>> {
        match self.obj.get(field)? {
            Value::Null => None,
            Value::Object(map) => Some(map),
            _ => self.fail(field, "must be an object"),
        }
    }

    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

const PLAN_FIELDS: [&str; 10] = [
    "name",
    "rate_per_second",
    "burst",
    "quota_per_day",
    "quota_per_month",
    "timezone",
    "scopes",
    "user_rate_per_second",
    "user_burst",
    "on_backend_error",
];

const MAX_RATE: f64 = 1_000_000.0;
const MAX_COUNT: u64 = 1_000_000_000_000;

impl PlanSpec {
    /// Builds a plan from JSON. With `base`, fields absent from `input` keep
    /// the base's values (a PATCH); a `null` clears an optional field.
    pub fn from_input(
        input: &Map<String, Value>,
        base: Option<&PlanSpec>,
    ) -> Result<PlanSpec, Vec<FieldError>> {
        let mut r = FieldReader::new(input, &PLAN_FIELDS);
        let cleared = |f: &str| input.get(f).is_some_and(Value::is_null);
        let name = r
            .string("name", 100)
            .or_else(|| base.map(|b| b.name.clone()));
        let rate = r
            .positive_f64("rate_per_second", MAX_RATE)
            .or_else(|| base.map(|b| b.rate_per_second));
        let burst = r
            .positive_u64("burst", u32::MAX as u64)
            .map(|b| b as u32)
            .or_else(|| base.map(|b| b.burst));
        let optional_u64 = |r: &mut FieldReader, field: &str, old: Option<u64>| {
            r.positive_u64(field, MAX_COUNT)
                .or(if cleared(field) { None } else { old })
        };
        let quota_per_day =
            optional_u64(&mut r, "quota_per_day", base.and_then(|b| b.quota_per_day));
        let quota_per_month = optional_u64(
            &mut r,
            "quota_per_month",
            base.and_then(|b| b.quota_per_month),
        );
        let timezone = r
            .timezone("timezone")
            .or_else(|| base.map(|b| b.timezone))
            .unwrap_or(Tz::UTC);
        let scopes = r
            .scopes("scopes")
            .or_else(|| base.map(|b| b.scopes.clone()))
            .unwrap_or_default();
        let user_rate_per_second = r.positive_f64("user_rate_per_second", MAX_RATE).or(
            if cleared("user_rate_per_second") {
                None
            } else {
                base.and_then(|b| b.user_rate_per_second)
            },
        );
        let user_burst = r
            .positive_u64("user_burst", u32::MAX as u64)
            .map(|b| b as u32)
            .or(if cleared("user_burst") {
                None
            } else {
                base.and_then(|b| b.user_burst)
            });
        let on_backend_error = r
            .one_of(
                "on_backend_error",
                |s| match s {
                    "allow" => Some(BackendErrorPolicy::Allow),
                    "deny" => Some(BackendErrorPolicy::Deny),
                    _ => None,
                },
                "\"allow\", \"deny\"",
            )
            .or_else(|| base.map(|b| b.on_backend_error))
            .unwrap_or_default();
        if name.is_none() && !r.has("name") {
            r.errors.push(FieldError::new("name", "is required"));
        }
        if rate.is_none() && !r.has("rate_per_second") {
            r.errors
                .push(FieldError::new("rate_per_second", "is required"));
        }
        if burst.is_none() && !r.has("burst") {
            r.errors.push(FieldError::new("burst", "is required"));
        }
        r.finish()?;
        match (name, rate, burst) {
            (Some(name), Some(rate_per_second), Some(burst)) => Ok(PlanSpec {
                name,
                rate_per_second,
                burst,
                quota_per_day,
                quota_per_month,
                timezone,
                scopes,
                user_rate_per_second,
                user_burst,
                on_backend_error,
            }),
            // A required field present but null: report it as required.
            _ => Err(vec![FieldError::new(
                "name, rate_per_second, burst",
                "are required",
            )]),
        }
    }
}

const OVERRIDE_FIELDS: [&str; 4] = [
    "rate_per_second",
    "burst",
    "quota_per_day",
    "quota_per_month",
];

impl Overrides {
    pub fn from_input(input: &Map<String, Value>) -> Result<Overrides, Vec<FieldError>> {
        let mut r = FieldReader::new(input, &OVERRIDE_FIELDS);
        let overrides = Overrides {
            rate_per_second: r.positive_f64("rate_per_second", MAX_RATE),
            burst: r.positive_u64("burst", u32::MAX as u64).map(|b| b as u32),
            quota_per_day: r.positive_u64("quota_per_day", MAX_COUNT),
            quota_per_month: r.positive_u64("quota_per_month", MAX_COUNT),
        };
        r.finish().map(|()| overrides).map_err(|errs| {
            errs.into_iter()
                .map(|e| FieldError::new(format!("overrides.{}", e.field), e.message))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_plan_parses_with_defaults() {
        let spec = PlanSpec::from_input(
            &obj(json!({"name": "app", "rate_per_second": 10, "burst": 20, "scopes": ["events"]})),
            None,
        )
        .unwrap();
        assert_eq!(spec.timezone, Tz::UTC);
        assert_eq!(spec.quota_per_day, None);
        assert_eq!(spec.on_backend_error, BackendErrorPolicy::Allow);
    }

    #[test]
    fn every_bad_field_is_reported() {
        let errs = PlanSpec::from_input(
            &obj(json!({"name": "", "rate_per_second": -1, "burst": 1.5, "timezone": "Mars/Olympus", "colour": 1})),
            None,
        )
        .unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        for f in ["name", "rate_per_second", "burst", "timezone", "colour"] {
            assert!(fields.contains(&f), "{f} not reported in {fields:?}");
        }
    }

    #[test]
    fn a_patch_keeps_unnamed_fields_and_null_clears_quotas() {
        let base = PlanSpec::from_input(
            &obj(json!({"name": "app", "rate_per_second": 10, "burst": 20, "quota_per_day": 100})),
            None,
        )
        .unwrap();
        let patched = PlanSpec::from_input(
            &obj(json!({"burst": 5, "quota_per_day": null})),
            Some(&base),
        )
        .unwrap();
        assert_eq!(patched.name, "app");
        assert_eq!(patched.burst, 5);
        assert_eq!(patched.quota_per_day, None);
    }
}
