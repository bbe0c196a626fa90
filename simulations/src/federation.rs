//! The federation a scenario describes: places, node keys derived from the
//! seed, and real admission chains (district → street → community, and
//! street → station for a community's stations).

use automerge::ActorId;
use chrono::{DateTime, Duration, Utc};
use crdt_model::{MemberId, PlaceId};
use libp2p::identity::Keypair;
use node::Role;
use node::trust::signing::TrustContext;
use node::trust::{Admission, Credential, Federation, Member, NodeKey};

use crate::scenario::{Expiry, Topology};

/// One node of the federation and everything it knows about itself.
pub struct Identity {
    /// Its place.
    pub place: PlaceId,
    /// Its role.
    pub role: Role,
    /// Index of the parent node (street for a community, district for a street).
    pub parent: Option<usize>,
    /// Signs its changes.
    pub keypair: Keypair,
    /// Its public key.
    pub key: NodeKey,
    /// Its actor id: the public key, as the node writes.
    pub actor: ActorId,
    /// Its admission chain.
    pub credential: Credential,
    /// What the chain establishes.
    pub member: Member,
    /// What it checks incoming changes against.
    pub trust: TrustContext,
    /// Grids of a community.
    pub grids: Vec<String>,
    /// Rider ids on a community's roster.
    pub riders: Vec<MemberId>,
}

/// Why the federation could not be built.
#[derive(Debug)]
pub struct BuildError(pub String);

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot build the federation: {}", self.0)
    }
}

impl std::error::Error for BuildError {}

fn keypair(seed: u64, name: &str) -> Result<Keypair, BuildError> {
    let mut h = blake3::Hasher::new_derive_key("yizhan simulations node key v1");
    h.update(&seed.to_le_bytes());
    h.update(name.as_bytes());
    let bytes = *h.finalize().as_bytes();
    Keypair::ed25519_from_bytes(bytes).map_err(|e| BuildError(e.to_string()))
}

fn place(s: &str) -> Result<PlaceId, BuildError> {
    PlaceId::parse(s).map_err(|e| BuildError(e.to_string()))
}

/// Builds the nodes of `topology`: index 0 is the district, then the
/// streets, then the communities (dealt to the streets in turn), then the
/// stations (dealt to the communities, admitted by their street). Keys are
/// derived from `seed`, admissions are issued a day before `start` and
/// lapse as `expiries` say (never otherwise); a street's expiry lapses its
/// communities' chains too, as a real chain does.
pub fn build(
    topology: &Topology,
    expiries: &[Expiry],
    seed: u64,
    start: DateTime<Utc>,
) -> Result<Vec<Identity>, BuildError> {
    let issued = (start - Duration::days(1)).timestamp();
    let expires = |index: usize| -> Option<i64> {
        expiries
            .iter()
            .filter(|e| e.node().index(topology).ok() == Some(index))
            .map(|e| {
                (start + Duration::milliseconds(crate::sim::hours_ms(e.at_hour) as i64)).timestamp()
            })
            .min()
    };
    let district = place(&topology.district)?;
    let root_kp = keypair(seed, district.as_str())?;
    let root_key = NodeKey::of_keypair(&root_kp).map_err(|e| BuildError(e.to_string()))?;
    let federation = Federation {
        root: root_key,
        place: district.clone(),
    };
    let root_cred = Credential::root(federation.clone());
    let mut out: Vec<Identity> = Vec::new();
    let mut push = |place: PlaceId,
                    role: Role,
                    parent: Option<usize>,
                    keypair: Keypair,
                    credential: Credential|
     -> Result<usize, BuildError> {
        let member = credential
            .verify(start, &|_| false)
            .map_err(|e| BuildError(format!("{place}: {e}")))?;
        let key = member.key;
        out.push(Identity {
            place,
            role,
            parent,
            keypair,
            key,
            actor: ActorId::from(key.0.to_vec()),
            credential,
            trust: TrustContext::new(federation.clone(), member.clone(), Default::default()),
            member,
            grids: Vec::new(),
            riders: Vec::new(),
        });
        Ok(out.len() - 1)
    };
    push(
        district.clone(),
        Role::District,
        None,
        root_kp.clone(),
        root_cred.clone(),
    )?;
    let admit = |issuer_kp: &Keypair,
                 issuer_cred: &Credential,
                 kp: &Keypair,
                 role: Role,
                 place: &PlaceId,
                 expires: Option<i64>|
     -> Result<Credential, BuildError> {
        let issuer = NodeKey::of_keypair(issuer_kp).map_err(|e| BuildError(e.to_string()))?;
        let node = NodeKey::of_keypair(kp).map_err(|e| BuildError(e.to_string()))?;
        issuer_cred
            .admit(
                issuer_kp,
                Admission {
                    node,
                    role,
                    place: place.clone(),
                    may_admit: role == Role::Street,
                    issued,
                    expires,
                    issuer,
                },
            )
            .map_err(|e| BuildError(e.to_string()))
    };
    let mut streets = Vec::new();
    for s in 0..topology.streets {
        let p = place(&format!("{district}/s{:02}", s + 1))?;
        let kp = keypair(seed, p.as_str())?;
        let cred = admit(&root_kp, &root_cred, &kp, Role::Street, &p, expires(1 + s))?;
        let i = push(p.clone(), Role::Street, Some(0), kp.clone(), cred.clone())?;
        streets.push((i, p, kp, cred));
    }
    let mut communities = Vec::new();
    for c in 0..topology.communities {
        let (si, sp, skp, scred) = &streets[c % streets.len()];
        let p = place(&format!("{sp}/c{:02}", c + 1))?;
        let kp = keypair(seed, p.as_str())?;
        let cred = admit(
            skp,
            scred,
            &kp,
            Role::Community,
            &p,
            expires(1 + topology.streets + c),
        )?;
        let i = push(p.clone(), Role::Community, Some(*si), kp, cred)?;
        communities.push((i, p, c % streets.len()));
    }
    let first = 1 + topology.streets;
    let n = topology.communities;
    for k in 0..topology.stations {
        let (c, p, s) = &communities[k % communities.len()];
        let (_, _, skp, scred) = &streets[*s];
        // Its own key: the place alone would give it its community's.
        let kp = keypair(seed, &format!("{p}#station{:02}", k + 1))?;
        let cred = admit(skp, scred, &kp, Role::Station, p, None)?;
        push(p.clone(), Role::Station, Some(*c), kp, cred)?;
    }
    for g in 0..topology.grids {
        out[first + g % n].grids.push(format!("g{:03}", g + 1));
    }
    for r in 0..topology.riders {
        let id =
            MemberId::parse(&format!("m-{:04}", r + 1)).map_err(|e| BuildError(e.to_string()))?;
        out[first + r % n].riders.push(id);
    }
    Ok(out)
}
