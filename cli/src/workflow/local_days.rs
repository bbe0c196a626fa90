//! Days as the office counts them: in the node's time zone
//! ([`node::timezone`]). An office closing November wants the report made at
//! 23:30 on the 30th in November, though in UTC it was 15:30 on the 30th and
//! one made at 07:30 on 1 December was still 30 November in UTC. Stored
//! times stay UTC; only the choice of days and the times written in CSV use
//! the zone.

use anyhow::Context as _;
use chrono::{DateTime, Datelike as _, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Tz;

use super::date;

use crate::error_out::refuse;

/// An inclusive range of local days; an open end is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DayRange {
    /// First day in it.
    pub from: Option<NaiveDate>,
    /// Last day in it.
    pub to: Option<NaiveDate>,
}

/// The flags that choose days: `--from`/`--to`, or `--year`, or `--month`.
pub(crate) struct DayFlags<'a> {
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub year: Option<i32>,
    pub month: Option<&'a str>,
}

impl DayRange {
    /// The range the flags name; a calendar period and explicit days do not
    /// mix, since one would silently narrow the other.
    pub(crate) fn from_flags(f: &DayFlags<'_>) -> anyhow::Result<DayRange> {
        let explicit = f.from.is_some() || f.to.is_some();
        match (f.year, f.month) {
            (Some(_), Some(_)) => Err(refuse("bad_flags", "input.year_or_month", &[])),
            (Some(_), None) | (None, Some(_)) if explicit => {
                Err(refuse("bad_flags", "input.days_or_period", &[]))
            }
            (Some(y), None) => {
                let first = NaiveDate::from_ymd_opt(y, 1, 1)
                    .with_context(|| format!("--year {y} is out of range"))?;
                let last = NaiveDate::from_ymd_opt(y, 12, 31)
                    .with_context(|| format!("--year {y} is out of range"))?;
                Ok(DayRange {
                    from: Some(first),
                    to: Some(last),
                })
            }
            (None, Some(m)) => month(m),
            (None, None) => {
                let from = f.from.map(|s| date(s, "--from")).transpose()?;
                let to = f.to.map(|s| date(s, "--to")).transpose()?;
                if let (Some(a), Some(b)) = (from, to)
                    && b < a
                {
                    return Err(refuse(
                        "bad_value",
                        "input.to_before_from",
                        &[("from", a.to_string()), ("to", b.to_string())],
                    ));
                }
                Ok(DayRange { from, to })
            }
        }
    }

    /// Whether the instant `t` falls on a day of the range in `tz`.
    pub(crate) fn contains(&self, t: DateTime<Utc>, tz: Tz) -> bool {
        let day = t.with_timezone(&tz).date_naive();
        self.from.is_none_or(|f| day >= f) && self.to.is_none_or(|l| day <= l)
    }
}

/// `YYYY-MM` as the range of its days.
fn month(s: &str) -> anyhow::Result<DayRange> {
    let first = NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d")
        .ok()
        .filter(|_| s.len() == 7)
        .with_context(|| format!("--month {s:?} is not a month; write it as YYYY-MM"))?;
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    };
    let last = next
        .and_then(|n| n.pred_opt())
        .with_context(|| format!("--month {s} is out of range"))?;
    Ok(DayRange {
        from: Some(first),
        to: Some(last),
    })
}

/// RFC 3339 in `tz`, with its offset: `2026-11-30T23:30:00+08:00`. The
/// offset keeps the instant exact for a reader in another zone.
pub(crate) fn stamp(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn flags(month: Option<&str>) -> DayFlags<'_> {
        DayFlags {
            from: None,
            to: None,
            year: None,
            month,
        }
    }

    #[test]
    fn a_month_holds_its_last_evening_in_local_time() {
        let nov = DayRange::from_flags(&flags(Some("2026-11"))).unwrap();
        let shanghai = chrono_tz::Asia::Shanghai;
        // 23:30 on 30 November in Shanghai is 15:30 UTC the same day.
        let late = Utc.with_ymd_and_hms(2026, 11, 30, 15, 30, 0).unwrap();
        // 07:30 on 1 December in Shanghai is still 30 November in UTC.
        let early = Utc.with_ymd_and_hms(2026, 11, 30, 23, 30, 0).unwrap();
        assert!(nov.contains(late, shanghai));
        assert!(!nov.contains(early, shanghai));
        assert_eq!(stamp(late, shanghai), "2026-11-30T23:30:00+08:00");
        let dec = DayRange::from_flags(&flags(Some("2026-12"))).unwrap();
        assert_eq!(dec.to, NaiveDate::from_ymd_opt(2026, 12, 31));
    }

    #[test]
    fn bad_periods_are_named() {
        for m in ["2026-13", "2026-1", "November"] {
            let err = DayRange::from_flags(&flags(Some(m))).unwrap_err();
            assert!(err.to_string().contains("--month"), "{err}");
        }
        let mut f = flags(Some("2026-11"));
        f.from = Some("2026-11-01");
        assert!(DayRange::from_flags(&f).is_err());
    }
}
