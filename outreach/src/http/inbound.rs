//! `GET /v1/inbound`: replies that were not keywords, newest first, for
//! staff to answer. `cursor` is opaque (the last id of the page before).

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::{Extension, Json};
use serde_json::{Value, json};
use turnout_core::Problem;
use turnout_core::problem::FieldError;

use super::{OutreachApi, Sender};

/// Replies that were not keywords, newest first (`campaigns`).
#[utoipa::path(get, path = "/v1/inbound", tag = "inbound", operation_id = "listInbound",
    params(super::doc::Paging),
    responses((status = 200, description = "One page of replies.", body = super::doc::InboundPage)))]
pub async fn list(
    State(api): State<Arc<OutreachApi>>,
    Extension(sender): Extension<Sender>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, Problem> {
    sender.require_campaigns()?;
    let mut errors = Vec::new();
    let mut before = 0i64;
    let mut per_page = None;
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match &*k {
            "cursor" => match v.parse::<i64>() {
                Ok(n) if n > 0 => before = n,
                _ => errors.push(FieldError::new("cursor", "is not a cursor from this list")),
            },
            "per_page" => per_page = Some(v.into_owned()),
            // The API key may ride in the query (Mashery's convention).
            "api_key" => {}
            other => errors.push(FieldError::new(other, "is not a parameter of this list")),
        }
    }
    let per_page = turnout_search::params::per_page(per_page.as_deref())
        .map_err(|e| errors.push(e))
        .unwrap_or(25);
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let mut rows = api.inbound.replies(before, per_page + 1).await?;
    let more = rows.len() > per_page;
    rows.truncate(per_page);
    let next = match (more, rows.last()) {
        (true, Some(last)) => Some(format!(
            "{}/v1/inbound?per_page={per_page}&cursor={}",
            api.public_url, last.id
        )),
        _ => None,
    };
    Ok(Json(json!({
        "data": rows,
        "count": api.inbound.count().await?,
        "next": next,
        "previous": null,
    })))
}
