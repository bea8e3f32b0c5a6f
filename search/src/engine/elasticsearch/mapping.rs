//! The index's shape and the document written for each record.
//!
//! `sid` is the record id as a zero-padded keyword: the sort tiebreaker
//! (sorting on `_id` is refused by recent Elasticsearch, and a keyword
//! compares correctly once padded). `lat`/`lon` keep the coordinates as
//! exact doubles beside the `geo_point`, which Elasticsearch quantizes: the
//! radius edge and the distances served are computed from them.

use serde_json::{Value, json};

use crate::engine::IndexDoc;

/// Keyword fields that facets count, by facet name.
pub const FACET_FIELDS: &[&str] = &[
    "event_type",
    "tags",
    "is_virtual",
    "skills",
    "languages_spoken",
];

pub fn sort_id(id: i64) -> String {
    format!("{:020}", id.max(0))
}

/// Settings and mappings of a records index. One shard: the engine is
/// fed from one change log, and scoring and counts stay exact.
pub fn index_body() -> Value {
    let keyword = json!({"type": "keyword"});
    json!({
        "settings": {"number_of_shards": 1, "number_of_replicas": 0},
        "mappings": {
            "dynamic": "strict",
            "properties": {
                "id": {"type": "long"},
                "sid": keyword,
                "kind": keyword,
                "loc": {"type": "geo_point"},
                "lat": {"type": "double", "index": false},
                "lon": {"type": "double", "index": false},
                "title": {"type": "text"},
                "body": {"type": "text"},
                "event_type": keyword,
                "visibility": keyword,
                "is_virtual": keyword,
                "tags": keyword,
                "skills": keyword,
                "languages": keyword,
                "languages_spoken": keyword,
                "contacts": keyword,
                "slots": {"type": "nested", "properties": {
                    "start": {"type": "long"},
                    "end": {"type": "long"},
                    "full": {"type": "boolean"}
                }},
                "windows": {"type": "nested", "properties": {
                    "start": {"type": "long"},
                    "end": {"type": "long"}
                }},
                "modified": {"type": "long"},
                "source": {"type": "keyword", "index": false, "doc_values": false}
            }
        }
    })
}

/// The meta index: one document per records index, holding the change-log
/// position it has applied.
pub fn meta_body() -> Value {
    json!({
        "settings": {"number_of_shards": 1, "number_of_replicas": 0},
        "mappings": {"dynamic": "strict", "properties": {
            "seq": {"type": "long"},
            "generation": {"type": "long"}
        }}
    })
}

/// What stands in for a deleted record: its id and version, and a kind no
/// search asks for.
pub fn tombstone(id: i64) -> Value {
    json!({"id": id, "sid": sort_id(id), "kind": "deleted", "source": ""})
}

pub fn document(d: &IndexDoc) -> Value {
    let mut doc = json!({
        "id": d.id,
        "sid": sort_id(d.id),
        "kind": d.kind.as_str(),
        "title": d.title,
        "body": d.body,
        "tags": d.tags,
        "skills": d.skills,
        "languages": d.languages,
        "languages_spoken": d.languages_spoken,
        "contacts": d.contacts,
        "slots": d.slots.iter().map(|s| json!({"start": s.start, "end": s.end, "full": s.full})).collect::<Vec<_>>(),
        "windows": d.windows.iter().map(|w| json!({"start": w.start, "end": w.end})).collect::<Vec<_>>(),
        "modified": d.modified,
        "source": d.source,
    });
    let m = doc.as_object_mut().expect("an object");
    if let Some(p) = d.point {
        m.insert("loc".into(), json!({"lat": p.lat, "lon": p.lon}));
        m.insert("lat".into(), json!(p.lat));
        m.insert("lon".into(), json!(p.lon));
    }
    if let Some(t) = d.event_type {
        m.insert("event_type".into(), json!(t));
    }
    if let Some(v) = d.visibility {
        m.insert("visibility".into(), json!(v));
    }
    if let Some(v) = d.is_virtual {
        m.insert("is_virtual".into(), json!(if v { "true" } else { "false" }));
    }
    doc
}
