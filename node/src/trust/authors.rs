//! Names for the nodes that wrote a report and its events: their place and
//! role, as the admission chains this node holds establish them.
//!
//! Operators know nodes by place, not by peer id. The name comes from a
//! credential (the charter's admission records, those stored with the
//! changes a node authored, this node's own, or the root's), never from what
//! a writer put in the document, and a credential that does not hold names
//! nobody: the peer id is shown instead.

use std::collections::BTreeMap;

use crdt_model::PlaceId;
use libp2p::PeerId;
use serde::{Deserialize, Serialize};

use super::admission::{Credential, NodeKey};
use super::charter::CharterView;
use crate::api::Node;
use crate::config::Role;
use crate::error::NodeError;

/// A node as operators know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorName {
    /// The place it owns.
    pub place: PlaceId,
    /// Its role.
    pub role: Role,
}

impl Node {
    /// The place and role of each of `peers` (peer ids) that a credential
    /// held here names; peers without one are left out.
    pub fn author_names<'p>(
        &mut self,
        peers: impl IntoIterator<Item = &'p str>,
    ) -> Result<BTreeMap<String, AuthorName>, NodeError> {
        let mut out = BTreeMap::new();
        let Some(own) = self.credential()? else {
            return Ok(out);
        };
        let view = self.charter_view()?;
        for peer in peers {
            if out.contains_key(peer) {
                continue;
            }
            if let Some(name) = self.author_name(peer, &own, &view)? {
                out.insert(peer.to_owned(), name);
            }
        }
        Ok(out)
    }

    fn author_name(
        &mut self,
        peer: &str,
        own: &Credential,
        view: &CharterView,
    ) -> Result<Option<AuthorName>, NodeError> {
        // A malformed id in a document names nobody; it is not an error.
        let Some(key) = peer
            .parse::<PeerId>()
            .ok()
            .and_then(|p| NodeKey::of_peer(&p).ok())
        else {
            return Ok(None);
        };
        let cred = if key == own.federation.root {
            Some(Credential::root(own.federation.clone()))
        } else {
            self.known_credential(&key, view)?
        };
        Ok(cred
            .filter(|c| c.federation == own.federation)
            .and_then(|c| c.structure().ok())
            .filter(|m| m.key == key)
            .map(|m| AuthorName {
                place: m.place,
                role: m.role,
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(dir: &std::path::Path, role: Role, place: &str) -> Node {
        Node::init(dir, role, PlaceId::parse(place).unwrap(), None).unwrap()
    }

    fn peer(n: &Node) -> String {
        n.identity().peer_id().to_string()
    }

    #[test]
    fn writers_are_named_by_their_admission_and_strangers_by_nobody() {
        let tmp = tempfile::tempdir().unwrap();
        let now = chrono::Utc::now();
        let mut district = node(&tmp.path().join("d"), Role::District, "guandu");
        let mut street = node(&tmp.path().join("s"), Role::Street, "guandu/yiliu");
        let token = district
            .admit(
                &peer(&street),
                Role::Street,
                PlaceId::parse("guandu/yiliu").unwrap(),
                true,
                None,
                now,
            )
            .unwrap();
        street.join(&token, now).unwrap();
        // A node of another federation, claiming a place in this one.
        let other = node(&tmp.path().join("o"), Role::District, "guandu");

        let names = street
            .author_names([
                peer(&district).as_str(),
                peer(&street).as_str(),
                peer(&other).as_str(),
                "not a peer id",
            ])
            .unwrap();
        let name = |place: &str, role| AuthorName {
            place: PlaceId::parse(place).unwrap(),
            role,
        };
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(names[&peer(&district)], name("guandu", Role::District));
        assert_eq!(names[&peer(&street)], name("guandu/yiliu", Role::Street));

        // Before it joins, a node names nobody, itself included.
        let mut loose = node(&tmp.path().join("l"), Role::Street, "guandu/yiliu");
        assert!(
            loose
                .author_names([peer(&district).as_str()])
                .unwrap()
                .is_empty()
        );
    }
}
