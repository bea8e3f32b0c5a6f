//! `/v1/people`: organizers' volunteer search and the records behind it.
//! Every route here returns personal data, so every one needs
//! `people_read` (reads) or `people_write` (writes).

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::response::IntoResponse;
use http::{StatusCode, Uri};
use serde_json::Value;
use turnout_core::Problem;

use std::sync::Arc;

use axum::extract::State;

use super::{Access, SearchApi, body, lists};
use crate::model::Person;
use crate::store::RecordKind;

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

pub async fn create(
    State(api): State<Arc<SearchApi>>,
    Extension(access): Extension<Access>,
    bytes: Bytes,
) -> Result<impl IntoResponse, Problem> {
    access.require(access.people_write, "create people (it needs people:write)")?;
    let person: Person = api.records.create(body::object(&bytes)?).await?;
    api.written();
    Ok((StatusCode::CREATED, Json(person)))
}

pub async fn update(
    State(api): State<Arc<SearchApi>>,
    Extension(access): Extension<Access>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Person>, Problem> {
    access.require(access.people_write, "edit people (it needs people:write)")?;
    let id = body::id(&id)?;
    let person: Person = api.records.update(id, body::object(&bytes)?).await?;
    api.written();
    Ok(Json(person))
}

pub async fn delete(
    State(api): State<Arc<SearchApi>>,
    Extension(access): Extension<Access>,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    access.require(access.people_write, "delete people (it needs people:write)")?;
    api.records.delete::<Person>(body::id(&id)?).await?;
    api.written();
    Ok(StatusCode::NO_CONTENT)
}

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
