//! `/admin/v1/suppressions`: the opt-out and suppression list, for
//! operators. Addresses are kept only as hashes (so an opt-out outlives
//! the person's record), so the list shows each entry's `address_hash`;
//! an operator who knows the address finds its entry with `?address=`.
//! Entries added here have the reason `manual` unless told otherwise, and
//! a START reply does not lift them.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use turnout_core::Problem;
use turnout_core::problem::FieldError;
use turnout_outreach::consent::optouts::{Entry, OptOuts, Reason};
use turnout_outreach::queue::Channel;

use super::extract::{AdminCaller, JsonObject, QueryParams};
use super::paging::{PageParams, envelope};
use super::{AdminState, base_url};
use crate::keys::store::{AuditEntry, record_audit};

fn view(e: &Entry, address: Option<&str>) -> Value {
    let mut v = json!({
        "channel": e.channel,
        "address_hash": e.address_hash,
        "reason": e.reason.as_str(),
        "created_date": chrono::DateTime::from_timestamp_millis(e.created_at).map(|t| t.to_rfc3339()),
    });
    if let Some(a) = address {
        v["address"] = Value::String(a.to_string());
    }
    v
}

/// The channel and the address in its canonical form (E.164, or the email
/// address as given, trimmed), or the field errors.
fn address(
    channel: Option<&str>,
    address: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<(Channel, String)> {
    let channel = match channel {
        Some(raw) => Channel::parse(raw).ok().or_else(|| {
            errors.push(FieldError::new("channel", "must be sms or email"));
            None
        }),
        None => {
            errors.push(FieldError::new("channel", "is required: sms or email"));
            None
        }
    };
    let Some(raw) = address else {
        errors.push(FieldError::new("address", "is required"));
        return None;
    };
    let channel = channel?;
    match turnout_outreach::recipients::parse_address(channel, raw.trim()) {
        Ok(address) => Some((channel, address)),
        Err(why) => {
            errors.push(FieldError::new("address", why));
            None
        }
    }
}

fn str_field<'a>(
    body: &'a Map<String, Value>,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<&'a str> {
    match body.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            errors.push(FieldError::new(name, "must be a string"));
            None
        }
    }
}

/// Suppress an address: nothing is sent to it again, campaign or
/// transactional, until the entry is deleted.
#[utoipa::path(post, path = "/admin/v1/suppressions", tag = "admin", operation_id = "addSuppression",
    request_body = super::doc::SuppressionCreate,
    responses(
        (status = 201, description = "Added.", body = super::doc::Suppression),
        (status = 200, description = "Already on the list: the entry as it stands (the first reason stays).", body = super::doc::Suppression),
    ))]
pub async fn create(
    State(s): State<AdminState>,
    caller: AdminCaller,
    JsonObject(body): JsonObject,
) -> Result<Response, Problem> {
    let mut errors = FieldError::unknown_fields(&body, &["channel", "address", "reason"]);
    let channel = str_field(&body, "channel", &mut errors);
    let raw = str_field(&body, "address", &mut errors);
    let target = address(channel, raw, &mut errors);
    let reason = match str_field(&body, "reason", &mut errors) {
        None => Reason::Manual,
        Some(r) => Reason::parse(r).unwrap_or_else(|| {
            errors.push(FieldError::new(
                "reason",
                "must be manual, bounce, complaint, unsubscribe or stop",
            ));
            Reason::Manual
        }),
    };
    let Some((channel, address)) = target.filter(|_| errors.is_empty()) else {
        return Err(Problem::validation(errors));
    };
    let optouts = &OptOuts::new(s.admin.store.clone());
    let now = s.admin.clock.now().timestamp_millis();
    let added = optouts.add(channel, &address, reason, now).await?;
    let entry = optouts
        .find(channel, &address)
        .await?
        .ok_or_else(|| Problem::internal(&"a suppression vanished after it was added"))?;
    if added {
        record_audit(
            &s.admin.store,
            &AuditEntry {
                actor: caller.actor,
                action: "suppression.add".into(),
                target: format!("{}:{}", channel.as_str(), entry.address_hash),
                before: None,
                after: Some(view(&entry, None)),
            },
            now / 1000,
        )
        .await?;
    }
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(&entry, Some(&address)))).into_response())
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `sms` or `email`.
    channel: Option<String>,
    /// With `channel`: only this address's entry.
    address: Option<String>,
    /// Opaque; taken from a `next` or `previous` link.
    cursor: Option<String>,
    /// 25 by default, 100 at most.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    per_page: Option<String>,
}

/// The list, newest first; or, with `channel` and `address`, that
/// address's entry (if any).
#[utoipa::path(get, path = "/admin/v1/suppressions", tag = "admin", operation_id = "listSuppressions",
    params(ListParams),
    responses((status = 200, description = "One page of entries.", body = super::doc::SuppressionPage)))]
pub async fn list(
    State(s): State<AdminState>,
    _caller: AdminCaller,
    headers: HeaderMap,
    QueryParams(p): QueryParams<ListParams>,
) -> Result<Json<Value>, Problem> {
    let page = PageParams {
        cursor: p.cursor.clone(),
        per_page: p.per_page.clone(),
    }
    .parse()?;
    let optouts = OptOuts::new(s.admin.store.clone());
    let mut errors = Vec::new();
    if p.address.is_some() {
        let Some((channel, address)) =
            address(p.channel.as_deref(), p.address.as_deref(), &mut errors)
        else {
            return Err(Problem::validation(errors));
        };
        let found = optouts.find(channel, &address).await?;
        let data: Vec<Value> = found.iter().map(|e| view(e, Some(&address))).collect();
        let count = data.len() as i64;
        return Ok(Json(
            json!({"data": data, "count": count, "next": null, "previous": null}),
        ));
    }
    let channel = match p.channel.as_deref() {
        None => None,
        Some(raw) => Some(Channel::parse(raw).map_err(|_| {
            Problem::validation(vec![FieldError::new("channel", "must be sms or email")])
        })?),
    };
    let (entries, count) = optouts.list(channel, page.offset, page.per_page).await?;
    let extra = channel
        .map(|c| format!("channel={}", c.as_str()))
        .unwrap_or_default();
    Ok(Json(envelope(
        entries.iter().map(|e| view(e, None)).collect(),
        count,
        page,
        &base_url(&s, &headers),
        "/admin/v1/suppressions",
        &extra,
    )))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RemoveParams {
    /// `sms` or `email`.
    #[param(required = true)]
    channel: Option<String>,
    /// An E.164 number or an email address.
    #[param(required = true)]
    address: Option<String>,
}

/// Lift an address's entry, whatever its reason: messages to it are sent
/// again. (A person who replied STOP opts back in by replying START.)
#[utoipa::path(delete, path = "/admin/v1/suppressions", tag = "admin", operation_id = "removeSuppression",
    params(RemoveParams),
    responses(
        (status = 204, description = "Removed."),
        (status = 404, description = "`not_found`: the address is not on the list."),
    ))]
pub async fn remove(
    State(s): State<AdminState>,
    caller: AdminCaller,
    QueryParams(p): QueryParams<RemoveParams>,
) -> Result<StatusCode, Problem> {
    let mut errors = Vec::new();
    let Some((channel, address)) = address(p.channel.as_deref(), p.address.as_deref(), &mut errors)
    else {
        return Err(Problem::validation(errors));
    };
    let optouts = OptOuts::new(s.admin.store.clone());
    let Some(entry) = optouts.find(channel, &address).await? else {
        return Err(Problem::not_found("this address is not on the list"));
    };
    optouts.remove(channel, &address).await?;
    record_audit(
        &s.admin.store,
        &AuditEntry {
            actor: caller.actor,
            action: "suppression.remove".into(),
            target: format!("{}:{}", channel.as_str(), entry.address_hash),
            before: Some(view(&entry, None)),
            after: None,
        },
        s.admin.clock.now().timestamp(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
