//! What a provider's answer means for a message: the classification every
//! provider adapter maps its own errors into, so the queue's retry and
//! failover rules are written once.

pub mod aws;
pub mod build;
pub mod log;
pub mod mime;
pub mod ses;
pub mod sns;
pub mod twilio;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::Serialize;

/// A message as a provider sends it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Outgoing {
    Sms {
        id: i64,
        to: String,
        body: String,
        /// A campaign message (SNS marks it Promotional).
        bulk: bool,
    },
    Email {
        id: i64,
        to: String,
        subject: String,
        text: String,
        html: Option<String>,
        headers: Vec<(String, String)>,
    },
}

impl Outgoing {
    pub fn id(&self) -> i64 {
        match self {
            Outgoing::Sms { id, .. } | Outgoing::Email { id, .. } => *id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub provider_message_id: String,
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<Accepted, Failure>> + Send + 'a>>;

/// One way out: `log`, Twilio, SNS, SES.
pub trait Provider: Send + Sync {
    fn name(&self) -> &'static str;
    fn send<'a>(&'a self, message: &'a Outgoing) -> SendFuture<'a>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The recipient opted out at the carrier or provider: record the
    /// opt-out, never retry, never fail over.
    OptedOut { code: String },
    /// This message can never be sent as it is (a bad number, say): fail
    /// it now. Failover to another provider is allowed: the rejection is
    /// definite.
    Permanent { code: String, reason: String },
    /// Try again later, after `after` when the provider said.
    Retry {
        code: String,
        after: Option<Duration>,
    },
    /// The request may or may not have reached the provider (a timeout
    /// after sending, a connection reset): never resend blindly; the
    /// message ends `unknown`.
    Unknown { reason: String },
}

impl Failure {
    /// The code to count it under.
    pub fn code(&self) -> &str {
        match self {
            Failure::OptedOut { code }
            | Failure::Permanent { code, .. }
            | Failure::Retry { code, .. } => code,
            Failure::Unknown { .. } => "unknown",
        }
    }
}
