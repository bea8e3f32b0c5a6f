//! The engine-neutral search query: what a client asked for, parsed and
//! checked once, with nothing engine-specific in it. Tantivy and
//! Elasticsearch each translate a [`Query`]; the same query must give both
//! the same result set and the same distance order.

use crate::geo::Point;
use crate::model::{Coordinates, EventType, LanguageTag};

/// Where a radius search is centred, as the client gave it. A ZIP code is
/// resolved to its centroid by the caller (the centroid table is data, not
/// parsing).
#[derive(Debug, Clone, PartialEq)]
pub enum Center {
    Zip(String),
    Point(Coordinates),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Near {
    pub center: Center,
    pub radius_km: f64,
}

/// One `timeslot_start` condition, in unix seconds; `gte_now` is resolved
/// to the clock's time when the query is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBound {
    AtOrAfter(i64),
    Before(i64),
}

impl TimeBound {
    pub fn admits(&self, start: i64) -> bool {
        match *self {
            TimeBound::AtOrAfter(t) => start >= t,
            TimeBound::Before(t) => start < t,
        }
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Visibility {
    Public,
    Private,
}

impl Visibility {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_uppercase().as_str() {
            "PUBLIC" => Some(Visibility::Public),
            "PRIVATE" => Some(Visibility::Private),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "PUBLIC",
            Visibility::Private => "PRIVATE",
        }
    }
}

/// An availability window a volunteer must overlap, in unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

/// What is searched, with the conditions only that kind has.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Events {
        /// An event matches when one of its timeslots meets all of these.
        timeslot: Vec<TimeBound>,
        event_types: Vec<EventType>,
        is_virtual: Option<bool>,
        exclude_full: bool,
        /// Empty means PUBLIC only.
        visibility: Vec<Visibility>,
    },
    People {
        skills: Vec<String>,
        languages: Vec<LanguageTag>,
        available: Option<Window>,
        /// Only people with one of these phone numbers (E.164) or email
        /// addresses (lower case). Not a public parameter: sign-in uses it
        /// to find the person a verified address belongs to.
        contacts: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub kind: Kind,
    /// With a centre, results are sorted by distance and carry it; without
    /// `max_dist` the radius is half the globe, so nothing with
    /// coordinates is excluded, and documents without coordinates never
    /// match a geo condition.
    pub near: Option<Near>,
    pub tags: Vec<String>,
    pub text: Option<String>,
    pub updated_since: Option<i64>,
    pub facets: Vec<String>,
    pub per_page: usize,
    pub cursor: Option<String>,
}

pub const DEFAULT_PER_PAGE: usize = 25;
pub const MAX_PER_PAGE: usize = 100;
/// The largest radius accepted: half the Earth's circumference.
pub const MAX_RADIUS_MILES: f64 = 12_450.0;

impl Near {
    /// The centre as a point, once a ZIP code has been resolved.
    pub fn point(&self, resolve_zip: impl Fn(&str) -> Option<Point>) -> Option<Point> {
        match &self.center {
            Center::Point(c) => Some(c.point()),
            Center::Zip(z) => resolve_zip(z),
        }
    }
}
