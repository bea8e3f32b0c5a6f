//! A campaign as a client writes it, parsed once into checked values.

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use turnout_core::problem::FieldError;

use crate::consent::window::{SendWindow, WindowError};
use crate::queue::Channel;
use crate::templates::Source;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TemplateRef {
    Named(String),
    Inline(Source),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// `/v1/people` search parameters, as `name → value or [values]`.
    People(Map<String, Value>),
    PersonIds(Vec<i64>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowSpec {
    pub start: String,
    pub end: String,
}

/// The stored form of a campaign's definition (the `spec` column).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub name: String,
    pub channel: Channel,
    pub template: TemplateRef,
    pub audience: Audience,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_at: Option<chrono::DateTime<chrono::Utc>>,
    pub send_window: WindowSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_second: Option<f64>,
}

const FIELDS: [&str; 8] = [
    "name",
    "channel",
    "template",
    "audience",
    "send_at",
    "send_window",
    "timezone",
    "max_per_second",
];

impl Spec {
    pub fn window(&self) -> SendWindow {
        SendWindow::parse(&self.send_window.start, &self.send_window.end).unwrap_or_default()
    }

    pub fn zone(&self) -> Option<Tz> {
        self.timezone.as_deref().and_then(|z| z.parse().ok())
    }

    /// The `/v1/people` query pairs of a search audience.
    pub fn audience_pairs(people: &Map<String, Value>) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        for (k, v) in people {
            let mut push = |v: &Value| match v {
                Value::String(s) => pairs.push((k.clone(), s.clone())),
                Value::Null => {}
                other => pairs.push((k.clone(), other.to_string())),
            };
            match v {
                Value::Array(items) => items.iter().for_each(&mut push),
                other => push(other),
            }
        }
        pairs
    }

    /// Parses a body (`POST /v1/campaigns`), listing every problem.
    pub fn parse(body: &Map<String, Value>) -> Result<Spec, Vec<FieldError>> {
        let mut errors = FieldError::unknown_fields(body, &FIELDS);
        let name = match body.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 200 => Some(s.clone()),
            _ => {
                errors.push(FieldError::new("name", "is required (1 to 200 characters)"));
                None
            }
        };
        let channel = match body.get("channel").and_then(Value::as_str) {
            Some("sms") => Some(Channel::Sms),
            Some("email") => Some(Channel::Email),
            _ => {
                errors.push(FieldError::new("channel", "must be sms or email"));
                None
            }
        };
        let template = match body.get("template") {
            Some(Value::String(n)) if !n.is_empty() => Some(TemplateRef::Named(n.clone())),
            Some(Value::Object(t)) => match Source::parse(t, "template") {
                Ok(s) => Some(TemplateRef::Inline(s)),
                Err(e) => {
                    errors.extend(e);
                    None
                }
            },
            _ => {
                errors.push(FieldError::new(
                    "template",
                    "is required: a template's name or {\"subject\"?, \"body\", \"html\"?}",
                ));
                None
            }
        };
        let audience = parse_audience(body.get("audience"), &mut errors);
        let send_at = match body.get("send_at") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => match chrono::DateTime::parse_from_rfc3339(s) {
                Ok(t) => Some(t.with_timezone(&chrono::Utc)),
                Err(_) => {
                    errors.push(FieldError::new(
                        "send_at",
                        "must be an RFC 3339 time such as 2026-11-03T09:00:00-05:00",
                    ));
                    None
                }
            },
            Some(_) => {
                errors.push(FieldError::new("send_at", "must be a string"));
                None
            }
        };
        let send_window = match body.get("send_window") {
            None | Some(Value::Null) => Some(WindowSpec {
                start: "09:00".into(),
                end: "20:00".into(),
            }),
            Some(Value::Object(w)) => {
                errors.extend(
                    FieldError::unknown_fields(w, &["start", "end"])
                        .into_iter()
                        .map(|e| FieldError::new(format!("send_window.{}", e.field), e.message)),
                );
                let start = w.get("start").and_then(Value::as_str).unwrap_or("09:00");
                let end = w.get("end").and_then(Value::as_str).unwrap_or("20:00");
                match SendWindow::parse(start, end) {
                    Ok(_) => Some(WindowSpec {
                        start: start.trim().into(),
                        end: end.trim().into(),
                    }),
                    Err(e) => {
                        let field = match e {
                            WindowError::BadTime(ref t) if t == end => "send_window.end",
                            WindowError::BadTime(_) => "send_window.start",
                            _ => "send_window",
                        };
                        errors.push(FieldError::new(field, e.to_string()));
                        None
                    }
                }
            }
            Some(_) => {
                errors.push(FieldError::new(
                    "send_window",
                    "must be {\"start\": \"09:00\", \"end\": \"20:00\"}",
                ));
                None
            }
        };
        let timezone = match body.get("timezone") {
            None | Some(Value::Null) => None,
            Some(Value::String(z)) if z.parse::<Tz>().is_ok() => Some(z.clone()),
            Some(_) => {
                errors.push(FieldError::new(
                    "timezone",
                    "must be an IANA time zone such as America/Chicago",
                ));
                None
            }
        };
        let max_per_second = match body.get("max_per_second") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_f64() {
                Some(r) if r > 0.0 && r.is_finite() => Some(r),
                _ => {
                    errors.push(FieldError::new(
                        "max_per_second",
                        "must be a positive number",
                    ));
                    None
                }
            },
        };
        if let (Some(channel), Some(TemplateRef::Inline(source))) = (channel, &template)
            && let Err(e) = source.compile(channel, "template")
        {
            errors.extend(e);
        }
        match (name, channel, template, audience, send_window) {
            (Some(name), Some(channel), Some(template), Some(audience), Some(send_window))
                if errors.is_empty() =>
            {
                Ok(Spec {
                    name,
                    channel,
                    template,
                    audience,
                    send_at,
                    send_window,
                    timezone,
                    max_per_second,
                })
            }
            _ => Err(errors),
        }
    }
}

/// Most ids a list audience may name; larger audiences are searches.
pub const MAX_PERSON_IDS: usize = 100_000;

fn parse_audience(raw: Option<&Value>, errors: &mut Vec<FieldError>) -> Option<Audience> {
    let shape = "must be {\"people\": {<search parameters>}} or {\"person_ids\": [...]}";
    let Some(Value::Object(a)) = raw else {
        errors.push(FieldError::new("audience", shape));
        return None;
    };
    match (a.get("people"), a.get("person_ids"), a.len()) {
        (Some(Value::Object(p)), None, 1) => {
            // Checked now, so a typo is the caller's 422 and not a launch
            // that matches everyone.
            let pairs = Spec::audience_pairs(p);
            match turnout_search::params::people(&pairs) {
                Ok(q) if q.cursor.is_none() => Some(Audience::People(p.clone())),
                Ok(_) => {
                    errors.push(FieldError::new(
                        "audience.people.cursor",
                        "is not a search parameter here",
                    ));
                    None
                }
                Err(e) => {
                    errors.extend(e.into_iter().map(|e| {
                        FieldError::new(format!("audience.people.{}", e.field), e.message)
                    }));
                    None
                }
            }
        }
        (None, Some(Value::Array(ids)), 1) => {
            let parsed: Option<Vec<i64>> = ids.iter().map(Value::as_i64).collect();
            match parsed {
                Some(ids) if !ids.is_empty() && ids.len() <= MAX_PERSON_IDS => {
                    Some(Audience::PersonIds(ids))
                }
                _ => {
                    errors.push(FieldError::new(
                        "audience.person_ids",
                        format!("must be 1 to {MAX_PERSON_IDS} person ids"),
                    ));
                    None
                }
            }
        }
        _ => {
            errors.push(FieldError::new("audience", shape));
            None
        }
    }
}
