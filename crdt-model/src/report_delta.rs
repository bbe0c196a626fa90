//! What changed in a reports document between two sets of its heads, read
//! from the operations of the new changes alone.
//!
//! Why: listing every report of a month to learn what one write did costs
//! time linear in the month, and a busy community writes thousands of
//! reports a month. The new changes' operations name the objects they touch;
//! each object hangs under one root key `report/<id>`, so the reports a
//! write touched, and the blob hashes it named (attachments, in a report's
//! content value, and evidence photos, each a map with a `hash` key),
//! follow from a few lookups per operation, whatever the document's size.

use std::collections::{BTreeSet, HashMap};

use automerge::legacy::{Key, ObjectId};
use automerge::{AutoCommit, ChangeHash, ObjId, Prop, ReadDoc, ScalarValue};

use crate::ids::ReportId;
use crate::report::PREFIX;
use crate::report_content::{self, CONTENT_KEY};

/// The reports and blob hashes that changes added since some heads touch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportDelta {
    /// Reports created, or given events, by the new changes.
    pub reports: BTreeSet<ReportId>,
    /// The attachments of content values written, and values written under a
    /// `hash` key inside a report (evidence photos), as written: the reader
    /// checks their form.
    pub hashes: BTreeSet<String>,
}

/// What the changes of `doc` that `before` does not include touch, or
/// `None` when `doc` lacks one of `before` (its history was replaced, as
/// by a rebuilt store) and the difference cannot be told from changes.
pub fn since(doc: &mut AutoCommit, before: &[ChangeHash]) -> Option<ReportDelta> {
    if before
        .iter()
        .any(|h| doc.get_change_meta_by_hash(h).is_none())
    {
        return None;
    }
    let changes = doc.get_changes(before);
    let mut delta = ReportDelta::default();
    // Operations come in runs on one object: look each up once.
    let mut root_keys: HashMap<String, Option<String>> = HashMap::new();
    let report_prefix = format!("{PREFIX}/");
    for change in &changes {
        for op in change.decode().operations {
            let root_key = match &op.obj {
                ObjectId::Root => match &op.key {
                    Key::Map(k) => Some(k.to_string()),
                    Key::Seq(_) => None,
                },
                ObjectId::Id(id) => {
                    let name = id.to_string();
                    if !root_keys.contains_key(&name) {
                        let key = doc
                            .import_obj(&name)
                            .ok()
                            .and_then(|obj| root_key_of(doc, &obj));
                        root_keys.insert(name.clone(), key);
                    }
                    root_keys.get(&name).cloned().flatten()
                }
            };
            let Some(raw) = root_key
                .as_deref()
                .and_then(|k| k.strip_prefix(&report_prefix))
            else {
                continue;
            };
            // A key that is not a report id is not a report: `list` refuses
            // the document for it, and so will the reader of this delta.
            let id = ReportId::parse(raw).ok();
            delta.reports.extend(id.clone());
            let (Key::Map(k), automerge::legacy::OpType::Put(ScalarValue::Str(v))) =
                (&op.key, &op.action)
            else {
                continue;
            };
            if matches!(op.obj, ObjectId::Root) {
                continue;
            }
            match k.as_str() {
                "hash" => {
                    delta.hashes.insert(v.to_string());
                }
                // Content that does not decode names no blob; the reader
                // refuses the report for it.
                CONTENT_KEY => {
                    if let Some(Ok(c)) = id.as_ref().map(|id| report_content::decode(id, v)) {
                        delta
                            .hashes
                            .extend(c.attachments.into_iter().map(|a| a.hash));
                    }
                }
                _ => {}
            }
        }
    }
    Some(delta)
}

/// The root key `obj` hangs under, if it is reachable from the root.
fn root_key_of(doc: &AutoCommit, obj: &ObjId) -> Option<String> {
    let last = doc.parents(obj).ok()?.last()?;
    match last.prop {
        Prop::Map(k) if last.obj == automerge::ROOT => Some(k),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_reports::{event, new_report};

    #[test]
    fn a_new_report_and_an_event_are_found_with_their_hashes() {
        let mut doc = AutoCommit::new();
        let a = new_report(1, true);
        crate::report::submit(&mut doc, &a).unwrap();
        let before = doc.get_heads();
        let b = new_report(2, true);
        crate::report::submit(&mut doc, &b).unwrap();
        let d = since(&mut doc, &before).unwrap();
        assert_eq!(d.reports, BTreeSet::from([b.id.clone()]));
        assert_eq!(
            d.hashes,
            b.attachments.iter().map(|a| a.hash.clone()).collect()
        );
        let before = doc.get_heads();
        crate::report::record_event(&mut doc, &a.id, &event(&a)).unwrap();
        let d = since(&mut doc, &before).unwrap();
        assert_eq!(d.reports, BTreeSet::from([a.id.clone()]));
        assert!(d.hashes.is_empty());
    }

    #[test]
    fn unknown_heads_cannot_be_told_apart() {
        let mut doc = AutoCommit::new();
        crate::report::submit(&mut doc, &new_report(1, false)).unwrap();
        let mut other = AutoCommit::new();
        crate::report::submit(&mut other, &new_report(2, false)).unwrap();
        let foreign = other.get_heads();
        assert_eq!(since(&mut doc, &foreign), None);
    }
}
