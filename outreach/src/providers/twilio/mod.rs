//! Twilio's Programmable Messaging REST API, as far as outreach uses it:
//! creating a message. Our own thin client, because no maintained crate
//! lets the base URL be set (tests point it at a contract peer and at a
//! behavioural peer) and the one that exists pulls in OpenSSL.
//!
//! What an answer means is decided here once: 2xx → accepted with the
//! message SID; an error body → [`errors::classify`]; a connection that was
//! never made → retry (nothing left us); a timeout or a connection lost
//! after the request went out → `unknown`, because Twilio may have queued
//! the message and has no idempotency key to make a resend safe.

pub mod errors;
pub mod status;

use std::time::Duration;

use serde::Deserialize;

use super::{Accepted, Failure, Outgoing, Provider, SendFuture};

/// Who the message comes from: a Messaging Service (Twilio picks the
/// number, handles STOP at the carrier) or one number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum From {
    MessagingService(String),
    Number(String),
}

#[derive(Debug, Clone)]
pub struct TwilioConfig {
    pub account_sid: String,
    pub auth_token: String,
    pub from: From,
    /// `https://api.twilio.com` in production.
    pub base_url: String,
    /// Where Twilio posts delivery reports (`{public_url}/webhooks/twilio/status`).
    pub status_callback: Option<String>,
    /// Let Twilio replace look-alike Unicode (curly quotes, say) with GSM-7
    /// characters, which can halve the segments billed.
    pub smart_encoded: bool,
    /// Seconds Twilio may keep the message in its queue before giving up.
    pub validity_period: Option<u32>,
    /// The whole request, connect included.
    pub timeout: Duration,
}

pub struct TwilioProvider {
    http: reqwest::Client,
    config: TwilioConfig,
    url: String,
}

/// The part of Twilio's message resource we keep.
#[derive(Debug, Deserialize)]
struct MessageResource {
    sid: String,
    #[serde(default)]
    status: Option<status::MessageStatus>,
}

impl TwilioProvider {
    pub fn new(config: TwilioConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .build()?;
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            config.base_url.trim_end_matches('/'),
            config.account_sid
        );
        Ok(Self { http, config, url })
    }

    /// The form Twilio's `Create Message` takes.
    fn form(&self, to: &str, body: &str) -> Vec<(&'static str, String)> {
        let c = &self.config;
        let mut form = vec![("To", to.to_string()), ("Body", body.to_string())];
        match &c.from {
            From::MessagingService(sid) => form.push(("MessagingServiceSid", sid.clone())),
            From::Number(n) => form.push(("From", n.clone())),
        }
        if let Some(cb) = &c.status_callback {
            form.push(("StatusCallback", cb.clone()));
        }
        if c.smart_encoded {
            form.push(("SmartEncoded", "true".into()));
        }
        if let Some(v) = c.validity_period {
            form.push(("ValidityPeriod", v.to_string()));
        }
        form
    }

    async fn create(&self, to: &str, body: &str) -> Result<Accepted, Failure> {
        let sent = self
            .http
            .post(&self.url)
            .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
            .form(&self.form(to, body))
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return Err(transport_failure(&e)),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = match response.text().await {
            Ok(t) => t,
            // The status line came back but the body did not: for a 2xx
            // Twilio has the message.
            Err(e) if status.is_success() => {
                return Err(Failure::Unknown {
                    reason: format!("Twilio accepted but the answer was cut off: {e}"),
                });
            }
            Err(_) => String::new(),
        };
        if status.is_success() {
            return match serde_json::from_str::<MessageResource>(&text) {
                Ok(m) => {
                    if let Some(s) = &m.status {
                        tracing::debug!(sid = %m.sid, status = s.as_str(), "twilio accepted");
                    }
                    Ok(Accepted {
                        provider_message_id: m.sid,
                    })
                }
                Err(e) => Err(Failure::Unknown {
                    reason: format!("Twilio answered {status} with an unreadable body: {e}"),
                }),
            };
        }
        Err(errors::classify(
            status.as_u16(),
            retry_after.as_deref(),
            &text,
        ))
    }
}

/// A request that failed without an HTTP answer. Only a connection that
/// was never established is safe to retry.
fn transport_failure(e: &reqwest::Error) -> Failure {
    if e.is_connect() {
        Failure::Retry {
            code: "connect".into(),
            after: None,
        }
    } else {
        Failure::Unknown {
            reason: format!("no answer from Twilio: {e}"),
        }
    }
}

impl Provider for TwilioProvider {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn send<'a>(&'a self, message: &'a Outgoing) -> SendFuture<'a> {
        Box::pin(async move {
            match message {
                Outgoing::Sms { to, body, .. } => self.create(to, body).await,
                Outgoing::Email { .. } => Err(Failure::Permanent {
                    code: "wrong_channel".into(),
                    reason: "Twilio sends SMS only".into(),
                }),
            }
        })
    }
}
