//! `[auth]`: tokens and one-time codes. Every default is what a campaign
//! app needs out of the box; the limits are the ones SMS-pumping fraud
//! makes necessary.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// `iss` of every token. Absent: `public_url`, else `"turnout"`.
    pub issuer: Option<String>,
    /// `aud` of every token.
    pub audience: String,
    /// Access-token lifetime.
    pub access_ttl_secs: u64,
    /// Refresh-token lifetime; each refresh issues a new one.
    pub refresh_ttl_days: u64,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway_secs: u64,
    /// How long after `turnout keys rotate-signing` the new key starts
    /// signing: long enough for every instance to load it (they reload
    /// every `reload_ms`).
    pub rotation_delay_secs: u64,
    pub reload_ms: u64,
    pub otp: OtpConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: "turnout".into(),
            access_ttl_secs: 900,
            refresh_ttl_days: 30,
            leeway_secs: 30,
            rotation_delay_secs: 5,
            reload_ms: 1000,
            otp: OtpConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtpConfig {
    pub ttl_secs: u64,
    /// Wrong codes a challenge takes before it is dead (the right code
    /// then fails too).
    pub max_attempts: u32,
    /// Wrong codes for one destination, across its challenges, within
    /// `lockout_window_secs`, that lock it out for `lockout_secs`.
    pub lockout_failures: u32,
    pub lockout_window_secs: u64,
    pub lockout_secs: u64,
    /// Codes one destination may be sent per hour, and the least time
    /// between two.
    pub per_destination_per_hour: u32,
    pub resend_after_secs: u64,
    /// Codes one API key may have sent per hour (all destinations).
    pub per_key_per_hour: u32,
    /// Where SMS codes may go: `"US"`, `"CA"` (by area code), or an E.164
    /// calling-code prefix such as `"+44"`.
    pub sms_countries: Vec<String>,
    /// SMS codes per UTC day, all destinations together.
    pub sms_daily_budget: u64,
    /// `{app}` in the texts below.
    pub app_name: String,
    /// `{code}`, `{app}` and `{minutes}` are filled in.
    pub sms_text: String,
    pub email_subject: String,
    pub email_text: String,
}

impl Default for OtpConfig {
    fn default() -> Self {
        Self {
            ttl_secs: 600,
            max_attempts: 5,
            lockout_failures: 10,
            lockout_window_secs: 3600,
            lockout_secs: 3600,
            per_destination_per_hour: 5,
            resend_after_secs: 30,
            per_key_per_hour: 10_000,
            sms_countries: vec!["US".into()],
            sms_daily_budget: 10_000,
            app_name: "Turnout".into(),
            sms_text: "{code} is your {app} sign-in code. It expires in {minutes} minutes. \
                       Do not share it."
                .into(),
            email_subject: "Your {app} sign-in code".into(),
            email_text: "Your {app} sign-in code is {code}.\n\nIt expires in {minutes} minutes. \
                         If you did not ask for it, ignore this email."
                .into(),
        }
    }
}

impl OtpConfig {
    /// A text with `{app}` and `{minutes}` filled in and `{code}` left for
    /// the worker.
    pub fn text(&self, template: &str) -> String {
        template
            .replace("{app}", &self.app_name)
            .replace("{minutes}", &(self.ttl_secs / 60).max(1).to_string())
    }
}
