//! `/v1/people`: organizers' volunteer search and the records behind it.
//! Every route here returns personal data, so every one needs
//! `people_read` (reads) or `people_write` (writes).

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use http::Uri;
use serde_json::Value;
use turnout_core::Problem;

use axum::body::Bytes;
use http::StatusCode;

use super::doc::{DeletionPage, Near, Paging, PeopleConditions, PersonPage, PersonWrite, Since};
use super::{Access, SearchApi, body, lists, writes};
use crate::model::Person;
use crate::store::RecordKind;

/// Search people.
///
/// Organizer tokens with a key holding `events`, and keys with
/// `people:read`; others get 403. With a location, results are sorted by
/// distance (ties by id) and carry `distance` in miles.
#[utoipa::path(get, path = "/v1/people", tag = "people", operation_id = "searchPeople",
    params(Near, PeopleConditions, Paging),
    responses((status = 200, description = "One page of matches.", body = PersonPage)))]
pub async fn search(
    State(api): State<Arc<SearchApi>>,
    Extension(access): Extension<Access>,
    uri: Uri,
) -> Result<Json<Value>, Problem> {
    access.require(access.people_read, "search people (it needs people:read)")?;
    let pairs = lists::pairs(uri.query());
    let query = crate::params::people(&pairs).map_err(Problem::validation)?;
    lists::search(&api, uri.path(), &pairs, query).await
}

/// Read a person.
#[utoipa::path(get, path = "/v1/people/{id}", tag = "people", operation_id = "getPerson",
    params(("id" = i64, Path, example = 1, description = "The record's id.")),
    responses((status = 200, description = "The person.", body = Person)))]
pub async fn read(
    State(api): State<Arc<SearchApi>>,
    Extension(access): Extension<Access>,
    Path(id): Path<String>,
) -> Result<Json<Person>, Problem> {
    access.require(access.people_read, "read people (it needs people:read)")?;
    api.records
        .get::<Person>(body::id(&id)?)
        .await?
        .map(Json)
        .ok_or_else(|| Problem::not_found("no such person"))
}

/// List deletions of people since a time, oldest first.
#[utoipa::path(get, path = "/v1/people/deleted", tag = "people", operation_id = "listDeletedPeople",
    params(Since, Paging),
    responses((status = 200, description = "Deletions since then.", body = DeletionPage)))]
pub async fn deleted(
    State(api): State<Arc<SearchApi>>,
    Extension(access): Extension<Access>,
    uri: Uri,
) -> Result<Json<Value>, Problem> {
    access.require(access.people_read, "read people (it needs people:read)")?;
    lists::deleted(
        &api,
        RecordKind::Person,
        uri.path(),
        &lists::pairs(uri.query()),
    )
    .await
}

/// Create a person (`people:write`).
#[utoipa::path(post, path = "/v1/people", tag = "people", operation_id = "createPerson",
    request_body = PersonWrite,
    responses((status = 201, description = "Created.", body = Person)))]
pub async fn create(
    state: State<Arc<SearchApi>>,
    access: Extension<Access>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Person>), Problem> {
    writes::create::<Person>(state, access, bytes).await
}

/// Edit a person (`people:write`): only the fields given change.
#[utoipa::path(patch, path = "/v1/people/{id}", tag = "people", operation_id = "updatePerson",
    params(("id" = i64, Path, example = 1, description = "The record's id.")),
    request_body = PersonWrite,
    responses((status = 200, description = "The person as now stored.", body = Person)))]
pub async fn update(
    state: State<Arc<SearchApi>>,
    access: Extension<Access>,
    id: Path<String>,
    bytes: Bytes,
) -> Result<Json<Person>, Problem> {
    writes::update::<Person>(state, access, id, bytes).await
}

/// Delete a person (`people:write`), with their attendances.
#[utoipa::path(delete, path = "/v1/people/{id}", tag = "people", operation_id = "deletePerson",
    params(("id" = i64, Path, example = 1, description = "The record's id.")),
    responses((status = 204, description = "Deleted.")))]
pub async fn delete(
    state: State<Arc<SearchApi>>,
    access: Extension<Access>,
    id: Path<String>,
) -> Result<StatusCode, Problem> {
    writes::delete::<Person>(state, access, id).await
}
