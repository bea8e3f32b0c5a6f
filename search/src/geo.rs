//! Distances and cells on the Earth's surface.
//!
//! Every engine answers a radius query with the same set: a document is in
//! when its great-circle (haversine) distance from the centre, on a sphere
//! of R = 6371.0088 km (the mean Earth radius), is at most the radius. The
//! engines may prefilter however they like; [`cells_covering`] gives the
//! geohash cells that together contain every point within a radius, so a
//! term match on them loses nothing, and [`haversine_km`] is the exact
//! check after it.

/// Mean Earth radius (IUGG), the one API.md fixes.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;
pub const KM_PER_MILE: f64 = 1.609_344;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
}

/// Great-circle distance in kilometres.
pub fn haversine_km(a: Point, b: Point) -> f64 {
    let (phi1, phi2) = (a.lat.to_radians(), b.lat.to_radians());
    let dphi = (b.lat - a.lat).to_radians();
    let dlambda = (b.lon - a.lon).to_radians();
    let h = (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

pub fn miles_to_km(miles: f64) -> f64 {
    miles * KM_PER_MILE
}

pub fn km_to_miles(km: f64) -> f64 {
    km / KM_PER_MILE
}

const BASE32: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

/// The geohash of a point, `precision` characters long (1 to 12).
pub fn geohash(p: Point, precision: usize) -> String {
    let (mut lat, mut lon) = ((-90.0f64, 90.0f64), (-180.0f64, 180.0f64));
    let mut out = String::with_capacity(precision);
    let (mut bits, mut value, mut even) = (0, 0usize, true);
    while out.len() < precision.clamp(1, 12) {
        let range = if even { &mut lon } else { &mut lat };
        let coord = if even { p.lon } else { p.lat };
        let mid = (range.0 + range.1) / 2.0;
        value <<= 1;
        if coord >= mid {
            value |= 1;
            range.0 = mid;
        } else {
            range.1 = mid;
        }
        even = !even;
        bits += 1;
        if bits == 5 {
            out.push(BASE32[value] as char);
            bits = 0;
            value = 0;
        }
    }
    out
}

/// Width and height in degrees of a geohash cell of `precision` characters.
pub fn cell_size(precision: usize) -> (f64, f64) {
    let bits = 5 * precision as i32;
    let lon_bits = (bits + 1) / 2;
    let lat_bits = bits / 2;
    (360.0 / 2f64.powi(lon_bits), 180.0 / 2f64.powi(lat_bits))
}

/// The geohash cells of `precision` characters that together contain
/// every point within `radius_km` of `center`: all cells meeting the
/// circle's bounding box (widened to every longitude near a pole, split at
/// the antimeridian).
pub fn cells_covering(center: Point, radius_km: f64, precision: usize) -> Vec<String> {
    let dlat = (radius_km / EARTH_RADIUS_KM).to_degrees();
    let (lat_min, lat_max) = (
        (center.lat - dlat).max(-90.0),
        (center.lat + dlat).min(90.0),
    );
    // The widest longitude span of the circle is at the latitude nearest a
    // pole that the box reaches.
    let max_abs_lat = lat_min.abs().max(lat_max.abs());
    let dlon = if max_abs_lat >= 89.999 {
        180.0
    } else {
        let ratio = (radius_km / EARTH_RADIUS_KM).sin() / max_abs_lat.to_radians().cos();
        if ratio >= 1.0 {
            180.0
        } else {
            ratio.asin().to_degrees()
        }
    };
    let (w, h) = cell_size(precision);
    let lon_ranges: Vec<(f64, f64)> = if dlon >= 180.0 {
        vec![(-180.0, 180.0)]
    } else {
        let (lo, hi) = (center.lon - dlon, center.lon + dlon);
        if lo < -180.0 {
            vec![(lo + 360.0, 180.0), (-180.0, hi)]
        } else if hi > 180.0 {
            vec![(lo, 180.0), (-180.0, hi - 360.0)]
        } else {
            vec![(lo, hi)]
        }
    };
    let mut cells = std::collections::BTreeSet::new();
    let snap = |v: f64, size: f64, min: f64| ((v - min) / size).floor();
    for (lo, hi) in lon_ranges {
        let (row0, row1) = (
            snap(lat_min, h, -90.0),
            snap(lat_max.min(90.0 - 1e-9), h, -90.0),
        );
        let (col0, col1) = (snap(lo, w, -180.0), snap(hi.min(180.0 - 1e-9), w, -180.0));
        let mut row = row0;
        while row <= row1 {
            let mut col = col0;
            while col <= col1 {
                let centre = Point {
                    lat: -90.0 + (row + 0.5) * h,
                    lon: -180.0 + (col + 0.5) * w,
                };
                cells.insert(geohash(centre, precision));
                col += 1.0;
            }
            row += 1.0;
        }
    }
    cells.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHILADELPHIA: Point = Point {
        lat: 39.9526,
        lon: -75.1652,
    };
    const NEW_YORK: Point = Point {
        lat: 40.7128,
        lon: -74.0060,
    };

    #[test]
    fn haversine_matches_known_distances() {
        let d = haversine_km(PHILADELPHIA, NEW_YORK);
        assert!((d - 129.6).abs() < 0.5, "{d}");
        assert_eq!(haversine_km(PHILADELPHIA, PHILADELPHIA), 0.0);
        // A quarter of a great circle.
        let q = haversine_km(
            Point { lat: 0.0, lon: 0.0 },
            Point {
                lat: 0.0,
                lon: 90.0,
            },
        );
        assert!((q - EARTH_RADIUS_KM * std::f64::consts::FRAC_PI_2).abs() < 1e-6);
        assert!((km_to_miles(miles_to_km(10.0)) - 10.0).abs() < 1e-12);
    }

    #[test]
    fn geohash_matches_the_reference_vector() {
        assert_eq!(
            geohash(
                Point {
                    lat: 57.64911,
                    lon: 10.40744
                },
                11
            ),
            "u4pruydqqvj"
        );
        assert_eq!(
            geohash(
                Point {
                    lat: 39.9526,
                    lon: -75.1652
                },
                5
            ),
            "dr4e3"
        );
    }

    /// A small deterministic generator, so the property checks repeat.
    fn lcg(seed: &mut u64) -> f64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*seed >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn every_point_inside_the_radius_lies_in_a_covering_cell() {
        let mut seed = 7;
        let centres = [
            PHILADELPHIA,
            Point {
                lat: 64.84,
                lon: -147.72,
            },
            Point {
                lat: -33.87,
                lon: 151.21,
            },
            Point {
                lat: 0.0,
                lon: 179.95,
            },
            Point {
                lat: 89.5,
                lon: 10.0,
            },
        ];
        for centre in centres {
            for (radius_km, precision) in [(16.0, 4), (16.0, 5), (80.0, 3), (2.0, 6)] {
                let cover = cells_covering(centre, radius_km, precision);
                for _ in 0..400 {
                    // Points spread over a box a little wider than the circle.
                    let dlat = (radius_km * 1.2 / EARTH_RADIUS_KM).to_degrees();
                    let lat = (centre.lat + (lcg(&mut seed) * 2.0 - 1.0) * dlat).clamp(-90.0, 90.0);
                    let coslat = lat.to_radians().cos().max(1e-6);
                    let mut lon =
                        centre.lon + (lcg(&mut seed) * 2.0 - 1.0) * (dlat / coslat).min(180.0);
                    if lon > 180.0 {
                        lon -= 360.0;
                    }
                    if lon < -180.0 {
                        lon += 360.0;
                    }
                    let p = Point { lat, lon };
                    if haversine_km(centre, p) <= radius_km {
                        let cell = geohash(p, precision);
                        assert!(
                            cover.contains(&cell),
                            "{p:?} within {radius_km} km of {centre:?} but {cell} not in the cover"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_cover_is_no_bigger_than_the_bounding_box_in_cells() {
        // 10 miles around Philadelphia: a box about 32 km square. Cells of
        // precision 4 are about 39 × 20 km there, of precision 5 about
        // 4.3 × 4.9 km; the cover spans the box plus one cell each way.
        let four = cells_covering(PHILADELPHIA, 16.0, 4);
        assert!(four.len() <= 2 * 3, "{}", four.len());
        let five = cells_covering(PHILADELPHIA, 16.0, 5);
        assert!(five.len() <= 9 * 8, "{}", five.len());
        assert!(five.contains(&geohash(PHILADELPHIA, 5)));
    }
}
