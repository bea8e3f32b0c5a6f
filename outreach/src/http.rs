//! The HTTP face of outreach that exists so far: transactional messages.
//!
//! `POST /v1/messages` resolves the recipient (a person's primary
//! SMS-capable phone or primary email, or a bare number or address),
//! renders the inline template with the person's fields and `vars`,
//! and queues the message: 202 `{"id", "status": "queued"}`. A template
//! that does not render is the caller's 422 here, since there is one
//! recipient and the caller is waiting. `GET /v1/messages/{id}` shows the
//! status and its history, to the API key that sent it only.
//!
//! Not yet (outreach issue): named templates, the opt-out and suppression
//! checks for transactional sends, campaigns.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use http::StatusCode;
use serde_json::{Map, Value, json};
use turnout_core::problem::FieldError;
use turnout_core::{Clock, Problem};
use turnout_search::model::{Person, PhoneNumber};
use turnout_search::records::Records;

use crate::queue::{Channel, NewMessage, Queue, Status};
use crate::templates::{Kind, Template};

/// What the caller may do, decided by the gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sender {
    /// The API key's id: messages belong to it.
    pub key_id: String,
    /// `messages:send`.
    pub may_send: bool,
}

pub struct OutreachApi {
    pub queue: Queue,
    pub records: Records,
    pub clock: Arc<dyn Clock>,
    /// Woken after a message is queued, so a worker sends it at once.
    pub wake: Arc<tokio::sync::Notify>,
}

pub fn router(api: Arc<OutreachApi>) -> Router {
    Router::new()
        .route("/v1/messages", post(create))
        .route("/v1/messages/{id}", get(read))
        .fallback(|| async { Problem::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not accept that method",
            )
        })
        .with_state(api)
}

/// The recipient and the variables a template sees.
struct Recipient {
    address: String,
    person_id: Option<i64>,
    vars: Map<String, Value>,
}

async fn recipient(
    api: &OutreachApi,
    channel: Channel,
    to: &Value,
    errors: &mut Vec<FieldError>,
) -> Result<Option<Recipient>, Problem> {
    let Some(to) = to.as_object() else {
        errors.push(FieldError::new(
            "to",
            "must be {\"person_id\"}, {\"phone\"} or {\"email\"}",
        ));
        return Ok(None);
    };
    errors.extend(FieldError::unknown_fields(
        to,
        &["person_id", "phone", "email"],
    ));
    if let Some(id) = to.get("person_id") {
        let Some(id) = id.as_i64() else {
            errors.push(FieldError::new("to.person_id", "must be a person's id"));
            return Ok(None);
        };
        let person: Option<Person> = api
            .records
            .get(id)
            .await
            .map_err(|e| Problem::internal(&e))?;
        let Some(person) = person else {
            errors.push(FieldError::new("to.person_id", "no such person"));
            return Ok(None);
        };
        let address = match channel {
            Channel::Sms => person
                .phone_numbers
                .iter()
                .filter(|p| p.sms_capable)
                .max_by_key(|p| p.primary)
                .map(|p| p.number.as_str().to_string()),
            Channel::Email => person
                .email_addresses
                .iter()
                .max_by_key(|e| e.primary)
                .map(|e| e.address.clone()),
        };
        let Some(address) = address else {
            errors.push(FieldError::new(
                "to.person_id",
                match channel {
                    Channel::Sms => "this person has no SMS-capable phone number",
                    Channel::Email => "this person has no email address",
                },
            ));
            return Ok(None);
        };
        let vars = match serde_json::to_value(&person) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        return Ok(Some(Recipient {
            address,
            person_id: Some(id),
            vars,
        }));
    }
    match (channel, to.get("phone"), to.get("email")) {
        (Channel::Sms, Some(phone), None) => match phone.as_str().map(PhoneNumber::parse) {
            Some(Ok(p)) => Ok(Some(Recipient {
                address: p.as_str().to_string(),
                person_id: None,
                vars: Map::new(),
            })),
            Some(Err(e)) => {
                errors.push(FieldError::new("to.phone", e.0));
                Ok(None)
            }
            None => {
                errors.push(FieldError::new("to.phone", "must be a string"));
                Ok(None)
            }
        },
        (Channel::Email, None, Some(email)) => {
            let ok = email
                .as_str()
                .filter(|e| turnout_search::model::resources::is_email_address(e));
            match ok {
                Some(e) => Ok(Some(Recipient {
                    address: e.to_string(),
                    person_id: None,
                    vars: Map::new(),
                })),
                None => {
                    errors.push(FieldError::new("to.email", "is not an email address"));
                    Ok(None)
                }
            }
        }
        _ => {
            errors.push(FieldError::new(
                "to",
                match channel {
                    Channel::Sms => "an SMS goes to {\"person_id\"} or {\"phone\"}",
                    Channel::Email => "an email goes to {\"person_id\"} or {\"email\"}",
                },
            ));
            Ok(None)
        }
    }
}

fn compile(
    t: &Map<String, Value>,
    field: &str,
    kind: Kind,
    errors: &mut Vec<FieldError>,
) -> Option<Template> {
    let source = t.get(field)?.as_str().or_else(|| {
        errors.push(FieldError::new(
            format!("template.{field}"),
            "must be a string",
        ));
        None
    })?;
    Template::compile(source, kind)
        .map_err(|e| errors.push(FieldError::new(format!("template.{field}"), e.0)))
        .ok()
}

async fn create(
    State(api): State<Arc<OutreachApi>>,
    Extension(sender): Extension<Sender>,
    bytes: Bytes,
) -> Result<impl IntoResponse, Problem> {
    if !sender.may_send {
        return Err(Problem::forbidden(
            "this key may not send messages (it needs messages:send)",
        ));
    }
    let body = turnout_core::problem::json_object(&bytes)?;
    let mut errors = FieldError::unknown_fields(&body, &["channel", "to", "template", "vars"]);
    let channel = match body.get("channel").and_then(Value::as_str) {
        Some("sms") => Some(Channel::Sms),
        Some("email") => Some(Channel::Email),
        _ => {
            errors.push(FieldError::new("channel", "must be sms or email"));
            None
        }
    };
    let vars = match body.get("vars") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            errors.push(FieldError::new("vars", "must be an object"));
            Map::new()
        }
    };
    let template = match body.get("template") {
        Some(Value::Object(t)) => {
            errors.extend(
                FieldError::unknown_fields(t, &["subject", "body", "html"])
                    .into_iter()
                    .map(|e| FieldError::new(format!("template.{}", e.field), e.message)),
            );
            if !t.contains_key("body") {
                errors.push(FieldError::new("template.body", "is required"));
            }
            Some(t.clone())
        }
        Some(Value::String(_)) => {
            errors.push(FieldError::new(
                "template",
                "named templates are not available yet; give {\"subject\"?, \"body\", \"html\"?}",
            ));
            None
        }
        _ => {
            errors.push(FieldError::new(
                "template",
                "is required: {\"subject\"?, \"body\", \"html\"?}",
            ));
            None
        }
    };
    let Some(channel) = channel else {
        return Err(Problem::validation(errors));
    };
    let to = recipient(
        &api,
        channel,
        body.get("to").unwrap_or(&Value::Null),
        &mut errors,
    )
    .await?;
    let compiled = template.as_ref().map(|t| {
        (
            compile(t, "body", Kind::Text, &mut errors),
            compile(t, "subject", Kind::Text, &mut errors),
            compile(t, "html", Kind::Html, &mut errors),
        )
    });
    if channel == Channel::Email
        && template
            .as_ref()
            .is_some_and(|t| !t.contains_key("subject"))
    {
        errors.push(FieldError::new(
            "template.subject",
            "an email needs a subject",
        ));
    }
    let (Some(to), Some((Some(body_t), subject_t, html_t))) = (to, compiled) else {
        return Err(Problem::validation(errors));
    };
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let mut context = to.vars;
    context.extend(vars);
    let context = Value::Object(context);
    let render = |t: &Template, field: &str| {
        t.render(&context)
            .map_err(|e| FieldError::new(format!("template.{field}"), e.0))
    };
    let mut payload = Map::new();
    let mut render_errors = Vec::new();
    for (t, field) in [
        (Some(&body_t), "body"),
        (subject_t.as_ref(), "subject"),
        (html_t.as_ref(), "html"),
    ] {
        if let Some(t) = t {
            match render(t, field) {
                Ok(text) => {
                    payload.insert(field.to_string(), Value::String(text));
                }
                Err(e) => render_errors.push(e),
            }
        }
    }
    if !render_errors.is_empty() {
        return Err(Problem::validation(render_errors));
    }
    let now = api.clock.now_nanos().div_euclid(1_000_000);
    let ids = api
        .queue
        .enqueue(
            &[NewMessage {
                channel,
                recipient: to.address,
                campaign_id: None,
                person_id: to.person_id,
                sender_key: Some(sender.key_id),
                payload: Value::Object(payload).to_string(),
                not_before: now,
                status: Status::Queued,
            }],
            now,
        )
        .await?;
    api.wake.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": ids[0], "status": "queued"})),
    ))
}

async fn read(
    State(api): State<Arc<OutreachApi>>,
    Extension(sender): Extension<Sender>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let not_found = || Problem::not_found("no such message");
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let m = api.queue.get(id).await?.ok_or_else(not_found)?;
    // Only the key that sent it may read it (others learn nothing).
    if m.sender_key.as_deref() != Some(sender.key_id.as_str()) {
        return Err(not_found());
    }
    let history: Vec<Value> = api
        .queue
        .history(id)
        .await?
        .into_iter()
        .map(|(at, status, detail)| json!({"status": status, "at": millis(at), "detail": detail}))
        .collect();
    Ok(Json(json!({
        "id": m.id,
        "channel": m.channel,
        "to": m.recipient,
        "status": m.status,
        "attempts": m.attempts,
        "error_code": m.error_code,
        "error": m.error,
        "created_date": millis(m.created_at),
        "modified_date": millis(m.updated_at),
        "history": history,
    })))
}

fn millis(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
