//! Locations of hazards. A report's location is the hazard's, never the rider's track.

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// Mean Earth radius used by the distance approximation.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A validated WGS-84 point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatLon {
    /// Degrees north, -90..=90.
    pub lat: f64,
    /// Degrees east, -180..=180.
    pub lon: f64,
}

impl LatLon {
    /// Validates a coordinate pair; NaN and infinities are refused too.
    pub fn new(lat: f64, lon: f64) -> Result<LatLon, ValidationError> {
        if !(-90.0..=90.0).contains(&lat) {
            return Err(ValidationError::LatitudeOutOfRange(lat));
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(ValidationError::LongitudeOutOfRange(lon));
        }
        Ok(LatLon { lat, lon })
    }

    /// Great-circle distance in metres (haversine).
    pub fn distance_m(&self, other: &LatLon) -> f64 {
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
    }
}

/// Where a hazard is: a point, and optionally the address and grid it falls in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// The point.
    #[serde(flatten)]
    pub point: LatLon,
    /// A street address, as the reporter wrote it.
    pub address: Option<String>,
    /// The grid (网格) of the community, such as `g03`.
    pub grid: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_are_range_checked() {
        assert!(LatLon::new(24.97, 102.74).is_ok());
        assert_eq!(
            LatLon::new(200.0, 0.0),
            Err(ValidationError::LatitudeOutOfRange(200.0))
        );
        assert!(LatLon::new(0.0, -181.0).is_err());
        assert!(LatLon::new(f64::NAN, 0.0).is_err());
    }

    #[test]
    fn distance_is_about_right() {
        let a = LatLon::new(24.9700, 102.7400).unwrap();
        let b = LatLon::new(24.9704, 102.7400).unwrap();
        let d = a.distance_m(&b);
        assert!((d - 44.5).abs() < 1.0, "{d}");
        assert_eq!(a.distance_m(&a), 0.0);
    }
}
