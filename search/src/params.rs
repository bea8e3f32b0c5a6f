//! Mobilize-style query strings → [`Query`]. Parameters combine with AND;
//! a repeated parameter matches any of its values. Every bad parameter is
//! reported, each under its own name, for the 422's `errors`.

use turnout_core::problem::FieldError;

use crate::geo::miles_to_km;
use crate::model::{Coordinates, EventType, LanguageTag};
use crate::query::{
    Center, DEFAULT_PER_PAGE, Kind, MAX_PER_PAGE, MAX_RADIUS_MILES, Near, Query, TimeBound,
    Visibility, Window,
};

const EVENT_FACETS: [&str; 3] = ["event_type", "tags", "is_virtual"];
/// Parameters every search takes (`api_key` is the gateway's).
const COMMON: [&str; 11] = [
    "zipcode",
    "lat",
    "lon",
    "max_dist",
    "tag",
    "q",
    "updated_since",
    "facets",
    "per_page",
    "cursor",
    "api_key",
];
const EVENT_PARAMS: [&str; 5] = [
    "timeslot_start",
    "event_types",
    "visibility",
    "is_virtual",
    "exclude_full",
];
const PEOPLE_PARAMS: [&str; 3] = ["skills", "languages_spoken", "available_between"];
const PEOPLE_FACETS: [&str; 3] = ["skills", "languages_spoken", "tags"];

struct Params<'a> {
    pairs: &'a [(String, String)],
    errors: Vec<FieldError>,
}

impl<'a> Params<'a> {
    fn all(&self, name: &str) -> impl Iterator<Item = &'a str> + use<'a, '_> {
        let name = name.to_string();
        self.pairs
            .iter()
            .filter(move |(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    fn one(&mut self, name: &str) -> Option<&'a str> {
        let values: Vec<&str> = self.all(name).collect();
        match values.as_slice() {
            [] => None,
            [v] => Some(v),
            _ => {
                self.fail(name, "may be given once");
                None
            }
        }
    }

    fn fail(&mut self, name: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(name, message));
    }

    fn bool(&mut self, name: &str) -> Option<bool> {
        match self.one(name)?.to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => {
                self.fail(name, "must be true or false");
                None
            }
        }
    }

    fn unix(&mut self, name: &str) -> Option<i64> {
        let raw = self.one(name)?;
        raw.parse().ok().or_else(|| {
            self.fail(name, "must be unix seconds");
            None
        })
    }

    fn f64(&mut self, name: &str) -> Option<f64> {
        let raw = self.one(name)?;
        match raw.parse::<f64>() {
            Ok(v) if v.is_finite() => Some(v),
            _ => {
                self.fail(name, "must be a number");
                None
            }
        }
    }

    fn strings(&self, name: &str) -> Vec<String> {
        self.all(name)
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(String::from)
            .collect()
    }
}

/// Parses an events search. `now` resolves `gte_now`.
pub fn events(pairs: &[(String, String)], now: i64) -> Result<Query, Vec<FieldError>> {
    let mut p = Params {
        pairs,
        errors: Vec::new(),
    };
    let mut timeslot = Vec::new();
    for raw in p.all("timeslot_start").collect::<Vec<_>>() {
        let bound = match raw.split_once('_') {
            Some(("gte", "now")) => Some(TimeBound::AtOrAfter(now)),
            Some(("gte", t)) => t.parse().ok().map(TimeBound::AtOrAfter),
            Some(("lt", t)) => t.parse().ok().map(TimeBound::Before),
            _ => None,
        };
        match bound {
            Some(b) => timeslot.push(b),
            None => p.fail(
                "timeslot_start",
                format!("{raw:?} is not gte_now, gte_<unix> or lt_<unix>"),
            ),
        }
    }
    let mut event_types = Vec::new();
    for raw in p.strings("event_types") {
        match EventType::parse(&raw) {
            Ok(t) if !event_types.contains(&t) => event_types.push(t),
            Ok(_) => {}
            Err(e) => p.fail("event_types", e.0),
        }
    }
    let mut visibility = Vec::new();
    for raw in p.strings("visibility") {
        match Visibility::parse(&raw) {
            Some(v) if !visibility.contains(&v) => visibility.push(v),
            Some(_) => {}
            None => p.fail("visibility", format!("{raw:?} is not PUBLIC or PRIVATE")),
        }
    }
    let is_virtual = p.bool("is_virtual");
    let exclude_full = p.bool("exclude_full").unwrap_or(false);
    let kind = Kind::Events {
        timeslot,
        event_types,
        is_virtual,
        exclude_full,
        visibility,
    };
    common(p, kind, &EVENT_FACETS)
}

/// Parses a people search.
pub fn people(pairs: &[(String, String)]) -> Result<Query, Vec<FieldError>> {
    let mut p = Params {
        pairs,
        errors: Vec::new(),
    };
    let skills = p
        .strings("skills")
        .into_iter()
        .map(|s| s.to_lowercase())
        .collect();
    let mut languages = Vec::new();
    for raw in p.strings("languages_spoken") {
        match LanguageTag::parse(&raw) {
            Ok(t) => languages.push(t),
            Err(e) => p.fail("languages_spoken", e.0),
        }
    }
    let available = p.one("available_between").and_then(|raw| {
        let window = raw
            .split_once(',')
            .and_then(|(a, b)| {
                Some(Window {
                    start: a.trim().parse().ok()?,
                    end: b.trim().parse().ok()?,
                })
            })
            .filter(|w| w.start < w.end);
        if window.is_none() {
            p.fail(
                "available_between",
                "must be <start>,<end> in unix seconds, start before end",
            );
        }
        window
    });
    common(
        p,
        Kind::People {
            skills,
            languages,
            available,
            contacts: Vec::new(),
        },
        &PEOPLE_FACETS,
    )
}

/// `per_page`: 25 when absent, 1 to 100 when given. Every list (searches
/// and the store-backed ones) reads it here.
pub fn per_page(raw: Option<&str>) -> Result<usize, FieldError> {
    match raw {
        None => Ok(DEFAULT_PER_PAGE),
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_PER_PAGE).contains(&n) => Ok(n),
            _ => Err(FieldError::new(
                "per_page",
                format!("must be a whole number from 1 to {MAX_PER_PAGE}"),
            )),
        },
    }
}

/// The parameters both searches share. A parameter neither knows is an
/// error: a misspelt filter must not silently match everything.
fn common(mut p: Params<'_>, kind: Kind, facet_names: &[&str]) -> Result<Query, Vec<FieldError>> {
    let own: &[&str] = match kind {
        Kind::Events { .. } => &EVENT_PARAMS,
        Kind::People { .. } => &PEOPLE_PARAMS,
    };
    let mut unknown: Vec<&str> = p
        .pairs
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !COMMON.contains(k) && !own.contains(k))
        .collect();
    unknown.dedup();
    for name in unknown {
        p.fail(name, "is not a parameter of this search");
    }
    let zip = p.one("zipcode").map(str::trim);
    let (lat, lon) = (p.f64("lat"), p.f64("lon"));
    let center = match (zip, lat, lon) {
        (Some(z), None, None) => {
            if z.len() == 5 && z.bytes().all(|b| b.is_ascii_digit()) {
                Some(Center::Zip(z.to_string()))
            } else {
                p.fail("zipcode", "must be a 5-digit US ZIP code");
                None
            }
        }
        (None, Some(lat), Some(lon)) => match Coordinates::new(lat, lon) {
            Ok(c) => Some(Center::Point(c)),
            Err(e) => {
                p.fail("lat", e.0);
                None
            }
        },
        (None, None, None) => None,
        (Some(_), _, _) => {
            p.fail("zipcode", "give zipcode or lat and lon, not both");
            None
        }
        _ => {
            p.fail("lat", "lat and lon go together");
            None
        }
    };
    let max_dist = p.f64("max_dist");
    let near = match (center, max_dist) {
        (Some(center), Some(miles)) if miles > 0.0 && miles <= MAX_RADIUS_MILES => Some(Near {
            center,
            radius_km: miles_to_km(miles),
        }),
        (Some(_), Some(_)) => {
            p.fail(
                "max_dist",
                format!("must be above 0 and at most {MAX_RADIUS_MILES} miles"),
            );
            None
        }
        (Some(center), None) => Some(Near {
            center,
            radius_km: miles_to_km(MAX_RADIUS_MILES),
        }),
        (None, Some(_)) => {
            p.fail("max_dist", "needs zipcode or lat and lon");
            None
        }
        (None, None) => None,
    };
    let tags = p.strings("tag");
    let text = p
        .one("q")
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(String::from);
    let updated_since = p.unix("updated_since");
    let mut facets = Vec::new();
    for f in p.strings("facets") {
        if facet_names.contains(&f.as_str()) {
            if !facets.contains(&f) {
                facets.push(f);
            }
        } else {
            p.fail(
                "facets",
                format!("{f:?} is not one of {}", facet_names.join(", ")),
            );
        }
    }
    let per_page = per_page(p.one("per_page")).unwrap_or_else(|e| {
        p.errors.push(e);
        DEFAULT_PER_PAGE
    });
    let cursor = p.one("cursor").map(String::from);
    if !p.errors.is_empty() {
        return Err(p.errors);
    }
    Ok(Query {
        kind,
        near,
        tags,
        text,
        updated_since,
        facets,
        per_page,
        cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Vec<(String, String)> {
        s.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    #[test]
    fn unknown_parameters_are_named_and_the_key_is_not_one() {
        let errs = events(&q("event_type=CANVASS&zipcode=19107&api_key=tk_x"), 0).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "event_type");
        // A people-only filter is not an events parameter.
        let errs = events(&q("skills=driving"), 0).unwrap_err();
        assert_eq!(errs[0].field, "skills");
        assert!(people(&q("skills=driving&api_key=tk_x&cursor=abc")).is_ok());
    }

    #[test]
    fn an_events_near_me_query_parses() {
        let query = events(&q("zipcode=19107&max_dist=10&timeslot_start=gte_now&timeslot_start=lt_1800000000&event_types=CANVASS&event_types=phone_bank&facets=event_type,tags"), 1_700_000_000).unwrap();
        let Kind::Events {
            timeslot,
            event_types,
            visibility,
            ..
        } = &query.kind
        else {
            panic!()
        };
        assert_eq!(
            timeslot,
            &[
                TimeBound::AtOrAfter(1_700_000_000),
                TimeBound::Before(1_800_000_000)
            ]
        );
        assert_eq!(
            event_types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            ["CANVASS", "PHONE_BANK"]
        );
        assert!(visibility.is_empty(), "PUBLIC only by default");
        let near = query.near.unwrap();
        assert_eq!(near.center, Center::Zip("19107".into()));
        assert!((near.radius_km - 16.09344).abs() < 1e-9);
        assert_eq!(query.facets, ["event_type", "tags"]);
        assert_eq!(query.per_page, DEFAULT_PER_PAGE);
    }

    #[test]
    fn every_bad_parameter_is_reported_by_name() {
        let errs = events(&q("zipcode=abc&max_dist=-1&timeslot_start=soon&event_types=PICNIC&is_virtual=maybe&per_page=500&facets=colour&visibility=SECRET"), 0)
            .unwrap_err();
        let names: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        for n in [
            "zipcode",
            "timeslot_start",
            "event_types",
            "is_virtual",
            "per_page",
            "facets",
            "visibility",
        ] {
            assert!(names.contains(&n), "{n} not reported: {names:?}");
        }
        assert!(events(&q("lat=91&lon=0"), 0).is_err());
        assert!(events(&q("lat=40"), 0).is_err());
        assert!(events(&q("max_dist=5"), 0).is_err());
        assert!(events(&q("zipcode=19107&lat=40&lon=-75"), 0).is_err());
    }

    #[test]
    fn a_people_query_parses_languages_and_availability() {
        let query = people(&q("lat=39.95&lon=-75.16&max_dist=5&skills=Spanish,driving&languages_spoken=ES&available_between=100,200")).unwrap();
        let Kind::People {
            skills,
            languages,
            available,
            ..
        } = &query.kind
        else {
            panic!()
        };
        assert_eq!(skills, &["spanish", "driving"]);
        assert_eq!(languages[0].as_str(), "es");
        assert_eq!(
            *available,
            Some(Window {
                start: 100,
                end: 200
            })
        );
        assert!(people(&q("available_between=200,100")).is_err());
    }
}
