//! The digest cache: summaries and inventories answered without reading
//! the store again.

use std::cell::Cell;

use automerge::ChangeHash;

use super::*;
use crate::Digest;
use crate::wire::{InventoryRequest, Summary};

/// `MemDocs` counting the calls that scan the store.
#[derive(Default)]
struct CountingDocs {
    inner: MemDocs,
    ids: Cell<usize>,
    heads: usize,
}

impl Docs for CountingDocs {
    fn ids(&self) -> Vec<DocumentId> {
        self.ids.set(self.ids.get() + 1);
        self.inner.ids()
    }

    fn get_mut(&mut self, id: &DocumentId) -> Option<&mut AutoCommit> {
        self.inner.get_mut(id)
    }

    fn create(&mut self, id: &DocumentId) -> &mut AutoCommit {
        self.inner.create(id)
    }

    fn changed(&mut self, id: &DocumentId, heads_before: &[ChangeHash]) {
        self.inner.changed(id, heads_before);
    }

    fn heads(&mut self, id: &DocumentId) -> Option<Vec<ChangeHash>> {
        self.heads += 1;
        self.inner.heads(id)
    }
}

/// Feeds `message` from `peer` and returns the messages sent back.
fn ask(
    engine: &mut Engine,
    docs: &mut CountingDocs,
    peer: &PeerKey,
    message: &Message,
) -> Vec<Message> {
    let bytes = wire::encode(message).unwrap();
    let input = Input::Message {
        peer: peer.clone(),
        bytes,
    };
    engine
        .handle(input, 0, docs)
        .into_iter()
        .filter_map(|o| match o {
            Output::Send { bytes, .. } => Some(wire::decode(&bytes).unwrap()),
            _ => None,
        })
        .collect()
}

fn summary_digest(answers: &[Message]) -> Digest {
    match answers {
        [Message::Summary(s)] => s.digest,
        other => panic!("expected one summary, got {other:?}"),
    }
}

#[test]
fn repeated_summary_and_inventory_requests_do_not_rescan_the_store() {
    let mut docs = CountingDocs::default();
    for (i, id) in ["guandu/charter", "guandu/yiliu/tasks", "other/roster"]
        .into_iter()
        .enumerate()
    {
        write(&mut docs.inner, &doc(id), "k", i as i64 + 1);
    }
    let mut engine = Engine::new(EngineConfig::default(), AllowAll, 0);
    let peer = PeerKey::new("street");
    engine.handle(up(peer.clone()), 0, &mut docs);
    // Connecting sends our summary: one scan, reading each document once.
    assert_eq!((docs.ids.get(), docs.heads), (1, 3));

    let summary = Message::Summary(Summary {
        digest: Digest([9; 32]),
        reply: true,
    });
    let root = Message::InventoryRequest(InventoryRequest {
        node: None,
        from: None,
    });
    let first = summary_digest(&ask(&mut engine, &mut docs, &peer, &summary));
    for _ in 0..3 {
        let again = ask(&mut engine, &mut docs, &peer, &summary);
        assert_eq!(summary_digest(&again), first);
        assert!(matches!(
            ask(&mut engine, &mut docs, &peer, &root).as_slice(),
            [Message::Inventory(_)]
        ));
    }
    assert_eq!(
        (docs.ids.get(), docs.heads),
        (1, 3),
        "the store was read again"
    );

    // A local change reads that document alone, and the summary follows it.
    let x = doc("guandu/yiliu/tasks");
    write(&mut docs.inner, &x, "more", 1);
    engine.handle(Input::LocalChange { doc: x }, 0, &mut docs);
    assert_eq!((docs.ids.get(), docs.heads), (1, 4));
    let changed = summary_digest(&ask(&mut engine, &mut docs, &peer, &summary));
    assert_ne!(changed, first);
    assert_eq!(docs.ids.get(), 1);

    // Trust changing throws the cache away: one more scan, then none.
    engine.handle(Input::TrustChanged, 0, &mut docs);
    assert_eq!(docs.ids.get(), 2);
    let after = summary_digest(&ask(&mut engine, &mut docs, &peer, &summary));
    assert_eq!(after, changed);
    assert_eq!(docs.ids.get(), 2);
    assert_eq!(engine.digest_scans(), 2);
}

#[test]
fn a_subtree_from_the_cache_leaves_out_lookalike_places() {
    let mut docs = CountingDocs::default();
    for id in [
        "guandu/yiliu/tasks",
        "guandu/yiliu-xi/tasks",
        "guandu/yiliu/a/roster",
    ] {
        write(&mut docs.inner, &doc(id), "k", 1);
    }
    let mut engine = Engine::new(EngineConfig::default(), AllowAll, 0);
    let peer = PeerKey::new("street");
    engine.handle(up(peer.clone()), 0, &mut docs);
    let request = Message::InventoryRequest(InventoryRequest {
        node: Some(crdt_model::PlaceId::parse("guandu/yiliu").unwrap()),
        from: None,
    });
    let answer = ask(&mut engine, &mut docs, &peer, &request);
    let [Message::Inventory(inventory)] = answer.as_slice() else {
        panic!("{answer:?}");
    };
    let keys: Vec<&ChildKey> = inventory.entries.iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        vec![
            &ChildKey::Place(crdt_model::PlaceId::parse("guandu/yiliu/a").unwrap()),
            &ChildKey::Doc(doc("guandu/yiliu/tasks")),
        ]
    );
}
