//! Certificates judged without a node: a federation of keys in memory, a
//! body signed by its community, and what the verifier makes of it and of
//! every variation a forger or a damaged file could bring.

use chrono::{NaiveDate, Utc};
use crdt_model::{MemberId, PlaceId};
use libp2p::identity::Keypair;

use super::*;
use crate::trust::NodeKey;

struct Fed {
    root: Keypair,
    community: Keypair,
    cred: Credential,
}

fn place(s: &str) -> PlaceId {
    PlaceId::parse(s).unwrap()
}

fn key(k: &Keypair) -> NodeKey {
    NodeKey::of_keypair(k).unwrap()
}

/// Root → street → community, with the community's admission lapsing at
/// `expires` and issued at `issued`.
fn fed(issued: i64, expires: Option<i64>) -> Fed {
    let root = Keypair::generate_ed25519();
    let street = Keypair::generate_ed25519();
    let community = Keypair::generate_ed25519();
    let admission =
        |issuer: &Keypair, node: &Keypair, role, p: &str, may_admit, expires| Admission {
            node: key(node),
            role,
            place: place(p),
            may_admit,
            issued,
            expires,
            issuer: key(issuer),
        };
    let cred = Credential::root(Federation {
        root: key(&root),
        place: place("guandu"),
    })
    .admit(
        &root,
        admission(&root, &street, Role::Street, "guandu/yiliu", true, None),
    )
    .unwrap()
    .admit(
        &street,
        admission(
            &street,
            &community,
            Role::Community,
            "guandu/yiliu/xinyazhou",
            false,
            expires,
        ),
    )
    .unwrap();
    Fed {
        root,
        community,
        cred,
    }
}

fn body(f: &Fed, issued_at: i64) -> Body {
    Body {
        community: place("guandu/yiliu/xinyazhou"),
        member: CertifiedMember {
            id: MemberId::parse("m-3f9a2c1d").unwrap(),
            display_name: "小王 \"Wang\"\n".into(),
        },
        period: Span {
            from: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2026, 6, 30).unwrap(),
            timezone: "Asia/Shanghai".into(),
        },
        service: Service {
            verified_reports: 2,
            signed_off_tasks: 1,
            patrols: 3,
            points_earned: 30,
        },
        issued_at,
        issuer: PeerKey(key(&f.community)),
    }
}

fn root_id(f: &Fed) -> String {
    f.root.public().to_peer_id().to_string()
}

#[test]
fn a_signed_certificate_verifies_in_both_encodings() {
    let now = Utc::now().timestamp();
    let f = fed(now - 60, None);
    let cert = body(&f, now).sign(&f.community, &f.cred).unwrap();
    let json = cert.to_json().unwrap();
    let v = verify(json.as_bytes(), &root_id(&f), None).unwrap();
    assert_eq!(v.body, cert.body);
    assert_eq!(v.chain.len(), 2);
    let compact = cert.to_compact().unwrap();
    assert!(compact.starts_with(COMPACT_PREFIX));
    assert!(
        compact.len() < json.len(),
        "{} vs {}",
        compact.len(),
        json.len()
    );
    assert_eq!(
        verify(compact.as_bytes(), &root_id(&f), None).unwrap().body,
        cert.body
    );
    // The layout of the JSON is free: a compact re-serialisation verifies too.
    let flat = serde_json::to_string(&cert).unwrap();
    verify(flat.as_bytes(), &root_id(&f), None).unwrap();
}

#[test]
fn the_chain_is_judged_at_the_issue_time() {
    let now = Utc::now().timestamp();
    // Admitted after the certificate was issued: the node could not sign then.
    let f = fed(now, None);
    let early = body(&f, now - 3_600).sign(&f.community, &f.cred).unwrap();
    let err = verify(early.to_json().unwrap().as_bytes(), &root_id(&f), None).unwrap_err();
    assert!(matches!(err, CertificateError::Chain(_)), "{err}");
    // Lapsed before the issue time; still valid for one issued before it.
    let f = fed(now - 7_200, Some(now - 3_600));
    let late = body(&f, now).sign(&f.community, &f.cred).unwrap();
    let err = verify(late.to_json().unwrap().as_bytes(), &root_id(&f), None).unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    let before = body(&f, now - 5_000).sign(&f.community, &f.cred).unwrap();
    verify(before.to_json().unwrap().as_bytes(), &root_id(&f), None).unwrap();
}

#[test]
fn a_street_cannot_certify_and_nobody_can_sign_for_the_community() {
    let now = Utc::now().timestamp();
    let f = fed(now - 60, None);
    // The street's own chain, signing as itself for one of its communities.
    let street_cred = Credential {
        federation: f.cred.federation.clone(),
        chain: f.cred.chain[..1].to_vec(),
    };
    let street_key = f.cred.chain[0].admission.node;
    let mut b = body(&f, now);
    b.issuer = PeerKey(street_key);
    // The street's keypair is not kept; a stranger's key under its name
    // fails the signature, and the chain check names the role first.
    let stranger = Keypair::generate_ed25519();
    let cert = b.sign(&stranger, &street_cred).unwrap();
    let err = verify(cert.to_json().unwrap().as_bytes(), &root_id(&f), None).unwrap_err();
    assert!(
        matches!(err, CertificateError::NotAdmittedFor { .. }),
        "{err}"
    );
    // A stranger signing with the community's chain.
    let cert = body(&f, now).sign(&stranger, &f.cred).unwrap();
    let err = verify(cert.to_json().unwrap().as_bytes(), &root_id(&f), None).unwrap_err();
    assert!(
        matches!(err, CertificateError::BadSignature { .. }),
        "{err}"
    );
}

#[test]
fn damaged_files_are_refused_without_panic() {
    let now = Utc::now().timestamp();
    let f = fed(now - 60, None);
    let cert = body(&f, now).sign(&f.community, &f.cred).unwrap();
    let root = root_id(&f);
    let json = cert.to_json().unwrap().into_bytes();
    let compact = cert.to_compact().unwrap().into_bytes();
    // Every single-byte change and every truncation of both encodings is
    // refused (or, for JSON whitespace, changes nothing signed).
    for file in [&json, &compact] {
        for i in 0..file.len() {
            let mut bad = file.clone();
            bad[i] ^= 0x01;
            if let Ok(v) = verify(&bad, &root, None) {
                assert_eq!(v.body, cert.body, "byte {i} changed what verifies");
            }
            assert!(verify(&file[..i], &root, None).is_err(), "prefix of {i}");
        }
    }
    let extra = String::from_utf8(json.clone())
        .unwrap()
        .replacen("{", "{\"extra\": 1,", 1);
    assert!(matches!(
        verify(extra.as_bytes(), &root, None),
        Err(CertificateError::Malformed(_))
    ));
    let huge = vec![b' '; CERTIFICATE_BYTES_MAX + 1];
    assert!(matches!(
        verify(&huge, &root, None),
        Err(CertificateError::Malformed(_))
    ));
    assert!(matches!(
        verify(&json, &root, Some(b"not automerge")),
        Err(CertificateError::Charter(_))
    ));
}
