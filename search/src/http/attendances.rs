//! Attendances. Partners' servers and staff write them for any person
//! (`people_write`) and list them (`people_read`: they name people). A
//! signed-in person, through a key holding `attendances`, registers and
//! cancels for themselves only, and sees only their own.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use http::{StatusCode, Uri};
use serde_json::Value;
use turnout_core::Problem;

use super::doc::{AttendanceCreate, AttendancePage, AttendanceUpdate, Paging};
use super::{Access, SearchApi, body, lists};
use crate::model::Attendance;
use crate::records::attendance_view;

/// Register for a timeslot.
///
/// A signed-in person (key with `attendances` plus a user token) registers
/// themselves; a key with `people:write` registers anyone. Registering
/// again answers 200 with the existing attendance.
#[utoipa::path(post, path = "/v1/events/{id}/attendances", tag = "attendances", operation_id = "createAttendance",
    params(("id" = i64, Path, example = 1, description = "The event's id.")),
    request_body = AttendanceCreate,
    responses(
        (status = 201, description = "Registered.", body = Attendance),
        (status = 200, description = "Already registered: the attendance as it stands.", body = Attendance),
        (status = 409, description = "The timeslot is full."),
    ))]
pub async fn create(
    State(api): State<Arc<SearchApi>>,
    Extension(access): Extension<Access>,
    Path(event_id): Path<String>,
    bytes: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let mut body = body::object(&bytes)?;
    if !access.people_write {
        let me = own(&access, "register people (it needs people:write)")?;
        match body.get("person_id") {
            None | Some(Value::Null) => {}
            Some(v) if v.as_i64() == Some(me) => {}
            Some(_) => {
                return Err(Problem::forbidden(
                    "a signed-in person registers only themselves",
                ));
            }
        }
        self_service_status(&body)?;
        body.insert("person_id".into(), Value::from(me));
    }
    let event_id = body::id(&event_id)?;
    let (attendance, created) = api.records.attend(event_id, &body).await?;
    api.written().await;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(attendance)))
}

/// List an event's attendances (`people:read`).
#[utoipa::path(get, path = "/v1/events/{id}/attendances", tag = "attendances", operation_id = "listAttendances",
    params(("id" = i64, Path, example = 1, description = "The event's id."), Paging),
    responses((status = 200, description = "One page of attendances.", body = AttendancePage)))]
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
    page(&api, &uri, Of::Event(event_id)).await
}

enum Of {
    Event(i64),
    Person(i64),
}

/// One page of an event's or a person's attendances, in the envelope.
async fn page(api: &SearchApi, uri: &Uri, of: Of) -> Result<Json<Value>, Problem> {
    let pairs = lists::pairs(uri.query());
    let (per_page, cursor) = lists::store_page(&pairs, &[])?;
    let after = cursor.map_or(0, |c| c.1);
    let store = &api.records.store;
    let (rows, count) = match of {
        Of::Event(id) => store.attendances_of(id, after, per_page + 1).await?,
        Of::Person(id) => store.attendances_of_person(id, after, per_page + 1).await?,
    };
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
        api,
        uri.path(),
        &pairs,
        data,
        count,
        per_page,
    ))
}

/// Read an attendance: staff any, a signed-in person their own.
#[utoipa::path(get, path = "/v1/attendances/{id}", tag = "attendances", operation_id = "getAttendance",
    params(("id" = i64, Path, example = 1, description = "The attendance's id.")),
    responses((status = 200, description = "The attendance.", body = Attendance)))]
pub async fn read(
    State(api): State<Arc<SearchApi>>,
    Extension(access): Extension<Access>,
    Path(id): Path<String>,
) -> Result<Json<Attendance>, Problem> {
    let me = if access.people_read {
        None
    } else {
        Some(own(&access, "read attendances (it needs people:read)")?)
    };
    let row = api
        .records
        .store
        .attendance(body::id(&id)?)
        .await?
        .filter(|r| me.is_none_or(|me| r.person_id == me))
        .ok_or_else(|| Problem::not_found("no such attendance"))?;
    Ok(Json(attendance_view(&row)?))
}

/// The signed-in person's own attendances.
#[utoipa::path(get, path = "/v1/me/attendances", tag = "me", operation_id = "listMyAttendances",
    params(Paging),
    responses((status = 200, description = "One page of attendances.", body = AttendancePage)))]
pub async fn mine(
    State(api): State<Arc<SearchApi>>,
    Extension(access): Extension<Access>,
    uri: Uri,
) -> Result<Json<Value>, Problem> {
    let me = own(&access, "list attendances")?;
    page(&api, &uri, Of::Person(me)).await
}

/// The signed-in person acting for themselves through a key that holds
/// `attendances`; `what` names the staff right that is missing otherwise.
fn own(access: &Access, what: &str) -> Result<i64, Problem> {
    match access.person {
        Some(me) if access.attend => Ok(me),
        Some(_) => Err(Problem::forbidden(
            "this key may not act for a signed-in person's attendances (it needs attendances)",
        )),
        None => Err(Problem::forbidden(format!("this key may not {what}"))),
    }
}

/// A person may register or cancel; confirming attendance and marking
/// who came are staff work.
fn self_service_status(body: &serde_json::Map<String, Value>) -> Result<(), Problem> {
    if body.contains_key("attended") {
        return Err(Problem::forbidden("only staff mark who attended"));
    }
    match body.get("status").and_then(Value::as_str) {
        None | Some("REGISTERED") | Some("CANCELLED") => Ok(()),
        Some(_) => Err(Problem::forbidden(
            "a signed-in person may only register (REGISTERED) or cancel (CANCELLED)",
        )),
    }
}

/// Change an attendance: a signed-in person may register or cancel their
/// own; staff (`people:write`) also confirm and mark who attended.
#[utoipa::path(patch, path = "/v1/attendances/{id}", tag = "attendances", operation_id = "updateAttendance",
    params(("id" = i64, Path, example = 1, description = "The attendance's id.")),
    request_body = AttendanceUpdate,
    responses((status = 200, description = "The attendance as now stored.", body = Attendance)))]
pub async fn update(
    State(api): State<Arc<SearchApi>>,
    Extension(access): Extension<Access>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Attendance>, Problem> {
    let id = body::id(&id)?;
    let body = body::object(&bytes)?;
    if !access.people_write {
        let me = own(&access, "edit attendances (it needs people:write)")?;
        let theirs = api.records.store.attendance(id).await?;
        if theirs.is_none_or(|r| r.person_id != me) {
            return Err(Problem::not_found("no such attendance"));
        }
        self_service_status(&body)?;
    }
    let a = api.records.update_attendance(id, &body).await?;
    api.written().await;
    Ok(Json(a))
}
