//! Lists in the Mobilize envelope: `{"data", "count", "next", "previous"}`
//! (plus `facets` when asked), with absolute links under `public_url`
//! that carry every parameter of the request but a new `cursor`.

use axum::Json;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use turnout_core::Problem;
use turnout_core::problem::FieldError;

use super::SearchApi;
use super::errors;
use crate::engine::{Cursor, Direction, Hit, Search};
use crate::geo::km_to_miles;
use crate::query::Query;
use crate::records::millis;
use crate::store::RecordKind;

pub fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The same request with another cursor.
fn link(api: &SearchApi, path: &str, pairs: &[(String, String)], cursor: &str) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(k, _)| k != "cursor") {
        q.append_pair(k, v);
    }
    q.append_pair("cursor", cursor);
    format!("{}{}?{}", api.public_url, path, q.finish())
}

fn envelope(
    data: Vec<Value>,
    count: u64,
    next: Option<String>,
    previous: Option<String>,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("data".into(), Value::Array(data));
    m.insert("count".into(), json!(count));
    m.insert("next".into(), json!(next));
    m.insert("previous".into(), json!(previous));
    m
}

/// Runs a search and writes its page.
pub async fn search(
    api: &SearchApi,
    path: &str,
    pairs: &[(String, String)],
    query: Query,
) -> Result<Json<Value>, Problem> {
    let mut search = Search::for_query(query).ok_or_else(|| {
        Problem::validation(vec![FieldError::new(
            "zipcode",
            "is not a US ZIP code we know",
        )])
    })?;
    let sort = search.sort();
    if let Some(raw) = &search.query.cursor {
        search.cursor = Some(Cursor::decode(raw, sort).map_err(errors::engine)?);
    }
    let slot_filter = search.slot_filter();
    let with_facets = !search.query.facets.is_empty();
    let hits = api.engine.search(search).await.map_err(errors::engine)?;

    let mut data = Vec::with_capacity(hits.hits.len());
    for Hit {
        source,
        distance_km,
        ..
    } in &hits.hits
    {
        let mut item: Map<String, Value> = serde_json::from_str(source)
            .map_err(|e| Problem::internal(&format!("stored record: {e}")))?;
        if let (Some(filter), Some(Value::Array(slots))) = (&slot_filter, item.get_mut("timeslots"))
        {
            // Only the timeslots that meet the conditions are returned.
            slots.retain(|s| {
                let start = s
                    .get("start_date")
                    .and_then(Value::as_str)
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
                let full = s.get("is_full").and_then(Value::as_bool).unwrap_or(false);
                start.is_some_and(|start| {
                    filter.admits(&crate::engine::Slot {
                        start: start.timestamp(),
                        end: 0,
                        full,
                    })
                })
            });
        }
        if let Some(d) = distance_km {
            item.insert("distance".into(), json!(km_to_miles(*d)));
        }
        data.push(Value::Object(item));
    }
    let cursor_at = |direction, hit: Option<&Hit>| {
        hit.map(|h| {
            Cursor {
                sort,
                direction,
                key: h.key,
            }
            .encode()
        })
    };
    let next = hits
        .has_next
        .then(|| cursor_at(Direction::After, hits.hits.last()))
        .flatten()
        .map(|c| link(api, path, pairs, &c));
    let previous = hits
        .has_previous
        .then(|| cursor_at(Direction::Before, hits.hits.first()))
        .flatten()
        .map(|c| link(api, path, pairs, &c));
    let mut body = envelope(data, hits.count, next, previous);
    if with_facets {
        body.insert("facets".into(), json!(hits.facets));
    }
    Ok(Json(Value::Object(body)))
}

/// Keyset cursor over `(a, b)` integer pairs, for lists read straight
/// from the store.
fn pair_cursor(a: i64, b: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{a}.{b}"))
}

fn parse_pair_cursor(raw: &str) -> Option<(i64, i64)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
    let (a, b) = text.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Reads `per_page` and `cursor` for a store-backed list.
pub fn store_page(
    pairs: &[(String, String)],
    allowed: &[&str],
) -> Result<(usize, Option<(i64, i64)>), Problem> {
    let mut errors = Vec::new();
    for (k, _) in pairs {
        if !allowed.contains(&k.as_str()) && k != "per_page" && k != "cursor" && k != "api_key" {
            errors.push(FieldError::new(
                k.as_str(),
                "is not a parameter of this list",
            ));
        }
    }
    let raw = pairs
        .iter()
        .find(|(k, _)| k == "per_page")
        .map(|(_, v)| v.as_str());
    let n = crate::params::per_page(raw).unwrap_or_else(|e| {
        errors.push(e);
        crate::query::DEFAULT_PER_PAGE
    });
    let cursor = pairs
        .iter()
        .find(|(k, _)| k == "cursor")
        .and_then(|(_, v)| {
            let c = parse_pair_cursor(v);
            if c.is_none() {
                errors.push(FieldError::new("cursor", "is not a cursor of this list"));
            }
            c
        });
    if errors.is_empty() {
        Ok((n, cursor))
    } else {
        Err(Problem::validation(errors))
    }
}

/// `GET /v1/{people,events}/deleted?since=<unix>`: `{"id",
/// "deleted_date"}` for each deletion since then, oldest first.
pub async fn deleted(
    api: &SearchApi,
    kind: RecordKind,
    path: &str,
    pairs: &[(String, String)],
) -> Result<Json<Value>, Problem> {
    let (per_page, cursor) = store_page(pairs, &["since"])?;
    let since = match pairs.iter().find(|(k, _)| k == "since") {
        None => 0,
        Some((_, v)) => v.parse::<i64>().map_err(|_| {
            Problem::validation(vec![FieldError::new(
                "since",
                "must be a unix time in seconds",
            )])
        })?,
    };
    let (rows, count) = api
        .records
        .store
        .deleted_since(kind, since.saturating_mul(1000), cursor, per_page + 1)
        .await?;
    let more = rows.len() > per_page;
    let rows = &rows[..rows.len().min(per_page)];
    let data = rows
        .iter()
        .map(|(id, at)| json!({"id": id, "deleted_date": millis(*at)}))
        .collect();
    let next = more
        .then(|| rows.last())
        .flatten()
        .map(|(id, at)| link(api, path, pairs, &pair_cursor(*at, *id)));
    Ok(Json(Value::Object(envelope(
        data,
        count as u64,
        next,
        None,
    ))))
}

/// A page of a store-backed list keyed by id.
pub fn id_page(
    api: &SearchApi,
    path: &str,
    pairs: &[(String, String)],
    data: Vec<(i64, Value)>,
    count: i64,
    per_page: usize,
) -> Json<Value> {
    let more = data.len() > per_page;
    let data: Vec<(i64, Value)> = data.into_iter().take(per_page).collect();
    let next = more
        .then(|| data.last())
        .flatten()
        .map(|(id, _)| link(api, path, pairs, &pair_cursor(0, *id)));
    Json(Value::Object(envelope(
        data.into_iter().map(|(_, v)| v).collect(),
        count as u64,
        next,
        None,
    )))
}
