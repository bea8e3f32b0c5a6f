//! A [`Search`] in Elasticsearch's query DSL: the same conditions the
//! Tantivy engine applies, as `bool` filters, nested queries for
//! timeslots and availability (one slot must meet every bound), a
//! `geo_distance` filter, and the same per-word text rule.

use serde_json::{Value, json};

use crate::engine::{Search, SortKey};
use crate::geo::Point;
use crate::query::Kind;

use super::mapping::sort_id;

/// The geo part of a query. Elasticsearch compares quantized coordinates,
/// so the engine asks for a little more than the radius and settles the
/// edge itself from the exact coordinates.
#[derive(Debug, Clone, Copy)]
pub enum Geo {
    /// Within `km` of the centre.
    Within(Point, f64),
    /// Within `outer` but not within `inner`: the edge band to recheck.
    Band(Point, f64, f64),
}

/// How far beyond the radius to look: 1 m plus 0.1 %. Elasticsearch's
/// own error is quantization (about a centimetre); some compatible servers
/// filter with an approximate distance (osmem-server's is off by up to
/// 0.05 %), and the band is rechecked exactly anyway.
pub fn margin_km(radius_km: f64) -> f64 {
    0.001 + radius_km * 1e-3
}

fn distance(p: Point, km: f64) -> Value {
    json!({"geo_distance": {"distance": format!("{km}km"), "loc": {"lat": p.lat, "lon": p.lon}}})
}

/// Words of a text query, split as the Tantivy engine's tokenizer splits
/// them (runs of letters and digits, lower-cased, at most 40 bytes).
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.len() <= 40)
        .map(str::to_lowercase)
        .collect()
}

/// Each word must appear in the title or the description, allowing one
/// typo in words of 4+ letters and two in words of 8+; exact and title
/// matches rank higher.
fn text_clauses(text: &str) -> Vec<Value> {
    words(text)
        .into_iter()
        .map(|w| {
            let fuzziness = match w.chars().count() {
                0..=3 => 0,
                4..=7 => 1,
                _ => 2,
            };
            let fuzzy = |field: &str, boost: f64| {
                json!({"fuzzy": {field: {"value": w, "fuzziness": fuzziness,
                    "transpositions": true, "prefix_length": 0, "max_expansions": 1000, "boost": boost}}})
            };
            json!({"bool": {"minimum_should_match": 1, "should": [
                {"term": {"title": {"value": w, "boost": 3.0}}},
                {"term": {"body": {"value": w}}},
                fuzzy("title", 1.5),
                fuzzy("body", 1.0),
            ]}})
        })
        .collect()
}

fn terms(field: &str, values: Vec<&str>) -> Option<Value> {
    (!values.is_empty()).then(|| json!({"terms": {field: values}}))
}

/// The whole query; `excluded` are ids the edge check ruled out.
pub fn query(s: &Search, geo: Option<Geo>, excluded: &[i64]) -> Value {
    let q = &s.query;
    let mut filter: Vec<Value> = Vec::new();
    let mut must_not: Vec<Value> = Vec::new();
    match &q.kind {
        Kind::Events {
            event_types,
            is_virtual,
            visibility,
            ..
        } => {
            filter.push(json!({"term": {"kind": "event"}}));
            let vis: Vec<&str> = if visibility.is_empty() {
                vec!["PUBLIC"]
            } else {
                visibility.iter().map(|v| v.as_str()).collect()
            };
            filter.extend(terms("visibility", vis));
            filter.extend(terms(
                "event_type",
                event_types.iter().map(|t| t.as_str()).collect(),
            ));
            if let Some(v) = is_virtual {
                filter.push(json!({"term": {"is_virtual": if *v { "true" } else { "false" }}}));
            }
            if let Some(slots) = s.slot_filter() {
                let (from, until) = slots.start_range();
                let mut inner = Vec::new();
                let mut range = serde_json::Map::new();
                if from > i64::MIN {
                    range.insert("gte".into(), json!(from));
                }
                if until < i64::MAX {
                    range.insert("lt".into(), json!(until));
                }
                if !range.is_empty() {
                    inner.push(json!({"range": {"slots.start": range}}));
                }
                if slots.exclude_full {
                    inner.push(json!({"term": {"slots.full": false}}));
                }
                if inner.is_empty() {
                    inner.push(json!({"exists": {"field": "slots.start"}}));
                }
                filter.push(
                    json!({"nested": {"path": "slots", "query": {"bool": {"filter": inner}}}}),
                );
            }
        }
        Kind::People {
            skills,
            languages,
            contacts,
            available,
        } => {
            filter.push(json!({"term": {"kind": "person"}}));
            filter.extend(terms("skills", skills.iter().map(String::as_str).collect()));
            filter.extend(terms(
                "languages",
                languages.iter().map(|l| l.as_str()).collect(),
            ));
            filter.extend(terms(
                "contacts",
                contacts.iter().map(String::as_str).collect(),
            ));
            if let Some(w) = available {
                filter.push(
                    json!({"nested": {"path": "windows", "query": {"bool": {"filter": [
                        {"range": {"windows.start": {"lt": w.end}}},
                        {"range": {"windows.end": {"gt": w.start}}}
                    ]}}}}),
                );
            }
        }
    }
    filter.extend(terms("tags", q.tags.iter().map(String::as_str).collect()));
    if let Some(since) = q.updated_since {
        filter.push(json!({"range": {"modified": {"gte": since}}}));
    }
    match geo {
        Some(Geo::Within(center, km)) => filter.push(distance(center, km)),
        Some(Geo::Band(center, outer, inner)) => {
            filter.push(distance(center, outer));
            if inner > 0.0 {
                must_not.push(distance(center, inner));
            }
        }
        None => {}
    }
    if !excluded.is_empty() {
        let ids: Vec<String> = excluded.iter().map(|id| sort_id(*id)).collect();
        must_not.push(json!({"terms": {"sid": ids}}));
    }
    let must = q.text.as_deref().map(text_clauses).unwrap_or_default();
    json!({"bool": {"filter": filter, "must": must, "must_not": must_not}})
}

/// The sort, ascending in the engine's key order, or reversed for the
/// page before a cursor. The id is always the last key.
pub fn sort(s: &Search, reversed: bool) -> Vec<Value> {
    let (up, down) = if reversed {
        ("desc", "asc")
    } else {
        ("asc", "desc")
    };
    let mut keys = match (s.sort(), s.center) {
        (SortKey::Distance, Some(c)) => vec![json!({"_geo_distance": {
            "loc": {"lat": c.lat, "lon": c.lon}, "order": up, "unit": "km", "distance_type": "arc"
        }})],
        (SortKey::Relevance, _) => vec![json!({"_score": down})],
        _ => Vec::new(),
    };
    keys.push(json!({"sid": up}));
    keys
}
