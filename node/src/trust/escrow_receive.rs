//! Escrow moves as a receiver judges them (`docs/escrow.md`, "How receivers
//! enforce it"): signed changes to a community's ledger, from real
//! credentials, through [`check_changes`] as the sync path runs it. A
//! station spends only its own escrow, within what it held; only the home
//! community grants; nobody writes in another's name.

use automerge::{
    ActorId, AutoCommit, ObjType, ROOT, sync, sync::SyncDoc, transaction::Transactable,
};
use chrono::{DateTime, TimeZone, Utc};
use crdt_model::escrow::{self, EscrowKind, EscrowMove};
use crdt_model::ids::{EntryId, MemberId};
use crdt_model::ledger::{self, Entry, EntryKind};
use crdt_model::roster::{Member as Rider, MemberKind, MemberStatus};
use crdt_model::{DocumentId, PlaceId};
use libp2p::identity::Keypair;

use super::admission::{Admission, Credential, Federation, NodeKey};
use super::charter::CharterView;
use super::signing::{ChangeSignature, Proof, TrustContext, check_changes, sign};
use crate::config::Role;

const PLACE: &str = "guandu/yiliu/xinyazhou";

struct Writer {
    keypair: Keypair,
    credential: Credential,
}

impl Writer {
    fn key(&self) -> NodeKey {
        NodeKey::of_keypair(&self.keypair).unwrap()
    }

    fn peer(&self) -> String {
        self.key().to_string()
    }

    fn actor(&self) -> ActorId {
        ActorId::from(self.key().0.to_vec())
    }
}

struct Fed {
    street: Writer,
    community: Writer,
    station_a: Writer,
    station_b: Writer,
    federation: Federation,
    now: DateTime<Utc>,
}

fn fed() -> Fed {
    let now = Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap();
    let district = Keypair::generate_ed25519();
    let federation = Federation {
        root: NodeKey::of_keypair(&district).unwrap(),
        place: PlaceId::parse("guandu").unwrap(),
    };
    let admit = |issuer: &Keypair, parent: &Credential, role: Role, place: &str| {
        let keypair = Keypair::generate_ed25519();
        let admission = Admission {
            node: NodeKey::of_keypair(&keypair).unwrap(),
            role,
            place: PlaceId::parse(place).unwrap(),
            may_admit: role == Role::Street,
            issued: now.timestamp() - 60,
            expires: None,
            issuer: NodeKey::of_keypair(issuer).unwrap(),
        };
        let credential = parent.admit(issuer, admission).unwrap();
        Writer {
            keypair,
            credential,
        }
    };
    let root = Credential::root(federation.clone());
    let street = admit(&district, &root, Role::Street, "guandu/yiliu");
    let community = admit(&street.keypair, &street.credential, Role::Community, PLACE);
    let station_a = admit(&street.keypair, &street.credential, Role::Station, PLACE);
    let station_b = admit(&street.keypair, &street.credential, Role::Station, PLACE);
    Fed {
        street,
        community,
        station_a,
        station_b,
        federation,
        now,
    }
}

fn ledger_id() -> DocumentId {
    DocumentId::parse(&format!("{PLACE}/ledger/2026")).unwrap()
}

fn rider() -> Rider {
    Rider {
        id: MemberId::parse("m-1").unwrap(),
        display_name: "骑手".into(),
        kind: MemberKind::Rider,
        platform: None,
        grid: None,
        roles: vec![],
        status: MemberStatus::Active,
        applied_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        left_at: None,
        certificate: None,
        training: vec![],
    }
}

fn id(s: &str) -> EntryId {
    EntryId::parse(s).unwrap()
}

/// The community's ledger: 10 points earned, 6 granted to station a.
fn granted(f: &Fed) -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(f.community.actor());
    let e = Entry {
        id: id("earn"),
        member: rider().id,
        amount: 10,
        kind: EntryKind::Patrol,
        at: f.now,
        by: f.community.peer(),
        reason: None,
        reference: None,
        redeemed_at: None,
        item: None,
    };
    ledger::credit(&mut doc, &rider(), &e).unwrap();
    escrow::grant(
        &mut doc,
        &id("g"),
        &rider(),
        &f.station_a.peer(),
        6,
        f.now,
        &f.community.peer(),
    )
    .unwrap();
    doc.commit();
    doc
}

/// Writes `m` as it stands, without the model's own checks: what a
/// dishonest or broken writer could send.
fn raw(doc: &mut AutoCommit, m: &EscrowMove) {
    let o = doc
        .put_object(ROOT, format!("escrow/{}", m.id), ObjType::Map)
        .unwrap();
    doc.put(&o, "member", m.member.as_str()).unwrap();
    doc.put(&o, "station", m.station.as_str()).unwrap();
    doc.put(&o, "kind", m.kind.as_str()).unwrap();
    doc.put(&o, "points", m.points).unwrap();
    doc.put(&o, "at", m.at.timestamp_millis()).unwrap();
    doc.put(&o, "by", m.by.as_str()).unwrap();
    doc.commit();
}

/// The verdict of the street, holding `held`, on what `writer` added in
/// `theirs`: `Ok` if accepted, the reason if refused.
fn judge(
    f: &Fed,
    held: &mut AutoCommit,
    theirs: &mut AutoCommit,
    writer: &Writer,
) -> Result<(), String> {
    let me = f.street.credential.verify(f.now, &|_| false).unwrap();
    let ctx = TrustContext::new(f.federation.clone(), me, CharterView::default());
    // One round of the sync protocol: the street says what it has, the
    // writer answers with the changes it lacks.
    let (mut ours, mut peer) = (sync::State::new(), sync::State::new());
    let hello = held.sync().generate_sync_message(&mut ours).unwrap();
    theirs
        .sync()
        .receive_sync_message(&mut peer, hello)
        .unwrap();
    let mut message = theirs.sync().generate_sync_message(&mut peer).unwrap();
    let doc = ledger_id();
    let hashes = super::signing::changes_after(theirs, &held.get_heads());
    // The street's Bloom filter can, about once in a hundred, pass for
    // holding the new change, which then stays out of this first message
    // until a later round; put in what that round would send.
    if message.changes.iter().next().is_none() {
        let bytes: Vec<Vec<u8>> = hashes
            .iter()
            .filter_map(|h| theirs.get_change_by_hash(h))
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        message.changes = bytes.into();
    }
    let proof = Proof {
        signatures: hashes
            .iter()
            .map(|h| ChangeSignature {
                hash: h.0,
                signature: sign(&writer.keypair, &doc, h).unwrap(),
            })
            .collect(),
        authors: vec![writer.credential.clone()],
    };
    let verdict = check_changes(&ctx, &doc, held, &message, &proof, f.now).unwrap();
    assert_eq!(verdict.accepted.len() + verdict.refused.len(), hashes.len());
    match verdict.refused.first() {
        None => Ok(()),
        Some((_, why)) => Err(why.clone()),
    }
}

fn redeem(f: &Fed, by: &Writer, station: &Writer, points: i64) -> EscrowMove {
    EscrowMove {
        id: id("r"),
        member: rider().id,
        station: station.peer(),
        kind: EscrowKind::Redeem,
        points,
        at: f.now,
        by: by.peer(),
        item: Some("meal".into()),
    }
}

#[test]
fn a_station_redeeming_within_its_escrow_is_accepted() {
    let f = fed();
    let mut held = granted(&f);
    let mut a = held.fork().with_actor(f.station_a.actor());
    raw(&mut a, &redeem(&f, &f.station_a, &f.station_a, 6));
    assert_eq!(judge(&f, &mut held, &mut a, &f.station_a), Ok(()));
}

#[test]
fn a_station_spending_past_its_escrow_is_refused() {
    let f = fed();
    let mut held = granted(&f);
    let mut a = held.fork().with_actor(f.station_a.actor());
    raw(&mut a, &redeem(&f, &f.station_a, &f.station_a, 7));
    let why = judge(&f, &mut held, &mut a, &f.station_a).unwrap_err();
    assert!(why.contains("1 more than station"), "{why}");
}

#[test]
fn a_station_spending_another_stations_escrow_is_refused() {
    let f = fed();
    let mut held = granted(&f);
    // Station b writes a redemption from a's escrow, in a's name and in its own.
    for by in [&f.station_a, &f.station_b] {
        let mut b = held.fork().with_actor(f.station_b.actor());
        raw(&mut b, &redeem(&f, by, &f.station_a, 1));
        let why = judge(&f, &mut held, &mut b, &f.station_b).unwrap_err();
        assert!(why.contains("escrow"), "{why}");
    }
}

#[test]
fn only_the_home_community_grants() {
    let f = fed();
    let mut held = granted(&f);
    let grant = |by: &Writer| EscrowMove {
        id: id("g2"),
        kind: EscrowKind::Grant,
        item: None,
        ..redeem(&f, by, &f.station_a, 1)
    };
    // A station granting to itself.
    let mut a = held.fork().with_actor(f.station_a.actor());
    raw(&mut a, &grant(&f.station_a));
    let why = judge(&f, &mut held, &mut a, &f.station_a).unwrap_err();
    assert!(why.contains("grant"), "{why}");
    // The street, which may read the ledger but not write it.
    let mut s = held.fork().with_actor(f.street.actor());
    raw(&mut s, &grant(&f.street));
    let why = judge(&f, &mut held, &mut s, &f.street).unwrap_err();
    assert!(why.contains("may not write"), "{why}");
    // The community, honestly: accepted.
    let mut c = held.fork().with_actor(f.community.actor());
    raw(&mut c, &grant(&f.community));
    assert_eq!(judge(&f, &mut held, &mut c, &f.community), Ok(()));
}

#[test]
fn the_community_cannot_return_or_redeem_a_stations_escrow() {
    let f = fed();
    let mut held = granted(&f);
    for kind in [EscrowKind::Return, EscrowKind::Redeem] {
        let mut c = held.fork().with_actor(f.community.actor());
        let m = EscrowMove {
            kind,
            ..redeem(&f, &f.community, &f.station_a, 1)
        };
        raw(&mut c, &m);
        let why = judge(&f, &mut held, &mut c, &f.community).unwrap_err();
        assert!(why.contains("escrow"), "{why}");
    }
}
