//! Domain values, parsed once at the edge of the search crate and trusted
//! after: a `PhoneNumber` is E.164, a `LanguageTag` is a normalised RFC 5646
//! tag, `Coordinates` are on the globe, an `EventType` is one Mobilize
//! knows. Each parse error says what was expected, for the field-level
//! `errors` of a 422. `Person`, `Event` and `Attendance` are the resources
//! as stored and served.

mod attendance;
mod coordinates;
mod event;
mod event_type;
mod input;
mod language;
mod person;
mod phone;
pub mod resources;
mod schemas;

pub use attendance::Attendance;
pub use coordinates::Coordinates;
pub use event::{Event, EventTimeslot};
pub use event_type::EventType;
pub use language::LanguageTag;
pub use person::Person;
pub use phone::PhoneNumber;

use crate::geo::Point;

/// Why a value was refused; the message is meant for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// The timezone of an address: its ZIP code's, else that of the nearest
/// ZIP centroid within 50 km of its coordinates (US only; elsewhere the
/// timezone must be given).
fn derived_timezone(
    postal_code: Option<&str>,
    location: Option<Coordinates>,
) -> Option<&'static str> {
    postal_code
        .and_then(crate::zip::lookup)
        .map(|z| z.timezone.as_str())
        .or_else(|| crate::zip::nearest_timezone(location?.point(), 50.0))
}

/// The first address with coordinates, else the first ZIP centroid.
fn located<'a>(
    addresses: impl Iterator<Item = (Option<&'a str>, Option<Coordinates>)> + Clone,
) -> Option<Point> {
    addresses
        .clone()
        .find_map(|(_, c)| c.map(|c| c.point()))
        .or_else(|| {
            addresses
                .filter_map(|(zip, _)| crate::zip::lookup(zip?))
                .map(|z| z.point)
                .next()
        })
}
