//! Changes a receiver refuses, and then may accept: once its charter
//! changes (`Input::TrustChanged`) the changes it refused must arrive again
//! without either side restarting. Two engines over an in-process queue;
//! the receiver's check refuses every change while its gate is shut,
//! as `check_changes` does for a cut-off author before the cut-off record
//! arrives.

use std::collections::VecDeque;

use automerge::{AutoCommit, ChangeHash, ROOT, sync, transaction::Transactable};
use crdt_model::DocumentId;
use node::engine::{
    AllowAll, CheckOutcome, Docs, Engine, EngineConfig, Input, MemDocs, Output, PeerKey,
};
use node::trust::refused::RefusedChanges;

/// Documents behind a gate: while shut, every change is refused alone.
struct Gate {
    inner: MemDocs,
    shut: bool,
    refused: usize,
    /// Changes refused under the current charter, as the node keeps them.
    memory: RefusedChanges,
    epoch: (usize, usize, usize),
}

impl Docs for Gate {
    fn ids(&self) -> Vec<DocumentId> {
        self.inner.ids()
    }
    fn get_mut(&mut self, id: &DocumentId) -> Option<&mut AutoCommit> {
        self.inner.get_mut(id)
    }
    fn create(&mut self, id: &DocumentId) -> &mut AutoCommit {
        self.inner.create(id)
    }
    fn changed(&mut self, id: &DocumentId, heads_before: &[ChangeHash]) {
        self.inner.changed(id, heads_before)
    }
}

impl Gate {
    /// Answers the engine's `Output::Check`.
    fn check(
        &mut self,
        _peer: &PeerKey,
        id: &DocumentId,
        message: &sync::Message,
        _proof: &[u8],
    ) -> Result<CheckOutcome, String> {
        // As check_changes does: refused changes, and those refused before,
        // are not named as the sender's heads.
        let mut scratch = match self.inner.get_mut(id) {
            Some(d) => d.fork(),
            None => AutoCommit::new(),
        };
        let before = scratch.get_heads();
        for chunk in message.changes.iter() {
            scratch.load_incremental(chunk).unwrap();
        }
        let new: Vec<(ChangeHash, Vec<ChangeHash>)> = scratch
            .get_changes(&before)
            .iter()
            .map(|c| (c.hash(), c.deps().to_vec()))
            .collect();
        if self.shut && !new.is_empty() {
            self.refused += 1;
            self.memory.note(self.epoch, id, new);
        }
        let mut filtered = message.clone();
        self.memory
            .strip(self.epoch, id, &mut filtered.heads, &before);
        if self.shut && !message.changes.is_empty() {
            filtered.changes = Vec::<Vec<u8>>::new().into();
        }
        if filtered == *message {
            return Ok(CheckOutcome::default());
        }
        Ok(CheckOutcome {
            refused: vec!["the gate is shut".into(); usize::from(self.shut)],
            filtered: Some(filtered),
            clash: None,
            prepared: None,
        })
    }
}

struct Pair {
    engines: [Engine<AllowAll>; 2],
    docs: [Gate; 2],
    keys: [PeerKey; 2],
    queue: VecDeque<(usize, Vec<u8>)>,
    now: u64,
    messages: usize,
}

impl Pair {
    fn feed(&mut self, i: usize, input: Input) {
        let outputs = self.engines[i].handle_and_check(
            input,
            self.now,
            &mut self.docs[i],
            |gate, peer, doc, message, proof| gate.check(peer, doc, message, proof),
        );
        for out in outputs {
            if let Output::Send { bytes, .. } = out {
                self.queue.push_back((1 - i, bytes));
            }
        }
    }

    /// Delivers messages and ticks for `ms` of engine time.
    fn run(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            let mut delivered = 0;
            while let Some((to, bytes)) = self.queue.pop_front() {
                let peer = self.keys[1 - to].clone();
                self.feed(
                    to,
                    Input::Message {
                        peer,
                        bytes: bytes.clone(),
                    },
                );
                delivered += 1;
                self.messages += 1;
                // A refusal must not set off an exchange that never ends.
                assert!(delivered < 1000, "messages keep flowing at {} ms", self.now);
            }
            self.now += 100;
            self.feed(0, Input::Tick);
            self.feed(1, Input::Tick);
        }
    }
}

#[test]
fn changes_refused_before_a_trust_change_arrive_after_it() {
    let id = DocumentId::parse("guandu/yiliu/xinyazhou/reports/2026-11").unwrap();
    // Both hold the document's first change; the sender has more.
    let mut first = AutoCommit::new();
    first.put(ROOT, "k0", 0).unwrap();
    first.commit();
    let mut receiver = MemDocs::new();
    receiver.insert(id.clone(), first.fork());
    let mut sender = MemDocs::new();
    sender.insert(id.clone(), first);
    let doc = sender.get_mut(&id).unwrap();
    for i in 1..5 {
        doc.put(ROOT, format!("k{i}"), i).unwrap();
        doc.commit();
    }
    let want = sender.heads(&id).unwrap();
    let mut pair = Pair {
        engines: [
            Engine::new(EngineConfig::default(), AllowAll, 1),
            Engine::new(EngineConfig::default(), AllowAll, 2),
        ],
        docs: [
            Gate {
                inner: sender,
                shut: false,
                refused: 0,
                memory: Default::default(),
                epoch: (0, 0, 0),
            },
            Gate {
                inner: receiver,
                shut: true,
                refused: 0,
                memory: Default::default(),
                epoch: (0, 0, 0),
            },
        ],
        keys: [PeerKey::new("sender"), PeerKey::new("receiver")],
        queue: VecDeque::new(),
        now: 0,
        messages: 0,
    };
    for i in 0..2 {
        let peer = pair.keys[1 - i].clone();
        pair.feed(
            i,
            Input::PeerUp {
                peer,
                sync_states: vec![],
            },
        );
    }
    pair.run(30_000);
    assert!(
        pair.docs[1].refused > 0,
        "the receiver never saw the changes"
    );
    assert_ne!(pair.docs[1].heads(&id), Some(want.clone()));
    let refused_while_shut = pair.docs[1].refused;
    // Refusing costs rounds, not a message stream: in 30 s of ticks, the
    // backed-off re-checks each cost a summary, a walk and one session.
    assert!(
        pair.messages < 200,
        "{} messages while the gate was shut",
        pair.messages
    );

    pair.docs[1].shut = false;
    pair.docs[1].epoch = (0, 1, 0);
    pair.feed(1, Input::TrustChanged);
    pair.run(30_000);
    assert_eq!(
        pair.docs[1].heads(&id),
        Some(want),
        "the refused changes did not arrive after the trust change"
    );
    assert_eq!(pair.docs[1].refused, refused_while_shut);
}
