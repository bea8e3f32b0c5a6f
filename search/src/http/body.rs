//! Reading a request's body and path ids, with the same errors everywhere.

use turnout_core::Problem;

pub use turnout_core::problem::json_object as object;

/// A path id: a positive integer, else 404 (no record has another id).
pub fn id(raw: &str) -> Result<i64, Problem> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| Problem::not_found("no such record"))
}
