//! US ZIP code centroids and their timezones, from the table the `zipcodes`
//! crate embeds (no network, no files). Built into a map on first use.
//!
//! Two uses: `zipcode=19107` searches are centred on the centroid, and a
//! person or event with no `timezone` gets the one of its ZIP code, or,
//! with only coordinates, of the nearest ZIP centroid (US only; elsewhere
//! the timezone must be given).

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::geo::{Point, haversine_km};

#[derive(Debug, Clone, PartialEq)]
pub struct ZipInfo {
    pub point: Point,
    /// IANA name, e.g. `America/New_York`.
    pub timezone: String,
}

fn table() -> &'static HashMap<String, ZipInfo> {
    static TABLE: OnceLock<HashMap<String, ZipInfo>> = OnceLock::new();
    TABLE.get_or_init(|| {
        zipcodes::database()
            .iter()
            .filter_map(|z| {
                let point = Point {
                    lat: z.lat.parse().ok()?,
                    lon: z.long.parse().ok()?,
                };
                (!z.timezone.is_empty()).then(|| {
                    (
                        z.zip_code.clone(),
                        ZipInfo {
                            point,
                            timezone: z.timezone.clone(),
                        },
                    )
                })
            })
            .collect()
    })
}

/// The centroid and timezone of a 5-digit ZIP code.
pub fn lookup(zip: &str) -> Option<&'static ZipInfo> {
    table().get(zip.trim())
}

/// Every known ZIP code, sorted (for generated data that is the same on
/// every run).
pub fn codes() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = table().keys().map(String::as_str).collect();
    all.sort_unstable();
    all
}

/// The timezone of the ZIP centroid nearest to `p`, if one lies within
/// `max_km` (so a point far outside the US gets none).
pub fn nearest_timezone(p: Point, max_km: f64) -> Option<&'static str> {
    table()
        .values()
        .map(|z| (haversine_km(p, z.point), z))
        .filter(|(d, _)| *d <= max_km)
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, z)| z.timezone.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_codes_resolve_to_centroids_and_zones() {
        let philly = lookup("19107").expect("19107 is in the table");
        assert!(
            haversine_km(
                philly.point,
                Point {
                    lat: 39.9526,
                    lon: -75.1652
                }
            ) < 3.0,
            "{:?}",
            philly.point
        );
        assert_eq!(philly.timezone, "America/New_York");
        assert_eq!(lookup("99501").unwrap().timezone, "America/Anchorage");
        assert!(lookup("00000").is_none());
    }

    #[test]
    fn coordinates_get_the_nearest_zips_zone_within_reach() {
        let los_angeles = Point {
            lat: 34.0522,
            lon: -118.2437,
        };
        assert_eq!(
            nearest_timezone(los_angeles, 50.0),
            Some("America/Los_Angeles")
        );
        let paris = Point {
            lat: 48.8566,
            lon: 2.3522,
        };
        assert_eq!(nearest_timezone(paris, 50.0), None);
    }
}
