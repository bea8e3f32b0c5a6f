//! Admin handlers for plans, keys and the audit log. Each write goes
//! through [`super::service::Admin`] and then brings this instance's
//! registry up to date at once (other instances follow within a second).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use turnout_core::Problem;

use super::extract::{AdminCaller, JsonObject, QueryParams};
use super::paging::{PageParams, envelope};
use super::{AdminState, base_url, views};
use crate::keys::store as key_store;

async fn applied(state: &AdminState) {
    if let Err(err) = state.follower.applied().await {
        tracing::warn!(error = %err, "could not refresh the key registry after an admin change");
    }
}

/// Create a plan.
#[utoipa::path(post, path = "/admin/v1/plans", tag = "admin", operation_id = "createPlan",
    request_body = super::doc::PlanWrite,
    responses((status = 201, description = "Created.", body = super::doc::Plan), (status = 409, description = "Conflict: see `detail`.")))]
pub async fn create_plan(
    State(s): State<AdminState>,
    caller: AdminCaller,
    JsonObject(input): JsonObject,
) -> Result<Response, Problem> {
    let plan = s.admin.create_plan(&caller.actor, &input).await?;
    applied(&s).await;
    Ok((StatusCode::CREATED, Json(views::plan(&plan))).into_response())
}

/// List plans.
#[utoipa::path(get, path = "/admin/v1/plans", tag = "admin", operation_id = "listPlans",
    params(PageParams),
    responses((status = 200, description = "One page of plans.", body = super::doc::PlanPage)))]
pub async fn list_plans(
    State(s): State<AdminState>,
    _caller: AdminCaller,
    headers: HeaderMap,
    QueryParams(params): QueryParams<PageParams>,
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

/// Read a plan (by id or name).
#[utoipa::path(get, path = "/admin/v1/plans/{id}", tag = "admin", operation_id = "getPlan",
    params(("id" = String, Path, description = "The plan's id.")),
    responses((status = 200, description = "The plan.", body = super::doc::Plan)))]
pub async fn get_plan(
    State(s): State<AdminState>,
    _caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    Ok(Json(views::plan(&s.admin.plan(&id).await?)))
}

/// Change a plan; every key on it follows within a second.
#[utoipa::path(patch, path = "/admin/v1/plans/{id}", tag = "admin", operation_id = "updatePlan",
    params(("id" = String, Path, description = "The plan's id.")),
    request_body = super::doc::PlanWrite,
    responses((status = 200, description = "The plan as now stored.", body = super::doc::Plan), (status = 409, description = "Conflict: see `detail`.")))]
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

/// Delete a plan that no key uses.
#[utoipa::path(delete, path = "/admin/v1/plans/{id}", tag = "admin", operation_id = "deletePlan",
    params(("id" = String, Path, description = "The plan's id.")),
    responses((status = 204, description = "Deleted."), (status = 409, description = "Conflict: see `detail`.")))]
pub async fn delete_plan(
    State(s): State<AdminState>,
    caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    s.admin.delete_plan(&caller.actor, &id).await?;
    applied(&s).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Create a key; its secret is in `key`, shown this once.
#[utoipa::path(post, path = "/admin/v1/keys", tag = "admin", operation_id = "createKey",
    request_body = super::doc::KeyCreate,
    responses((status = 201, description = "Created.", body = super::doc::KeyCreated)))]
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

/// List keys (without secrets).
#[utoipa::path(get, path = "/admin/v1/keys", tag = "admin", operation_id = "listKeys",
    params(PageParams),
    responses((status = 200, description = "One page of keys.", body = super::doc::KeyPage)))]
pub async fn list_keys(
    State(s): State<AdminState>,
    _caller: AdminCaller,
    headers: HeaderMap,
    QueryParams(params): QueryParams<PageParams>,
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

/// Read a key.
#[utoipa::path(get, path = "/admin/v1/keys/{id}", tag = "admin", operation_id = "getKey",
    params(("id" = String, Path, description = "The key's id.")),
    responses((status = 200, description = "The key.", body = super::doc::Key)))]
pub async fn get_key(
    State(s): State<AdminState>,
    _caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let (key, plan) = s.admin.key(&id).await?;
    Ok(Json(views::key(&key, &plan)))
}

/// Disable or re-enable a key, rename it, or move it to another plan;
/// every instance follows within a second.
#[utoipa::path(patch, path = "/admin/v1/keys/{id}", tag = "admin", operation_id = "updateKey",
    params(("id" = String, Path, description = "The key's id.")),
    request_body = super::doc::KeyUpdate,
    responses((status = 200, description = "The key as now stored.", body = super::doc::Key)))]
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

/// Revoke a key, for good.
#[utoipa::path(delete, path = "/admin/v1/keys/{id}", tag = "admin", operation_id = "revokeKey",
    params(("id" = String, Path, description = "The key's id.")),
    responses((status = 204, description = "Revoked.")))]
pub async fn revoke_key(
    State(s): State<AdminState>,
    caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    s.admin.revoke_key(&caller.actor, &id).await?;
    applied(&s).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Every change made through the admin API or the CLI, newest first.
#[utoipa::path(get, path = "/admin/v1/audit", tag = "admin", operation_id = "listAudit",
    params(PageParams),
    responses((status = 200, description = "One page of entries.", body = super::doc::AuditPage)))]
pub async fn list_audit(
    State(s): State<AdminState>,
    _caller: AdminCaller,
    headers: HeaderMap,
    QueryParams(params): QueryParams<PageParams>,
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
