//! Domain values, parsed once at the edge of the search crate and trusted
//! after: a `PhoneNumber` is E.164, a `LanguageTag` is a normalised RFC 5646
//! tag, `Coordinates` are on the globe, an `EventType` is one Mobilize
//! knows. Each parse error says what was expected, for the field-level
//! `errors` of a 422.

mod coordinates;
mod event_type;
mod input;
mod language;
mod phone;
pub mod resources;

pub use coordinates::Coordinates;
pub use event_type::EventType;
pub use language::LanguageTag;
pub use phone::PhoneNumber;

/// Why a value was refused; the message is meant for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);
