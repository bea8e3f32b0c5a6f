//! Admin handlers for plans, keys and the audit log. Each write goes
//! through [`super::service::Admin`] and then brings this instance's
//! registry up to date at once (other instances follow within a second).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use turnout_core::Problem;

use super::extract::{AdminCaller, JsonObject};
use super::paging::{PageParams, envelope};
use super::{AdminState, base_url, views};
use crate::keys::store as key_store;

async fn applied(state: &AdminState) {
    if let Err(err) = state.follower.applied().await {
        tracing::warn!(error = %err, "could not refresh the key registry after an admin change");
    }
}

pub async fn create_plan(
    State(s): State<AdminState>,
    caller: AdminCaller,
    JsonObject(input): JsonObject,
) -> Result<Response, Problem> {
    let plan = s.admin.create_plan(&caller.actor, &input).await?;
    applied(&s).await;
    Ok((StatusCode::CREATED, Json(views::plan(&plan))).into_response())
}

pub async fn list_plans(
    State(s): State<AdminState>,
    _caller: AdminCaller,
    headers: HeaderMap,
    Query(params): Query<PageParams>,
) -> Result<Json<Value>, Problem> {
    let page = params.parse()?;
    let (plans, count) = key_store::list_plans(&s.admin.store, page.offset, page.per_page).await?;
    let data = plans.iter().map(views::plan).collect();
    Ok(Json(envelope(
        data,
        count,
        page,
        &base_url(&s, &headers),
        "/admin/v1/plans",
        "",
    )))
}

pub async fn get_plan(
    State(s): State<AdminState>,
    _caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    Ok(Json(views::plan(&s.admin.plan(&id).await?)))
}

pub async fn update_plan(
    State(s): State<AdminState>,
    caller: AdminCaller,
    Path(id): Path<String>,
    JsonObject(input): JsonObject,
) -> Result<Json<Value>, Problem> {
    let plan = s.admin.update_plan(&caller.actor, &id, &input).await?;
    applied(&s).await;
    Ok(Json(views::plan(&plan)))
}

pub async fn delete_plan(
    State(s): State<AdminState>,
    caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    s.admin.delete_plan(&caller.actor, &id).await?;
    applied(&s).await;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn create_key(
    State(s): State<AdminState>,
    caller: AdminCaller,
    JsonObject(input): JsonObject,
) -> Result<Response, Problem> {
    let created = s.admin.create_key(&caller.actor, &input).await?;
    applied(&s).await;
    let mut body = views::key(&created.key, &created.plan);
    body["key"] = Value::String(created.secret);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn list_keys(
    State(s): State<AdminState>,
    _caller: AdminCaller,
    headers: HeaderMap,
    Query(params): Query<PageParams>,
) -> Result<Json<Value>, Problem> {
    let page = params.parse()?;
    let (keys, count) = key_store::list_keys(&s.admin.store, page.offset, page.per_page).await?;
    let mut data = Vec::with_capacity(keys.len());
    for key in &keys {
        let plan = key_store::get_plan_any(&s.admin.store, &key.plan_id)
            .await?
            .ok_or_else(|| Problem::internal(&format!("key {} names a missing plan", key.id)))?;
        data.push(views::key(key, &plan));
    }
    Ok(Json(envelope(
        data,
        count,
        page,
        &base_url(&s, &headers),
        "/admin/v1/keys",
        "",
    )))
}

pub async fn get_key(
    State(s): State<AdminState>,
    _caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let (key, plan) = s.admin.key(&id).await?;
    Ok(Json(views::key(&key, &plan)))
}

pub async fn update_key(
    State(s): State<AdminState>,
    caller: AdminCaller,
    Path(id): Path<String>,
    JsonObject(input): JsonObject,
) -> Result<Json<Value>, Problem> {
    let (key, plan) = s.admin.update_key(&caller.actor, &id, &input).await?;
    applied(&s).await;
    Ok(Json(views::key(&key, &plan)))
}

pub async fn revoke_key(
    State(s): State<AdminState>,
    caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    s.admin.revoke_key(&caller.actor, &id).await?;
    applied(&s).await;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_audit(
    State(s): State<AdminState>,
    _caller: AdminCaller,
    headers: HeaderMap,
    Query(params): Query<PageParams>,
) -> Result<Json<Value>, Problem> {
    let page = params.parse()?;
    let (records, count) =
        key_store::list_audit(&s.admin.store, page.offset, page.per_page).await?;
    let data = records
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id,
                "at": chrono::DateTime::from_timestamp(r.at, 0).map(|t| t.to_rfc3339()),
                "actor": r.actor,
                "action": r.action,
                "target": r.target,
                "before": r.before,
                "after": r.after,
            })
        })
        .collect();
    Ok(Json(envelope(
        data,
        count,
        page,
        &base_url(&s, &headers),
        "/admin/v1/audit",
        "",
    )))
}
