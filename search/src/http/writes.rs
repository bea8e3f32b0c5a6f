//! `POST`, `PATCH` and `DELETE` for people and events: the same steps for
//! both, with the permission each needs.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use http::StatusCode;
use turnout_core::Problem;

use super::{Access, SearchApi, body};
use crate::model::{Event, Person};
use crate::records::Resource;

/// Who may write a kind of record, and how to say so.
pub trait Writable: Resource {
    /// Plural noun and scope, for the 403's detail.
    const WHAT: &'static str;
    const SCOPE: &'static str;
    fn may_write(access: &Access) -> bool;
}

impl Writable for Person {
    const WHAT: &'static str = "people";
    const SCOPE: &'static str = "people:write";
    fn may_write(access: &Access) -> bool {
        access.people_write
    }
}

impl Writable for Event {
    const WHAT: &'static str = "events";
    const SCOPE: &'static str = "events:write";
    fn may_write(access: &Access) -> bool {
        access.events_write
    }
}

fn check<R: Writable>(access: &Access, verb: &str) -> Result<(), Problem> {
    access.require(
        R::may_write(access),
        &format!("{verb} {} (it needs {})", R::WHAT, R::SCOPE),
    )
}

pub async fn create<R: Writable>(
    State(api): State<Arc<SearchApi>>,
    Extension(access): Extension<Access>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<R>), Problem> {
    check::<R>(&access, "create")?;
    let record: R = api.records.create(body::object(&bytes)?).await?;
    api.written().await;
    Ok((StatusCode::CREATED, Json(record)))
}

pub async fn update<R: Writable>(
    State(api): State<Arc<SearchApi>>,
    Extension(access): Extension<Access>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<R>, Problem> {
    check::<R>(&access, "edit")?;
    let id = body::id(&id)?;
    let record: R = api.records.update(id, body::object(&bytes)?).await?;
    api.written().await;
    Ok(Json(record))
}

pub async fn delete<R: Writable>(
    State(api): State<Arc<SearchApi>>,
    Extension(access): Extension<Access>,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    check::<R>(&access, "delete")?;
    api.records.delete::<R>(body::id(&id)?).await?;
    api.written().await;
    Ok(StatusCode::NO_CONTENT)
}
