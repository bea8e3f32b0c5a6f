//! Calendar quota periods: a day or a month in the plan's timezone. Counts
//! are filed under the period's local start date, so a period rolls over
//! exactly at local midnight (or the first of the month), DST included.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use turnout_core::clock::Nanos;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    Day,
    Month,
}

impl Window {
    pub const ALL: [Window; 2] = [Window::Day, Window::Month];

    pub fn as_str(self) -> &'static str {
        match self {
            Window::Day => "day",
            Window::Month => "month",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "day" => Some(Window::Day),
            "month" => Some(Window::Month),
            _ => None,
        }
    }
}

/// The period containing `now`: its name (`2026-11-26` or `2026-11`) and
/// the instant it ends, in nanoseconds.
pub fn period_of(window: Window, tz: Tz, now: Nanos) -> (String, Nanos) {
    let local = DateTime::<Utc>::from_timestamp_nanos(now).with_timezone(&tz);
    let date = local.date_naive();
    match window {
        Window::Day => {
            let next = date + Duration::days(1);
            (
                date.format("%Y-%m-%d").to_string(),
                local_midnight(tz, next),
            )
        }
        Window::Month => {
            let (y, m) = if date.month() == 12 {
                (date.year() + 1, 1)
            } else {
                (date.year(), date.month() + 1)
            };
            let next = NaiveDate::from_ymd_opt(y, m, 1).expect("first of a month exists");
            (date.format("%Y-%m").to_string(), local_midnight(tz, next))
        }
    }
}

/// The instant local midnight begins `date`. Where a DST jump skips
/// midnight, the day begins at the first instant that exists after it.
fn local_midnight(tz: Tz, date: NaiveDate) -> Nanos {
    let midnight: NaiveDateTime = date.and_hms_opt(0, 0, 0).expect("midnight");
    let mut probe = midnight;
    for _ in 0..=24 * 4 {
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return t.timestamp_nanos_opt().unwrap_or(i64::MAX);
        }
        probe += Duration::minutes(15);
    }
    Utc.from_utc_datetime(&midnight)
        .timestamp_nanos_opt()
        .unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Nanos {
        DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap()
    }

    #[test]
    fn days_roll_over_at_local_midnight() {
        let tz: Tz = "America/New_York".parse().unwrap();
        // 04:59:59 UTC is 23:59:59 on the 25th in New York (EST, UTC-5).
        let (day, end) = period_of(Window::Day, tz, at("2026-11-26T04:59:59Z"));
        assert_eq!(day, "2026-11-25");
        assert_eq!(end, at("2026-11-26T05:00:00Z"));
        let (day, _) = period_of(Window::Day, tz, at("2026-11-26T05:00:00Z"));
        assert_eq!(day, "2026-11-26");
    }

    #[test]
    fn months_roll_over_on_the_first_in_the_zone() {
        let tz: Tz = "Asia/Tokyo".parse().unwrap();
        let (month, end) = period_of(Window::Month, tz, at("2026-12-31T14:59:59Z"));
        assert_eq!(month, "2026-12");
        assert_eq!(end, at("2026-12-31T15:00:00Z"));
    }

    #[test]
    fn a_dst_day_is_23_hours_long() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let (day, end) = period_of(Window::Day, tz, at("2026-03-08T12:00:00Z"));
        assert_eq!(day, "2026-03-08");
        assert_eq!(end, at("2026-03-09T04:00:00Z"));
    }
}
