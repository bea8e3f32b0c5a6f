//! Message templates: the MiniJinja engine (`engine`), a message's three
//! parts compiled together (`Source` → `Compiled`), and named templates
//! kept in the store (`named`).

pub mod engine;
pub mod named;

pub use engine::{Kind, Template, TemplateError};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use turnout_core::problem::FieldError;

use crate::queue::Channel;

/// A message's template as written: `{"subject"?, "body", "html"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Source {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

/// The rendered parts, as the queue stores them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

/// Which part of a message failed to render, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{part}: {error}")]
pub struct RenderError {
    pub part: &'static str,
    pub error: TemplateError,
}

impl RenderError {
    /// The caller's 422 when there is one recipient and the caller is
    /// waiting (a campaign instead fails that one message).
    pub fn problem(&self) -> turnout_core::Problem {
        turnout_core::Problem::validation(vec![FieldError::new(
            format!("template.{}", self.part),
            self.error.0.clone(),
        )])
    }
}

pub struct Compiled {
    body: Template,
    subject: Option<Template>,
    html: Option<Template>,
}

impl Source {
    /// Reads `{"subject"?, "body", "html"?}` at `field`, every problem
    /// reported under its own name (`template.body`, say).
    pub fn parse(value: &Map<String, Value>, field: &str) -> Result<Source, Vec<FieldError>> {
        let mut errors: Vec<FieldError> =
            FieldError::unknown_fields(value, &["subject", "body", "html"])
                .into_iter()
                .map(|e| FieldError::new(format!("{field}.{}", e.field), e.message))
                .collect();
        let mut text = |name: &str, required: bool| match value.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            None | Some(Value::Null) if !required => None,
            None | Some(Value::Null) => {
                errors.push(FieldError::new(format!("{field}.{name}"), "is required"));
                None
            }
            Some(_) => {
                errors.push(FieldError::new(
                    format!("{field}.{name}"),
                    "must be a string",
                ));
                None
            }
        };
        let body = text("body", true);
        let subject = text("subject", false);
        let html = text("html", false);
        match body {
            Some(body) if errors.is_empty() => Ok(Source {
                subject,
                body,
                html,
            }),
            _ => Err(errors),
        }
    }

    /// Compiles every part, checking that the parts fit the channel: an
    /// email needs a subject; an SMS has neither subject nor HTML.
    pub fn compile(&self, channel: Channel, field: &str) -> Result<Compiled, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut one = |name: &str, source: &str, kind: Kind| {
            Template::compile(source, kind)
                .map_err(|e| errors.push(FieldError::new(format!("{field}.{name}"), e.0)))
                .ok()
        };
        let body = one("body", &self.body, Kind::Text);
        let subject = self
            .subject
            .as_deref()
            .and_then(|s| one("subject", s, Kind::Text));
        let html = self
            .html
            .as_deref()
            .and_then(|s| one("html", s, Kind::Html));
        match channel {
            Channel::Email if self.subject.is_none() => errors.push(FieldError::new(
                format!("{field}.subject"),
                "an email needs a subject",
            )),
            Channel::Sms if self.subject.is_some() || self.html.is_some() => errors.push(
                FieldError::new(field, "an SMS has a body only (no subject or html)"),
            ),
            _ => {}
        }
        match body {
            Some(body) if errors.is_empty() => Ok(Compiled {
                body,
                subject,
                html,
            }),
            _ => Err(errors),
        }
    }
}

impl Rendered {
    /// An SMS body, smart-encoded when asked (look-alike Unicode replaced
    /// with GSM-7, see `segments::smart_encode`).
    pub fn for_channel(mut self, channel: Channel, smart_encoding: bool) -> Self {
        if channel == Channel::Sms && smart_encoding {
            self.body = crate::segments::smart_encode(&self.body).into_owned();
        }
        self
    }
}

impl Compiled {
    /// Renders every part for one recipient; the first part that fails
    /// fails the message, with the part named.
    pub fn render(&self, vars: &Value) -> Result<Rendered, RenderError> {
        let part = |t: &Template, name: &'static str| {
            t.render(vars)
                .map_err(|error| RenderError { part: name, error })
        };
        Ok(Rendered {
            body: part(&self.body, "body")?,
            subject: self
                .subject
                .as_ref()
                .map(|t| part(t, "subject"))
                .transpose()?,
            html: self.html.as_ref().map(|t| part(t, "html")).transpose()?,
        })
    }
}
