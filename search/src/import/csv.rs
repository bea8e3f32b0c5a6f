//! CSV: a header row naming columns, then one record per row. Empty
//! cells are absent fields. Lists (`identifiers`, `languages_spoken`,
//! `skills`, `tags`) are separated by `;`. The columns (README, "Import"):
//!
//! people: identifiers, role, given_name, family_name, email, phone,
//!   address_line, locality, region, postal_code, country, latitude,
//!   longitude, languages_spoken, skills, tags, timezone
//! events: identifiers, title, description, event_type, start_date,
//!   end_date, max_attendees (one timeslot per row; use NDJSON for more),
//!   venue, address_line, locality, region, postal_code, country,
//!   latitude, longitude, timezone, is_virtual, visibility, tags
//!
//! An unknown column is refused up front, as a typo in a header would
//! otherwise drop that column from every row.

use std::io::Read;

use serde_json::{Map, Value, json};

use super::Line;
use crate::store::RecordKind;

const PEOPLE: [&str; 17] = [
    "identifiers",
    "role",
    "given_name",
    "family_name",
    "email",
    "phone",
    "address_line",
    "locality",
    "region",
    "postal_code",
    "country",
    "latitude",
    "longitude",
    "languages_spoken",
    "skills",
    "tags",
    "timezone",
];

const EVENTS: [&str; 19] = [
    "identifiers",
    "title",
    "description",
    "event_type",
    "start_date",
    "end_date",
    "max_attendees",
    "venue",
    "address_line",
    "locality",
    "region",
    "postal_code",
    "country",
    "latitude",
    "longitude",
    "timezone",
    "is_virtual",
    "visibility",
    "tags",
];

pub fn columns(kind: RecordKind) -> &'static [&'static str] {
    match kind {
        RecordKind::Person => &PEOPLE,
        RecordKind::Event => &EVENTS,
    }
}

pub fn parse(
    input: impl Read,
    kind: RecordKind,
    batch: usize,
    mut send: impl FnMut(Vec<Line>) -> bool,
) -> Result<(), String> {
    let mut reader = ::csv::ReaderBuilder::new()
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(input);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| format!("the header row cannot be read: {e}"))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let known = columns(kind);
    let unknown: Vec<&str> = headers
        .iter()
        .map(String::as_str)
        .filter(|h| !known.contains(h))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "unknown column{} {} (known: {})",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", "),
            known.join(", ")
        ));
    }
    let mut out = Vec::with_capacity(batch);
    let mut record = ::csv::StringRecord::new();
    loop {
        let line = reader.position().line() + 1;
        let more = match reader.read_record(&mut record) {
            Ok(more) => more,
            Err(e) if matches!(e.kind(), ::csv::ErrorKind::Io(_)) => return Err(e.to_string()),
            Err(e) => {
                out.push((line, Err(format!("the row cannot be read: {e}"))));
                continue;
            }
        };
        if !more {
            break;
        }
        let line = record.position().map_or(line, |p| p.line());
        if record.len() != headers.len() {
            out.push((
                line,
                Err(format!(
                    "{} cells where the header has {}",
                    record.len(),
                    headers.len()
                )),
            ));
        } else {
            let cells: Vec<(&str, &str)> = headers
                .iter()
                .map(String::as_str)
                .zip(record.iter())
                .filter(|(_, v)| !v.is_empty())
                .collect();
            out.push((line, row(kind, &cells)));
        }
        if out.len() >= batch && !send(std::mem::replace(&mut out, Vec::with_capacity(batch))) {
            return Ok(());
        }
    }
    if !out.is_empty() {
        send(out);
    }
    Ok(())
}

fn list(v: &str) -> Value {
    Value::Array(
        v.split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Value::String(s.to_string()))
            .collect(),
    )
}

fn number(name: &str, v: &str) -> Result<Value, String> {
    v.parse::<f64>()
        .map(|n| json!(n))
        .map_err(|_| format!("{name}: {v:?} is not a number"))
}

/// One row as the JSON body the API would take.
fn row(kind: RecordKind, cells: &[(&str, &str)]) -> Result<Map<String, Value>, String> {
    let get = |name: &str| cells.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let mut body = Map::new();
    let mut address = Map::new();
    for (k, v) in cells {
        match *k {
            "identifiers" | "languages_spoken" | "skills" | "tags" => {
                body.insert(k.to_string(), list(v));
            }
            "address_line" => {
                address.insert("address_lines".into(), json!([v]));
            }
            "locality" | "region" | "postal_code" | "country" | "venue" => {
                address.insert(k.to_string(), json!(v));
            }
            "latitude" | "longitude" | "email" | "phone" | "start_date" | "end_date"
            | "max_attendees" => {}
            "is_virtual" => {
                let b = match v.to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" => true,
                    "false" | "0" | "no" => false,
                    _ => return Err(format!("is_virtual: {v:?} is not true or false")),
                };
                body.insert("is_virtual".into(), json!(b));
            }
            other => {
                body.insert(other.to_string(), json!(v));
            }
        }
    }
    match (get("latitude"), get("longitude")) {
        (Some(lat), Some(lon)) => {
            address.insert(
                "location".into(),
                json!({"latitude": number("latitude", lat)?, "longitude": number("longitude", lon)?}),
            );
        }
        (None, None) => {}
        _ => return Err("latitude and longitude go together".into()),
    }
    match kind {
        RecordKind::Person => {
            if let Some(e) = get("email") {
                body.insert(
                    "email_addresses".into(),
                    json!([{"address": e, "primary": true}]),
                );
            }
            if let Some(p) = get("phone") {
                body.insert(
                    "phone_numbers".into(),
                    json!([{"number": p, "primary": true, "sms_capable": true}]),
                );
            }
            if !address.is_empty() {
                body.insert("postal_addresses".into(), json!([address]));
            }
        }
        RecordKind::Event => {
            match (get("start_date"), get("end_date")) {
                (Some(s), Some(e)) => {
                    let mut slot = json!({"start_date": s, "end_date": e});
                    if let Some(m) = get("max_attendees") {
                        let m: u32 = m
                            .parse()
                            .map_err(|_| format!("max_attendees: {m:?} is not a whole number"))?;
                        slot["max_attendees"] = json!(m);
                    }
                    body.insert("timeslots".into(), json!([slot]));
                }
                (None, None) => {}
                _ => return Err("start_date and end_date go together".into()),
            }
            if !address.is_empty() {
                body.insert("location".into(), Value::Object(address));
            }
        }
    }
    Ok(body)
}
