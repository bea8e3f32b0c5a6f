//! The `[outreach]` section of the config file. Unknown keys are errors,
//! as everywhere in the config: a misspelt `auth_token` must not leave a
//! campaign silently on the `log` provider.

use std::time::Duration;

use serde::Deserialize;

use crate::providers::twilio::{From, TwilioConfig};

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct OutreachConfig {
    pub sms: SmsConfig,
    pub email: EmailConfig,
    /// Appended to a person's first SMS of a campaign.
    pub footer: Footer,
    /// The reply to HELP and INFO.
    pub help_text: Option<String>,
    pub worker: WorkerConfig,
    pub reminders: RemindersConfig,
}

/// Event reminders (`reminders.rs`). Templates see the person's fields,
/// `event` (the event as served) and `timeslot` (`start_date`,
/// `end_date`, and `local`: the start in the event's zone, e.g.
/// "Sat Dec 5, 10:00 AM EST").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemindersConfig {
    pub enabled: bool,
    /// How long before a timeslot starts.
    pub before_minutes: u64,
    /// How often due reminders are looked for.
    pub interval_ms: u64,
    pub sms: String,
    pub email_subject: String,
    pub email_body: String,
}

impl Default for RemindersConfig {
    fn default() -> Self {
        RemindersConfig {
            enabled: true,
            before_minutes: 24 * 60,
            interval_ms: 60_000,
            sms: "Reminder: {{ event.title }} starts {{ timeslot.local }}. Reply STOP to opt out."
                .into(),
            email_subject: "Reminder: {{ event.title }}, {{ timeslot.local }}".into(),
            email_body: "Hi {{ given_name | default(\"there\") }},\n\nSee you at {{ event.title }}, which starts {{ timeslot.local }}.\n".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct Footer(pub String);

impl Default for Footer {
    fn default() -> Self {
        Footer("Reply STOP to opt out".into())
    }
}

/// On unless turned off.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(transparent)]
pub struct SmartEncoding(pub bool);

impl Default for SmartEncoding {
    fn default() -> Self {
        SmartEncoding(true)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmsProviderKind {
    #[default]
    Log,
    Twilio,
    Sns,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EmailProviderKind {
    #[default]
    Log,
    Ses,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    pub provider: SmsProviderKind,
    /// Messages per second across every worker of every process; absent:
    /// no limit of ours (the provider's own 429s still slow us down).
    pub max_per_second: Option<f64>,
    /// Replace look-alike Unicode (curly quotes, dashes, ellipses) with
    /// GSM-7 before counting and sending, which can halve the segments.
    pub smart_encoding: SmartEncoding,
    /// Where a text goes when `provider` definitely did not take it
    /// (throttled, down, its circuit open); never after no answer.
    pub failover: Option<SmsProviderKind>,
    pub twilio: Option<TwilioSection>,
    pub sns: Option<SnsSection>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    pub provider: EmailProviderKind,
    /// The `From` header of every email.
    pub from: Option<String>,
    pub max_per_second: Option<f64>,
    pub ses: Option<SesSection>,
}

/// Where an AWS service is and who we are to it. Without keys the SDK's
/// default chain applies (environment, profile, container or instance
/// role), which is what a deployment on AWS should use.
#[derive(Debug, Clone, Deserialize)]
pub struct AwsSection {
    pub region: String,
    /// Only for an emulator (or a VPC endpoint).
    pub endpoint_url: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnsSection {
    pub region: String,
    pub endpoint_url: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// `AWS.MM.SMS.OriginationNumber`: the number texts come from.
    pub origination_number: Option<String>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SesSection {
    pub region: String,
    pub endpoint_url: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Carries bounce and complaint events to SNS and `/webhooks/ses`.
    pub configuration_set: Option<String>,
    /// SNS topics whose messages `/webhooks/ses` accepts (the topics the
    /// configuration set's event destination publishes to).
    #[serde(default)]
    pub topic_arns: Vec<String>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

impl SnsSection {
    pub fn aws(&self) -> AwsSection {
        AwsSection {
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
        }
    }
}

impl SesSection {
    pub fn aws(&self) -> AwsSection {
        AwsSection {
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioSection {
    pub account_sid: String,
    pub auth_token: String,
    pub messaging_service_sid: Option<String>,
    pub from: Option<String>,
    #[serde(default = "twilio_base_url")]
    pub base_url: String,
    #[serde(default)]
    pub smart_encoded: bool,
    pub validity_period: Option<u32>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn twilio_base_url() -> String {
    "https://api.twilio.com".into()
}

fn default_timeout_ms() -> u64 {
    15_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Messages a worker claims at once.
    pub batch: usize,
    /// How long a claim is held; a worker that dies holding it is noticed
    /// after this long.
    pub lease_secs: u64,
    pub max_attempts: i64,
    /// Failures in a row (5xx, throttling, timeouts) that open a
    /// provider's circuit, and how long it then rests.
    pub breaker_failures: u32,
    pub breaker_open_secs: u64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            batch: 64,
            lease_secs: 60,
            max_attempts: 8,
            breaker_failures: 5,
            breaker_open_secs: 30,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl RemindersConfig {
    /// The compiled SMS and email templates (checked by `validate`).
    pub fn templates(
        &self,
    ) -> Result<(crate::templates::Compiled, crate::templates::Compiled), ConfigError> {
        use crate::queue::Channel;
        use crate::templates::Source;
        let sms = Source {
            subject: None,
            body: self.sms.clone(),
            html: None,
        }
        .compile(Channel::Sms, "outreach.reminders.sms");
        let email = Source {
            subject: Some(self.email_subject.clone()),
            body: self.email_body.clone(),
            html: None,
        }
        .compile(Channel::Email, "outreach.reminders.email");
        match (sms, email) {
            (Ok(s), Ok(e)) => Ok((s, e)),
            _ => Err(ConfigError(
                "outreach.reminders: a template does not compile".into(),
            )),
        }
    }
}

impl OutreachConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |m: &str| Err(ConfigError(m.to_string()));
        match self.sms.provider {
            SmsProviderKind::Log => {}
            SmsProviderKind::Twilio => {
                let Some(t) = &self.sms.twilio else {
                    return err("outreach.sms.provider = \"twilio\" needs [outreach.sms.twilio]");
                };
                if !t.account_sid.starts_with("AC") || t.auth_token.is_empty() {
                    return err("outreach.sms.twilio needs account_sid (\"AC...\") and auth_token");
                }
                if t.messaging_service_sid.is_some() == t.from.is_some() {
                    return err(
                        "outreach.sms.twilio needs exactly one of messaging_service_sid and from",
                    );
                }
                if !(t.base_url.starts_with("https://") || t.base_url.starts_with("http://")) {
                    return err("outreach.sms.twilio.base_url must be an http(s) URL");
                }
            }
            SmsProviderKind::Sns => {
                if self.sms.sns.is_none() {
                    return err(
                        "outreach.sms.provider = \"sns\" needs [outreach.sms.sns] with region",
                    );
                }
            }
        }
        match (self.sms.failover, self.sms.provider) {
            (Some(f), p) if f == p => {
                return err(
                    "outreach.sms.failover must name another provider than outreach.sms.provider",
                );
            }
            (Some(SmsProviderKind::Log), _) => {
                return err(
                    "outreach.sms.failover = \"log\" would count undelivered texts as sent",
                );
            }
            (Some(SmsProviderKind::Twilio), _) if self.sms.twilio.is_none() => {
                return err("outreach.sms.failover = \"twilio\" needs [outreach.sms.twilio]");
            }
            (Some(SmsProviderKind::Sns), _) if self.sms.sns.is_none() => {
                return err("outreach.sms.failover = \"sns\" needs [outreach.sms.sns]");
            }
            _ => {}
        }
        if self.email.provider == EmailProviderKind::Ses {
            if self.email.ses.is_none() {
                return err(
                    "outreach.email.provider = \"ses\" needs [outreach.email.ses] with region",
                );
            }
            if self.email.from.as_deref().is_none_or(|f| !f.contains('@')) {
                return err(
                    "outreach.email.provider = \"ses\" needs outreach.email.from, e.g. \"Campaign <team@example.org>\"",
                );
            }
        }
        for (name, rate) in [
            ("sms", self.sms.max_per_second),
            ("email", self.email.max_per_second),
        ] {
            if let Some(r) = rate
                && !(r.is_finite() && r > 0.0)
            {
                return Err(ConfigError(format!(
                    "outreach.{name}.max_per_second must be a positive number"
                )));
            }
        }
        if self.reminders.enabled {
            for (name, source, channel) in [
                ("sms", &self.reminders.sms, crate::queue::Channel::Sms),
                (
                    "email_body",
                    &self.reminders.email_body,
                    crate::queue::Channel::Email,
                ),
            ] {
                let parsed = crate::templates::Source {
                    subject: (channel == crate::queue::Channel::Email)
                        .then(|| self.reminders.email_subject.clone()),
                    body: source.clone(),
                    html: None,
                };
                if let Err(e) = parsed.compile(channel, "template") {
                    return Err(ConfigError(format!(
                        "outreach.reminders.{name}: {}",
                        e.iter()
                            .map(|f| format!("{}: {}", f.field, f.message))
                            .collect::<Vec<_>>()
                            .join("; ")
                    )));
                }
            }
        }
        if self.worker.batch == 0 || self.worker.lease_secs == 0 || self.worker.max_attempts < 1 {
            return err("outreach.worker: batch, lease_secs and max_attempts must be positive");
        }
        Ok(())
    }

    /// The Twilio client's settings; `status_callback` is the public URL of
    /// our status webhook.
    pub fn twilio(&self, status_callback: Option<String>) -> Option<TwilioConfig> {
        let t = self.sms.twilio.as_ref()?;
        Some(TwilioConfig {
            account_sid: t.account_sid.clone(),
            auth_token: t.auth_token.clone(),
            from: match (&t.messaging_service_sid, &t.from) {
                (Some(sid), _) => From::MessagingService(sid.clone()),
                (None, Some(n)) => From::Number(n.clone()),
                (None, None) => return None,
            },
            base_url: t.base_url.clone(),
            status_callback,
            smart_encoded: t.smart_encoded,
            validity_period: t.validity_period,
            timeout: Duration::from_millis(t.timeout_ms),
        })
    }
}
