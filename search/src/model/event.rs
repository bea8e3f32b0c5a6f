//! An event as stored and served: timeslots carry their ids and whether
//! they are full (from the attendances), and the timezone is derived from
//! the location when absent.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::EventType;
use super::resources::{EventInput, EventLocation};
use crate::geo::Point;
use crate::query::Visibility;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventTimeslot {
    pub id: i64,
    pub start_date: DateTime<Utc>,
    pub end_date: DateTime<Utc>,
    pub max_attendees: Option<u32>,
    pub is_full: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    pub id: i64,
    pub identifiers: Vec<String>,
    pub title: String,
    pub description: Option<String>,
    pub event_type: EventType,
    pub timeslots: Vec<EventTimeslot>,
    pub location: Option<EventLocation>,
    pub timezone: Option<String>,
    pub is_virtual: bool,
    pub visibility: Visibility,
    pub tags: Vec<String>,
    pub created_date: DateTime<Utc>,
    pub modified_date: DateTime<Utc>,
}

impl Event {
    /// `previous` keeps timeslot ids stable across edits: a timeslot given
    /// with an id keeps it, a new one takes the next free id. `taken`
    /// counts the active attendances per timeslot id.
    pub fn new(
        id: i64,
        input: EventInput,
        previous: Option<&Event>,
        taken: &dyn Fn(i64) -> u32,
        created: DateTime<Utc>,
        modified: DateTime<Utc>,
    ) -> Self {
        let mut next_slot = previous
            .iter()
            .flat_map(|e| e.timeslots.iter().map(|t| t.id))
            .chain(input.timeslots.iter().filter_map(|t| t.id))
            .max()
            .unwrap_or(0)
            + 1;
        // A timeslot given without an id keeps the id of the previous
        // timeslot with the same times, so re-importing an event does not
        // renumber its timeslots (and orphan their attendances).
        let mut reusable: Vec<&EventTimeslot> = previous
            .iter()
            .flat_map(|e| e.timeslots.iter())
            .filter(|p| !input.timeslots.iter().any(|t| t.id == Some(p.id)))
            .collect();
        let timeslots = input
            .timeslots
            .into_iter()
            .map(|t| {
                let same_times = reusable
                    .iter()
                    .position(|p| p.start_date == t.start_date && p.end_date == t.end_date);
                let slot_id =
                    t.id.or_else(|| same_times.map(|i| reusable.remove(i).id))
                        .unwrap_or_else(|| {
                            next_slot += 1;
                            next_slot - 1
                        });
                EventTimeslot {
                    id: slot_id,
                    start_date: t.start_date,
                    end_date: t.end_date,
                    max_attendees: t.max_attendees,
                    is_full: t.max_attendees.is_some_and(|max| taken(slot_id) >= max),
                }
            })
            .collect();
        let timezone = input
            .timezone
            .as_ref()
            .map(|t| t.as_str().to_string())
            .or_else(|| {
                let loc = input.location.as_ref()?;
                super::derived_timezone(loc.postal_code.as_deref(), loc.location).map(String::from)
            });
        Event {
            id,
            identifiers: input.identifiers,
            title: input.title,
            description: input.description,
            event_type: input.event_type,
            timeslots,
            location: input.location,
            timezone,
            is_virtual: input.is_virtual,
            visibility: input.visibility,
            tags: input.tags,
            created_date: created,
            modified_date: modified,
        }
    }

    pub fn point(&self) -> Option<Point> {
        super::located(
            self.location
                .iter()
                .map(|l| (l.postal_code.as_deref(), l.location)),
        )
    }

    /// Recomputes `is_full` after attendances changed.
    pub fn refresh_full(&mut self, taken: &dyn Fn(i64) -> u32) {
        for t in &mut self.timeslots {
            t.is_full = t.max_attendees.is_some_and(|max| taken(t.id) >= max);
        }
    }
}
