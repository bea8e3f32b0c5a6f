//! `/webhooks/ses`: SES events delivered by SNS. Every message is verified
//! (signature, certificate host, topic allow-list) before anything
//! changes; anything else is 403. Subscription confirmations are
//! confirmed by fetching their `SubscribeURL` (same host rule). In
//! notifications, a permanent bounce or a complaint puts the address on
//! the suppression list and marks the message; a delivery marks it
//! delivered. Each SNS `MessageId` is handled once.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;
use turnout_core::store::StoreError;
use turnout_core::{Clock, Problem, Store};

use super::sns_signature::{SnsMessage, Verifier, is_sns_url};
use crate::consent::optouts::{OptOuts, Reason};
use crate::queue::{Channel, Queue, Status};

pub struct SesWebhooks {
    pub verifier: Verifier,
    /// SNS topics whose messages are accepted; empty: none are.
    pub topic_arns: Vec<String>,
    pub queue: Queue,
    pub optouts: OptOuts,
    pub clock: Arc<dyn Clock>,
}

pub fn router(api: Arc<SesWebhooks>) -> axum::Router {
    axum::Router::new()
        .route("/webhooks/ses", post(receive))
        .with_state(api)
}

async fn seen(store: &Store, id: &str) -> Result<bool, StoreError> {
    let n: Option<String> = sqlx::query_scalar(
        "SELECT event_id FROM outreach_webhook_events WHERE source = 'sns' AND event_id = $1",
    )
    .bind(id)
    .fetch_optional(store.pool())
    .await?;
    Ok(n.is_some())
}

async fn remember(store: &Store, id: &str, now: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO outreach_webhook_events (source, event_id, received_at) VALUES ('sns', $1, $2) \
         ON CONFLICT (source, event_id) DO NOTHING",
    )
    .bind(id)
    .bind(now)
    .execute(store.pool())
    .await?;
    Ok(())
}

fn forbidden(why: impl std::fmt::Display) -> Problem {
    Problem::forbidden(format!("not a verified SNS message: {why}"))
}

/// SES events (delivery, bounce, complaint) delivered by SNS, signature
/// versions 1 and 2; subscription confirmations are followed.
#[utoipa::path(post, path = "/webhooks/ses", tag = "webhooks", operation_id = "sesEvents",
    request_body(content = super::sns_signature::SnsMessage, content_type = "text/plain"),
    responses(
        (status = 200, description = "Recorded (or already known)."),
        (status = 403, description = "Not a verified SNS message from one of our topics: nothing changed."),
        (status = 502, description = "The subscription could not be confirmed with SNS."),
    ))]
pub async fn receive(
    State(api): State<Arc<SesWebhooks>>,
    body: Bytes,
) -> Result<StatusCode, Problem> {
    let message: SnsMessage =
        serde_json::from_slice(&body).map_err(|e| forbidden(format!("unreadable ({e})")))?;
    api.verifier.verify(&message).await.map_err(forbidden)?;
    if !api.topic_arns.contains(&message.topic_arn) {
        return Err(forbidden(format!(
            "topic {} is not ours",
            message.topic_arn
        )));
    }
    let store = api.queue.store();
    if seen(store, &message.message_id).await? {
        return Ok(StatusCode::OK);
    }
    let now = api.clock.now_nanos().div_euclid(1_000_000);
    match message.kind.as_str() {
        "SubscriptionConfirmation" => {
            let url = message.subscribe_url.as_deref().unwrap_or_default();
            if !is_sns_url(url) {
                return Err(forbidden("SubscribeURL is not an SNS URL"));
            }
            // A failure is ours to retry: SNS sends the confirmation again.
            api.verifier.fetcher().fetch(url).await.map_err(|e| {
                Problem::new(
                    StatusCode::BAD_GATEWAY,
                    "subscription_not_confirmed",
                    format!("confirming the subscription failed: {e}"),
                )
            })?;
        }
        "Notification" => notification(&api, &message.message, now).await?,
        _ => {}
    }
    remember(store, &message.message_id, now).await?;
    Ok(StatusCode::OK)
}

fn addresses(list: Option<&Value>) -> Vec<String> {
    list.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r["emailAddress"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// One SES event (configuration-set events say `eventType`, identity
/// notifications `notificationType`).
async fn notification(api: &SesWebhooks, raw: &str, now: i64) -> Result<(), Problem> {
    let Ok(event) = serde_json::from_str::<Value>(raw) else {
        return Ok(()); // not an SES event: nothing of ours to change
    };
    let kind = event["eventType"]
        .as_str()
        .or_else(|| event["notificationType"].as_str())
        .unwrap_or_default();
    let ses_id = event["mail"]["messageId"].as_str().unwrap_or_default();
    let (status, from, reason, recipients): (Status, &[Status], Option<Reason>, Vec<String>) =
        match kind {
            "Bounce" if event["bounce"]["bounceType"] == "Permanent" => (
                Status::Bounced,
                &[Status::Sent, Status::Delivered],
                Some(Reason::Bounce),
                addresses(event["bounce"].get("bouncedRecipients")),
            ),
            "Complaint" => (
                Status::Complained,
                &[Status::Sent, Status::Delivered],
                Some(Reason::Complaint),
                addresses(event["complaint"].get("complainedRecipients")),
            ),
            "Delivery" => (Status::Delivered, &[Status::Sent], None, Vec::new()),
            // Transient bounces, opens, clicks: nothing to change.
            _ => return Ok(()),
        };
    if let Some(reason) = reason {
        for address in &recipients {
            api.optouts
                .add(Channel::Email, address, reason, now)
                .await?;
        }
    }
    if !ses_id.is_empty() {
        api.queue
            .settle("ses", ses_id, status, Some(kind), from, now)
            .await?;
    }
    Ok(())
}
