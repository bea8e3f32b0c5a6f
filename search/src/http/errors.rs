//! Typed errors of the crate → problem+json.

use turnout_core::Problem;
use turnout_core::problem::FieldError;

use crate::engine::EngineError;
use crate::records::WriteError;

impl From<WriteError> for Problem {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Invalid(errors) => Problem::validation(errors),
            WriteError::NotFound => Problem::not_found("no such record"),
            WriteError::Conflict(what) => Problem::conflict(what),
            WriteError::Store(e) => e.into(),
        }
    }
}

pub fn engine(e: EngineError) -> Problem {
    match e {
        EngineError::BadCursor => Problem::validation(vec![FieldError::new(
            "cursor",
            "is not a cursor of this search; follow the next and previous links as given",
        )]),
        EngineError::Index(_) => Problem::internal(&e),
        EngineError::Unavailable(_) => Problem::new(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "search_unavailable",
            "search is unavailable for a moment; the rest of the API keeps working",
        )
        .with_header(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("5"),
        ),
    }
}
