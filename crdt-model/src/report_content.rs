//! What a rider submitted, written as one value: the part of a report that
//! never changes after submission.
//!
//! Why one value: every Automerge operation costs column work on every
//! write, sync and load, and a report's category, place, text, times,
//! submitter and attachments are written once and never edited by anyone.
//! Kept as ten fields and an attachments map they cost a dozen operations
//! per report; as one string they cost one. CRDT structure stays where
//! replicas do write concurrently: the `events` map (`docs/storage.md`,
//! "Format change: a report's content as one value").
//!
//! The value is JSON text, so any Automerge reader (the JavaScript one
//! included) can read an exported document with a JSON parser:
//!
//! ```text
//! {"v":1,"category":"manhole_cover","lat":24.97,"lon":102.74,"address":"…",
//!  "grid":"…","text":"…","reporter":"…","submitted_at":1795420800000,
//!  "submitted_by":"<peer id>","deadline":1795507200000,
//!  "attachments":[{"hash":"<64 hex>","mime":"image/jpeg","size":1000,"kind":"photo"}]}
//! ```
//!
//! `address`, `grid` and `reporter` are left out when absent; times are
//! milliseconds since the Unix epoch, as everywhere in Yizhan's documents.
//! [`decode`] is strict: unknown fields, a version other than
//! [`CONTENT_VERSION`], a value larger than [`CONTENT_BYTES_MAX`] and
//! anything a new report could not hold are errors, so a peer's malformed
//! content is refused by the write rules instead of reaching a reader.

use std::borrow::Cow;

use chrono::{TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::category::Category;
use crate::error::ValidationError;
use crate::geo::{LatLon, Location};
use crate::ids::{MemberId, ReportId};
use crate::report::{Attachment, AttachmentKind, Report, validate_parts};
use crate::rules::TimeRule;

/// The key of a report's map that holds its content.
pub const CONTENT_KEY: &str = "content";
/// The version [`encode`] writes and the only one [`decode`] reads.
pub const CONTENT_VERSION: u32 = 1;
/// Largest content value read, in bytes: the longest text (2,000 characters
/// of up to 4 bytes), address and grid, and nine attachments fit in a
/// third of it.
pub const CONTENT_BYTES_MAX: usize = 32 * 1024;

/// Why a content value does not read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ContentError {
    /// Larger than [`CONTENT_BYTES_MAX`].
    #[error("content of {bytes} bytes is larger than {max}")]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The bound.
        max: usize,
    },
    /// A version this build does not read.
    #[error("content version {found} is not {CONTENT_VERSION}, the one this build reads")]
    Version {
        /// The version found.
        found: u64,
    },
    /// Not JSON of the layout above.
    #[error("content is not a report's content: {0}")]
    Malformed(String),
    /// A name (category, attachment kind) or id that does not parse.
    #[error("content {field} {value:?} is not a known value")]
    Unknown {
        /// The field.
        field: &'static str,
        /// What it holds.
        value: String,
    },
    /// A time outside what a date can hold.
    #[error("content {field} is out of range")]
    Time {
        /// The field.
        field: &'static str,
    },
    /// Fields that read but that a new report could not hold.
    #[error("content is invalid: {0}")]
    Invalid(#[from] ValidationError),
}

/// The layout on the wire, with names and plain numbers only: reordering an
/// enum or adding a field to [`Attachment`] cannot change it by accident.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire<'a> {
    v: u32,
    #[serde(borrow)]
    category: Cow<'a, str>,
    lat: f64,
    lon: f64,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    address: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    grid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    text: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    reporter: Option<Cow<'a, str>>,
    submitted_at: i64,
    #[serde(borrow)]
    submitted_by: Cow<'a, str>,
    deadline: i64,
    #[serde(borrow)]
    attachments: Vec<WireAttachment<'a>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireAttachment<'a> {
    #[serde(borrow)]
    hash: Cow<'a, str>,
    #[serde(borrow)]
    mime: Cow<'a, str>,
    size: u64,
    #[serde(borrow)]
    kind: Cow<'a, str>,
}

/// Only the version, to tell "a later version" from "not content at all".
#[derive(Deserialize)]
struct VersionOnly {
    v: u64,
}

/// The value stored at [`CONTENT_KEY`] for `c`'s content (its id and
/// events are kept elsewhere).
pub fn encode(c: &Report) -> String {
    let wire = Wire {
        v: CONTENT_VERSION,
        category: Cow::Borrowed(c.category.as_str()),
        lat: c.location.point.lat,
        lon: c.location.point.lon,
        address: c.location.address.as_deref().map(Cow::Borrowed),
        grid: c.location.grid.as_deref().map(Cow::Borrowed),
        text: Cow::Borrowed(&c.text),
        reporter: c.reporter.as_ref().map(|m| Cow::Borrowed(m.as_str())),
        submitted_at: c.submitted_at.timestamp_millis(),
        submitted_by: Cow::Borrowed(&c.submitted_by),
        deadline: c.deadline.timestamp_millis(),
        attachments: c
            .attachments
            .iter()
            .map(|a| WireAttachment {
                hash: Cow::Borrowed(&a.hash),
                mime: Cow::Borrowed(&a.mime),
                size: a.size,
                kind: Cow::Borrowed(a.kind.as_str()),
            })
            .collect(),
    };
    // Strings, integers and finite floats only: serialising cannot fail,
    // and a non-finite float (which JSON cannot hold) is refused by
    // validation before any report is written.
    serde_json::to_string(&wire).unwrap_or_default()
}

/// Reads and checks the content value of report `id`: the report, without
/// its events.
pub fn decode(id: &ReportId, s: &str) -> Result<Report, ContentError> {
    if s.len() > CONTENT_BYTES_MAX {
        return Err(ContentError::TooLarge {
            bytes: s.len(),
            max: CONTENT_BYTES_MAX,
        });
    }
    let wire: Wire<'_> =
        serde_json::from_str(s).map_err(|e| match serde_json::from_str::<VersionOnly>(s) {
            Ok(VersionOnly { v }) if v != u64::from(CONTENT_VERSION) => {
                ContentError::Version { found: v }
            }
            _ => ContentError::Malformed(e.to_string()),
        })?;
    if wire.v != CONTENT_VERSION {
        return Err(ContentError::Version {
            found: u64::from(wire.v),
        });
    }
    let unknown = |field, value: &str| ContentError::Unknown {
        field,
        value: value.to_owned(),
    };
    let time = |field, ms: i64| {
        Utc.timestamp_millis_opt(ms)
            .single()
            .ok_or(ContentError::Time { field })
    };
    let mut attachments = Vec::with_capacity(wire.attachments.len());
    for a in &wire.attachments {
        attachments.push(Attachment {
            hash: a.hash.to_string(),
            mime: a.mime.to_string(),
            size: a.size,
            kind: AttachmentKind::from_name(&a.kind).ok_or_else(|| unknown("kind", &a.kind))?,
        });
    }
    let content = Report {
        id: id.clone(),
        category: Category::from_name(&wire.category)
            .ok_or_else(|| unknown("category", &wire.category))?,
        location: Location {
            point: LatLon::new(wire.lat, wire.lon)?,
            address: wire.address.map(Cow::into_owned),
            grid: wire.grid.map(Cow::into_owned),
        },
        text: wire.text.into_owned(),
        attachments,
        reporter: wire
            .reporter
            .map(|r| MemberId::parse(&r).map_err(|_| unknown("reporter", &r)))
            .transpose()?,
        submitted_at: time("submitted_at", wire.submitted_at)?,
        submitted_by: wire.submitted_by.into_owned(),
        deadline: time("deadline", wire.deadline)?,
        events: Vec::new(),
    };
    validate_parts(&content.location, &content.text, &content.attachments)?;
    if content.deadline <= content.submitted_at {
        return Err(ValidationError::BadTime(TimeRule::DeadlineBeforeSubmission).into());
    }
    if ReportId::new(content.submitted_at, 0).month() != id.month() {
        let report = id.to_string();
        return Err(ValidationError::BadTime(TimeRule::OtherMonth { report }).into());
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_reports::new_report;

    fn content() -> Report {
        let r = new_report(3, true);
        Report {
            id: r.id,
            events: Vec::new(),
            category: r.category,
            location: r.location,
            text: r.text,
            attachments: r.attachments,
            reporter: r.reporter,
            submitted_at: r.submitted_at,
            deadline: r.submitted_at + chrono::Duration::days(2),
            submitted_by: r.submitted_by,
        }
    }

    #[test]
    fn content_reads_back_as_written() {
        let c = content();
        assert_eq!(decode(&c.id, &encode(&c)), Ok(c));
    }

    #[test]
    fn coordinates_read_back_to_the_bit() {
        // Neighbouring floats need seventeen digits to tell apart: parsing
        // them exactly takes more than a fast float parser's best effort.
        let mut c = content();
        for k in 0..2000 {
            let lat = f64::from_bits(24.97_f64.to_bits() + k);
            let lon = f64::from_bits(102.74_f64.to_bits() + 3 * k);
            c.location.point = LatLon::new(lat, lon).unwrap();
            let back = decode(&c.id, &encode(&c)).unwrap().location.point;
            assert_eq!(
                (back.lat.to_bits(), back.lon.to_bits()),
                (lat.to_bits(), lon.to_bits())
            );
        }
    }

    #[test]
    fn the_encoding_is_pinned() {
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap();
        let c = Report {
            id: ReportId::new(at, 42),
            events: Vec::new(),
            category: Category::ManholeCover,
            location: Location {
                point: LatLon::new(24.97, 102.74).unwrap(),
                address: Some("北京路 1 号".into()),
                grid: Some("g-7".into()),
            },
            text: "井盖\"翘起\"".into(),
            attachments: vec![Attachment {
                hash: "ab".repeat(32),
                mime: "image/jpeg".into(),
                size: 1000,
                kind: AttachmentKind::Photo,
            }],
            reporter: Some(MemberId::parse("m-01").unwrap()),
            submitted_at: at,
            submitted_by: "peer".into(),
            deadline: at + chrono::Duration::hours(24),
        };
        let want = concat!(
            r#"{"v":1,"category":"manhole_cover","lat":24.97,"lon":102.74,"#,
            r#""address":"北京路 1 号","grid":"g-7","text":"井盖\"翘起\"","reporter":"m-01","#,
            r#""submitted_at":1795420800000,"submitted_by":"peer","deadline":1795507200000,"#,
            r#""attachments":[{"hash":""#,
            "abababababababababababababababababababababababababababababababab",
            r#"","mime":"image/jpeg","size":1000,"kind":"photo"}]}"#
        );
        assert_eq!(encode(&c), want);
        assert_eq!(decode(&c.id, want), Ok(c));
    }

    #[test]
    fn malformed_content_is_an_error_naming_what_is_wrong() {
        let id = content().id;
        let good = encode(&content());
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "not a report's content"),
            ("[1,2]".into(), "not a report's content"),
            (good.replacen(r#""v":1"#, r#""v":2"#, 1), "version 2"),
            (good.replacen(r#""v":1,"#, "", 1), "not a report's content"),
            (good.replacen('{', r#"{"extra":1,"#, 1), "unknown field"),
            (
                good.replacen(r#""lat":"#, r#""lat":1e999,"x":"#, 1),
                "not a report's content",
            ),
            (
                good.replacen(content().category.as_str(), "volcano", 1),
                r#"category "volcano""#,
            ),
            (
                good.replacen(r#""kind":"photo""#, r#""kind":"video""#, 1),
                "kind",
            ),
            (
                good.replacen(&content().text, &"x".repeat(2001), 1),
                "invalid",
            ),
            (
                format!("{good:width$}", width = CONTENT_BYTES_MAX + 1),
                "larger",
            ),
        ];
        for (value, want) in cases {
            let err = decode(&id, &value).expect_err(&value).to_string();
            assert!(err.contains(want), "{value:.80}: {err}");
        }
    }

    #[test]
    fn a_report_is_three_operations_whatever_it_holds() {
        use automerge::AutoCommit;
        let mut doc = AutoCommit::new();
        let mut r = new_report(3, true);
        r.attachments = vec![r.attachments[0].clone(); 9];
        r.location.address = Some("北京路 1 号".into());
        crate::report::submit(&mut doc, &r).unwrap();
        doc.commit();
        // The report's map, its content and its events map.
        assert_eq!(doc.get_last_local_change().unwrap().len(), 3);
    }

    #[test]
    fn a_report_whose_content_does_not_read_is_an_error_naming_it() {
        use automerge::transaction::Transactable;
        use automerge::{AutoCommit, ROOT, ReadDoc};
        let mut doc = AutoCommit::new();
        let r = new_report(3, false);
        crate::report::submit(&mut doc, &r).unwrap();
        let (_, obj) = doc.get(ROOT, format!("report/{}", r.id)).unwrap().unwrap();
        doc.put(&obj, CONTENT_KEY, r#"{"v":7}"#).unwrap();
        let err = crate::report::get(&doc, &r.id).unwrap_err().to_string();
        assert!(err.contains(&format!("report/{}/content", r.id)), "{err}");
        assert!(err.contains("version 7"), "{err}");
        assert_eq!(crate::report::list(&doc).unwrap_err().to_string(), err);
    }

    #[test]
    fn content_out_of_range_is_refused() {
        let mut c = content();
        c.location.point.lat = 91.0;
        let err = decode(&c.id, &encode(&c)).unwrap_err();
        assert_eq!(
            err,
            ContentError::Invalid(ValidationError::LatitudeOutOfRange(91.0))
        );
        let mut c = content();
        c.deadline = c.submitted_at;
        let err = decode(&c.id, &encode(&c)).unwrap_err();
        assert!(err.to_string().contains("deadline"), "{err}");
        let c = content();
        let next_month = ReportId::new(c.submitted_at + chrono::Duration::days(31), 3);
        let err = decode(&next_month, &encode(&c)).unwrap_err();
        assert!(err.to_string().contains("month"), "{err}");
    }
}
