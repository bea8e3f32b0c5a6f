use serde::{Deserialize, Serialize};

use super::InvalidValue;
use crate::geo::Point;

/// A point on the globe, as OSDI spells it (`latitude`, `longitude`),
/// refused when out of range or not a number.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Raw", into = "Raw")]
pub struct Coordinates {
    latitude: f64,
    longitude: f64,
}

#[derive(Serialize, Deserialize)]
struct Raw {
    latitude: f64,
    longitude: f64,
}

impl Coordinates {
    pub fn new(latitude: f64, longitude: f64) -> Result<Self, InvalidValue> {
        if !(latitude.is_finite() && (-90.0..=90.0).contains(&latitude)) {
            return Err(InvalidValue(format!(
                "latitude {latitude} is not between -90 and 90"
            )));
        }
        if !(longitude.is_finite() && (-180.0..=180.0).contains(&longitude)) {
            return Err(InvalidValue(format!(
                "longitude {longitude} is not between -180 and 180"
            )));
        }
        Ok(Self {
            latitude,
            longitude,
        })
    }

    pub fn latitude(&self) -> f64 {
        self.latitude
    }

    pub fn longitude(&self) -> f64 {
        self.longitude
    }

    pub fn point(&self) -> Point {
        Point {
            lat: self.latitude,
            lon: self.longitude,
        }
    }
}

impl TryFrom<Raw> for Coordinates {
    type Error = InvalidValue;

    fn try_from(r: Raw) -> Result<Self, Self::Error> {
        Self::new(r.latitude, r.longitude)
    }
}

impl From<Coordinates> for Raw {
    fn from(c: Coordinates) -> Self {
        Raw {
            latitude: c.latitude,
            longitude: c.longitude,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_must_be_on_the_globe() {
        assert!(Coordinates::new(39.95, -75.16).is_ok());
        assert!(Coordinates::new(90.0, 180.0).is_ok());
        for (lat, lon) in [
            (90.1, 0.0),
            (0.0, -180.5),
            (f64::NAN, 0.0),
            (0.0, f64::INFINITY),
        ] {
            assert!(Coordinates::new(lat, lon).is_err(), "{lat},{lon} accepted");
        }
    }
}
