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

use super::{Access, SearchApi, body, lists};
use crate::model::Event;
use crate::query::{Kind, Visibility};
use crate::store::RecordKind;

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
