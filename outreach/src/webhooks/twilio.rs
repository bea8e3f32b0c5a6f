//! Twilio's webhooks: delivery reports (`/webhooks/twilio/status`) and
//! inbound texts (`/webhooks/twilio/inbound`). Each is verified with
//! `X-Twilio-Signature` over our public URL as configured (not what a
//! proxy in front rewrote it to); a forged or unsigned one is 403 and
//! changes nothing.
//!
//! A keyword's reply is the webhook's answer (TwiML `<Message>`), so it is
//! sent exactly once, by Twilio, even to a number that has just opted out
//! (our own consent check would rightly stop a queued reply to it). A
//! redelivered webhook (same `MessageSid`) is answered with an empty
//! `<Response/>` and changes nothing.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use turnout_core::{Clock, Problem};

use super::inbound::InboundLog;
use super::twilio_signature;
use crate::consent::optouts::{OptOuts, Reason};
use crate::keywords::{self, Keyword};
use crate::providers::twilio::status::MessageStatus;
use crate::queue::{Channel, Queue, Status};

pub const DEFAULT_HELP: &str =
    "Campaign messages. Reply STOP to opt out, START to opt back in. Msg & data rates may apply.";
const OPTED_OUT: &str =
    "You are unsubscribed and will get no more messages from us. Reply START to resubscribe.";
const OPTED_IN: &str = "You are resubscribed. Reply STOP to opt out.";

pub struct TwilioWebhooks {
    /// The account's auth token; without one every webhook is refused.
    pub auth_token: Option<String>,
    /// Our public URL, without a trailing slash: what Twilio signs.
    pub public_url: String,
    pub queue: Queue,
    pub optouts: OptOuts,
    pub inbound: InboundLog,
    pub help_text: String,
    pub clock: Arc<dyn Clock>,
}

impl TwilioWebhooks {
    fn now_ms(&self) -> i64 {
        self.clock.now_nanos().div_euclid(1_000_000)
    }

    /// The form, when its signature is Twilio's.
    fn verified(
        &self,
        path: &str,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<Vec<(String, String)>, Problem> {
        let forbidden = || Problem::forbidden("the request is not signed by Twilio");
        let token = self.auth_token.as_deref().ok_or_else(forbidden)?;
        let presented = headers
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(forbidden)?;
        let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
        let url = format!("{}{}", self.public_url, path);
        if twilio_signature::verify(token, &url, &params, presented) {
            Ok(params)
        } else {
            Err(forbidden())
        }
    }
}

pub fn router(api: Arc<TwilioWebhooks>) -> axum::Router {
    axum::Router::new()
        .route("/webhooks/twilio/status", post(status))
        .route("/webhooks/twilio/inbound", post(inbound))
        .with_state(api)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Twilio's delivery status callback.
#[utoipa::path(post, path = "/webhooks/twilio/status", tag = "webhooks", operation_id = "twilioStatus",
    params(("X-Twilio-Signature" = String, Header, description = "Twilio's HMAC-SHA1 signature of the public URL and the form.")),
    request_body(content = TwilioStatusForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 204, description = "Recorded (or already known)."),
        (status = 400, description = "MessageSid or MessageStatus missing."),
        (status = 403, description = "Bad signature: nothing changed."),
    ))]
pub async fn status(
    State(api): State<Arc<TwilioWebhooks>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, Problem> {
    let params = api.verified("/webhooks/twilio/status", &headers, &body)?;
    let (Some(sid), Some(raw)) = (
        param(&params, "MessageSid"),
        param(&params, "MessageStatus"),
    ) else {
        return Err(Problem::bad_request(
            "bad_webhook",
            "MessageSid and MessageStatus are required",
        ));
    };
    let reported = MessageStatus::parse(raw);
    let code = param(&params, "ErrorCode");
    if let Some(settled) = reported.settles_as() {
        let now = api.now_ms();
        let changed = api
            .queue
            .settle("twilio", sid, settled, code, &[Status::Sent], now)
            .await?;
        // The carrier says the recipient opted out: remember it.
        if let (Some(id), Some("21610")) = (changed, code)
            && let Some(m) = api.queue.get(id).await?
        {
            api.optouts
                .add(Channel::Sms, &m.recipient, Reason::Carrier, now)
                .await?;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

fn twiml(reply: Option<&str>) -> Response {
    let body = match reply {
        Some(text) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>{}</Message></Response>",
            xml_escape(text)
        ),
        None => "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>".to_string(),
    };
    ([(http::header::CONTENT_TYPE, "text/xml")], body).into_response()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// An SMS reply: STOP/START/HELP keywords get exactly one reply; other
/// replies are stored for staff.
#[utoipa::path(post, path = "/webhooks/twilio/inbound", tag = "webhooks", operation_id = "twilioInbound",
    params(("X-Twilio-Signature" = String, Header, description = "Twilio's HMAC-SHA1 signature of the public URL and the form.")),
    request_body(content = TwilioInboundForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "TwiML: the keyword's reply, or none.", body = String, content_type = "text/xml"),
        (status = 400, description = "MessageSid or From missing."),
        (status = 403, description = "Bad signature: nothing changed."),
    ))]
pub async fn inbound(
    State(api): State<Arc<TwilioWebhooks>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let params = api.verified("/webhooks/twilio/inbound", &headers, &body)?;
    let (Some(sid), Some(from)) = (param(&params, "MessageSid"), param(&params, "From")) else {
        return Err(Problem::bad_request(
            "bad_webhook",
            "MessageSid and From are required",
        ));
    };
    let text = param(&params, "Body").unwrap_or_default();
    let keyword = keywords::classify(text);
    let now = api.now_ms();
    // A redelivery changes nothing: a late copy of an old START must not
    // undo a newer STOP.
    if api.inbound.seen("twilio", sid).await? {
        return Ok(twiml(None));
    }
    // Act before recording, so a failure in between is retried by Twilio
    // and the opt-out is never lost; acting twice is harmless.
    let reply = match keyword {
        Some(Keyword::OptOut) => {
            api.optouts
                .add(Channel::Sms, from, Reason::Stop, now)
                .await?;
            Some(OPTED_OUT)
        }
        Some(Keyword::OptIn) => {
            api.optouts.opt_in(Channel::Sms, from).await?;
            Some(OPTED_IN)
        }
        Some(Keyword::Help) => Some(api.help_text.as_str()),
        None => None,
    };
    // Of two concurrent copies, only the one that records it replies.
    let first = api
        .inbound
        .record(from, text, keyword, "twilio", sid, now)
        .await?;
    Ok(twiml(if first { reply } else { None }))
}

/// The fields of Twilio's status callback that Turnout reads.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "PascalCase")]
pub struct TwilioStatusForm {
    message_sid: String,
    /// queued, sent, delivered, undelivered, failed, ...
    message_status: String,
    error_code: Option<String>,
}

/// The fields of Twilio's incoming-message webhook that Turnout reads.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "PascalCase")]
pub struct TwilioInboundForm {
    message_sid: String,
    from: String,
    body: Option<String>,
}
