//! An attendance: one person in one timeslot of one event.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::resources::AttendanceStatus;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attendance {
    pub id: i64,
    pub person_id: i64,
    pub event_id: i64,
    pub timeslot_id: i64,
    pub status: AttendanceStatus,
    pub attended: bool,
    pub created_date: DateTime<Utc>,
    pub modified_date: DateTime<Utc>,
}

impl AttendanceStatus {
    /// Whether the attendance takes a place in its timeslot.
    pub fn takes_place(self) -> bool {
        !matches!(self, AttendanceStatus::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AttendanceStatus::Registered => "REGISTERED",
            AttendanceStatus::Cancelled => "CANCELLED",
            AttendanceStatus::Confirmed => "CONFIRMED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "REGISTERED" => Some(AttendanceStatus::Registered),
            "CANCELLED" => Some(AttendanceStatus::Cancelled),
            "CONFIRMED" => Some(AttendanceStatus::Confirmed),
            _ => None,
        }
    }
}
