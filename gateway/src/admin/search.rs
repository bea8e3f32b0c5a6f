//! Admin endpoints for the search crate: bulk import (streamed), reindex
//! requests, where this instance's index stands, and people's roles.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use http::{HeaderMap, StatusCode};
use serde_json::json;
use turnout_core::Problem;
use turnout_search::import::{self, Format, Progress};
use turnout_search::store::RecordKind;

use super::AdminState;
use super::extract::AdminCaller;

/// Import people, matched on their `identifiers`: importing the same
/// file twice creates nothing the second time.
#[utoipa::path(post, path = "/admin/v1/import/people", tag = "admin", operation_id = "importPeople",
    request_body(description = "One record per line (NDJSON) or per row (CSV, with a header row). Bad lines never stop good ones.",
        content((String = "application/x-ndjson"), (String = "text/csv"))),
    responses(
        (status = 200, description = "What happened to each line.", body = turnout_search::import::Summary),
        (status = 415, description = "Neither NDJSON nor CSV."),
    ))]
pub async fn import_people(
    state: State<AdminState>,
    caller: AdminCaller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    import(state, caller, RecordKind::Person, headers, body).await
}

/// Import events, matched on their `identifiers`.
#[utoipa::path(post, path = "/admin/v1/import/events", tag = "admin", operation_id = "importEvents",
    request_body(description = "One record per line (NDJSON) or per row (CSV, with a header row). Bad lines never stop good ones.",
        content((String = "application/x-ndjson"), (String = "text/csv"))),
    responses(
        (status = 200, description = "What happened to each line.", body = turnout_search::import::Summary),
        (status = 415, description = "Neither NDJSON nor CSV."),
    ))]
pub async fn import_events(
    state: State<AdminState>,
    caller: AdminCaller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    import(state, caller, RecordKind::Event, headers, body).await
}

async fn import(
    State(s): State<AdminState>,
    _caller: AdminCaller,
    kind: RecordKind,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let format = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(Format::from_content_type)
        .ok_or_else(|| {
            Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send application/x-ndjson or text/csv",
            )
        })?;
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let reader = tokio_util::io::StreamReader::new(stream);
    let summary = import::run(
        &s.search.records,
        kind,
        format,
        reader,
        Arc::new(Progress::default()),
    )
    .await
    .map_err(|e| match e {
        import::ImportError::Read(why) => Problem::bad_request("malformed_body", why),
        import::ImportError::Write(w) => w.into(),
    })?;
    s.search.wake.notify_one();
    Ok(Json(summary).into_response())
}

/// Rebuild every instance's search index from the store, serving from
/// the old one meanwhile.
#[utoipa::path(post, path = "/admin/v1/search/reindex", tag = "admin", operation_id = "reindex",
    responses((status = 202, description = "Requested.", body = super::doc::Reindexing)))]
pub async fn reindex(
    State(s): State<AdminState>,
    _caller: AdminCaller,
) -> Result<Response, Problem> {
    let generation = s.search.records.store.request_reindex().await?;
    s.search.wake.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"generation": generation})),
    )
        .into_response())
}

/// This instance's search index against the store.
#[utoipa::path(get, path = "/admin/v1/search", tag = "admin", operation_id = "searchStatus",
    responses((status = 200, description = "How far the index is behind.", body = super::doc::SearchStatus)))]
pub async fn status(
    State(s): State<AdminState>,
    _caller: AdminCaller,
) -> Result<Response, Problem> {
    let store = &s.search.records.store;
    let position = s.search.engine.position();
    let last_seq = store.last_seq().await?;
    let wanted = store.reindex_generation().await?;
    Ok(Json(json!({
        "engine": s.search.engine.name(),
        "applied_seq": position.seq,
        "store_seq": last_seq,
        "behind": (last_seq - position.seq).max(0),
        "generation": position.generation,
        "requested_generation": wanted,
    }))
    .into_response())
}

/// `PATCH /admin/v1/people/{id}` `{"role"}`: promotes or demotes. A
/// person's tokens carry the new role from their next refresh.
/// Make a person a volunteer, organizer or admin (audited as
/// `person.role`). Their tokens carry the new role from the next refresh.
#[utoipa::path(patch, path = "/admin/v1/people/{id}", tag = "admin", operation_id = "setRole",
    params(("id" = i64, Path, example = 1, description = "The person's id.")),
    request_body = super::doc::RoleChange,
    responses((status = 200, description = "The person as now stored.", body = turnout_search::model::Person)))]
pub async fn set_role(
    State(s): State<AdminState>,
    caller: AdminCaller,
    Path(id): Path<String>,
    super::extract::JsonObject(body): super::extract::JsonObject,
) -> Result<Response, Problem> {
    use turnout_core::problem::FieldError;
    use turnout_search::model::Person;
    use turnout_search::model::resources::Role;
    let mut errors = FieldError::unknown_fields(&body, &["role"]);
    let role = body
        .get("role")
        .and_then(|r| serde_json::from_value::<Role>(r.clone()).ok());
    if role.is_none() {
        errors.push(FieldError::new(
            "role",
            "must be volunteer, organizer or admin",
        ));
    }
    let (Some(role), true) = (role, errors.is_empty()) else {
        return Err(Problem::validation(errors));
    };
    let not_found = || Problem::not_found("no such person");
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let before: Person = s.search.records.get(id).await?.ok_or_else(not_found)?;
    let mut patch = serde_json::Map::new();
    patch.insert("role".into(), role.as_str().into());
    let after: Person = s.search.records.update(id, patch).await?;
    s.search.wake.notify_one();
    crate::keys::store::record_audit(
        &s.admin.store,
        &crate::keys::store::AuditEntry {
            actor: caller.actor,
            action: "person.role".into(),
            target: format!("person:{id}"),
            before: Some(json!({"role": before.role})),
            after: Some(json!({"role": after.role})),
        },
        s.admin.clock.now().timestamp(),
    )
    .await?;
    Ok(Json(after).into_response())
}
