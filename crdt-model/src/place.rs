//! Place ids: the district / street / community tree, written as slash paths.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::IdError;

/// Longest slug accepted in one path segment.
pub const PLACE_SLUG_BYTES_MAX: usize = 48;
/// Deepest place path accepted (district / street / community leaves room for two
/// finer levels a federation might add later).
pub const PLACE_DEPTH_MAX: usize = 5;

/// Segment names that would make a document id ambiguous, so no place may use them.
pub(crate) const RESERVED_SEGMENTS: &[&str] = &[
    "charter",
    "roster",
    "roster-private",
    "reports",
    "tasks",
    "ledger",
    "directory",
    "summary",
];

/// A place in the federation tree, such as `guandu/yiliu/xinyazhou`.
///
/// Each segment is a lowercase ASCII slug (`a-z`, `0-9`, `-`, starting with a
/// letter). The first segment names the district, the second a street, the third
/// a community.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PlaceId(String);

/// The level of a place in the tree, which is also the role of the node that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaceLevel {
    /// 区: the root of a federation.
    District,
    /// 街道: coordinates its communities.
    Street,
    /// 社区: where riders report and earn points.
    Community,
    /// A level below community; grids are data, so nodes never sit here today.
    Finer,
}

impl PlaceId {
    /// Parses and validates a place path.
    pub fn parse(s: &str) -> Result<PlaceId, IdError> {
        if s.is_empty() {
            return Err(IdError::EmptyPlace);
        }
        let segments: Vec<&str> = s.split('/').collect();
        if segments.len() > PLACE_DEPTH_MAX {
            return Err(IdError::PlaceTooDeep {
                place: s.to_owned(),
                max: PLACE_DEPTH_MAX,
            });
        }
        for segment in &segments {
            validate_slug(s, segment)?;
        }
        Ok(PlaceId(s.to_owned()))
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The segments from the district down.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// Number of segments: 1 for a district, 2 for a street, 3 for a community.
    pub fn depth(&self) -> usize {
        self.segments().count()
    }

    /// The level this place sits at.
    pub fn level(&self) -> PlaceLevel {
        match self.depth() {
            1 => PlaceLevel::District,
            2 => PlaceLevel::Street,
            3 => PlaceLevel::Community,
            _ => PlaceLevel::Finer,
        }
    }

    /// The enclosing place, or `None` for a district.
    pub fn parent(&self) -> Option<PlaceId> {
        self.0
            .rsplit_once('/')
            .map(|(parent, _)| PlaceId(parent.to_owned()))
    }

    /// The district this place belongs to.
    pub fn district(&self) -> PlaceId {
        let first = self.segments().next().unwrap_or(&self.0);
        PlaceId(first.to_owned())
    }

    /// True when `other` is this place or lies below it:
    /// `guandu/yiliu` contains `guandu/yiliu/xinyazhou` and itself, not `guandu/yiliuxi`.
    pub fn contains(&self, other: &PlaceId) -> bool {
        match other.0.strip_prefix(&self.0) {
            Some("") => true,
            Some(rest) => rest.starts_with('/'),
            None => false,
        }
    }

    /// True when `other` lies strictly below this place.
    pub fn is_ancestor_of(&self, other: &PlaceId) -> bool {
        self != other && self.contains(other)
    }

    /// The last segment, e.g. `xinyazhou`.
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

fn validate_slug(place: &str, segment: &str) -> Result<(), IdError> {
    let bad = |why: &'static str| IdError::BadPlaceSegment {
        place: place.to_owned(),
        segment: segment.to_owned(),
        why,
    };
    if segment.is_empty() {
        return Err(bad("is empty"));
    }
    if segment.len() > PLACE_SLUG_BYTES_MAX {
        return Err(bad("is longer than 48 bytes"));
    }
    if !segment.as_bytes()[0].is_ascii_lowercase() {
        return Err(bad("must start with a lowercase ASCII letter"));
    }
    if !segment
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(bad("may hold only a-z, 0-9 and '-'"));
    }
    if RESERVED_SEGMENTS.contains(&segment) {
        return Err(bad("is a document kind and cannot name a place"));
    }
    Ok(())
}

impl fmt::Display for PlaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PlaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlaceId({})", self.0)
    }
}

impl FromStr for PlaceId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PlaceId::parse(s)
    }
}

impl TryFrom<String> for PlaceId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        PlaceId::parse(&s)
    }
}

impl From<PlaceId> for String {
    fn from(p: PlaceId) -> String {
        p.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(s: &str) -> PlaceId {
        PlaceId::parse(s).unwrap()
    }

    #[test]
    fn ancestry_follows_segments_not_prefixes() {
        let street = place("guandu/yiliu");
        assert!(street.contains(&place("guandu/yiliu/xinyazhou")));
        assert!(street.contains(&street));
        assert!(!street.is_ancestor_of(&street));
        assert!(!street.contains(&place("guandu/yiliuxi")));
        assert!(!street.contains(&place("guandu")));
        assert!(place("guandu").is_ancestor_of(&street));
    }

    #[test]
    fn levels_parents_and_districts() {
        let c = place("guandu/yiliu/xinyazhou");
        assert_eq!(c.level(), PlaceLevel::Community);
        assert_eq!(c.parent(), Some(place("guandu/yiliu")));
        assert_eq!(c.district(), place("guandu"));
        assert_eq!(c.name(), "xinyazhou");
        assert_eq!(place("guandu").parent(), None);
        assert_eq!(place("guandu").level(), PlaceLevel::District);
    }

    #[test]
    fn malformed_places_are_refused() {
        for bad in [
            "",
            "/guandu",
            "guandu/",
            "guandu//yiliu",
            "Guandu",
            "1guandu",
            "guan du",
            "guandu/reports",
            "a/b/c/d/e/f",
            "关渡",
        ] {
            assert!(PlaceId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn serde_validates() {
        let p: PlaceId = serde_json::from_str("\"guandu/yiliu\"").unwrap();
        assert_eq!(p, place("guandu/yiliu"));
        assert!(serde_json::from_str::<PlaceId>("\"Guandu\"").is_err());
    }
}
