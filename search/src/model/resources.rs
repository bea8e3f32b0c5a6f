//! The writable parts of people, events and attendances (OSDI field
//! names), parsed from a request body and checked as a whole: E.164
//! phones, RFC 5646 languages, coordinates in range, `end_date` after
//! `start_date`, known event types. Ids, timestamps and the derived
//! timezone are the store's business.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use turnout_core::problem::FieldError;

use super::input::Fields;
use super::{Coordinates, EventType, LanguageTag, PhoneNumber};
use crate::query::Visibility;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailAddress {
    pub address: String,
    #[serde(default)]
    pub primary: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Phone {
    pub number: PhoneNumber,
    #[serde(default)]
    pub primary: bool,
    #[serde(default)]
    pub sms_capable: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostalAddress {
    #[serde(default)]
    pub address_lines: Vec<String>,
    pub locality: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub location: Option<Coordinates>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Span {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Ordered by rights, least first: an admin may do what an organizer
/// may, and an organizer what a volunteer may.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    Default,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    Volunteer,
    Organizer,
    Admin,
}

impl Role {
    /// As JSON, tokens and `X-Turnout-Role` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Volunteer => "volunteer",
            Role::Organizer => "organizer",
            Role::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PersonInput {
    pub identifiers: Vec<String>,
    pub role: Role,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email_addresses: Vec<EmailAddress>,
    pub phone_numbers: Vec<Phone>,
    pub postal_addresses: Vec<PostalAddress>,
    pub languages_spoken: Vec<LanguageTag>,
    pub skills: Vec<String>,
    pub availability: Vec<Span>,
    pub timezone: Option<chrono_tz_name::TzName>,
    pub tags: Vec<String>,
}

/// An IANA zone name, checked against the names chrono-tz knows.
pub mod chrono_tz_name {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(try_from = "String", into = "String")]
    pub struct TzName(String);

    impl TryFrom<String> for TzName {
        type Error = String;
        fn try_from(v: String) -> Result<Self, String> {
            v.parse::<chrono_tz::Tz>()
                .map(|tz| TzName(tz.name().to_string()))
                .map_err(|_| format!("{v:?} is not an IANA time zone such as America/New_York"))
        }
    }

    impl From<TzName> for String {
        fn from(t: TzName) -> String {
            t.0
        }
    }

    impl TzName {
        pub fn as_str(&self) -> &str {
            &self.0
        }
    }
}

/// A person's writable fields.
pub const PERSON_FIELDS: [&str; 12] = [
    "identifiers",
    "role",
    "given_name",
    "family_name",
    "email_addresses",
    "phone_numbers",
    "postal_addresses",
    "languages_spoken",
    "skills",
    "availability",
    "timezone",
    "tags",
];

/// OSDI identifiers are `system:value` (`van:12345`); anything else could
/// not be matched on reliably by import.
fn check_identifiers(f: &mut Fields<'_>, ids: &[String]) {
    for (i, id) in ids.iter().enumerate() {
        let ok = id.split_once(':').is_some_and(|(system, value)| {
            !system.is_empty() && !value.is_empty() && id.len() <= 200
        }) && !id.contains(char::is_whitespace);
        if !ok {
            f.fail(
                &format!("identifiers[{i}]"),
                format!("{id:?} is not an identifier of the form system:value"),
            );
        }
    }
}

fn check_spans(f: &mut Fields<'_>, field: &str, spans: &[Span]) {
    for (i, s) in spans.iter().enumerate() {
        if s.end <= s.start {
            f.fail(&format!("{field}[{i}]"), "end must be after start");
        }
    }
}

/// The syntax every email address here must have: something before an
/// `@`, a dot after it, no whitespace. (Whether it exists is the mail
/// provider's to say.)
pub fn is_email_address(address: &str) -> bool {
    address.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !address.contains(char::is_whitespace)
    })
}

fn check_emails(f: &mut Fields<'_>, emails: &[EmailAddress]) {
    for (i, e) in emails.iter().enumerate() {
        if !is_email_address(&e.address) {
            f.fail(
                &format!("email_addresses[{i}].address"),
                format!("{:?} is not an email address", e.address),
            );
        }
    }
}

impl PersonInput {
    pub fn parse(body: &Map<String, Value>) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new(body, &PERSON_FIELDS);
        let p = PersonInput {
            identifiers: f.get("identifiers").unwrap_or_default(),
            role: f.get("role").unwrap_or_default(),
            given_name: f.get("given_name"),
            family_name: f.get("family_name"),
            email_addresses: f.get("email_addresses").unwrap_or_default(),
            phone_numbers: f.get("phone_numbers").unwrap_or_default(),
            postal_addresses: f.get("postal_addresses").unwrap_or_default(),
            languages_spoken: f.get("languages_spoken").unwrap_or_default(),
            skills: f
                .get::<Vec<String>>("skills")
                .unwrap_or_default()
                .into_iter()
                .map(|s| s.trim().to_lowercase())
                .collect(),
            availability: f.get("availability").unwrap_or_default(),
            timezone: f.get("timezone"),
            tags: f.get("tags").unwrap_or_default(),
        };
        check_identifiers(&mut f, &p.identifiers);
        check_spans(&mut f, "availability", &p.availability);
        check_emails(&mut f, &p.email_addresses);
        f.finish(|| p)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Timeslot {
    /// Given when an existing timeslot is edited; new ones get the next
    /// free id within the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub start_date: DateTime<Utc>,
    pub end_date: DateTime<Utc>,
    pub max_attendees: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventLocation {
    pub venue: Option<String>,
    #[serde(default)]
    pub address_lines: Vec<String>,
    pub locality: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub location: Option<Coordinates>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventInput {
    pub identifiers: Vec<String>,
    pub title: String,
    pub description: Option<String>,
    pub event_type: EventType,
    pub timeslots: Vec<Timeslot>,
    pub location: Option<EventLocation>,
    pub timezone: Option<chrono_tz_name::TzName>,
    pub is_virtual: bool,
    pub visibility: Visibility,
    pub tags: Vec<String>,
}

/// An event's writable fields.
pub const EVENT_FIELDS: [&str; 10] = [
    "identifiers",
    "title",
    "description",
    "event_type",
    "timeslots",
    "location",
    "timezone",
    "is_virtual",
    "visibility",
    "tags",
];

impl EventInput {
    pub fn parse(body: &Map<String, Value>) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new(body, &EVENT_FIELDS);
        let title: Option<String> = f.required("title");
        if title.as_deref().is_some_and(|t| t.trim().is_empty()) {
            f.fail("title", "must not be empty");
        }
        let event_type: Option<EventType> = f.required("event_type");
        let timeslots: Vec<Timeslot> = f.get("timeslots").unwrap_or_default();
        for (i, t) in timeslots.iter().enumerate() {
            if t.end_date <= t.start_date {
                f.fail(
                    &format!("timeslots[{i}].end_date"),
                    "must be after start_date",
                );
            }
        }
        let visibility = match f.get::<String>("visibility") {
            None => Visibility::Public,
            Some(v) => Visibility::parse(&v).unwrap_or_else(|| {
                f.fail("visibility", "must be PUBLIC or PRIVATE");
                Visibility::Public
            }),
        };
        let identifiers: Vec<String> = f.get("identifiers").unwrap_or_default();
        check_identifiers(&mut f, &identifiers);
        let mut seen = std::collections::HashSet::new();
        for (i, t) in timeslots.iter().enumerate() {
            if let Some(id) = t.id
                && !seen.insert(id)
            {
                f.fail(&format!("timeslots[{i}].id"), "appears twice");
            }
        }
        let input = (
            identifiers,
            f.get("description"),
            f.get("location"),
            f.get("timezone"),
            f.get("is_virtual").unwrap_or(false),
            f.get("tags").unwrap_or_default(),
        );
        match (title, event_type) {
            (Some(title), Some(event_type)) => f.finish(|| {
                let (identifiers, description, location, timezone, is_virtual, tags) = input;
                EventInput {
                    identifiers,
                    title: title.trim().to_string(),
                    description,
                    event_type,
                    timeslots,
                    location,
                    timezone,
                    is_virtual,
                    visibility,
                    tags,
                }
            }),
            _ => Err(f.errors),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum AttendanceStatus {
    Registered,
    Cancelled,
    Confirmed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn fields(errs: &[FieldError]) -> Vec<&str> {
        errs.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_person_parses_and_normalises() {
        let p = PersonInput::parse(&obj(json!({
            "identifiers": ["van:12345"],
            "given_name": "Ana",
            "phone_numbers": [{"number": "+1 (215) 555-0123", "primary": true, "sms_capable": true}],
            "email_addresses": [{"address": "ana@example.org", "primary": true}],
            "postal_addresses": [{"postal_code": "19107", "location": {"latitude": 39.95, "longitude": -75.16}}],
            "languages_spoken": ["ES", "en-us"],
            "skills": [" Driving "],
            "availability": [{"start": "2026-11-28T09:00:00Z", "end": "2026-11-28T12:00:00Z"}],
            "timezone": "America/New_York"
        })))
        .unwrap();
        assert_eq!(p.phone_numbers[0].number.as_str(), "+12155550123");
        assert_eq!(
            p.languages_spoken
                .iter()
                .map(|l| l.as_str())
                .collect::<Vec<_>>(),
            ["es", "en-US"]
        );
        assert_eq!(p.skills, ["driving"]);
        assert_eq!(p.timezone.unwrap().as_str(), "America/New_York");
    }

    #[test]
    fn every_bad_person_field_is_reported() {
        let errs = PersonInput::parse(&obj(json!({
            "phone_numbers": [{"number": "2155550123"}],
            "languages_spoken": ["en_US"],
            "postal_addresses": [{"location": {"latitude": 123, "longitude": 0}}],
            "availability": [{"start": "2026-11-28T12:00:00Z", "end": "2026-11-28T09:00:00Z"}],
            "email_addresses": [{"address": "not an email"}],
            "timezone": "Mars/Olympus",
            "nickname": "x"
        })))
        .unwrap_err();
        let f = fields(&errs);
        for name in [
            "phone_numbers",
            "languages_spoken",
            "postal_addresses",
            "availability[0]",
            "email_addresses[0].address",
            "timezone",
            "nickname",
        ] {
            assert!(f.contains(&name), "{name} not reported: {f:?}");
        }
    }

    #[test]
    fn an_event_needs_a_title_a_known_type_and_ordered_timeslots() {
        let e = EventInput::parse(&obj(json!({
            "title": "Saturday canvass", "event_type": "canvass",
            "timeslots": [{"start_date": "2026-11-28T14:00:00Z", "end_date": "2026-11-28T17:00:00Z", "max_attendees": 20}],
            "location": {"postal_code": "19107", "location": {"latitude": 39.95, "longitude": -75.16}}
        })))
        .unwrap();
        assert_eq!(e.event_type.as_str(), "CANVASS");
        assert_eq!(e.visibility, Visibility::Public);

        let errs = EventInput::parse(&obj(json!({
            "event_type": "PICNIC",
            "timeslots": [{"start_date": "2026-11-28T17:00:00Z", "end_date": "2026-11-28T14:00:00Z"}],
            "visibility": "SECRET"
        })))
        .unwrap_err();
        let f = fields(&errs);
        for name in ["title", "event_type", "timeslots[0].end_date", "visibility"] {
            assert!(f.contains(&name), "{name} not reported: {f:?}");
        }
    }

    #[test]
    fn attendance_statuses_are_osdi_uppercase() {
        assert_eq!(
            serde_json::from_value::<AttendanceStatus>(json!("REGISTERED")).unwrap(),
            AttendanceStatus::Registered
        );
        assert!(serde_json::from_value::<AttendanceStatus>(json!("maybe")).is_err());
        assert_eq!(
            serde_json::to_value(Role::Organizer).unwrap(),
            json!("organizer")
        );
    }
}
