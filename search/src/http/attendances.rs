//! Attendances. Until the sign-in issue lets volunteers register
//! themselves, they are written by partners' servers for any person:
//! `people_write` to write, `people_read` to list (they name people).

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use http::{StatusCode, Uri};
use serde_json::Value;
use turnout_core::Problem;

use super::{Access, SearchApi, body, lists};
use crate::model::Attendance;
use crate::records::attendance_view;

pub async fn create(
    State(api): State<Arc<SearchApi>>,
    Extension(access): Extension<Access>,
    Path(event_id): Path<String>,
    bytes: Bytes,
) -> Result<impl IntoResponse, Problem> {
    access.require(
        access.people_write,
        "register people (it needs people:write)",
    )?;
    let event_id = body::id(&event_id)?;
    let (attendance, created) = api.records.attend(event_id, &body::object(&bytes)?).await?;
    api.written();
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(attendance)))
}

pub async fn list(
    State(api): State<Arc<SearchApi>>,
    Extension(access): Extension<Access>,
    Path(event_id): Path<String>,
    uri: Uri,
) -> Result<Json<Value>, Problem> {
    access.require(
        access.people_read,
        "list attendances (it needs people:read)",
    )?;
    let event_id = body::id(&event_id)?;
    if api
        .records
        .get::<crate::model::Event>(event_id)
        .await?
        .is_none()
    {
        return Err(Problem::not_found("no such event"));
    }
    let pairs = lists::pairs(uri.query());
    let (per_page, cursor) = lists::store_page(&pairs, &[])?;
    let (rows, count) = api
        .records
        .store
        .attendances_of(event_id, cursor.map_or(0, |c| c.1), per_page + 1)
        .await?;
    let data = rows
        .iter()
        .map(|r| {
            Ok((
                r.id,
                serde_json::to_value(attendance_view(r)?).unwrap_or_default(),
            ))
        })
        .collect::<Result<Vec<_>, crate::records::WriteError>>()?;
    Ok(lists::id_page(
        &api,
        uri.path(),
        &pairs,
        data,
        count,
        per_page,
    ))
}

pub async fn read(
    State(api): State<Arc<SearchApi>>,
    Extension(access): Extension<Access>,
    Path(id): Path<String>,
) -> Result<Json<Attendance>, Problem> {
    access.require(
        access.people_read,
        "read attendances (it needs people:read)",
    )?;
    let row = api
        .records
        .store
        .attendance(body::id(&id)?)
        .await?
        .ok_or_else(|| Problem::not_found("no such attendance"))?;
    Ok(Json(attendance_view(&row)?))
}

pub async fn update(
    State(api): State<Arc<SearchApi>>,
    Extension(access): Extension<Access>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Attendance>, Problem> {
    access.require(
        access.people_write,
        "edit attendances (it needs people:write)",
    )?;
    let a = api
        .records
        .update_attendance(body::id(&id)?, &body::object(&bytes)?)
        .await?;
    api.written();
    Ok(Json(a))
}
