//! Ids of the entities inside documents: members, reports, events, tasks,
//! needs, ledger entries, stations and merchants.
//!
//! Ids are short lowercase slugs so that operators can type them. The node
//! mints them from randomness; the model only validates them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

use crate::document_id::Period;
use crate::error::IdError;

/// Longest entity id accepted.
pub const ENTITY_ID_BYTES_MAX: usize = 64;

fn validate_slug(what: &'static str, s: &str) -> Result<(), IdError> {
    let bad = |why| IdError::BadEntityId {
        what,
        id: s.to_owned(),
        why,
    };
    if s.is_empty() {
        return Err(bad("is empty"));
    }
    if s.len() > ENTITY_ID_BYTES_MAX {
        return Err(bad("is longer than 64 bytes"));
    }
    if !s.bytes().all(|b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.'
    }) {
        return Err(bad("may hold only a-z, 0-9, '-', '_' and '.'"));
    }
    Ok(())
}

macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps an id.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                validate_slug($what, s)?;
                Ok($name(s.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

slug_id!(
    /// A member's pseudonymous id (`m-3f9a2c1d`); real names live in roster-private.
    MemberId,
    "member"
);
slug_id!(
    /// A lifecycle event of a report.
    EventId,
    "event"
);
slug_id!(
    /// A task on the community's task list.
    TaskId,
    "task"
);
slug_id!(
    /// A claim on a task.
    ClaimId,
    "claim"
);
slug_id!(
    /// A rider's need on the needs list.
    NeedId,
    "need"
);
slug_id!(
    /// One immutable points entry.
    EntryId,
    "ledger entry"
);
slug_id!(
    /// A service station.
    StationId,
    "station"
);
slug_id!(
    /// A caring merchant.
    MerchantId,
    "merchant"
);
slug_id!(
    /// A training record of a member.
    TrainingId,
    "training record"
);

/// A report id: the month it was submitted and a random suffix, `202611-3fa9c2d1`.
///
/// Carrying the month lets any node find the `reports/YYYY-MM` document that
/// holds the report without an index.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReportId(String);

impl ReportId {
    /// Builds the id of a report submitted at `at` with random `suffix`.
    pub fn new(at: DateTime<Utc>, suffix: u32) -> ReportId {
        ReportId(format!("{:04}{:02}-{suffix:08x}", at.year(), at.month()))
    }

    /// Parses `YYYYMM-xxxxxxxx`.
    pub fn parse(s: &str) -> Result<ReportId, IdError> {
        let bad = |why| IdError::BadEntityId {
            what: "report",
            id: s.to_owned(),
            why,
        };
        let (month, suffix) = s
            .split_once('-')
            .ok_or_else(|| bad("want YYYYMM-xxxxxxxx"))?;
        if month.len() != 6 || !month.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("want YYYYMM-xxxxxxxx"));
        }
        let m: u32 = month[4..].parse().map_err(|_| bad("bad month"))?;
        if !(1..=12).contains(&m) || &month[..4] < "1970" {
            return Err(bad("bad month"));
        }
        if suffix.len() != 8
            || !suffix
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad("want 8 lowercase hex digits after the month"));
        }
        Ok(ReportId(s.to_owned()))
    }

    /// The month whose reports document holds this report.
    pub fn month(&self) -> Period {
        // Validated at construction: six ASCII digits lead.
        let year = self.0[..4].parse().unwrap_or(1970);
        let month = self.0[4..6].parse().unwrap_or(1);
        Period::Month { year, month }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ReportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReportId({})", self.0)
    }
}

impl FromStr for ReportId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        ReportId::parse(s)
    }
}

impl TryFrom<String> for ReportId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        ReportId::parse(&s)
    }
}

impl From<ReportId> for String {
    fn from(id: ReportId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn report_ids_carry_their_month() {
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap();
        let id = ReportId::new(at, 0x3fa9c2d1);
        assert_eq!(id.as_str(), "202611-3fa9c2d1");
        assert_eq!(ReportId::parse(id.as_str()).unwrap(), id);
        assert_eq!(
            id.month(),
            Period::Month {
                year: 2026,
                month: 11
            }
        );
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "2026-11",
            "202613-00000000",
            "202611-XYZ",
            "202611-0000000g",
            "20261-00000000",
        ] {
            assert!(ReportId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(MemberId::parse("m-01").is_ok());
        assert!(MemberId::parse("M 01").is_err());
        assert!(MemberId::parse("").is_err());
    }
}
