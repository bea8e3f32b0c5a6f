//! The search service's part of the OpenAPI document: request bodies
//! (which the handlers parse field by field, so they have no serde type of
//! their own), list items, query parameters, and the list of operations.
//! The resources themselves (`Person`, `Event`, `Attendance`) derive their
//! schemas where they are defined.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::model::resources::chrono_tz_name::TzName;
use crate::model::resources::{
    AttendanceStatus, EmailAddress, EventLocation, Phone, PostalAddress, Role, Span, Timeslot,
};
use crate::model::{Attendance, Event, EventType, LanguageTag, Person};
use crate::query::Visibility;

/// A person's writable fields. `POST` needs none of them; `PATCH` changes
/// only the fields it carries. Unknown fields are 422.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "identifiers": ["van:12345"],
    "given_name": "Ada",
    "family_name": "Lovelace",
    "email_addresses": [{"address": "ada@example.org", "primary": true}],
    "phone_numbers": [{"number": "+12155550123", "primary": true, "sms_capable": true}],
    "postal_addresses": [{"postal_code": "19107", "country": "US"}],
    "languages_spoken": ["en", "es"],
    "skills": ["spanish", "driving"]
}))]
pub struct PersonWrite {
    /// OSDI identifiers (`"<system>:<id>"`); imports match records on them.
    pub identifiers: Option<Vec<String>>,
    pub role: Option<Role>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email_addresses: Option<Vec<EmailAddress>>,
    pub phone_numbers: Option<Vec<Phone>>,
    pub postal_addresses: Option<Vec<PostalAddress>>,
    pub languages_spoken: Option<Vec<LanguageTag>>,
    pub skills: Option<Vec<String>>,
    pub availability: Option<Vec<Span>>,
    /// Derived from the first postal address when absent.
    pub timezone: Option<TzName>,
    pub tags: Option<Vec<String>>,
}

/// An event's writable fields: `title` and `event_type` are required on
/// `POST`; `PATCH` changes only the fields it carries.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "title": "Canvass Center City",
    "event_type": "CANVASS",
    "timeslots": [{"start_date": "2026-11-01T14:00:00Z", "end_date": "2026-11-01T17:00:00Z", "max_attendees": 20}],
    "location": {"venue": "Field office", "postal_code": "19107", "country": "US",
                 "location": {"latitude": 39.9526, "longitude": -75.1652}}
}))]
pub struct EventWrite {
    pub identifiers: Option<Vec<String>>,
    pub title: String,
    pub description: Option<String>,
    pub event_type: EventType,
    pub timeslots: Option<Vec<Timeslot>>,
    pub location: Option<EventLocation>,
    /// Derived from the location when absent.
    pub timezone: Option<TzName>,
    pub is_virtual: Option<bool>,
    /// PUBLIC by default.
    pub visibility: Option<Visibility>,
    pub tags: Option<Vec<String>>,
}

/// Registers a person for one timeslot. Signed-in people register
/// themselves and leave `person_id` out (or give their own); staff keys
/// with `people:write` name anyone.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"timeslot_id": 1}))]
pub struct AttendanceCreate {
    pub person_id: Option<i64>,
    pub timeslot_id: i64,
    /// REGISTERED by default.
    pub status: Option<AttendanceStatus>,
}

/// A person may only register or cancel; staff also confirm and mark
/// who came.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "CANCELLED"}))]
pub struct AttendanceUpdate {
    pub status: Option<AttendanceStatus>,
    pub attended: Option<bool>,
}

/// An event in a search result: `distance` (miles) when the search had
/// a location, and only the timeslots that met the `timeslot_*`
/// conditions.
#[derive(Serialize, ToSchema)]
pub struct EventHit {
    #[serde(flatten)]
    pub event: Event,
    pub distance: Option<f64>,
}

/// A person in a search result: `distance` (miles) when the search had a
/// location.
#[derive(Serialize, ToSchema)]
pub struct PersonHit {
    #[serde(flatten)]
    pub person: Person,
    pub distance: Option<f64>,
}

/// Counts of each facet's values over all matches.
pub type Facets = BTreeMap<String, BTreeMap<String, u64>>;

/// The list envelope of a search, with facets when asked for.
#[derive(Serialize, ToSchema)]
pub struct EventPage {
    pub data: Vec<EventHit>,
    pub count: u64,
    pub next: Option<String>,
    pub previous: Option<String>,
    /// Present when `facets` was given: `{"event_type": {"CANVASS": 12}}`.
    pub facets: Option<Facets>,
}

#[derive(Serialize, ToSchema)]
pub struct PersonPage {
    pub data: Vec<PersonHit>,
    pub count: u64,
    pub next: Option<String>,
    pub previous: Option<String>,
    /// Present when `facets` was given: `{"skills": {"spanish": 3}}`.
    pub facets: Option<Facets>,
}

turnout_core::list_page!(AttendancePage, Attendance);

/// A deletion, for partners keeping a copy in sync.
#[derive(Serialize, ToSchema)]
pub struct Deletion {
    pub id: i64,
    pub deleted_date: chrono::DateTime<chrono::Utc>,
}

turnout_core::list_page!(DeletionPage, Deletion);

/// Paging, on every list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// 25 by default, 100 at most.
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
    /// Opaque; taken from a `next` or `previous` link.
    pub cursor: Option<String>,
}

/// The conditions both searches share. Different parameters combine with
/// AND; a repeated parameter matches any of its values.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Near {
    /// A 5-digit US ZIP code to search around (or give `lat` and `lon`).
    #[param(pattern = "^[0-9]{5}$", example = "19107")]
    pub zipcode: Option<String>,
    #[param(minimum = -90, maximum = 90)]
    pub lat: Option<f64>,
    #[param(minimum = -180, maximum = 180)]
    pub lon: Option<f64>,
    /// Radius in miles; needs `zipcode` or `lat` and `lon`.
    #[param(minimum = 0)]
    pub max_dist: Option<f64>,
    /// Full text, typo-tolerant.
    pub q: Option<String>,
    /// Records carrying any of these tags.
    pub tag: Option<Vec<String>>,
    /// Unix seconds: only records changed since then.
    pub updated_since: Option<i64>,
    /// Facet names, comma-separated or repeated.
    pub facets: Option<Vec<String>>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventConditions {
    /// `gte_now`, `gte_<unix>` or `lt_<unix>`; repeat for a range. An
    /// event matches when one of its timeslots meets them all.
    #[param(example = json!(["gte_now"]))]
    pub timeslot_start: Option<Vec<String>>,
    pub event_types: Option<Vec<EventType>>,
    /// PUBLIC only, unless given (PRIVATE needs `events:private`).
    pub visibility: Option<Vec<Visibility>>,
    pub is_virtual: Option<bool>,
    /// Leave out events whose matching timeslots are all full.
    pub exclude_full: Option<bool>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeopleConditions {
    pub skills: Option<Vec<String>>,
    pub languages_spoken: Option<Vec<LanguageTag>>,
    /// `<start>,<end>` (RFC 3339): people available for all of it.
    pub available_between: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Since {
    /// Unix seconds; 0 lists every deletion.
    pub since: Option<i64>,
}

#[derive(OpenApi)]
#[openapi(
    paths(
        super::people::search,
        super::people::create,
        super::people::deleted,
        super::people::read,
        super::people::update,
        super::people::delete,
        super::events::search,
        super::events::create,
        super::events::deleted,
        super::events::read,
        super::events::update,
        super::events::delete,
        super::attendances::create,
        super::attendances::list,
        super::attendances::read,
        super::attendances::update,
        super::attendances::mine,
    ),
    tags(
        (name = "people", description = "Volunteers (OSDI people): organizers' search and the records behind it."),
        (name = "events", description = "Events near a place or a time, and their records."),
        (name = "attendances", description = "Who is coming to which timeslot."),
    )
)]
pub struct SearchDoc;
