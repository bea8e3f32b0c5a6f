//! The send window: campaign messages go out only between two local times
//! in the recipient's own timezone (default 09:00–20:00). A window wider
//! than 08:00–21:00 is refused. A message due outside its window is
//! deferred to the next time the window opens, never dropped.

use chrono::{DateTime, Duration, LocalResult, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendWindow {
    start: NaiveTime,
    end: NaiveTime,
}

/// A window and the recipient's zones, stored with a campaign message so
/// the worker checks it again right before the send (a retry or a pause
/// can carry a message past the window's close).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Held {
    pub start: String,
    pub end: String,
    pub zones: Vec<String>,
}

impl Held {
    pub fn new(window: &SendWindow, zones: &[Tz]) -> Held {
        Held {
            start: window.start.format("%H:%M").to_string(),
            end: window.end.format("%H:%M").to_string(),
            zones: zones.iter().map(|z| z.name().to_string()).collect(),
        }
    }

    /// When the message may go: `now`, or when the window next opens. A
    /// rule that no longer parses holds nothing back (it was checked when
    /// the campaign was created).
    pub fn next_open(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let Ok(window) = SendWindow::parse(&self.start, &self.end) else {
            return now;
        };
        let zones: Vec<Tz> = self.zones.iter().filter_map(|z| z.parse().ok()).collect();
        window.next_open_in_all(now, &zones)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("{0:?} is not a time like 09:00")]
    BadTime(String),
    #[error("the window must open before it closes")]
    Empty,
    #[error("the window may not open before 08:00 or close after 21:00")]
    TooWide,
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).expect("valid time")
}

impl Default for SendWindow {
    fn default() -> Self {
        SendWindow {
            start: hm(9, 0),
            end: hm(20, 0),
        }
    }
}

impl SendWindow {
    /// From `HH:MM` strings.
    pub fn parse(start: &str, end: &str) -> Result<Self, WindowError> {
        let parse = |s: &str| {
            NaiveTime::parse_from_str(s.trim(), "%H:%M")
                .map_err(|_| WindowError::BadTime(s.to_string()))
        };
        let (start, end) = (parse(start)?, parse(end)?);
        if start >= end {
            return Err(WindowError::Empty);
        }
        if start < hm(8, 0) || end > hm(21, 0) {
            return Err(WindowError::TooWide);
        }
        Ok(SendWindow { start, end })
    }

    pub fn start(&self) -> NaiveTime {
        self.start
    }

    pub fn end(&self) -> NaiveTime {
        self.end
    }

    pub fn contains(&self, at: DateTime<Utc>, tz: Tz) -> bool {
        let time = at.with_timezone(&tz).time();
        time >= self.start && time < self.end
    }

    /// The earliest instant at or after `now` inside the window in every
    /// one of `zones` (a recipient whose zone is only narrowed down to a
    /// few); `now` when it already is. With no zone, `now`.
    pub fn next_open_in_all(&self, now: DateTime<Utc>, zones: &[Tz]) -> DateTime<Utc> {
        let mut at = now;
        // Each pass moves to the latest opening; zones a few hours apart
        // agree within a pass or two.
        for _ in 0..8 {
            if zones.iter().all(|tz| self.contains(at, *tz)) {
                return at;
            }
            at = zones
                .iter()
                .map(|tz| self.next_open(at, *tz))
                .max()
                .unwrap_or(at);
        }
        at
    }

    /// The earliest instant at or after `now` that falls inside the window
    /// in `tz`: `now` itself when it already does.
    pub fn next_open(&self, now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        let local = now.with_timezone(&tz);
        let time = local.time();
        if time >= self.start && time < self.end {
            return now;
        }
        let day = if time < self.start {
            local.date_naive()
        } else {
            local.date_naive() + Duration::days(1)
        };
        // A start that does not exist that day (a DST gap) opens at the
        // first instant after the gap.
        let mut at = day.and_time(self.start);
        for _ in 0..180 {
            match tz.from_local_datetime(&at) {
                LocalResult::Single(t) => return t.with_timezone(&Utc),
                LocalResult::Ambiguous(first, _) => return first.with_timezone(&Utc),
                LocalResult::None => at += Duration::minutes(1),
            }
        }
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn windows_wider_than_8_to_21_or_empty_are_refused() {
        assert!(SendWindow::parse("08:00", "21:00").is_ok());
        assert_eq!(
            SendWindow::parse("07:59", "20:00"),
            Err(WindowError::TooWide)
        );
        assert_eq!(
            SendWindow::parse("09:00", "21:30"),
            Err(WindowError::TooWide)
        );
        assert_eq!(SendWindow::parse("12:00", "12:00"), Err(WindowError::Empty));
        assert!(matches!(
            SendWindow::parse("9am", "20:00"),
            Err(WindowError::BadTime(_))
        ));
    }

    #[test]
    fn a_message_outside_the_window_waits_for_the_recipients_morning() {
        let w = SendWindow::default();
        let ny: Tz = "America/New_York".parse().unwrap();
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        // 13:00 UTC is 08:00 in New York (EST) and 05:00 in Los Angeles.
        let now = utc("2026-12-01T13:00:00Z");
        assert_eq!(w.next_open(now, ny), utc("2026-12-01T14:00:00Z"));
        assert_eq!(w.next_open(now, la), utc("2026-12-01T17:00:00Z"));
        // Inside the window: now.
        let noon_ny = utc("2026-12-01T17:00:00Z");
        assert_eq!(w.next_open(noon_ny, ny), noon_ny);
        // After it closes: the next morning.
        let late = utc("2026-12-02T02:00:00Z"); // 21:00 in New York
        assert_eq!(w.next_open(late, ny), utc("2026-12-02T14:00:00Z"));
    }

    #[test]
    fn an_unplaced_recipient_waits_until_the_window_is_open_coast_to_coast() {
        let w = SendWindow::default();
        let zones: [Tz; 2] = [
            "America/New_York".parse().unwrap(),
            "America/Los_Angeles".parse().unwrap(),
        ];
        // 14:00 UTC: 09:00 in New York, 06:00 in Los Angeles → 09:00 LA.
        assert_eq!(
            w.next_open_in_all(utc("2026-12-01T14:00:00Z"), &zones),
            utc("2026-12-01T17:00:00Z")
        );
        // 01:30 UTC: 20:30 in New York (closed), 17:30 in LA → next day
        // 09:00 in LA, when New York is open too.
        assert_eq!(
            w.next_open_in_all(utc("2026-12-02T01:30:00Z"), &zones),
            utc("2026-12-02T17:00:00Z")
        );
    }

    #[test]
    fn the_window_follows_daylight_saving_time() {
        let w = SendWindow::default();
        let ny: Tz = "America/New_York".parse().unwrap();
        // The night DST starts (2027-03-14): 09:00 EDT is 13:00 UTC.
        assert_eq!(
            w.next_open(utc("2027-03-14T06:00:00Z"), ny),
            utc("2027-03-14T13:00:00Z")
        );
        // A window opening inside the skipped hour opens after the gap.
        let early = SendWindow {
            start: hm(2, 30),
            end: hm(20, 0),
        };
        assert_eq!(
            early.next_open(utc("2027-03-14T05:00:00Z"), ny),
            utc("2027-03-14T07:00:00Z")
        );
    }
}
