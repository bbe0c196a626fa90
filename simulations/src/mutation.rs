//! Deliberate bugs injected into a simulated node, which the invariants
//! must catch: proof that a passing run means something.

use yizhan_engine::PeerKey;
use yizhan_engine::wire::Message;

/// A message kind, for faults injected into a node's behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// `Summary`.
    Summary,
    /// `InventoryRequest`.
    InventoryRequest,
    /// `Inventory`.
    Inventory,
    /// `Announce`.
    Announce,
    /// `Sync`, alone or several in a `Batch`.
    Sync,
    /// `Deny`.
    Deny,
}

impl MessageKind {
    /// The kind of `m`.
    pub fn of(m: &Message) -> MessageKind {
        match m {
            Message::Summary(_) => MessageKind::Summary,
            Message::InventoryRequest(_) => MessageKind::InventoryRequest,
            Message::Inventory(_) => MessageKind::Inventory,
            Message::Announce(_) => MessageKind::Announce,
            Message::Sync(_) | Message::Batch(_) => MessageKind::Sync,
            Message::Deny(_) => MessageKind::Deny,
        }
    }
}

/// A deliberate bug the simulator must catch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mutation {
    /// Node `from` silently never sends messages of `kind`, as if its
    /// engine had lost that code path.
    Silent {
        /// The node (its place, as written) whose messages are dropped.
        from: String,
        /// The kind it never sends.
        kind: MessageKind,
    },
    /// Node `node` never reads its charter, as the simulator's nodes did
    /// before they drove trust: it checks changes and peers as if nothing
    /// were revoked and witnesses no cut-off.
    IgnoresCharter {
        /// The node (its place, as written).
        node: String,
    },
}

impl Mutation {
    /// Does node `peer` ignore its charter?
    pub fn ignores_charter(&self, peer: &PeerKey) -> bool {
        matches!(self, Mutation::IgnoresCharter { node } if node == peer.as_str())
    }
}
