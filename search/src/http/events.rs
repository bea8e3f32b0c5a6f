//! `/v1/events`: "events near me" for any key with `events`; PRIVATE
//! events only with `events:private` (others get 403 for asking and never
//! see one: a PRIVATE event reads as 404).

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use http::Uri;
use serde_json::Value;
use turnout_core::Problem;

use axum::body::Bytes;
use http::StatusCode;

use super::doc::{DeletionPage, EventConditions, EventPage, EventWrite, Near, Paging, Since};
use super::{Access, SearchApi, body, lists, writes};
use crate::model::Event;
use crate::query::{Kind, Visibility};
use crate::store::RecordKind;

/// Search events.
///
/// Any key with `events`. With `zipcode` or `lat`/`lon`, results are
/// sorted by distance (ties by id) and carry `distance` in miles. Without
/// `visibility`, only PUBLIC events are listed.
#[utoipa::path(get, path = "/v1/events", tag = "events", operation_id = "searchEvents",
    params(Near, EventConditions, Paging),
    responses((status = 200, description = "One page of matches.", body = EventPage)))]
pub async fn search(
    State(api): State<Arc<SearchApi>>,
    Extension(access): Extension<Access>,
    uri: Uri,
) -> Result<Json<Value>, Problem> {
    access.require(access.events, "search events (it needs events)")?;
    let pairs = lists::pairs(uri.query());
    let query = crate::params::events(&pairs, api.now_unix()).map_err(Problem::validation)?;
    if let Kind::Events { visibility, .. } = &query.kind
        && visibility.contains(&Visibility::Private)
    {
        access.require(
            access.private_events,
            "list PRIVATE events (it needs events:private)",
        )?;
    }
    lists::search(&api, uri.path(), &pairs, query).await
}

/// Read an event. A PRIVATE event reads as 404 without `events:private`.
#[utoipa::path(get, path = "/v1/events/{id}", tag = "events", operation_id = "getEvent",
    params(("id" = i64, Path, example = 1, description = "The record's id.")),
    responses((status = 200, description = "The event.", body = Event)))]
pub async fn read(
    State(api): State<Arc<SearchApi>>,
    Extension(access): Extension<Access>,
    Path(id): Path<String>,
) -> Result<Json<Event>, Problem> {
    access.require(access.events, "read events (it needs events)")?;
    api.records
        .get::<Event>(body::id(&id)?)
        .await?
        .filter(|e| e.visibility == Visibility::Public || access.private_events)
        .map(Json)
        .ok_or_else(|| Problem::not_found("no such event"))
}

/// List deletions of events since a time, oldest first.
#[utoipa::path(get, path = "/v1/events/deleted", tag = "events", operation_id = "listDeletedEvents",
    params(Since, Paging),
    responses((status = 200, description = "Deletions since then.", body = DeletionPage)))]
pub async fn deleted(
    State(api): State<Arc<SearchApi>>,
    Extension(access): Extension<Access>,
    uri: Uri,
) -> Result<Json<Value>, Problem> {
    access.require(access.events, "read events (it needs events)")?;
    lists::deleted(
        &api,
        RecordKind::Event,
        uri.path(),
        &lists::pairs(uri.query()),
    )
    .await
}

/// Create an event (`events:write`).
#[utoipa::path(post, path = "/v1/events", tag = "events", operation_id = "createEvent",
    request_body = EventWrite,
    responses((status = 201, description = "Created.", body = Event)))]
pub async fn create(
    state: State<Arc<SearchApi>>,
    access: Extension<Access>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Event>), Problem> {
    writes::create::<Event>(state, access, bytes).await
}

/// Edit an event (`events:write`): only the fields given change;
/// timeslots given with their id keep it.
#[utoipa::path(patch, path = "/v1/events/{id}", tag = "events", operation_id = "updateEvent",
    params(("id" = i64, Path, example = 1, description = "The record's id.")),
    request_body = EventWrite,
    responses((status = 200, description = "The event as now stored.", body = Event)))]
pub async fn update(
    state: State<Arc<SearchApi>>,
    access: Extension<Access>,
    id: Path<String>,
    bytes: Bytes,
) -> Result<Json<Event>, Problem> {
    writes::update::<Event>(state, access, id, bytes).await
}

/// Delete an event (`events:write`), with its attendances.
#[utoipa::path(delete, path = "/v1/events/{id}", tag = "events", operation_id = "deleteEvent",
    params(("id" = i64, Path, example = 1, description = "The record's id.")),
    responses((status = 204, description = "Deleted.")))]
pub async fn delete(
    state: State<Arc<SearchApi>>,
    access: Extension<Access>,
    id: Path<String>,
) -> Result<StatusCode, Problem> {
    writes::delete::<Event>(state, access, id).await
}
