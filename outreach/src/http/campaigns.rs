//! `/v1/campaigns`: create a draft, preview it, send tests, launch it,
//! pause, resume or cancel it, and watch its stats.
//!
//! Launch resolves the audience once and writes one message per person
//! before it answers, so the answer's stats already count every recipient.
//! A launch cut short (a crash, a lost connection) leaves the campaign
//! `running` with part of its audience written; launching it again writes
//! the rest and nobody twice.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use http::StatusCode;
use serde_json::{Value, json};
use turnout_core::Problem;
use turnout_core::problem::FieldError;

use super::{OutreachApi, Sender};
use crate::campaigns::launch::{LaunchError, Launcher};
use crate::campaigns::{Campaign, CampaignStatus, Spec, TemplateRef};
use crate::queue::{NewMessage, Status};
use crate::templates::Compiled;

fn conflict(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::CONFLICT, "conflict", detail)
}

fn date(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The campaign a request names, for a key that holds `campaigns`.
async fn load(api: &OutreachApi, sender: &Sender, raw: &str) -> Result<Campaign, Problem> {
    sender.require_campaigns()?;
    let id: i64 = raw
        .parse()
        .map_err(|_| Problem::not_found("no such campaign"))?;
    find(api, id).await
}

async fn find(api: &OutreachApi, id: i64) -> Result<Campaign, Problem> {
    api.campaigns
        .get(id)
        .await?
        .ok_or_else(|| Problem::not_found("no such campaign"))
}

async fn view(api: &OutreachApi, c: &Campaign) -> Result<Value, Problem> {
    let stats = api.campaigns.stats(c.id).await?;
    let status = c.status(&stats, api.now_ms());
    let spec = &c.spec;
    Ok(json!({
        "id": c.id,
        "name": spec.name,
        "channel": spec.channel,
        "status": status,
        "template": spec.template,
        "audience": spec.audience,
        "send_at": spec.send_at,
        "send_window": spec.send_window,
        "timezone": spec.timezone,
        "max_per_second": spec.max_per_second,
        "stats": stats,
        "segments": api.campaigns.segments(c.id).await?,
        "created_date": date(c.created_at),
        "modified_date": date(c.updated_at),
        "launched_date": c.launched_at.map(date),
    }))
}

async fn compiled(api: &OutreachApi, spec: &Spec) -> Result<Compiled, Problem> {
    let raw = match &spec.template {
        TemplateRef::Named(n) => Value::String(n.clone()),
        TemplateRef::Inline(s) => serde_json::to_value(s).map_err(|e| Problem::internal(&e))?,
    };
    super::templates::resolve(api, &raw, spec.channel, "template")
        .await
        .map_err(Problem::validation)
}

fn launcher(api: &OutreachApi) -> Launcher<'_> {
    Launcher {
        queue: &api.queue,
        optouts: &api.optouts,
        records: &api.records,
        engine: &*api.engine,
        footer: &api.footer,
        smart_encoding: api.smart_encoding,
        tokens: &api.unsubscribe,
        public_url: &api.public_url,
    }
}

fn launch_problem(e: LaunchError) -> Problem {
    match e {
        LaunchError::Audience(m) => Problem::validation(vec![FieldError::new("audience", m)]),
        other => Problem::internal(&other),
    }
}

/// Create a campaign, as a draft (`campaigns`).
#[utoipa::path(post, path = "/v1/campaigns", tag = "campaigns", operation_id = "createCampaign",
    request_body = super::doc::CampaignCreate,
    responses((status = 201, description = "Created, as a draft.", body = super::doc::Campaign)))]
pub async fn create(
    State(api): State<Arc<OutreachApi>>,
    Extension(sender): Extension<Sender>,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    sender.require_campaigns()?;
    let body = turnout_core::problem::json_object(&body)?;
    let spec = Spec::parse(&body).map_err(Problem::validation)?;
    if let TemplateRef::Named(_) = spec.template {
        // A named template must exist now; it is read again at launch.
        compiled(&api, &spec).await?;
    }
    let campaign = api
        .campaigns
        .create(&spec, &sender.key_id, api.now_ms())
        .await?;
    Ok((StatusCode::CREATED, Json(view(&api, &campaign).await?)))
}

/// A campaign's status and stats: every recipient in exactly one bucket.
#[utoipa::path(get, path = "/v1/campaigns/{id}", tag = "campaigns", operation_id = "getCampaign",
    params(("id" = i64, Path, example = 1, description = "The campaign's id.")),
    responses((status = 200, description = "The campaign.", body = super::doc::Campaign)))]
pub async fn read(
    State(api): State<Arc<OutreachApi>>,
    Extension(sender): Extension<Sender>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let c = load(&api, &sender, &id).await?;
    Ok(Json(view(&api, &c).await?))
}

/// Render a campaign for a few recipients and count its audience by
/// consent outcome. Sends nothing.
#[utoipa::path(post, path = "/v1/campaigns/{id}/preview", tag = "campaigns", operation_id = "previewCampaign",
    params(("id" = i64, Path, example = 1, description = "The campaign's id.")),
    responses((status = 200, description = "Counts and samples.", body = super::doc::Preview)))]
pub async fn preview(
    State(api): State<Arc<OutreachApi>>,
    Extension(sender): Extension<Sender>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let c = load(&api, &sender, &id).await?;
    let template = compiled(&api, &c.spec).await?;
    let (tally, samples) = launcher(&api)
        .preview(&c, &template, api.now_ms(), 5)
        .await
        .map_err(launch_problem)?;
    Ok(Json(json!({"counts": tally, "samples": samples})))
}

/// Sends the campaign's message, rendered for the first person of its
/// audience (or with no variables when it has none), to each given
/// address. Test sends are transactional: not held by the send window, but
/// never to an address on the opt-out or suppression list.
#[utoipa::path(post, path = "/v1/campaigns/{id}/test", tag = "campaigns", operation_id = "testCampaign",
    params(("id" = i64, Path, example = 1, description = "The campaign's id.")),
    request_body = super::doc::TestSend,
    responses((status = 202, description = "Queued, one message per address.", body = super::doc::TestAccepted)))]
pub async fn test(
    State(api): State<Arc<OutreachApi>>,
    Extension(sender): Extension<Sender>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let c = load(&api, &sender, &id).await?;
    let body = turnout_core::problem::json_object(&body)?;
    let mut errors = FieldError::unknown_fields(&body, &["to"]);
    let channel = c.spec.channel;
    let mut addresses = Vec::new();
    match body.get("to") {
        Some(Value::Array(items)) if !items.is_empty() && items.len() <= 20 => {
            for (i, item) in items.iter().enumerate() {
                match crate::recipients::parse_address(channel, item.as_str().unwrap_or_default()) {
                    Ok(a) => addresses.push(a),
                    Err(m) => errors.push(FieldError::new(format!("to[{i}]"), m)),
                }
            }
        }
        _ => errors.push(FieldError::new("to", "must be a list of 1 to 20 addresses")),
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let template = compiled(&api, &c.spec).await?;
    let (_, samples) = launcher(&api)
        .preview(&c, &template, api.now_ms(), 1)
        .await
        .map_err(launch_problem)?;
    let vars = match samples.first().and_then(|s| s["person_id"].as_i64()) {
        Some(id) => match api.records.get::<turnout_search::model::Person>(id).await {
            Ok(Some(p)) => crate::recipients::vars(&p),
            _ => Default::default(),
        },
        None => Default::default(),
    };
    let rendered = template
        .render(&Value::Object(vars))
        .map(|r| r.for_channel(channel, api.smart_encoding))
        .map_err(|e| e.problem())?;
    let payload = serde_json::to_string(&rendered).map_err(|e| Problem::internal(&e))?;
    let blocked = api.optouts.check_many(channel, &addresses).await?;
    let now = api.now_ms();
    let messages: Vec<NewMessage> = addresses
        .iter()
        .map(|a| {
            let (status, code) = match blocked.get(a) {
                None => (Status::Queued, None),
                Some(r) => (r.status(), Some(r.as_str().to_string())),
            };
            NewMessage {
                channel,
                recipient: a.clone(),
                campaign_id: None,
                person_id: None,
                sender_key: Some(sender.key_id.clone()),
                payload: payload.clone(),
                not_before: now,
                status,
                error_code: code,
                error: None,
            }
        })
        .collect();
    let ids = api.queue.enqueue(&messages, now).await?;
    api.wake.notify_one();
    let data: Vec<Value> = ids
        .iter()
        .zip(&messages)
        .map(|(id, m)| json!({"id": id, "to": m.recipient, "status": m.status}))
        .collect();
    Ok((StatusCode::ACCEPTED, Json(json!({"messages": data}))))
}

async fn launch_now(api: &OutreachApi, c: &Campaign) -> Result<Json<Value>, Problem> {
    let now = api.now_ms();
    match c.stored {
        CampaignStatus::Draft => {
            if !api
                .campaigns
                .transition(
                    c.id,
                    &[CampaignStatus::Draft],
                    CampaignStatus::Launching,
                    now,
                )
                .await?
            {
                return Err(conflict("the campaign was launched meanwhile"));
            }
        }
        // An interrupted launch: write the rest.
        CampaignStatus::Launching => {}
        other => {
            return Err(conflict(format!(
                "only a draft can be launched; this campaign is {}",
                other.as_str()
            )));
        }
    }
    let template = compiled(api, &c.spec).await?;
    launcher(api)
        .launch(c, &template, now)
        .await
        .map_err(launch_problem)?;
    api.campaigns
        .transition(
            c.id,
            &[CampaignStatus::Launching],
            CampaignStatus::Running,
            api.now_ms(),
        )
        .await?;
    api.wake.notify_one();
    Ok(Json(view(api, &find(api, c.id).await?).await?))
}

async fn control(api: &OutreachApi, c: &Campaign, action: &str) -> Result<Json<Value>, Problem> {
    let now = api.now_ms();
    let stats = api.campaigns.stats(c.id).await?;
    let shown = c.status(&stats, now);
    let (from, to): (&[CampaignStatus], CampaignStatus) = match action {
        "pause" => (
            &[CampaignStatus::Running, CampaignStatus::Scheduled],
            CampaignStatus::Paused,
        ),
        "resume" => (&[CampaignStatus::Paused], CampaignStatus::Running),
        _ => (
            &[
                CampaignStatus::Draft,
                CampaignStatus::Scheduled,
                CampaignStatus::Running,
                CampaignStatus::Paused,
            ],
            CampaignStatus::Cancelled,
        ),
    };
    if !from.contains(&shown) {
        return Err(conflict(format!(
            "a {} campaign cannot {action}",
            shown.as_str()
        )));
    }
    // Scheduled is shown, never stored: the stored state is Running.
    let stored_from: Vec<CampaignStatus> = from
        .iter()
        .map(|s| match s {
            CampaignStatus::Scheduled => CampaignStatus::Running,
            other => *other,
        })
        .collect();
    if !api
        .campaigns
        .transition(c.id, &stored_from, to, now)
        .await?
    {
        return Err(conflict("the campaign changed meanwhile; read it again"));
    }
    if to == CampaignStatus::Cancelled {
        api.campaigns.cancel_pending(c.id, now).await?;
    }
    if to == CampaignStatus::Running {
        api.wake.notify_one();
    }
    Ok(Json(view(api, &find(api, c.id).await?).await?))
}

/// A campaign's messages, in id order; `cursor` is opaque.
#[utoipa::path(get, path = "/v1/campaigns/{id}/messages", tag = "campaigns", operation_id = "listCampaignMessages",
    params(("id" = i64, Path, example = 1, description = "The campaign's id."), super::doc::StatusFilter, super::doc::Paging),
    responses((status = 200, description = "One page of messages.", body = super::doc::CampaignMessagePage)))]
pub async fn messages(
    State(api): State<Arc<OutreachApi>>,
    Extension(sender): Extension<Sender>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, Problem> {
    let c = load(&api, &sender, &id).await?;
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let mut errors = Vec::new();
    let mut status = None;
    let mut after = 0i64;
    let mut per_page = None;
    for (k, v) in &pairs {
        match k.as_str() {
            "status" => match Status::parse(v) {
                Some(s) => status = Some(s),
                None => errors.push(FieldError::new("status", "is not a message status")),
            },
            "cursor" => match v.parse::<i64>() {
                Ok(n) if n >= 0 => after = n,
                _ => errors.push(FieldError::new("cursor", "is not a cursor from this list")),
            },
            "per_page" => per_page = Some(v.clone()),
            // The API key may ride in the query (Mashery's convention).
            "api_key" => {}
            other => errors.push(FieldError::new(other, "is not a parameter of this list")),
        }
    }
    let per_page = turnout_search::params::per_page(per_page.as_deref())
        .map_err(|e| errors.push(e))
        .unwrap_or(25);
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let mut rows = api
        .campaigns
        .messages(c.id, status, after, per_page + 1)
        .await?;
    let more = rows.len() > per_page;
    rows.truncate(per_page);
    let next = match (more, rows.last()) {
        (true, Some(last)) => {
            let mut q = form_urlencoded::Serializer::new(String::new());
            if let Some(s) = status {
                q.append_pair("status", s.as_str());
            }
            q.append_pair("per_page", &per_page.to_string());
            q.append_pair("cursor", &last.id.to_string());
            Some(format!(
                "{}/v1/campaigns/{}/messages?{}",
                api.public_url,
                c.id,
                q.finish()
            ))
        }
        _ => None,
    };
    let count = api.campaigns.count_messages(c.id, status).await?;
    Ok(Json(json!({
        "data": rows,
        "count": count,
        "next": next,
        "previous": null,
    })))
}

/// Launch a draft: plan its messages and start sending (or schedule for `send_at`).
#[utoipa::path(post, path = "/v1/campaigns/{id}/launch", tag = "campaigns", operation_id = "launchCampaign",
    params(("id" = i64, Path, example = 1, description = "The campaign's id.")),
    responses((status = 200, description = "The campaign, now running or scheduled.", body = super::doc::Campaign), (status = 409, description = "Conflict: see `detail`.")))]
pub async fn launch(
    State(api): State<Arc<OutreachApi>>,
    Extension(sender): Extension<Sender>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let c = load(&api, &sender, &id).await?;
    launch_now(&api, &c).await
}

/// Pause a running campaign; queued messages wait.
#[utoipa::path(post, path = "/v1/campaigns/{id}/pause", tag = "campaigns", operation_id = "pauseCampaign",
    params(("id" = i64, Path, example = 1, description = "The campaign's id.")),
    responses((status = 200, description = "The campaign, now paused.", body = super::doc::Campaign), (status = 409, description = "Conflict: see `detail`.")))]
pub async fn pause(
    State(api): State<Arc<OutreachApi>>,
    Extension(sender): Extension<Sender>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let c = load(&api, &sender, &id).await?;
    control(&api, &c, "pause").await
}

/// Resume a paused campaign.
#[utoipa::path(post, path = "/v1/campaigns/{id}/resume", tag = "campaigns", operation_id = "resumeCampaign",
    params(("id" = i64, Path, example = 1, description = "The campaign's id.")),
    responses((status = 200, description = "The campaign, running again.", body = super::doc::Campaign), (status = 409, description = "Conflict: see `detail`.")))]
pub async fn resume(
    State(api): State<Arc<OutreachApi>>,
    Extension(sender): Extension<Sender>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let c = load(&api, &sender, &id).await?;
    control(&api, &c, "resume").await
}

/// Cancel a campaign; messages not yet claimed are cancelled.
#[utoipa::path(post, path = "/v1/campaigns/{id}/cancel", tag = "campaigns", operation_id = "cancelCampaign",
    params(("id" = i64, Path, example = 1, description = "The campaign's id.")),
    responses((status = 200, description = "The campaign, now cancelled.", body = super::doc::Campaign), (status = 409, description = "Conflict: see `detail`.")))]
pub async fn cancel(
    State(api): State<Arc<OutreachApi>>,
    Extension(sender): Extension<Sender>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let c = load(&api, &sender, &id).await?;
    control(&api, &c, "cancel").await
}
