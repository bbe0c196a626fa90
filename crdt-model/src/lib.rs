//! Yizhan's domain, pure: place ids, document ids, the schemas of every
//! document kind over Automerge, validation, and the views derived from
//! documents (report status, balances, statistics).
//!
//! How to drive it: open or create an `automerge::AutoCommit` for a
//! [`DocumentId`], call the write functions of the kind's module
//! ([`report::submit`], [`roster::add`], [`ledger::redeem`]...) which validate
//! first and write nothing on error, then commit. Read with the module's `get`
//! and `list`, and derive views with [`lifecycle::fold`], [`ledger::balances`]
//! and [`stats::Stats`]. Every function is deterministic: replicas holding the
//! same changes read the same values.
//!
//! This crate does no IO and knows nothing of tokio, libp2p or redb.

#[macro_use]
mod named;

pub mod actor;
pub mod case_index;
pub mod category;
pub mod directory;
pub mod document_id;
pub mod error;
pub mod escrow;
pub mod escrow_rules;
pub mod geo;
pub mod ids;
pub mod ledger;
pub mod lifecycle;
pub mod place;
pub mod report;
pub mod report_content;
pub mod report_delta;
pub mod roster;
pub mod roster_private;
pub mod rules;
mod schema;
pub mod stats;
pub mod summary;
pub mod tasks;
#[cfg(test)]
mod test_reports;
pub mod write_rules;

pub use category::Category;
pub use document_id::{DocKind, DocumentId, Period};
pub use error::{IdError, ModelError, SchemaError, TaskRefusal, ValidationError};
pub use geo::{LatLon, Location};
pub use ids::{EventId, MemberId, ReportId};
pub use lifecycle::{CaseState, Status};
pub use place::{PlaceId, PlaceLevel};
pub use rules::{AttachmentRule, NeedRefusal, TimeRule, ValueRule};
pub use stats::{Stats, StatsFilter};
