//! Transactional messages. `POST /v1/messages` resolves the recipient (a
//! person's primary SMS-capable phone or primary email, or a bare number
//! or address), renders the template (inline or named) with the person's
//! fields and `vars`, checks the opt-out and suppression list, and queues
//! the message: 202 `{"id", "status"}`. A template that does not render is
//! the caller's 422 here, since there is one recipient and the caller is
//! waiting. `GET /v1/messages/{id}` shows the status and its history, to
//! the API key that sent it only.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use http::StatusCode;
use serde_json::{Map, Value, json};
use turnout_core::Problem;
use turnout_core::problem::FieldError;
use turnout_search::model::{Person, PhoneNumber};

use super::{OutreachApi, Sender};
use crate::queue::{Channel, NewMessage, Status};

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
        let address = crate::recipients::address(&person, channel);
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
        let vars = crate::recipients::vars(&person);
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

/// Send one message.
///
/// Needs `messages:send`. Renders the template for the recipient, checks
/// the opt-out and suppression lists, and queues it. Honors
/// `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/messages", tag = "messages", operation_id = "sendMessage",
    request_body = super::doc::MessageCreate,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe: the same key and body within 24 h answer the first response again.")),
    responses((status = 202, description = "Queued (or refused by consent, with that status).", body = super::doc::MessageAccepted)))]
pub async fn create(
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
    let compiled = match body.get("template") {
        Some(raw) => super::templates::resolve(&api, raw, channel, "template")
            .await
            .map_err(|e| errors.extend(e))
            .ok(),
        None => {
            errors.push(FieldError::new(
                "template",
                "is required: a template's name or {\"subject\"?, \"body\", \"html\"?}",
            ));
            None
        }
    };
    let (Some(to), Some(compiled)) = (to, compiled) else {
        return Err(Problem::validation(errors));
    };
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let mut context = to.vars;
    context.extend(vars);
    let rendered = compiled
        .render(&Value::Object(context))
        .map(|r| r.for_channel(channel, api.smart_encoding))
        .map_err(|e| e.problem())?;
    // Transactional sends check the opt-out and suppression list now
    // (and the worker again before the send); an address on it is
    // recorded, not sent.
    let blocked = api.optouts.check(channel, &to.address).await?;
    let (status, error_code) = match blocked {
        None => (Status::Queued, None),
        Some(r) => (r.status(), Some(r.as_str().to_string())),
    };
    let payload = serde_json::to_string(&rendered).map_err(|e| Problem::internal(&e))?;
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
                payload,
                not_before: now,
                status,
                error_code,
                error: None,
            }],
            now,
        )
        .await?;
    api.wake.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": ids[0], "status": status})),
    ))
}

/// A message's status and history; only the key that sent it may read it.
#[utoipa::path(get, path = "/v1/messages/{id}", tag = "messages", operation_id = "getMessage",
    params(("id" = i64, Path, example = 1, description = "The message's id.")),
    responses((status = 200, description = "The message.", body = super::doc::Message)))]
pub async fn read(
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
        "segments": m.segments,
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
