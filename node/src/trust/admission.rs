//! Admissions: signed statements that bring a node into a federation, and
//! the chains that lead from a node back to the federation's root key.
//!
//! A district's key is the root. An admission says "this key may act as this
//! role at this place (and may admit others below it), from `issued` until
//! `expires`", signed by its issuer. A chain is valid when its first
//! admission is signed by the root, each next one by the node the previous
//! one admitted, every issuer but the root was allowed to admit, every place
//! lies strictly below its issuer's, nothing has expired, and no key on it
//! is revoked.

use chrono::{DateTime, Utc};
use crdt_model::PlaceId;
use libp2p::PeerId;
use libp2p::identity::{Keypair, PublicKey};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::statement::CutReason;
use crate::config::Role;

/// Longest chain accepted: root → street → community is two admissions.
pub const CHAIN_LEN_MAX: usize = 4;
/// Clock skew tolerated on `issued`.
pub const CLOCK_SKEW_S: i64 = 300;
/// Domain separation for admission signatures.
const SIGNING_CONTEXT: &[u8] = b"yizhan-admission-v1";

/// An Ed25519 public key, 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeKey(pub [u8; 32]);

impl NodeKey {
    /// The key of a peer id, for the Ed25519 ids Yizhan nodes have.
    pub fn of_peer(peer: &PeerId) -> Result<NodeKey, TrustError> {
        let mh = peer.as_ref();
        if mh.code() != 0 {
            return Err(TrustError::NotEd25519(peer.to_string()));
        }
        let pk = PublicKey::try_decode_protobuf(mh.digest())
            .map_err(|_| TrustError::NotEd25519(peer.to_string()))?;
        let ed = pk
            .try_into_ed25519()
            .map_err(|_| TrustError::NotEd25519(peer.to_string()))?;
        Ok(NodeKey(ed.to_bytes()))
    }

    /// The key of a keypair.
    pub fn of_keypair(k: &Keypair) -> Result<NodeKey, TrustError> {
        let ed = k
            .public()
            .try_into_ed25519()
            .map_err(|_| TrustError::NotEd25519("own key".into()))?;
        Ok(NodeKey(ed.to_bytes()))
    }

    /// The libp2p peer id of this key.
    pub fn peer_id(&self) -> Result<PeerId, TrustError> {
        Ok(self.public()?.to_peer_id())
    }

    /// Decoded once per process for each key (`super::key_memo`).
    fn public(&self) -> Result<PublicKey, TrustError> {
        super::key_memo::public(&self.0).ok_or_else(|| TrustError::NotEd25519(hex::encode(self.0)))
    }

    /// True when `sig` is this key's signature of `msg`.
    pub fn verifies(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.public().is_ok_and(|p| p.verify(msg, sig))
    }
}

impl std::fmt::Display for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match super::key_memo::shown(&self.0) {
            Some(p) => f.write_str(&p),
            None => f.write_str(&hex::encode(self.0)),
        }
    }
}

/// Who a federation is: its root key and the district it covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Federation {
    /// The district node's key.
    pub root: NodeKey,
    /// The district's place.
    pub place: PlaceId,
}

/// One admission, before signing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admission {
    /// The admitted node's key.
    pub node: NodeKey,
    /// Its role.
    pub role: Role,
    /// The place it owns.
    pub place: PlaceId,
    /// May it admit nodes below its place?
    pub may_admit: bool,
    /// Unix seconds when issued.
    pub issued: i64,
    /// Unix seconds when it lapses, if ever.
    pub expires: Option<i64>,
    /// The issuer's key.
    pub issuer: NodeKey,
}

/// An admission with its issuer's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedAdmission {
    /// The statement.
    pub admission: Admission,
    /// The issuer's Ed25519 signature over the statement.
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// What a verified chain establishes about a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Its key.
    pub key: NodeKey,
    /// Its role.
    pub role: Role,
    /// Its place.
    pub place: PlaceId,
    /// May it admit others?
    pub may_admit: bool,
    /// When its admission lapses (the earliest on its chain).
    pub expires: Option<i64>,
}

/// A key on a chain that is cut off now, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The key.
    pub key: NodeKey,
    /// Revoked or expired.
    pub why: CutReason,
}

/// A chain judged at one time: what it establishes, and which of its keys
/// are cut off (empty for a chain valid now).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The node at the chain's end.
    pub member: Member,
    /// Keys on the chain revoked or expired now, from the root down.
    pub cut: Vec<Cut>,
}

/// A node's proof of membership: the federation and the chain to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// The federation.
    pub federation: Federation,
    /// Admissions from the root down to this node; empty for the root itself.
    pub chain: Vec<SignedAdmission>,
}

/// A chain or token that does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TrustError {
    /// The key is not an Ed25519 key (or the peer id does not embed one).
    #[error("{0} is not an Ed25519 node key")]
    NotEd25519(String),
    /// An admission's signature does not verify.
    #[error(
        "admission of {node} carries a signature that does not verify against its issuer {issuer}"
    )]
    BadSignature {
        /// The admitted node.
        node: String,
        /// Its claimed issuer.
        issuer: String,
    },
    /// The chain breaks: an issuer is not the node admitted just before it.
    #[error(
        "admission chain is broken at {node}: issued by {issuer}, which the chain did not admit"
    )]
    Broken {
        /// The admitted node.
        node: String,
        /// The issuer.
        issuer: String,
    },
    /// An issuer was not allowed to admit.
    #[error("{issuer} admitted {node} without the right to admit")]
    NotAnAdmitter {
        /// The node.
        node: String,
        /// The issuer.
        issuer: String,
    },
    /// A place outside the issuer's.
    #[error("{issuer} at {issuer_place} may only admit below its place, not at {place}")]
    OutsidePlace {
        /// The issuer.
        issuer: String,
        /// The issuer's place.
        issuer_place: PlaceId,
        /// The place admitted.
        place: PlaceId,
    },
    /// Role and place depth disagree.
    #[error("a {role} cannot sit at {place}")]
    RoleMismatch {
        /// The role.
        role: Role,
        /// The place.
        place: PlaceId,
    },
    /// Expired or not yet valid.
    #[error("admission of {node} is not valid now: {why}")]
    NotValidNow {
        /// The node.
        node: String,
        /// Why.
        why: &'static str,
    },
    /// A key on the chain is revoked.
    #[error("{0} has been revoked")]
    Revoked(String),
    /// Empty or overlong chain for a non-root node.
    #[error("admission chain has {0} links; a member needs 1 to {CHAIN_LEN_MAX}")]
    ChainLength(usize),
    /// The chain leads to another node than the one presenting it.
    #[error("the admission is for {expected}, not for {actual}")]
    WrongNode {
        /// The node the chain admits.
        expected: String,
        /// The node that presented it.
        actual: String,
    },
    /// A token that does not decode.
    #[error("admission token is malformed: {0}")]
    Malformed(String),
    /// Signing failed.
    #[error("cannot sign: {0}")]
    Signing(String),
}

fn depth(role: Role) -> usize {
    match role {
        Role::District => 1,
        Role::Street => 2,
        Role::Community | Role::Station => 3,
    }
}

impl Admission {
    fn signing_bytes(&self) -> Result<Vec<u8>, TrustError> {
        let mut out = SIGNING_CONTEXT.to_vec();
        out.extend(postcard::to_allocvec(self).map_err(|e| TrustError::Signing(e.to_string()))?);
        Ok(out)
    }

    /// Signs this admission with the issuer's keypair.
    pub fn sign(self, issuer: &Keypair) -> Result<SignedAdmission, TrustError> {
        let signature = issuer
            .sign(&self.signing_bytes()?)
            .map_err(|e| TrustError::Signing(e.to_string()))?;
        Ok(SignedAdmission {
            admission: self,
            signature,
        })
    }
}

impl Credential {
    /// The root's own credential.
    pub fn root(federation: Federation) -> Credential {
        Credential {
            federation,
            chain: Vec::new(),
        }
    }

    /// Verifies the chain at `now`, with `revoked` naming revoked keys, and
    /// returns what it establishes about the node at its end.
    pub fn verify(
        &self,
        now: DateTime<Utc>,
        revoked: &dyn Fn(&NodeKey) -> bool,
    ) -> Result<Member, TrustError> {
        let assessed = self.assess(now, revoked)?;
        match assessed.cut.first() {
            None => Ok(assessed.member),
            Some(Cut {
                key,
                why: CutReason::Revoked,
            }) => Err(TrustError::Revoked(key.to_string())),
            Some(Cut {
                key,
                why: CutReason::Expired,
            }) => Err(TrustError::NotValidNow {
                node: key.to_string(),
                why: "expired",
            }),
        }
    }

    /// Judges the chain at `now`: a structural fault (signature, link,
    /// place, role, an admission issued in the future) is an error; keys on
    /// it that are revoked or whose admission has expired are listed in
    /// [`Assessment::cut`], so a receiver can still accept the work such a
    /// node did before its cut-off.
    pub fn assess(
        &self,
        now: DateTime<Utc>,
        revoked: &dyn Fn(&NodeKey) -> bool,
    ) -> Result<Assessment, TrustError> {
        let member = self.walk(Some(now.timestamp()))?;
        let t = now.timestamp();
        let mut cut = Vec::new();
        for link in &self.chain {
            let a = &link.admission;
            if revoked(&a.node) {
                cut.push(Cut {
                    key: a.node,
                    why: CutReason::Revoked,
                });
            } else if a.expires.is_some_and(|e| e <= t) {
                cut.push(Cut {
                    key: a.node,
                    why: CutReason::Expired,
                });
            }
        }
        Ok(Assessment { member, cut })
    }

    /// What the chain establishes if its signatures, links, places and roles
    /// hold, whatever the time and the revocations: used to judge the scope
    /// of a revocation against the target's chain.
    pub fn structure(&self) -> Result<Member, TrustError> {
        self.walk(None)
    }

    fn walk(&self, now: Option<i64>) -> Result<Member, TrustError> {
        let fed = &self.federation;
        let mut current = Member {
            key: fed.root,
            role: Role::District,
            place: fed.place.clone(),
            may_admit: true,
            expires: None,
        };
        if self.chain.len() > CHAIN_LEN_MAX {
            return Err(TrustError::ChainLength(self.chain.len()));
        }
        for link in &self.chain {
            let a = &link.admission;
            // Named only in a refusal: naming a key costs a decoding.
            let node = || a.node.to_string();
            if a.issuer != current.key {
                return Err(TrustError::Broken {
                    node: node(),
                    issuer: a.issuer.to_string(),
                });
            }
            if !super::verified_links::verifies(&a.issuer, &a.signing_bytes()?, &link.signature) {
                return Err(TrustError::BadSignature {
                    node: node(),
                    issuer: a.issuer.to_string(),
                });
            }
            if !current.may_admit {
                return Err(TrustError::NotAnAdmitter {
                    node: node(),
                    issuer: a.issuer.to_string(),
                });
            }
            if !current.place.is_ancestor_of(&a.place) {
                return Err(TrustError::OutsidePlace {
                    issuer: a.issuer.to_string(),
                    issuer_place: current.place.clone(),
                    place: a.place.clone(),
                });
            }
            if a.place.depth() != depth(a.role) {
                return Err(TrustError::RoleMismatch {
                    role: a.role,
                    place: a.place.clone(),
                });
            }
            if let Some(t) = now
                && a.issued > t + CLOCK_SKEW_S
            {
                return Err(TrustError::NotValidNow {
                    node: node(),
                    why: "issued in the future",
                });
            }
            current = Member {
                key: a.node,
                role: a.role,
                place: a.place.clone(),
                may_admit: a.may_admit,
                expires: match (current.expires, a.expires) {
                    (Some(x), Some(y)) => Some(x.min(y)),
                    (x, y) => x.or(y),
                },
            };
        }
        Ok(current)
    }

    /// True when `issuer` signed one of the admissions on this chain, that
    /// is, it admitted the node at the end or one of its admitters.
    pub fn admitted_by(&self, issuer: &NodeKey) -> bool {
        issuer == &self.federation.root || self.chain.iter().any(|l| &l.admission.issuer == issuer)
    }

    /// Verifies the chain and that it admits `peer`.
    pub fn verify_for(
        &self,
        peer: &NodeKey,
        now: DateTime<Utc>,
        revoked: &dyn Fn(&NodeKey) -> bool,
    ) -> Result<Member, TrustError> {
        let m = self.verify(now, revoked)?;
        if &m.key != peer {
            return Err(TrustError::WrongNode {
                expected: m.key.to_string(),
                actual: peer.to_string(),
            });
        }
        Ok(m)
    }

    /// Encodes as a token an operator can copy: `yz1.` and URL-safe base64.
    pub fn to_token(&self) -> Result<String, TrustError> {
        use base64::Engine as _;
        let bytes =
            postcard::to_allocvec(self).map_err(|e| TrustError::Malformed(e.to_string()))?;
        Ok(format!(
            "yz1.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// Decodes a token.
    pub fn from_token(token: &str) -> Result<Credential, TrustError> {
        use base64::Engine as _;
        let body = token
            .trim()
            .strip_prefix("yz1.")
            .ok_or_else(|| TrustError::Malformed("it does not start with yz1.".into()))?;
        if body.len() > 16 * 1024 {
            return Err(TrustError::Malformed(
                "it is longer than any admission chain".into(),
            ));
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|e| TrustError::Malformed(e.to_string()))?;
        let (cred, rest) = postcard::take_from_bytes::<Credential>(&bytes)
            .map_err(|e| TrustError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(TrustError::Malformed("trailing bytes".into()));
        }
        Ok(cred)
    }

    /// Extends this (the issuer's) credential with a new admission signed by `issuer`.
    pub fn admit(&self, issuer: &Keypair, admission: Admission) -> Result<Credential, TrustError> {
        let mut chain = self.chain.clone();
        chain.push(admission.sign(issuer)?);
        Ok(Credential {
            federation: self.federation.clone(),
            chain,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(s: &str) -> PlaceId {
        PlaceId::parse(s).unwrap()
    }

    struct Fed {
        root: Keypair,
        cred: Credential,
    }

    fn fed() -> Fed {
        let root = Keypair::generate_ed25519();
        let cred = Credential::root(Federation {
            root: NodeKey::of_keypair(&root).unwrap(),
            place: place("guandu"),
        });
        Fed { root, cred }
    }

    fn admission(
        issuer: &Keypair,
        node: &Keypair,
        role: Role,
        p: &str,
        may_admit: bool,
    ) -> Admission {
        Admission {
            node: NodeKey::of_keypair(node).unwrap(),
            role,
            place: place(p),
            may_admit,
            issued: Utc::now().timestamp(),
            expires: None,
            issuer: NodeKey::of_keypair(issuer).unwrap(),
        }
    }

    fn none(_: &NodeKey) -> bool {
        false
    }

    #[test]
    fn a_chain_from_root_through_street_to_community_verifies() {
        let f = fed();
        let street = Keypair::generate_ed25519();
        let community = Keypair::generate_ed25519();
        let s = f
            .cred
            .admit(
                &f.root,
                admission(&f.root, &street, Role::Street, "guandu/yiliu", true),
            )
            .unwrap();
        let c = s
            .admit(
                &street,
                admission(
                    &street,
                    &community,
                    Role::Community,
                    "guandu/yiliu/xinyazhou",
                    false,
                ),
            )
            .unwrap();
        let token = c.to_token().unwrap();
        let back = Credential::from_token(&token).unwrap();
        let m = back
            .verify_for(&NodeKey::of_keypair(&community).unwrap(), Utc::now(), &none)
            .unwrap();
        assert_eq!(m.role, Role::Community);
        assert_eq!(m.place, place("guandu/yiliu/xinyazhou"));
        assert_eq!(
            f.cred.verify(Utc::now(), &none).unwrap().role,
            Role::District
        );
        // Revoking the street cuts off everyone it admitted.
        let street_key = NodeKey::of_keypair(&street).unwrap();
        assert!(matches!(
            back.verify(Utc::now(), &|k| *k == street_key),
            Err(TrustError::Revoked(_))
        ));
    }

    #[test]
    fn forged_or_overreaching_chains_are_refused() {
        let f = fed();
        let street = Keypair::generate_ed25519();
        let other = Keypair::generate_ed25519();
        // A street admitting outside its place.
        let s = f
            .cred
            .admit(
                &f.root,
                admission(&f.root, &street, Role::Street, "guandu/yiliu", true),
            )
            .unwrap();
        let bad = s
            .admit(
                &street,
                admission(&street, &other, Role::Community, "guandu/other/x", false),
            )
            .unwrap();
        assert!(matches!(
            bad.verify(Utc::now(), &none),
            Err(TrustError::OutsidePlace { .. })
        ));
        // A street without the right to admit.
        let s2 = f
            .cred
            .admit(
                &f.root,
                admission(&f.root, &street, Role::Street, "guandu/yiliu", false),
            )
            .unwrap();
        let bad = s2
            .admit(
                &street,
                admission(&street, &other, Role::Community, "guandu/yiliu/x", false),
            )
            .unwrap();
        assert!(matches!(
            bad.verify(Utc::now(), &none),
            Err(TrustError::NotAnAdmitter { .. })
        ));
        // A self-signed admission claiming the root issued it.
        let mut forged = admission(&f.root, &other, Role::Street, "guandu/yiliu", true)
            .sign(&other)
            .unwrap();
        forged.admission.issuer = f.cred.federation.root;
        let cred = Credential {
            federation: f.cred.federation.clone(),
            chain: vec![forged],
        };
        assert!(matches!(
            cred.verify(Utc::now(), &none),
            Err(TrustError::BadSignature { .. })
        ));
        // A tampered place.
        let mut t = f
            .cred
            .admit(
                &f.root,
                admission(&f.root, &street, Role::Street, "guandu/yiliu", true),
            )
            .unwrap();
        t.chain[0].admission.place = place("guandu/other");
        assert!(matches!(
            t.verify(Utc::now(), &none),
            Err(TrustError::BadSignature { .. })
        ));
        // Role and place depth disagree.
        let r = f
            .cred
            .admit(
                &f.root,
                admission(&f.root, &street, Role::Community, "guandu/yiliu", true),
            )
            .unwrap();
        assert!(matches!(
            r.verify(Utc::now(), &none),
            Err(TrustError::RoleMismatch { .. })
        ));
        // Expired.
        let mut a = admission(&f.root, &street, Role::Street, "guandu/yiliu", true);
        a.expires = Some(Utc::now().timestamp() - 1);
        let e = f.cred.admit(&f.root, a).unwrap();
        assert!(matches!(
            e.verify(Utc::now(), &none),
            Err(TrustError::NotValidNow { .. })
        ));
        // Presented by someone else.
        assert!(matches!(
            s.verify_for(&NodeKey::of_keypair(&other).unwrap(), Utc::now(), &none),
            Err(TrustError::WrongNode { .. })
        ));
        assert!(Credential::from_token("yz1.!!!").is_err());
        assert!(Credential::from_token("hello").is_err());
    }

    #[test]
    fn peer_ids_embed_their_keys() {
        let k = Keypair::generate_ed25519();
        let key = NodeKey::of_keypair(&k).unwrap();
        assert_eq!(NodeKey::of_peer(&k.public().to_peer_id()).unwrap(), key);
        assert_eq!(key.peer_id().unwrap(), k.public().to_peer_id());
    }
}
