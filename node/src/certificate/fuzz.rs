//! The `certificate` fuzz target's body ([`crate::fuzz_targets`] lists it
//! with the others; it lives here, beside what it feeds).

use std::sync::OnceLock;

use base64::Engine as _;

use super::{self as certificate, Certificate};
use crate::fuzz_targets::fixture;

/// A service certificate signed by the fixture's community for a member, at
/// the fixture's time: the valid file the `certificate` target judges
/// charters against, and its seeds.
pub fn fixture_certificate() -> &'static Certificate {
    static CERT: OnceLock<Certificate> = OnceLock::new();
    CERT.get_or_init(|| {
        let f = fixture();
        let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2026, 11, d).expect("fixture day");
        certificate::Body {
            community: f.community.member.place.clone(),
            member: certificate::CertifiedMember {
                id: crdt_model::MemberId::parse("m-3f9a2c1d").expect("fixture member"),
                display_name: "小王".into(),
            },
            period: certificate::Span {
                from: day(1),
                to: day(22),
                timezone: "Asia/Shanghai".into(),
            },
            service: certificate::Service {
                verified_reports: 2,
                signed_off_tasks: 1,
                patrols: 1,
                points_earned: 25,
            },
            issued_at: f.now.timestamp(),
            issuer: certificate::PeerKey(f.community.key),
        }
        .sign(&f.community.keypair, &f.community.credential)
        .expect("fixture certificate")
    })
}

/// What a platform is handed: the bytes as a certificate file (JSON or
/// `yzc1.` text) and as the postcard behind a `yzc1.` text, read and
/// verified against the fixture's root; and the bytes as the charter given
/// with the fixture's valid certificate. A certificate that reads survives
/// both its encodings unchanged.
pub fn certificate(bytes: &[u8]) {
    let root = fixture().district.peer.clone();
    let compact = format!(
        "{}{}",
        certificate::COMPACT_PREFIX,
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    for file in [bytes, compact.as_bytes()] {
        let _ = certificate::verify(file, &root, None).map_err(|e| e.to_string());
        let Ok(cert) = Certificate::read(file) else {
            continue;
        };
        for again in [
            cert.to_json().expect("a read certificate encodes as JSON"),
            cert.to_compact()
                .expect("a read certificate encodes compactly"),
        ] {
            assert_eq!(
                Certificate::read(again.as_bytes()).as_ref(),
                Ok(&cert),
                "a read certificate does not read the same once re-encoded"
            );
        }
    }
    let valid = fixture_certificate()
        .to_json()
        .expect("fixture certificate encodes");
    let _ = certificate::verify(valid.as_bytes(), &root, Some(bytes)).map_err(|e| e.to_string());
}
