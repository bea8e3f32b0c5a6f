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
