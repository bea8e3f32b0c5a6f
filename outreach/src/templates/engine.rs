//! Message templates (MiniJinja) with a person's fields as variables.
//!
//! A template is compiled once, when a campaign or message is created, so
//! a syntax error is the caller's 422 and never a failed send. Rendering
//! is strict: printing a field the person does not have is an error for
//! that one message (`{{ given_name | default("friend") }}` is how a
//! template says what to print instead), because "Hi none," is worse than
//! not sending. Only the HTML part of an email is HTML-escaped.

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

impl From<minijinja::Error> for TemplateError {
    fn from(e: minijinja::Error) -> Self {
        let mut text = e.kind().to_string();
        if let Some(detail) = e.detail() {
            text.push_str(": ");
            text.push_str(detail);
        }
        if let Some(line) = e.line() {
            text.push_str(&format!(" (line {line})"));
        }
        TemplateError(text)
    }
}

/// What a template's output is, which decides its escaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Html,
}

/// A compiled template.
pub struct Template {
    env: Environment<'static>,
}

const NAME: &str = "t";

impl Template {
    pub fn compile(source: &str, kind: Kind) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(move |_| match kind {
            Kind::Text => AutoEscape::None,
            Kind::Html => AutoEscape::Html,
        });
        env.add_template_owned(NAME, source.to_string())?;
        Ok(Template { env })
    }

    /// Renders with `vars` (a person as served, say). Null fields count as
    /// absent, so `default` applies to them.
    pub fn render(&self, vars: &Value) -> Result<String, TemplateError> {
        let template = self.env.get_template(NAME)?;
        Ok(template.render(minijinja::value::Serde(without_nulls(vars)))?)
    }
}

fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_person_fills_the_template() {
        let t = Template::compile(
            "Hi {{ given_name | default(\"friend\") }}, see you in {{ postal_addresses[0].locality }}!",
            Kind::Text,
        )
        .unwrap();
        let ana = json!({"given_name": "Ana", "postal_addresses": [{"locality": "Philadelphia"}]});
        assert_eq!(t.render(&ana).unwrap(), "Hi Ana, see you in Philadelphia!");
        let nameless =
            json!({"given_name": null, "postal_addresses": [{"locality": "Philadelphia"}]});
        assert_eq!(
            t.render(&nameless).unwrap(),
            "Hi friend, see you in Philadelphia!"
        );
    }

    #[test]
    fn a_missing_field_fails_the_message_and_a_syntax_error_fails_at_once() {
        let t = Template::compile("Hi {{ given_name }}", Kind::Text).unwrap();
        let err = t.render(&json!({"family_name": "Garcia"})).unwrap_err();
        assert!(err.0.contains("undefined"), "{err}");
        let err = Template::compile("Hi {{ given_name ", Kind::Text)
            .err()
            .unwrap();
        assert!(err.0.contains("line 1"), "{err}");
    }

    #[test]
    fn only_html_is_escaped() {
        let vars = json!({"given_name": "<Ana & co>"});
        let text = Template::compile("{{ given_name }}", Kind::Text).unwrap();
        assert_eq!(text.render(&vars).unwrap(), "<Ana & co>");
        let html = Template::compile("<p>{{ given_name }}</p>", Kind::Html).unwrap();
        assert_eq!(html.render(&vars).unwrap(), "<p>&lt;Ana &amp; co&gt;</p>");
    }
}
