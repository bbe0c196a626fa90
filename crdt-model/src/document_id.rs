//! Document ids: `<place>/<kind>` or `<place>/<kind>/<period>`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

use crate::error::IdError;
use crate::place::PlaceId;

/// What a document holds; fixes its schema, its writers and its readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocKind {
    /// Admissions and revocations of nodes; lives at the district.
    Charter,
    /// Members with their pseudonymous ids, roles, certificates and status.
    Roster,
    /// Real names, phones and ID numbers. Never leaves its community's node.
    RosterPrivate,
    /// Hazard reports of one month, with their lifecycle events.
    Reports,
    /// The task list and the needs list.
    Tasks,
    /// Volunteer-points entries of one year.
    Ledger,
    /// Service stations and caring merchants.
    Directory,
    /// A street's statistics of each of its communities, for districts that
    /// replicate those communities only as summaries.
    Summary,
}

impl DocKind {
    /// Every kind, in a fixed order.
    pub const ALL: [DocKind; 8] = [
        DocKind::Charter,
        DocKind::Roster,
        DocKind::RosterPrivate,
        DocKind::Reports,
        DocKind::Tasks,
        DocKind::Ledger,
        DocKind::Directory,
        DocKind::Summary,
    ];

    /// The path segment naming this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Charter => "charter",
            DocKind::Roster => "roster",
            DocKind::RosterPrivate => "roster-private",
            DocKind::Reports => "reports",
            DocKind::Tasks => "tasks",
            DocKind::Ledger => "ledger",
            DocKind::Directory => "directory",
            DocKind::Summary => "summary",
        }
    }

    fn from_segment(s: &str) -> Option<DocKind> {
        DocKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Which period, if any, splits documents of this kind.
    pub fn period_kind(self) -> Option<PeriodKind> {
        match self {
            DocKind::Reports => Some(PeriodKind::Month),
            DocKind::Ledger => Some(PeriodKind::Year),
            _ => None,
        }
    }
}

impl fmt::Display for DocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a kind is split by month or by year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodKind {
    /// `YYYY-MM`
    Month,
    /// `YYYY`
    Year,
}

/// The period a bounded document covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Period {
    /// A calendar month (UTC+8 is not applied: periods follow the event's own date).
    Month {
        /// Four-digit year.
        year: i32,
        /// 1..=12
        month: u32,
    },
    /// A calendar year.
    Year {
        /// Four-digit year.
        year: i32,
    },
}

impl Period {
    /// The month containing `t`.
    pub fn month_of(t: DateTime<Utc>) -> Period {
        Period::Month {
            year: t.year(),
            month: t.month(),
        }
    }

    /// The year containing `t`.
    pub fn year_of(t: DateTime<Utc>) -> Period {
        Period::Year { year: t.year() }
    }

    fn parse(kind: PeriodKind, s: &str) -> Option<Period> {
        let year = |y: &str| {
            (y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()))
                .then(|| y.parse::<i32>().ok())
                .flatten()
                .filter(|y| *y >= 1970)
        };
        match kind {
            PeriodKind::Year => year(s).map(|year| Period::Year { year }),
            PeriodKind::Month => {
                let (y, m) = s.split_once('-')?;
                let year = year(y)?;
                if m.len() != 2 || !m.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let month: u32 = m.parse().ok()?;
                (1..=12)
                    .contains(&month)
                    .then_some(Period::Month { year, month })
            }
        }
    }

    fn kind(self) -> PeriodKind {
        match self {
            Period::Month { .. } => PeriodKind::Month,
            Period::Year { .. } => PeriodKind::Year,
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Month { year, month } => write!(f, "{year:04}-{month:02}"),
            Period::Year { year } => write!(f, "{year:04}"),
        }
    }
}

/// The id of one Automerge document. The node of `place` owns it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DocumentId {
    place: PlaceId,
    kind: DocKind,
    period: Option<Period>,
}

impl DocumentId {
    /// An id for an unperiodised kind; errors if the kind needs a period.
    pub fn new(place: PlaceId, kind: DocKind) -> Result<DocumentId, IdError> {
        if kind.period_kind().is_some() {
            return Err(IdError::PeriodRequired {
                kind: kind.as_str(),
            });
        }
        Ok(DocumentId {
            place,
            kind,
            period: None,
        })
    }

    /// An id for a periodised kind; errors if the period does not fit the kind.
    pub fn with_period(
        place: PlaceId,
        kind: DocKind,
        period: Period,
    ) -> Result<DocumentId, IdError> {
        if kind.period_kind() != Some(period.kind()) {
            return Err(IdError::PeriodMismatch {
                kind: kind.as_str(),
                period: period.to_string(),
            });
        }
        Ok(DocumentId {
            place,
            kind,
            period: Some(period),
        })
    }

    /// `<place>/reports/YYYY-MM` for the month of `t`.
    pub fn reports(place: PlaceId, t: DateTime<Utc>) -> DocumentId {
        DocumentId {
            place,
            kind: DocKind::Reports,
            period: Some(Period::month_of(t)),
        }
    }

    /// `<place>/ledger/YYYY` for the year of `t`.
    pub fn ledger(place: PlaceId, t: DateTime<Utc>) -> DocumentId {
        DocumentId {
            place,
            kind: DocKind::Ledger,
            period: Some(Period::year_of(t)),
        }
    }

    /// `<place>/<kind>` for kinds without a period.
    pub fn singleton(place: PlaceId, kind: DocKind) -> DocumentId {
        debug_assert!(kind.period_kind().is_none());
        DocumentId {
            place,
            kind,
            period: None,
        }
    }

    /// Parses `guandu/yiliu/xinyazhou/reports/2026-11` and friends.
    pub fn parse(s: &str) -> Result<DocumentId, IdError> {
        let bad = |why: &'static str| IdError::BadDocumentId {
            id: s.to_owned(),
            why,
        };
        let segments: Vec<&str> = s.split('/').collect();
        // The kind is the last segment, or the one before a period.
        let (kind_at, kind) = match segments.as_slice() {
            [.., k, _] if DocKind::from_segment(k).is_some_and(|k| k.period_kind().is_some()) => {
                (segments.len() - 2, DocKind::from_segment(k))
            }
            [.., k] => (segments.len() - 1, DocKind::from_segment(k)),
            [] => return Err(bad("is empty")),
        };
        let kind = kind.ok_or_else(|| bad("does not end in a known document kind"))?;
        if kind_at == 0 {
            return Err(bad("has no place before its kind"));
        }
        let place = PlaceId::parse(&segments[..kind_at].join("/"))?;
        let period = match (kind.period_kind(), segments.get(kind_at + 1)) {
            (None, None) => None,
            (None, Some(_)) => return Err(bad("has a period on a kind that takes none")),
            (Some(_), None) => return Err(bad("lacks the period its kind requires")),
            (Some(pk), Some(p)) => Some(Period::parse(pk, p).ok_or_else(|| {
                bad("has a malformed period (want YYYY-MM for reports, YYYY for ledgers)")
            })?),
        };
        Ok(DocumentId {
            place,
            kind,
            period,
        })
    }

    /// The place whose node owns this document.
    pub fn place(&self) -> &PlaceId {
        &self.place
    }

    /// What the document holds.
    pub fn kind(&self) -> DocKind {
        self.kind
    }

    /// The month or year it covers, for bounded kinds.
    pub fn period(&self) -> Option<Period> {
        self.period
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.place, self.kind)?;
        if let Some(p) = self.period {
            write!(f, "/{p}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentId({self})")
    }
}

impl FromStr for DocumentId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DocumentId::parse(s)
    }
}

impl TryFrom<String> for DocumentId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        DocumentId::parse(&s)
    }
}

impl From<DocumentId> for String {
    fn from(d: DocumentId) -> String {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        for s in [
            "guandu/charter",
            "guandu/yiliu/xinyazhou/roster",
            "guandu/yiliu/xinyazhou/roster-private",
            "guandu/yiliu/xinyazhou/reports/2026-11",
            "guandu/yiliu/xinyazhou/ledger/2026",
            "guandu/yiliu/tasks",
            "guandu/yiliu/xinyazhou/directory",
        ] {
            let id = DocumentId::parse(s).unwrap();
            assert_eq!(id.to_string(), s);
            assert_eq!(DocumentId::parse(&id.to_string()).unwrap(), id);
        }
    }

    #[test]
    fn parts_are_exposed() {
        let id = DocumentId::parse("guandu/yiliu/xinyazhou/reports/2026-03").unwrap();
        assert_eq!(id.place().as_str(), "guandu/yiliu/xinyazhou");
        assert_eq!(id.kind(), DocKind::Reports);
        assert_eq!(
            id.period(),
            Some(Period::Month {
                year: 2026,
                month: 3
            })
        );
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "reports/2026-11",
            "guandu/yiliu",
            "guandu/reports",
            "guandu/reports/2026-13",
            "guandu/reports/26-11",
            "guandu/reports/2026",
            "guandu/ledger/2026-11",
            "guandu/roster/2026",
            "Guandu/roster",
        ] {
            assert!(DocumentId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn constructors_check_periods() {
        let p = PlaceId::parse("guandu").unwrap();
        assert!(DocumentId::new(p.clone(), DocKind::Reports).is_err());
        assert!(
            DocumentId::with_period(
                p.clone(),
                DocKind::Ledger,
                Period::Month {
                    year: 2026,
                    month: 1
                }
            )
            .is_err()
        );
        assert!(DocumentId::with_period(p, DocKind::Ledger, Period::Year { year: 2026 }).is_ok());
    }
}
