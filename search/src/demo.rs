//! Seeded, realistic-looking people and events on real ZIP centroids, for
//! `turnout demo`, the benchmark and the tests. The same seed gives the
//! same records on every machine.
//!
//! Most records cluster around a few dozen metro areas (that is where
//! radius searches find many candidates, and where a benchmark should
//! look), the rest are spread over every ZIP code in the country.

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// Metro anchors (a central ZIP code each).
pub const METRO_ZIPS: [&str; 30] = [
    "19107", "10001", "11201", "02108", "20001", "60601", "90012", "94103", "98101", "30303",
    "33130", "77002", "75201", "85004", "80202", "48226", "55401", "63101", "15222", "44113",
    "27601", "28202", "37203", "53202", "89101", "97204", "73102", "87102", "53703", "53203",
];

const GIVEN: [&str; 24] = [
    "Ana", "Luis", "Maya", "Sam", "Priya", "Jamal", "Grace", "Chen", "Fatima", "Diego", "Olivia",
    "Noah", "Amara", "Kenji", "Rosa", "Elijah", "Hana", "Omar", "Lucia", "Mateo", "Zoe", "Ibrahim",
    "Nia", "Tomas",
];
const FAMILY: [&str; 20] = [
    "Garcia",
    "Smith",
    "Nguyen",
    "Johnson",
    "Patel",
    "Kim",
    "Williams",
    "Lopez",
    "Brown",
    "Chen",
    "Jones",
    "Martinez",
    "Davis",
    "Rodriguez",
    "Okafor",
    "Miller",
    "Hernandez",
    "Wilson",
    "Lee",
    "Khan",
];
pub const SKILLS: [&str; 12] = [
    "canvassing",
    "phone_banking",
    "driving",
    "data_entry",
    "translation",
    "social_media",
    "event_planning",
    "graphic_design",
    "legal",
    "medical",
    "childcare",
    "cooking",
];
/// Languages with a rough share of speakers among volunteers.
pub const LANGUAGES: [(&str, f64); 9] = [
    ("es", 0.25),
    ("es-MX", 0.05),
    ("zh-Hant", 0.03),
    ("vi", 0.03),
    ("ko", 0.02),
    ("tl", 0.02),
    ("fr", 0.03),
    ("ar", 0.02),
    ("ht", 0.01),
];
pub const TAGS: [&str; 8] = [
    "leader",
    "student",
    "union",
    "precinct_captain",
    "new",
    "spanish_outreach",
    "rural",
    "faith",
];
/// The event types most campaigns use, most common first.
pub const EVENT_TYPES: [&str; 10] = [
    "CANVASS",
    "PHONE_BANK",
    "TEXT_BANK",
    "MEETING",
    "TRAINING",
    "COMMUNITY",
    "FUNDRAISER",
    "RALLY",
    "VOTER_REG",
    "OTHER",
];
const WORDS: [&str; 24] = [
    "neighbors",
    "doors",
    "turnout",
    "volunteers",
    "coffee",
    "training",
    "community",
    "voters",
    "weekend",
    "library",
    "union",
    "hall",
    "park",
    "downtown",
    "students",
    "families",
    "church",
    "center",
    "kickoff",
    "welcome",
    "pizza",
    "signs",
    "ballots",
    "school",
];

pub struct Generator {
    rng: StdRng,
    zips: Vec<&'static str>,
    now: DateTime<Utc>,
}

impl Generator {
    pub fn new(seed: u64, now: DateTime<Utc>) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            zips: crate::zip::codes(),
            now,
        }
    }

    /// A ZIP code and a point near its centroid.
    fn place(&mut self) -> (String, f64, f64) {
        let zip = if self.rng.random_bool(0.7) {
            *METRO_ZIPS.choose(&mut self.rng).expect("non-empty")
        } else {
            *self.zips.choose(&mut self.rng).expect("non-empty")
        };
        let c = crate::zip::lookup(zip)
            .expect("listed ZIP codes exist")
            .point;
        // Metro records spread over ~25 km, the rest over ~3 km.
        let spread = if METRO_ZIPS.contains(&zip) {
            0.22
        } else {
            0.03
        };
        let lat = (c.lat + self.rng.random_range(-spread..spread)).clamp(-89.9, 89.9);
        let lon = c.lon + self.rng.random_range(-spread..spread) * 1.3;
        let lon = ((lon + 180.0).rem_euclid(360.0)) - 180.0;
        (zip.to_string(), round6(lat), round6(lon))
    }

    fn some<'a>(&mut self, from: &'a [&'a str], max: usize) -> Vec<&'a str> {
        let n = self.rng.random_range(0..=max);
        let mut v: Vec<&str> = from.to_vec();
        v.shuffle(&mut self.rng);
        v.truncate(n);
        v
    }

    /// A future time within `days`, on the quarter hour.
    fn upcoming(&mut self, from_days: i64, days: i64) -> DateTime<Utc> {
        let minutes = self.rng.random_range(from_days * 96..days * 96) * 15;
        let t = self.now + Duration::minutes(minutes);
        DateTime::from_timestamp(t.timestamp() - t.timestamp() % 900, 0).unwrap_or(t)
    }

    /// A person's JSON body, with the identifier `demo:p<n>`.
    pub fn person(&mut self, n: u64) -> Value {
        let given = *GIVEN.choose(&mut self.rng).expect("non-empty");
        let family = *FAMILY.choose(&mut self.rng).expect("non-empty");
        let (zip, lat, lon) = self.place();
        let mut languages = vec!["en"];
        for (tag, share) in LANGUAGES {
            if self.rng.random_bool(share) {
                languages.push(tag);
            }
        }
        let skills = {
            let mut s = self.some(&SKILLS, 4);
            if s.is_empty() {
                s.push(SKILLS[0]);
            }
            s
        };
        let windows = self.rng.random_range(0..=3);
        let availability: Vec<Value> = (0..windows)
            .map(|_| {
                let start = self.upcoming(0, 30);
                let end = start + Duration::hours(self.rng.random_range(2..=6));
                json!({"start": start, "end": end})
            })
            .collect();
        let tags = self.some(&TAGS, 2);
        json!({
            "identifiers": [format!("demo:p{n}")],
            "given_name": given,
            "family_name": family,
            "email_addresses": [{"address": format!("{}.{}{n}@example.org", given.to_lowercase(), family.to_lowercase()), "primary": true}],
            "phone_numbers": [{"number": format!("+1215{:07}", 2_000_000 + n % 8_000_000), "primary": true, "sms_capable": true}],
            "postal_addresses": [{"postal_code": zip, "country": "US", "location": {"latitude": lat, "longitude": lon}}],
            "languages_spoken": languages,
            "skills": skills,
            "availability": availability,
            "tags": tags,
        })
    }

    /// An event's JSON body, with the identifier `demo:e<n>`.
    pub fn event(&mut self, n: u64) -> Value {
        let i = (self.rng.random::<f64>().powi(2) * EVENT_TYPES.len() as f64) as usize;
        let event_type = EVENT_TYPES[i.min(EVENT_TYPES.len() - 1)];
        let is_virtual = self.rng.random_bool(0.15);
        let words = self.some(&WORDS, 3);
        let title = format!(
            "{} {}",
            event_type.replace('_', " ").to_lowercase(),
            words.first().copied().unwrap_or("together")
        );
        let description = format!(
            "Join {} for {} and {}.",
            WORDS.choose(&mut self.rng).expect("non-empty"),
            WORDS.choose(&mut self.rng).expect("non-empty"),
            words.join(" ")
        );
        let slots = self.rng.random_range(1..=3);
        let timeslots: Vec<Value> = (0..slots)
            .map(|_| {
                // A few start in the past week, most in the next month.
                let start = self.upcoming(-7, 30);
                let end = start + Duration::hours(self.rng.random_range(1..=4));
                let max: Option<u32> = self
                    .rng
                    .random_bool(0.6)
                    .then(|| self.rng.random_range(5..=50));
                json!({"start_date": start, "end_date": end, "max_attendees": max})
            })
            .collect();
        let mut body = json!({
            "identifiers": [format!("demo:e{n}")],
            "title": title,
            "description": description,
            "event_type": event_type,
            "timeslots": timeslots,
            "is_virtual": is_virtual,
            "visibility": if self.rng.random_bool(0.1) { "PRIVATE" } else { "PUBLIC" },
            "tags": self.some(&TAGS, 2),
        });
        if !is_virtual {
            let (zip, lat, lon) = self.place();
            body["location"] = json!({
                "venue": format!("{} {}", WORDS.choose(&mut self.rng).expect("non-empty"), "hall"),
                "postal_code": zip,
                "country": "US",
                "location": {"latitude": lat, "longitude": lon},
            });
        }
        body
    }

    /// A centre for a query: mostly in a metro area, sometimes anywhere.
    pub fn query_point(&mut self) -> (f64, f64) {
        let (_, lat, lon) = self.place();
        (lat, lon)
    }

    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}
