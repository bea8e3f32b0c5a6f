//! `/v1/templates`: named MiniJinja templates. A template is compiled
//! before it is saved, so a syntax error is a 422 now and never a failed
//! campaign later.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use http::StatusCode;
use serde_json::{Value, json};
use turnout_core::Problem;
use turnout_core::problem::FieldError;

use super::{OutreachApi, Sender};
use crate::queue::Channel;
use crate::templates::{Compiled, Source};

/// A template given as a name or inline, compiled for `channel`.
pub async fn resolve(
    api: &OutreachApi,
    raw: &Value,
    channel: Channel,
    field: &str,
) -> Result<Compiled, Vec<FieldError>> {
    let source = match raw {
        Value::String(name) => match api.templates.get(name).await {
            Ok(Some(t)) if t.channel == channel => t.source,
            Ok(Some(_)) => {
                return Err(vec![FieldError::new(
                    field,
                    format!("template {name:?} is for the other channel"),
                )]);
            }
            Ok(None) => {
                return Err(vec![FieldError::new(
                    field,
                    format!("no template is named {name:?}"),
                )]);
            }
            Err(e) => return Err(vec![FieldError::new(field, e.to_string())]),
        },
        Value::Object(t) => Source::parse(t, field)?,
        _ => {
            return Err(vec![FieldError::new(
                field,
                "must be a template's name or {\"subject\"?, \"body\", \"html\"?}",
            )]);
        }
    };
    source.compile(channel, field)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Reads `{"name"?, "channel", "subject"?, "body", "html"?}`.
fn parse(body: &Bytes, with_name: bool) -> Result<(Option<String>, Channel, Source), Problem> {
    let mut map = turnout_core::problem::json_object(body)?;
    let mut errors = Vec::new();
    let name = if with_name {
        match map.remove("name") {
            Some(Value::String(n)) if valid_name(&n) => Some(n),
            _ => {
                errors.push(FieldError::new(
                    "name",
                    "is required: 1 to 100 letters, digits, '-', '_' or '.'",
                ));
                None
            }
        }
    } else {
        None
    };
    let channel = match map.remove("channel").as_ref().and_then(Value::as_str) {
        Some("sms") => Some(Channel::Sms),
        Some("email") => Some(Channel::Email),
        _ => {
            errors.push(FieldError::new("channel", "must be sms or email"));
            None
        }
    };
    let source = match Source::parse(&map, "template") {
        Ok(s) => Some(s),
        Err(e) => {
            errors.extend(e.into_iter().map(|f| {
                FieldError::new(
                    f.field.trim_start_matches("template.").to_string(),
                    f.message,
                )
            }));
            None
        }
    };
    if let (Some(c), Some(s)) = (channel, &source)
        && let Err(e) = s.compile(c, "template")
    {
        errors.extend(e.into_iter().map(|f| {
            FieldError::new(
                f.field.trim_start_matches("template.").to_string(),
                f.message,
            )
        }));
    }
    match (channel, source) {
        (Some(c), Some(s)) if errors.is_empty() => Ok((name, c, s)),
        _ => Err(Problem::validation(errors)),
    }
}

fn view(t: &crate::templates::named::Named) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

/// Create a template (`campaigns`).
#[utoipa::path(post, path = "/v1/templates", tag = "templates", operation_id = "createTemplate",
    request_body = super::doc::TemplateCreate,
    responses((status = 201, description = "Created.", body = crate::templates::named::Named), (status = 409, description = "Conflict: see `detail`.")))]
pub async fn create(
    State(api): State<Arc<OutreachApi>>,
    Extension(sender): Extension<Sender>,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    sender.require_campaigns()?;
    let (name, channel, source) = parse(&body, true)?;
    let name = name.unwrap_or_default();
    if api.templates.get(&name).await?.is_some() {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("a template is already named {name:?}; PUT /v1/templates/{name} replaces it"),
        ));
    }
    api.templates
        .put(&name, channel, &source, api.now_ms())
        .await?;
    let saved = api
        .templates
        .get(&name)
        .await?
        .ok_or_else(|| Problem::internal(&"the template vanished after it was saved"))?;
    Ok((StatusCode::CREATED, Json(view(&saved))))
}

/// List templates.
#[utoipa::path(get, path = "/v1/templates", tag = "templates", operation_id = "listTemplates",
    responses((status = 200, description = "Every template.", body = super::doc::TemplatePage)))]
pub async fn list(
    State(api): State<Arc<OutreachApi>>,
    Extension(sender): Extension<Sender>,
) -> Result<Json<Value>, Problem> {
    sender.require_campaigns()?;
    let all = api.templates.list().await?;
    let data: Vec<Value> = all.iter().map(view).collect();
    Ok(Json(
        json!({"data": data, "count": all.len(), "next": null, "previous": null}),
    ))
}

/// Read a template.
#[utoipa::path(get, path = "/v1/templates/{name}", tag = "templates", operation_id = "getTemplate",
    params(("name" = String, Path, description = "The template's name.")),
    responses((status = 200, description = "The template.", body = crate::templates::named::Named)))]
pub async fn read(
    State(api): State<Arc<OutreachApi>>,
    Extension(sender): Extension<Sender>,
    Path(name): Path<String>,
) -> Result<Json<Value>, Problem> {
    sender.require_campaigns()?;
    let t = api
        .templates
        .get(&name)
        .await?
        .ok_or_else(|| Problem::not_found("no such template"))?;
    Ok(Json(view(&t)))
}

/// Create or replace a template by name.
#[utoipa::path(put, path = "/v1/templates/{name}", tag = "templates", operation_id = "putTemplate",
    params(("name" = String, Path, description = "The template's name.")),
    request_body = super::doc::TemplateReplace,
    responses(
        (status = 200, description = "Replaced.", body = crate::templates::named::Named),
        (status = 201, description = "Created.", body = crate::templates::named::Named),
    ))]
pub async fn replace(
    State(api): State<Arc<OutreachApi>>,
    Extension(sender): Extension<Sender>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    sender.require_campaigns()?;
    if !valid_name(&name) {
        return Err(Problem::validation(vec![FieldError::new(
            "name",
            "1 to 100 letters, digits, '-', '_' or '.'",
        )]));
    }
    let (_, channel, source) = parse(&body, false)?;
    let created = api
        .templates
        .put(&name, channel, &source, api.now_ms())
        .await?;
    let saved = api
        .templates
        .get(&name)
        .await?
        .ok_or_else(|| Problem::internal(&"the template vanished after it was saved"))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(&saved))))
}

/// Delete a template.
#[utoipa::path(delete, path = "/v1/templates/{name}", tag = "templates", operation_id = "deleteTemplate",
    params(("name" = String, Path, description = "The template's name.")),
    responses((status = 204, description = "Deleted.")))]
pub async fn delete(
    State(api): State<Arc<OutreachApi>>,
    Extension(sender): Extension<Sender>,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    sender.require_campaigns()?;
    if api.templates.delete(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found("no such template"))
    }
}
