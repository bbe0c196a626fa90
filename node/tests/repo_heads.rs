//! A reopened node answers a document's heads from the store's records,
//! without loading the document, and the answer matches the loaded
//! document's heads, also after changes appended since the last snapshot.

use chrono::{TimeZone, Utc};
use crdt_model::{Category, DocumentId, PlaceId};
use node::api::{ReportContent, SubmitReport};
use node::{Node, Role};

fn report(i: u32) -> SubmitReport {
    SubmitReport {
        content: ReportContent {
            category: Category::ALL[i as usize % Category::ALL.len()],
            lat: 24.9 + f64::from(i) * 1e-3,
            lon: 102.7,
            text: format!("blocked fire lane {i}"),
            address: None,
            grid: None,
            reporter: None,
        },
        attachments: Vec::new(),
    }
}

#[test]
fn heads_come_from_the_store_without_loading_and_match_the_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("n");
    let place = PlaceId::parse("guandu/yiliu/xinyazhou").unwrap();
    let mut node = Node::init(&dir, Role::Community, place, None).unwrap();
    let months = [10, 11];
    for (k, m) in months.iter().enumerate() {
        let at = Utc.with_ymd_and_hms(2026, *m, 5, 9, 0, 0).unwrap();
        // Enough single-report commits to pass the compaction threshold, so
        // both a snapshot and later change chunks stand behind the heads.
        for i in 0..250 {
            node.submit_reports(vec![report(k as u32 * 1000 + i)], at)
                .unwrap();
        }
    }
    drop(node);

    let mut node = Node::open(&dir).unwrap();
    let ids: Vec<DocumentId> = node.repo().document_ids().unwrap();
    let reports: Vec<&DocumentId> = ids
        .iter()
        .filter(|id| id.to_string().contains("/reports/"))
        .collect();
    assert_eq!(reports.len(), months.len(), "{ids:?}");
    let loaded = node.repo().loaded();
    let from_records: Vec<_> = reports
        .iter()
        .map(|id| node.repo().heads(id).unwrap().unwrap())
        .collect();
    assert_eq!(
        node.repo().loaded(),
        loaded,
        "reading heads loaded a document"
    );
    for (id, recorded) in reports.iter().zip(&from_records) {
        let mut heads = node.repo().existing(id).unwrap().unwrap().get_heads();
        heads.sort_unstable();
        assert_eq!(&heads, recorded, "{id}");
        // Loaded now: the answer comes from memory and still matches.
        assert_eq!(node.repo().heads(id).unwrap().as_ref(), Some(recorded));
    }
    let absent = DocumentId::parse("guandu/yiliu/xinyazhou/reports/2020-01").unwrap();
    assert_eq!(node.repo().heads(&absent).unwrap(), None);
}
