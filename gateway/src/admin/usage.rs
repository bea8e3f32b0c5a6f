//! `GET /admin/v1/usage`: calls, rejections by reason, status classes and
//! latency percentiles per key and route, by minute, hour or day.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use turnout_core::Problem;
use turnout_core::problem::FieldError;

use super::AdminState;
use super::extract::{AdminCaller, QueryParams};
use crate::usage::report::{self, Granularity};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// A key id.
    key: Option<String>,
    /// A route prefix, e.g. `/v1/events`.
    route: Option<String>,
    /// RFC 3339 or unix seconds; an hour ago by default.
    from: Option<String>,
    /// RFC 3339 or unix seconds; now by default. At most 92 days after `from`.
    to: Option<String>,
    /// `minute`, `hour` (the default) or `day`.
    granularity: Option<String>,
}

/// RFC 3339 or unix seconds.
fn parse_time(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().or_else(|| {
        chrono::DateTime::parse_from_rfc3339(raw)
            .ok()
            .map(|t| t.timestamp())
    })
}

const MAX_SPAN_SECS: i64 = 92 * 86_400;

/// Calls, rejections by reason, status classes and latency percentiles
/// per key, route and period.
#[utoipa::path(get, path = "/admin/v1/usage", tag = "admin", operation_id = "getUsage",
    params(UsageParams),
    responses((status = 200, description = "One row per period, key and route.", body = super::doc::UsagePage)))]
pub async fn get_usage(
    State(s): State<AdminState>,
    _caller: AdminCaller,
    QueryParams(p): QueryParams<UsageParams>,
) -> Result<Json<Value>, Problem> {
    let now = s.admin.clock.now().timestamp();
    let mut errors = Vec::new();
    let mut time = |field: &str, raw: &Option<String>, default: i64| match raw {
        None => default,
        Some(r) => parse_time(r).unwrap_or_else(|| {
            errors.push(FieldError::new(field, "must be RFC 3339 or unix seconds"));
            default
        }),
    };
    let to = time("to", &p.to, now + 60);
    let from = time("from", &p.from, now - 3600);
    let granularity = match p.granularity.as_deref() {
        None => Granularity::Hour,
        Some(g) => Granularity::parse(g).unwrap_or_else(|| {
            errors.push(FieldError::new(
                "granularity",
                "must be minute, hour or day",
            ));
            Granularity::Hour
        }),
    };
    if from >= to {
        errors.push(FieldError::new("from", "must be before to"));
    } else if to - from > MAX_SPAN_SECS {
        errors.push(FieldError::new("to", "the span may be at most 92 days"));
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }

    // This instance's latest counts first, so a report includes them.
    crate::usage::flush(&s.admin.store, &s.usage, &*s.admin.clock, true).await;
    let rows = crate::usage::store::read(
        &s.admin.store,
        from.div_euclid(60),
        to.div_euclid(60) + i64::from(to.rem_euclid(60) != 0),
        p.key.as_deref().filter(|k| !k.is_empty()),
        p.route.as_deref().filter(|r| !r.is_empty()),
    )
    .await?;
    let data: Vec<Value> = report::roll_up(&rows, granularity)
        .iter()
        .map(|(minute, key, route, stats)| report::to_json(*minute, key, route, stats))
        .collect();
    Ok(Json(
        json!({"data": data, "count": data.len(), "next": null, "previous": null}),
    ))
}
