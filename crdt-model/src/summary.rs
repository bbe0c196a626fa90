//! Statistics summaries (`<street>/summary`): the counts of each of a
//! street's communities, kept by the street so that a district can follow a
//! neighbourhood's outcomes without replicating its reports.
//!
//! Layout: root key `place/<community>` holding the community's [`Stats`] as
//! JSON text, and `at` (ms) when it was counted. Only the street writes it.

use std::collections::BTreeMap;

use automerge::{ObjType, ROOT, ReadDoc, ScalarValue, Value, transaction::Transactable};
use chrono::{DateTime, Utc};

use crate::error::{ModelError, SchemaError};
use crate::place::PlaceId;
use crate::stats::Stats;

/// Writes (replaces) the summary of `place`.
pub fn put<T: Transactable + ReadDoc>(
    doc: &mut T,
    place: &PlaceId,
    stats: &Stats,
    at: DateTime<Utc>,
) -> Result<(), ModelError> {
    let json = serde_json::to_string(stats).map_err(|e| ModelError::Automerge(e.to_string()))?;
    let obj = doc.put_object(ROOT, format!("place/{place}"), ObjType::Map)?;
    doc.put(&obj, "stats", json)?;
    doc.put(&obj, "at", at.timestamp_millis())?;
    Ok(())
}

/// Every summary in the document, by place.
pub fn list<D: ReadDoc>(doc: &D) -> Result<BTreeMap<PlaceId, Stats>, SchemaError> {
    let mut out = BTreeMap::new();
    for key in doc.keys(ROOT) {
        let Some(raw) = key.strip_prefix("place/") else {
            continue;
        };
        let bad = |why: String| SchemaError {
            path: key.clone(),
            why,
        };
        let place = PlaceId::parse(raw).map_err(|e| bad(e.to_string()))?;
        let Ok(Some((Value::Object(ObjType::Map), obj))) = doc.get(ROOT, key.as_str()) else {
            return Err(bad("not a map".into()));
        };
        let json = match doc.get(&obj, "stats") {
            Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
                ScalarValue::Str(t) => t.to_string(),
                _ => return Err(bad("stats is not text".into())),
            },
            _ => return Err(bad("stats missing".into())),
        };
        let stats: Stats = serde_json::from_str(&json).map_err(|e| bad(e.to_string()))?;
        out.insert(place, stats);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_round_trip() {
        let mut doc = automerge::AutoCommit::new();
        let p = PlaceId::parse("guandu/yiliu/xinyazhou").unwrap();
        let stats = Stats {
            total: 3,
            closed: 1,
            ..Stats::default()
        };
        put(&mut doc, &p, &stats, Utc::now()).unwrap();
        let back = list(&doc).unwrap();
        assert_eq!(back[&p], stats);
    }
}
