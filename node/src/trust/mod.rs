//! Trust: admissions and their chains, the charter's revocations, the access
//! rules, and the policy that enforces them against peers.
//!
//! A district is the root of its federation. Streets and communities are
//! inert until they join with a token an admitter printed. On connect, peers
//! exchange credentials over `/yizhan/admission/1`; only a peer whose chain
//! verifies to this node's federation root, with no revoked key on it, is
//! handed to the sync engine, and the [`FederationPolicy`] decides per
//! document what it may read and send.

pub mod access;
pub mod admission;
pub mod admission_copy;
pub mod attest;
pub mod authors;
pub mod charter;
pub mod chunks;
#[cfg(test)]
mod escrow_receive;
mod key_memo;
pub mod membership;
pub mod proof;
pub mod refused;
pub mod signing;
pub mod statement;
mod verified_links;

pub use access::{FederationPolicy, may_read, may_write};
pub use admission::{
    Admission, Credential, Federation, Member, NodeKey, SignedAdmission, TrustError,
};
pub use membership::MembershipView;

/// Meta key under which a node keeps its own credential (JSON).
pub const CREDENTIAL_META_KEY: &str = "credential";
