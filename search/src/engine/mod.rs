//! The search engine seam. An engine holds documents derived from the
//! store ([`IndexDoc`]) and answers a resolved query ([`Search`]) with the
//! exact set of matches in a fixed order. Every implementation must agree
//! on the set and, with a location, on the distance order; the conformance
//! suite (tests/engine_conformance.rs) checks each against a brute-force
//! scan of the same documents.

pub mod doc;
pub mod elasticsearch;
pub mod page;
pub mod tantivy;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

pub use doc::{IndexDoc, Removal, Slot};
pub use page::{Cursor, Direction, SortKey};

use crate::geo::Point;
use crate::query::{Kind, Query, TimeBound, Window};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("index: {0}")]
    Index(String),
    #[error("the cursor does not belong to this search")]
    BadCursor,
    /// The engine is a server and it cannot be reached (or it is failing):
    /// search answers 503 until it returns.
    #[error("the search engine is unavailable: {0}")]
    Unavailable(String),
}

pub type EngineFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, EngineError>> + Send + 'a>>;

/// A query with its centre resolved to a point, ready for an engine.
#[derive(Debug, Clone)]
pub struct Search {
    pub query: Query,
    /// With a centre, results are ordered by distance, then id.
    pub center: Option<Point>,
    /// Only with a centre: a document at most this far away matches.
    pub radius_km: f64,
    pub cursor: Option<Cursor>,
}

impl Search {
    /// The search for a parsed query, its ZIP code (if any) resolved to
    /// the centroid; `None` for a ZIP code the table does not know.
    pub fn for_query(query: Query) -> Option<Search> {
        let (center, radius_km) = match &query.near {
            None => (None, f64::INFINITY),
            Some(near) => (
                Some(near.point(|zip| crate::zip::lookup(zip).map(|z| z.point))?),
                near.radius_km,
            ),
        };
        Some(Search {
            query,
            center,
            radius_km,
            cursor: None,
        })
    }

    /// How results are ordered: by distance with a centre, by relevance
    /// with text, else by id.
    pub fn sort(&self) -> SortKey {
        if self.center.is_some() {
            SortKey::Distance
        } else if self.query.text.is_some() {
            SortKey::Relevance
        } else {
            SortKey::Id
        }
    }

    /// The timeslot conditions, or `None` when the query has none (so
    /// every event matches on time, including events without timeslots).
    pub fn slot_filter(&self) -> Option<SlotFilter> {
        match &self.query.kind {
            Kind::Events {
                timeslot,
                exclude_full,
                ..
            } if !timeslot.is_empty() || *exclude_full => Some(SlotFilter {
                bounds: timeslot.clone(),
                exclude_full: *exclude_full,
            }),
            _ => None,
        }
    }

    pub fn window(&self) -> Option<Window> {
        match &self.query.kind {
            Kind::People { available, .. } => *available,
            _ => None,
        }
    }
}

/// "At least one timeslot meets all of these."
#[derive(Debug, Clone)]
pub struct SlotFilter {
    pub bounds: Vec<TimeBound>,
    pub exclude_full: bool,
}

impl SlotFilter {
    pub fn admits(&self, slot: &Slot) -> bool {
        self.bounds.iter().all(|b| b.admits(slot.start)) && !(self.exclude_full && slot.full)
    }

    /// The tightest `[from, until)` range of starts the bounds allow.
    pub fn start_range(&self) -> (i64, i64) {
        let mut range = (i64::MIN, i64::MAX);
        for b in &self.bounds {
            match *b {
                TimeBound::AtOrAfter(t) => range.0 = range.0.max(t),
                TimeBound::Before(t) => range.1 = range.1.min(t),
            }
        }
        range
    }
}

/// Whether one of the windows overlaps the wanted one.
pub fn overlaps(windows: &[Window], wanted: Window) -> bool {
    windows
        .iter()
        .any(|w| w.start < wanted.end && wanted.start < w.end)
}

#[derive(Debug, Clone)]
pub struct Hit {
    pub id: i64,
    pub distance_km: Option<f64>,
    /// The record's JSON as stored.
    pub source: String,
    pub key: page::Key,
}

#[derive(Debug, Clone, Default)]
pub struct Hits {
    /// All matches, not just this page.
    pub count: u64,
    pub hits: Vec<Hit>,
    /// Whether matches exist before this page's first and after its last.
    pub has_previous: bool,
    pub has_next: bool,
    /// facet name → value → number of matches.
    pub facets: BTreeMap<String, BTreeMap<String, u64>>,
}

/// Where an engine is in the change log, and which reindex request its
/// index was built for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    pub seq: i64,
    pub generation: i64,
}

/// A fresh index being filled while the live one keeps serving.
pub trait Rebuild: Send {
    fn add(&mut self, docs: Vec<IndexDoc>) -> Result<(), EngineError>;
    /// Applies changes that arrived during the rebuild.
    fn apply(&mut self, upserts: Vec<IndexDoc>, deletes: Vec<Removal>) -> Result<(), EngineError>;
    /// Makes the new index the live one, at `position`.
    fn finish(self: Box<Self>, position: Position) -> Result<(), EngineError>;
}

pub trait Engine: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// Where the index is: everything up to `seq` is applied.
    fn position(&self) -> Position;

    /// Writes documents and deletions and makes them visible to searches,
    /// recording `seq` as applied.
    fn apply(
        &self,
        upserts: Vec<IndexDoc>,
        deletes: Vec<Removal>,
        seq: i64,
    ) -> EngineFuture<'_, ()>;

    fn search(&self, search: Search) -> EngineFuture<'_, Hits>;

    /// Starts a rebuild beside the live index.
    fn rebuild(&self) -> Result<Box<dyn Rebuild>, EngineError>;

    /// Whether searches can be answered now, for `/readyz`: the index is
    /// open, or the server answers.
    fn check(&self) -> EngineFuture<'_, ()>;
}
