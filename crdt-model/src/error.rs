//! Typed errors of the domain model.

use thiserror::Error;

/// A place id, document id or entity id that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    /// An empty place path.
    #[error("place is empty; write it as a slash path such as guandu/yiliu/xinyazhou")]
    EmptyPlace,
    /// A place with too many segments.
    #[error("place {place:?} has more than {max} segments")]
    PlaceTooDeep {
        /// The offending input.
        place: String,
        /// The deepest place accepted.
        max: usize,
    },
    /// One segment of a place path is not a valid slug.
    #[error("place {place:?}: segment {segment:?} {why}")]
    BadPlaceSegment {
        /// The whole input.
        place: String,
        /// The offending segment.
        segment: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A document id that does not parse.
    #[error("document id {id:?} {why}")]
    BadDocumentId {
        /// The input.
        id: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A periodised kind built without a period.
    #[error("documents of kind {kind} need a period")]
    PeriodRequired {
        /// The kind.
        kind: &'static str,
    },
    /// A period that does not fit the kind (a month on a ledger, say).
    #[error("period {period} does not fit documents of kind {kind}")]
    PeriodMismatch {
        /// The kind.
        kind: &'static str,
        /// The period given.
        period: String,
    },
    /// An entity id (member, report, task...) that does not parse.
    #[error("{what} id {id:?} is malformed: {why}")]
    BadEntityId {
        /// Which kind of entity.
        what: &'static str,
        /// The input.
        id: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// Domain data that breaks a rule. Nothing is written when one of these is returned.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ValidationError {
    /// Latitude outside -90..=90.
    #[error("latitude {0} is out of range (-90 to 90)")]
    LatitudeOutOfRange(f64),
    /// Longitude outside -180..=180.
    #[error("longitude {0} is out of range (-180 to 180)")]
    LongitudeOutOfRange(f64),
    /// A category that is not one of the known categories.
    #[error("unknown category {0:?}; known categories: {known}", known = crate::category::Category::names().join(", "))]
    UnknownCategory(String),
    /// A lifecycle event that the current status does not allow.
    #[error("report {report}: cannot {event} a case that is {status}")]
    IllegalTransition {
        /// The report.
        report: String,
        /// The event attempted.
        event: &'static str,
        /// The status it is in.
        status: &'static str,
    },
    /// A points amount that is zero or negative where a positive one is needed.
    #[error("points amount must be positive, got {0}")]
    NonPositiveAmount(i64),
    /// A redemption or negative correction that would take a balance below zero.
    #[error("member {member} has {balance} points; {needed} would overdraw the balance")]
    Overdraw {
        /// The member.
        member: String,
        /// Their balance now.
        balance: i64,
        /// The points asked for.
        needed: i64,
    },
    /// A station redemption or return larger than what the station holds for
    /// the member.
    #[error(
        "station {station} holds {held} points in escrow for member {member}; {needed} is more: redeem at the community office, or ask it for a further grant"
    )]
    EscrowShort {
        /// The station node.
        station: String,
        /// The member.
        member: String,
        /// Points the station holds for them now.
        held: i64,
        /// The points asked for.
        needed: i64,
    },
    /// A station move written by a node other than the station it names.
    #[error("only station {station} may move its own escrow; this is {by}")]
    NotTheStation {
        /// The station the move names.
        station: String,
        /// The writer.
        by: String,
    },
    /// A member id that is not on the roster.
    #[error("member {0} is not on this community's roster")]
    UnknownMember(String),
    /// A report, task, need, station or merchant that does not exist.
    #[error("{what} {id} does not exist")]
    UnknownEntity {
        /// Which kind of entity.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// An entity created twice with the same id.
    #[error("{what} {id} already exists")]
    DuplicateEntity {
        /// Which kind of entity.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// A single-line text field holding a control character (a newline,
    /// an escape sequence): it would break the lines and tables it is
    /// shown in, or drive the terminal showing it.
    #[error(
        "{field} holds a control character (such as a newline or an escape); write it on one line of plain text"
    )]
    ControlCharacter {
        /// The field.
        field: &'static str,
    },
    /// A text field that must not be empty is.
    #[error("{field} is empty")]
    EmptyText {
        /// The field.
        field: &'static str,
    },
    /// A text field longer than its limit.
    #[error("{field} has {chars} characters; at most {max}")]
    TextTooLong {
        /// The field.
        field: &'static str,
        /// Its length, in characters.
        chars: usize,
        /// The limit, in characters.
        max: usize,
    },
    /// A phone number with something other than digits, `+`, `-` and
    /// spaces.
    #[error("phone {phone:?} holds characters other than digits, '+', '-' and spaces")]
    BadPhone {
        /// The number as given.
        phone: String,
    },
    /// A field whose value breaks a rule of its own (a points amount past
    /// its cap, an entry of the wrong kind).
    #[error("{field} {why}")]
    BadText {
        /// The field.
        field: &'static str,
        /// What is wrong.
        why: crate::ValueRule,
    },
    /// A time that contradicts another (an expiry before its issue date, say).
    #[error("{0}")]
    BadTime(crate::TimeRule),
    /// A member whose status does not allow the operation.
    #[error("member {member} is {status}; {action} needs an active member")]
    MemberNotActive {
        /// The member.
        member: String,
        /// Their status.
        status: &'static str,
        /// What was attempted.
        action: &'static str,
    },
    /// A roster status change that is not allowed.
    #[error("member {member}: cannot go from {from} to {to}")]
    IllegalMemberTransition {
        /// The member.
        member: String,
        /// Status now.
        from: &'static str,
        /// Status asked for.
        to: &'static str,
    },
    /// A task operation that its state refuses (claimed by someone else, lease expired...).
    #[error("task {task}: {why}")]
    TaskRefused {
        /// The task.
        task: String,
        /// Why.
        why: TaskRefusal,
    },
    /// A need that is already resolved, or similar.
    #[error("need {need}: {why}")]
    NeedRefused {
        /// The need.
        need: String,
        /// Why.
        why: crate::NeedRefusal,
    },
    /// An attachment that breaks the rules (too large, bad mime).
    #[error("attachment: {0}")]
    BadAttachment(crate::AttachmentRule),
    /// An id that does not parse.
    #[error(transparent)]
    Id(#[from] IdError),
}

/// Why a task's state refuses an operation on it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TaskRefusal {
    /// Another member's lease holds it.
    #[error("claimed by {member} until {until}")]
    ClaimedBy {
        /// The holder.
        member: String,
        /// When the lease ends.
        until: String,
    },
    /// It is past the state the operation needs.
    #[error("is already {status}")]
    Already {
        /// Its state now.
        status: &'static str,
    },
    /// It disappeared from its document between reading and writing.
    #[error("vanished")]
    Vanished,
    /// The member's lease ran out before they completed it.
    #[error("the lease of {member} expired at {expired}")]
    LeaseExpired {
        /// The member.
        member: String,
        /// When the lease ended.
        expired: String,
    },
    /// Nobody holds it.
    #[error("is not claimed; claim it first")]
    NotClaimed,
    /// Someone else holds it.
    #[error("is held by another member, not {member}")]
    HeldByAnother {
        /// The member who asked.
        member: String,
    },
    /// It is not completed yet, so it cannot be signed off.
    #[error("is {status}, not completed")]
    NotCompleted {
        /// Its state now.
        status: &'static str,
    },
}

/// A document whose content does not follow Yizhan's schema (written by a newer
/// or broken peer). Reading stops with this instead of guessing.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("document content does not follow the schema at {path}: {why}")]
pub struct SchemaError {
    /// Where in the document, such as `report/202611-ab12cd34/category`.
    pub path: String,
    /// What was found instead.
    pub why: String,
}

/// Any failure of a model operation.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ModelError {
    /// The request breaks a domain rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The stored document is not in the expected shape.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// Automerge refused an operation.
    #[error("automerge: {0}")]
    Automerge(String),
}

impl From<automerge::AutomergeError> for ModelError {
    fn from(e: automerge::AutomergeError) -> Self {
        ModelError::Automerge(e.to_string())
    }
}

impl From<IdError> for ModelError {
    fn from(e: IdError) -> Self {
        ModelError::Invalid(ValidationError::Id(e))
    }
}
