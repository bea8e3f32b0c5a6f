//! The reference semantics of a search, as a linear scan written from
//! API.md and nothing else: what every engine must return. The engine
//! conformance suite and the gateway's HTTP tests compare against it; it
//! is far too slow to serve with.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::engine::Search;
use crate::geo::{self, Point};
use crate::model::{Event, Person};
use crate::query::{Kind, Visibility};

/// Ids with their distances in km, in result order.
pub type Ranked = Vec<(i64, Option<f64>)>;
pub type Facets = BTreeMap<String, BTreeMap<String, u64>>;

/// What API.md says the answer to `s` is over these records: the matches
/// in order with their distances, and the facet counts.
pub fn matches(people: &[Person], events: &[Event], s: &Search) -> (Ranked, Facets) {
    let q = &s.query;
    let mut facets: BTreeMap<String, BTreeMap<String, u64>> = q
        .facets
        .iter()
        .map(|f| (f.clone(), BTreeMap::new()))
        .collect();
    let mut count_facet = |name: &str, values: Vec<String>| {
        if let Some(m) = facets.get_mut(name) {
            let mut values = values;
            values.sort();
            values.dedup();
            for v in values {
                *m.entry(v).or_default() += 1;
            }
        }
    };
    let near = |p: Option<Point>| -> Option<Option<f64>> {
        match s.center {
            None => Some(None),
            Some(center) => {
                let d = geo::haversine_km(center, p?);
                (d <= s.radius_km).then_some(Some(d))
            }
        }
    };
    let tagged = |tags: &[String]| q.tags.is_empty() || q.tags.iter().any(|t| tags.contains(t));
    let updated = |m: DateTime<Utc>| q.updated_since.is_none_or(|since| m.timestamp() >= since);
    let mut out = Vec::new();
    match &q.kind {
        Kind::Events {
            timeslot,
            event_types,
            is_virtual,
            exclude_full,
            visibility,
        } => {
            for e in events {
                let point = e
                    .location
                    .as_ref()
                    .and_then(|l| l.location)
                    .map(|c| c.point());
                let Some(distance) = near(point) else {
                    continue;
                };
                let visible = if visibility.is_empty() {
                    e.visibility == Visibility::Public
                } else {
                    visibility.contains(&e.visibility)
                };
                let slot_ok = (timeslot.is_empty() && !exclude_full)
                    || e.timeslots.iter().any(|t| {
                        timeslot.iter().all(|b| b.admits(t.start_date.timestamp()))
                            && !(*exclude_full && t.is_full)
                    });
                if visible
                    && slot_ok
                    && (event_types.is_empty() || event_types.contains(&e.event_type))
                    && is_virtual.is_none_or(|v| v == e.is_virtual)
                    && tagged(&e.tags)
                    && updated(e.modified_date)
                {
                    out.push((e.id, distance));
                    count_facet("event_type", vec![e.event_type.as_str().to_string()]);
                    count_facet("tags", e.tags.clone());
                    count_facet("is_virtual", vec![e.is_virtual.to_string()]);
                }
            }
        }
        Kind::People {
            skills,
            languages,
            available,
            ..
        } => {
            for p in people {
                let point = p
                    .postal_addresses
                    .first()
                    .and_then(|a| a.location)
                    .map(|c| c.point());
                let Some(distance) = near(point) else {
                    continue;
                };
                let speaks = languages.is_empty()
                    || languages.iter().any(|want| {
                        p.languages_spoken
                            .iter()
                            .any(|l| l == want || l.primary() == want.as_str())
                    });
                let free = available.is_none_or(|w| {
                    p.availability
                        .iter()
                        .any(|a| a.start.timestamp() < w.end && w.start < a.end.timestamp())
                });
                if speaks
                    && free
                    && (skills.is_empty() || skills.iter().any(|s| p.skills.contains(s)))
                    && tagged(&p.tags)
                    && updated(p.modified_date)
                {
                    out.push((p.id, distance));
                    count_facet("skills", p.skills.clone());
                    count_facet(
                        "languages_spoken",
                        p.languages_spoken
                            .iter()
                            .map(|l| l.as_str().to_string())
                            .collect(),
                    );
                    count_facet("tags", p.tags.clone());
                }
            }
        }
    }
    out.sort_by(|a, b| {
        a.1.unwrap_or(0.0)
            .total_cmp(&b.1.unwrap_or(0.0))
            .then(a.0.cmp(&b.0))
    });
    (out, facets)
}
