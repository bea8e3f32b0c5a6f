//! What an engine indexes about a record: the searchable values, derived
//! once from the stored resource, and the resource itself to serve back.

use crate::geo::Point;
use crate::model::{Event, Person};
use crate::query::Window;
use crate::store::RecordKind;

/// A timeslot as the time conditions see it, in unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub start: i64,
    pub end: i64,
    pub full: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IndexDoc {
    pub id: i64,
    pub kind: RecordKind,
    pub point: Option<Point>,
    /// Full text: an event's title, a person's names.
    pub title: String,
    /// Full text: an event's description.
    pub body: String,
    pub event_type: Option<&'static str>,
    pub visibility: Option<&'static str>,
    pub is_virtual: Option<bool>,
    pub tags: Vec<String>,
    pub skills: Vec<String>,
    /// Each spoken language as its full tag and its primary subtag, so
    /// that `languages_spoken=es` finds a speaker of `es-MX`.
    pub languages: Vec<String>,
    /// The tags as declared, for the `languages_spoken` facet.
    pub languages_spoken: Vec<String>,
    pub slots: Vec<Slot>,
    pub windows: Vec<Window>,
    /// A person's phone numbers and lower-cased email addresses, matched
    /// exactly (sign-in finds a person by the address it verified).
    pub contacts: Vec<String>,
    /// Unix seconds.
    pub modified: i64,
    pub source: String,
    /// The record's version in the store (0 where none is known): an
    /// external index keeps only the highest it has seen.
    pub version: i64,
}

/// A record to take out of the index, at the version that removed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removal {
    pub id: i64,
    pub version: i64,
}

impl IndexDoc {
    pub fn from_person(p: &Person, source: String) -> Self {
        let mut languages = Vec::new();
        for l in &p.languages_spoken {
            for v in [l.as_str(), l.primary()] {
                if !languages.iter().any(|x| x == v) {
                    languages.push(v.to_string());
                }
            }
        }
        IndexDoc {
            id: p.id,
            kind: RecordKind::Person,
            point: p.point(),
            title: [p.given_name.as_deref(), p.family_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
            body: String::new(),
            event_type: None,
            visibility: None,
            is_virtual: None,
            tags: dedup(&p.tags),
            skills: dedup(&p.skills),
            languages,
            languages_spoken: p
                .languages_spoken
                .iter()
                .map(|l| l.as_str().to_string())
                .collect(),
            slots: Vec::new(),
            windows: p
                .availability
                .iter()
                .map(|s| Window {
                    start: s.start.timestamp(),
                    end: s.end.timestamp(),
                })
                .collect(),
            contacts: p
                .phone_numbers
                .iter()
                .map(|ph| ph.number.as_str().to_string())
                .chain(p.email_addresses.iter().map(|e| e.address.to_lowercase()))
                .collect(),
            modified: p.modified_date.timestamp(),
            source,
            version: 0,
        }
    }

    pub fn from_event(e: &Event, source: String) -> Self {
        IndexDoc {
            id: e.id,
            kind: RecordKind::Event,
            point: e.point(),
            title: e.title.clone(),
            body: e.description.clone().unwrap_or_default(),
            event_type: Some(e.event_type.as_str()),
            visibility: Some(e.visibility.as_str()),
            is_virtual: Some(e.is_virtual),
            tags: dedup(&e.tags),
            skills: Vec::new(),
            languages: Vec::new(),
            languages_spoken: Vec::new(),
            slots: e
                .timeslots
                .iter()
                .map(|t| Slot {
                    start: t.start_date.timestamp(),
                    end: t.end_date.timestamp(),
                    full: t.is_full,
                })
                .collect(),
            windows: Vec::new(),
            contacts: Vec::new(),
            modified: e.modified_date.timestamp(),
            source,
            version: 0,
        }
    }

    /// Derives the document from a stored record's JSON at `version`.
    pub fn from_source(
        kind: RecordKind,
        source: String,
        version: i64,
    ) -> Result<Self, serde_json::Error> {
        let doc = match kind {
            RecordKind::Person => Self::from_person(&serde_json::from_str(&source)?, source),
            RecordKind::Event => Self::from_event(&serde_json::from_str(&source)?, source),
        };
        Ok(Self { version, ..doc })
    }
}

fn dedup(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for v in values {
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    out
}
