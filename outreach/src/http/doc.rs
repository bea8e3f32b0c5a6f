//! The outreach service's part of the OpenAPI document. Request bodies
//! are parsed field by field (so unknown fields are 422), and several
//! answers are built as JSON in the handlers: the shapes they promise are
//! written here, and the contract tests hold the handlers to them.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::campaigns::store::CampaignMessage;
use crate::queue::{Channel, Status};
use crate::templates::Source;
use crate::templates::named::Named;
use crate::webhooks::inbound::Inbound;

/// Who a message goes to: one of the three.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"phone": "+12155550123"}))]
pub struct To {
    /// A person's primary SMS-capable phone or primary email.
    pub person_id: Option<i64>,
    /// A bare E.164 number (SMS).
    pub phone: Option<String>,
    /// A bare address (email).
    pub email: Option<String>,
}

/// A template by name, or inline.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum TemplateRef {
    /// The name of a stored template of the same channel.
    Named(String),
    Inline(Source),
}

/// A transactional message. Honors `Idempotency-Key`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "channel": "sms",
    "to": {"phone": "+12155550123"},
    "template": {"body": "Hi {{ name }}, see you Saturday!"},
    "vars": {"name": "Ada"}
}))]
pub struct MessageCreate {
    pub channel: Channel,
    pub to: To,
    pub template: TemplateRef,
    /// Template variables, beside the person's own fields.
    pub vars: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Serialize, ToSchema)]
pub struct MessageAccepted {
    pub id: i64,
    /// `queued`, or why it will not be sent (`opted_out`, `suppressed`).
    pub status: Status,
}

#[derive(Serialize, ToSchema)]
pub struct MessageEvent {
    pub status: Status,
    pub at: chrono::DateTime<chrono::Utc>,
    pub detail: Option<String>,
}

/// A message and its history. Sign-in codes never appear here.
#[derive(Serialize, ToSchema)]
pub struct Message {
    pub id: i64,
    pub channel: Channel,
    pub to: String,
    pub status: Status,
    pub attempts: i64,
    /// SMS segments (1 for email).
    pub segments: i64,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub created_date: chrono::DateTime<chrono::Utc>,
    pub modified_date: chrono::DateTime<chrono::Utc>,
    pub history: Vec<MessageEvent>,
}

/// A template as written: `subject` is required for email.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"name": "reminder", "channel": "sms", "body": "Hi {{ given_name }}, see you at {{ venue }}!"}))]
pub struct TemplateCreate {
    /// Letters, digits, `-` and `_`.
    pub name: String,
    pub channel: Channel,
    pub subject: Option<String>,
    pub body: String,
    pub html: Option<String>,
}

/// `PUT` replaces a template's content; the name is in the path.
#[derive(Serialize, ToSchema)]
pub struct TemplateReplace {
    pub channel: Channel,
    pub subject: Option<String>,
    pub body: String,
    pub html: Option<String>,
}

turnout_core::list_page!(TemplatePage, Named);

/// Who a campaign goes to: a people search, or a list of ids.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// `/v1/people` search parameters, as `name → value or [values]`.
    People(BTreeMap<String, serde_json::Value>),
    PersonIds(Vec<i64>),
}

/// Local times `HH:MM`, within 08:00–21:00.
#[derive(Serialize, ToSchema)]
pub struct SendWindow {
    #[schema(example = "09:00")]
    pub start: String,
    #[schema(example = "20:00")]
    pub end: String,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "name": "GOTV reminder",
    "channel": "sms",
    "template": {"body": "Hi {{ given_name }}, polls are open until 8pm."},
    "audience": {"people": {"zipcode": "19107", "max_dist": "5"}}
}))]
pub struct CampaignCreate {
    pub name: String,
    pub channel: Channel,
    pub template: TemplateRef,
    pub audience: Audience,
    /// When to start sending; now when absent.
    pub send_at: Option<chrono::DateTime<chrono::Utc>>,
    /// 09:00–20:00 by default.
    pub send_window: Option<SendWindow>,
    /// IANA zone for recipients whose own zone is unknown.
    pub timezone: Option<String>,
    pub max_per_second: Option<f64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    Draft,
    Scheduled,
    Running,
    Paused,
    Completed,
    Cancelled,
}

#[derive(Serialize, ToSchema)]
pub struct Segments {
    /// SMS segments of messages sent or delivered.
    pub sent: i64,
    /// Segments of every message that is or was on its way.
    pub planned: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Campaign {
    pub id: i64,
    pub name: String,
    pub channel: Channel,
    pub status: CampaignState,
    pub template: TemplateRef,
    pub audience: Audience,
    pub send_at: Option<chrono::DateTime<chrono::Utc>>,
    pub send_window: SendWindow,
    pub timezone: Option<String>,
    pub max_per_second: Option<f64>,
    /// Every recipient in exactly one bucket: `recipients`, then one count
    /// per message status.
    #[schema(example = json!({"recipients": 3, "queued": 1, "sent": 1, "opted_out": 1}))]
    pub stats: BTreeMap<String, i64>,
    pub segments: Segments,
    pub created_date: chrono::DateTime<chrono::Utc>,
    pub modified_date: chrono::DateTime<chrono::Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct PreviewSample {
    pub person_id: Option<i64>,
    pub to: String,
    pub status: Status,
    /// Why it would not be sent, when it would not.
    pub reason: Option<String>,
    /// The rendered parts, when it renders.
    pub rendered: Option<serde_json::Value>,
}

/// The audience counted by consent outcome, and a few rendered samples.
#[derive(Serialize, ToSchema)]
pub struct Preview {
    pub counts: BTreeMap<String, u64>,
    pub samples: Vec<PreviewSample>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"to": ["+12155550123"]}))]
pub struct TestSend {
    /// 1 to 20 phone numbers or email addresses, per the campaign's channel.
    pub to: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TestMessage {
    pub id: i64,
    pub to: String,
    pub status: Status,
}

#[derive(Serialize, ToSchema)]
pub struct TestAccepted {
    pub messages: Vec<TestMessage>,
}

turnout_core::list_page!(CampaignMessagePage, CampaignMessage);

turnout_core::list_page!(InboundPage, Inbound);

/// Paging by an opaque cursor.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// 25 by default, 100 at most.
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
    /// Opaque; taken from a `next` link.
    pub cursor: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusFilter {
    /// Only messages in this status.
    pub status: Option<Status>,
}

#[derive(OpenApi)]
#[openapi(
    paths(
        super::messages::create,
        super::messages::read,
        super::templates::create,
        super::templates::list,
        super::templates::read,
        super::templates::replace,
        super::templates::delete,
        super::campaigns::create,
        super::campaigns::read,
        super::campaigns::preview,
        super::campaigns::test,
        super::campaigns::launch,
        super::campaigns::pause,
        super::campaigns::resume,
        super::campaigns::cancel,
        super::campaigns::messages,
        super::inbound::list,
        crate::webhooks::twilio::status,
        crate::webhooks::twilio::inbound,
        crate::webhooks::ses::receive,
        crate::unsubscribe::pages::show,
        crate::unsubscribe::pages::unsubscribe,
    ),
    tags(
        (name = "messages", description = "Transactional SMS and email (`messages:send`)."),
        (name = "templates", description = "MiniJinja templates with the person's fields as variables."),
        (name = "campaigns", description = "Bulk sends to an audience, inside each recipient's send window (`campaigns`)."),
        (name = "inbound", description = "Replies that were not keywords, for staff."),
        (name = "webhooks", description = "Provider callbacks: no API key; each checks its provider's signature and answers 403 to a bad one."),
        (name = "unsubscribe", description = "One-click email unsubscribe links (RFC 8058)."),
    )
)]
pub struct OutreachDoc;
