//! Reading a JSON object body, with the same errors everywhere.

use axum::body::Bytes;
use serde_json::{Map, Value};
use turnout_core::Problem;

pub fn object(bytes: &Bytes) -> Result<Map<String, Value>, Problem> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Problem::bad_request(
            "malformed_body",
            "the body must be a JSON object",
        )),
        Err(e) => Err(Problem::bad_request(
            "malformed_body",
            format!("the body is not valid JSON: {e}"),
        )),
    }
}

/// A path id: a positive integer, else 404 (no record has another id).
pub fn id(raw: &str) -> Result<i64, Problem> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| Problem::not_found("no such record"))
}
