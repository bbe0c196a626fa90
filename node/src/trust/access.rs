//! Who may read and who may write each document, from role and place
//! (ARCHITECTURE §3), and the engine policy that enforces it against peers.

use std::collections::HashMap;

use crdt_model::{DocKind, DocumentId, PlaceId};

use super::admission::Member;
use crate::config::Role;
use crate::engine::{PeerKey, Policy};

/// May `m` hold (read) `doc`?
///
/// - charter and directory: every member;
/// - reports: the owning community and every place above it;
/// - summary: the owning street and the district;
/// - roster, tasks, ledger: the owning community and its street;
/// - roster-private: nobody but its owner, and never through sync;
/// - a station: the charter, directories, and its community's roster and
///   ledger only. It redeems from the ledger, prices from the directory and
///   shows members by their roster names; its community's reports and
///   tasks, photos included, are no business of a station or merchant.
pub fn may_read(m: &Member, doc: &DocumentId) -> bool {
    let place = doc.place();
    if m.role == Role::Station {
        return match doc.kind() {
            DocKind::Charter | DocKind::Directory => true,
            DocKind::Roster | DocKind::Ledger => &m.place == place,
            _ => false,
        };
    }
    match doc.kind() {
        DocKind::Charter | DocKind::Directory => true,
        DocKind::Reports | DocKind::Summary => m.place.contains(place),
        DocKind::Roster | DocKind::Tasks | DocKind::Ledger => {
            &m.place == place || place.parent().as_ref() == Some(&m.place)
        }
        DocKind::RosterPrivate => false,
    }
}

/// May `m` author changes to `doc`?
///
/// - charter: members who may admit (the district and delegated admins);
/// - reports: the owning community, and its street (for its coordination events);
/// - every other kind: the owning node only;
/// - a station: its community's ledger only (escrow moves, checked in
///   `signing.rs`).
pub fn may_write(m: &Member, doc: &DocumentId) -> bool {
    let place = doc.place();
    if m.role == Role::Station {
        return doc.kind() == DocKind::Ledger && &m.place == place;
    }
    match doc.kind() {
        DocKind::Charter => m.may_admit && m.place.district() == *place,
        DocKind::Reports => {
            &m.place == place
                || (m.role == Role::Street && place.parent().as_ref() == Some(&m.place))
        }
        _ => &m.place == place,
    }
}

/// The engine policy of a federation member: peers are admitted members
/// (verified when they connected); documents flow only where both ends may
/// read them.
#[derive(Debug, Clone)]
pub struct FederationPolicy {
    me: Member,
    peers: HashMap<PeerKey, Member>,
    /// For a district: the places it replicates in full; empty means all.
    replicate: Vec<PlaceId>,
    /// For a district: places it follows only through their street's summary.
    summaries_only: Vec<PlaceId>,
}

impl FederationPolicy {
    /// A policy for the node `me`.
    pub fn new(
        me: Member,
        replicate: Vec<PlaceId>,
        summaries_only: Vec<PlaceId>,
    ) -> FederationPolicy {
        FederationPolicy {
            me,
            peers: HashMap::new(),
            replicate,
            summaries_only,
        }
    }

    /// This node as a member.
    pub fn me(&self) -> &Member {
        &self.me
    }

    /// Records a verified peer.
    pub fn admit_peer(&mut self, peer: PeerKey, m: Member) {
        self.peers.insert(peer, m);
    }

    /// Forgets a peer.
    pub fn forget_peer(&mut self, peer: &PeerKey) -> Option<Member> {
        self.peers.remove(peer)
    }

    /// The verified peer, if any.
    pub fn peer(&self, peer: &PeerKey) -> Option<&Member> {
        self.peers.get(peer)
    }

    /// Every verified peer.
    pub fn peers(&self) -> impl Iterator<Item = (&PeerKey, &Member)> {
        self.peers.iter()
    }

    /// May this node hold `doc`?
    pub fn holds(&self, doc: &DocumentId) -> bool {
        may_read(&self.me, doc)
            || (&self.me.place == doc.place()
                && doc.kind() != DocKind::RosterPrivate
                && self.me.role != Role::Station)
    }

    fn wants(&self, doc: &DocumentId) -> bool {
        if !self.holds(doc) {
            return false;
        }
        if doc.kind() != DocKind::Reports {
            return true;
        }
        let full =
            self.replicate.is_empty() || self.replicate.iter().any(|p| p.contains(doc.place()));
        full && !self.summaries_only.iter().any(|p| p.contains(doc.place()))
    }
}

impl Policy for FederationPolicy {
    fn may_share(&self, peer: &PeerKey, doc: &DocumentId) -> bool {
        self.peers.get(peer).is_some_and(|m| may_read(m, doc)) && self.holds(doc)
    }

    fn may_accept(&self, peer: &PeerKey, doc: &DocumentId) -> bool {
        self.peers.get(peer).is_some_and(|m| may_read(m, doc)) && self.wants(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::admission::NodeKey;

    fn member(role: Role, place: &str, may_admit: bool) -> Member {
        Member {
            key: NodeKey([0; 32]),
            role,
            place: PlaceId::parse(place).unwrap(),
            may_admit,
            expires: None,
        }
    }

    fn doc(s: &str) -> DocumentId {
        DocumentId::parse(s).unwrap()
    }

    #[test]
    fn a_station_writes_only_its_communitys_ledger() {
        let station = member(Role::Station, "guandu/yiliu/xinyazhou", false);
        let ledger = doc("guandu/yiliu/xinyazhou/ledger/2026");
        let other = doc("guandu/yiliu/other/ledger/2026");
        assert!(may_write(&station, &ledger));
        assert!(may_read(&station, &ledger));
        assert!(!may_write(&station, &other));
        for d in ["roster", "tasks"] {
            let d = doc(&format!("guandu/yiliu/xinyazhou/{d}"));
            assert!(!may_write(&station, &d), "{d}");
        }
        assert!(!may_write(
            &station,
            &doc("guandu/yiliu/xinyazhou/reports/2026-11")
        ));
    }

    #[test]
    fn a_station_holds_only_what_it_redeems_with() {
        let station = member(Role::Station, "guandu/yiliu/xinyazhou", false);
        let policy = FederationPolicy::new(station.clone(), vec![], vec![]);
        for d in [
            "guandu/charter",
            "guandu/yiliu/xinyazhou/directory",
            "guandu/yiliu/xinyazhou/roster",
            "guandu/yiliu/xinyazhou/ledger/2026",
        ] {
            assert!(may_read(&station, &doc(d)) && policy.holds(&doc(d)), "{d}");
        }
        for d in [
            "guandu/yiliu/xinyazhou/reports/2026-11",
            "guandu/yiliu/xinyazhou/tasks",
            "guandu/yiliu/xinyazhou/roster-private",
            "guandu/yiliu/summary",
            "guandu/yiliu/other/ledger/2026",
            "guandu/yiliu/other/roster",
        ] {
            assert!(
                !may_read(&station, &doc(d)) && !policy.holds(&doc(d)),
                "{d}"
            );
        }
    }

    #[test]
    fn the_access_table_of_the_brief() {
        let district = member(Role::District, "guandu", true);
        let street = member(Role::Street, "guandu/yiliu", true);
        let c1 = member(Role::Community, "guandu/yiliu/xinyazhou", false);
        let c2 = member(Role::Community, "guandu/yiliu/guanshuo", false);
        let reports = doc("guandu/yiliu/xinyazhou/reports/2026-11");
        let roster = doc("guandu/yiliu/xinyazhou/roster");
        let private = doc("guandu/yiliu/xinyazhou/roster-private");
        let ledger = doc("guandu/yiliu/xinyazhou/ledger/2026");
        let charter = doc("guandu/charter");
        for m in [&district, &street, &c1] {
            assert!(may_read(m, &reports));
        }
        assert!(
            !may_read(&c2, &reports),
            "a sibling never reads another community's reports"
        );
        assert!(may_read(&street, &roster) && may_read(&c1, &roster));
        assert!(!may_read(&district, &roster) && !may_read(&c2, &roster));
        assert!(!may_read(&district, &ledger));
        for m in [&district, &street, &c1, &c2] {
            assert!(!may_read(m, &private));
            assert!(may_read(m, &charter));
        }
        assert!(may_write(&c1, &reports) && may_write(&street, &reports));
        assert!(!may_write(&c2, &reports) && !may_write(&district, &reports));
        assert!(
            may_write(&c1, &ledger) && !may_write(&c2, &ledger) && !may_write(&street, &ledger)
        );
        assert!(
            may_write(&district, &charter)
                && may_write(&street, &charter)
                && !may_write(&c1, &charter)
        );
    }
}
