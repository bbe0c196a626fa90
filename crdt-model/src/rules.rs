//! Why a value, a time, an attachment or a need breaks a rule: one variant
//! per rule, with the values it names, so that a node can give each its own
//! code and the CLI say it in the operator's language. The English texts
//! are those the model always wrote.

use thiserror::Error;

/// Why a field's value breaks a rule of its own ([`crate::ValidationError::BadText`]).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ValueRule {
    /// An escrow grant to the community that grants it.
    #[error("is the granting community itself")]
    GrantingCommunity,
    /// Training hours outside (0, 24].
    #[error("{hours} is outside (0, 24]")]
    TrainingHours {
        /// The hours given.
        hours: f64,
    },
    /// A ledger entry moving more points than one entry may.
    #[error("{amount} exceeds {max}")]
    EntryTooLarge {
        /// The amount, without its sign.
        amount: i64,
        /// The most one entry moves.
        max: i64,
    },
    /// A task worth more points than a task may be.
    #[error("{points} is more than {max}")]
    TaskTooRich {
        /// The points given.
        points: i64,
        /// The most a task is worth.
        max: i64,
    },
    /// A credit of a kind that is not an earning.
    #[error("{kind} is not a kind of earning")]
    NotAnEarning {
        /// The entry's kind.
        kind: &'static str,
    },
    /// A correction entry of another kind.
    #[error("a correction must have kind correction")]
    NotACorrection,
    /// A discretionary award without a reason.
    #[error("is required for a discretionary award")]
    AwardNeedsReason,
    /// A correction without a reason.
    #[error("is required for a correction")]
    CorrectionNeedsReason,
}

/// Why a time contradicts another ([`crate::ValidationError::BadTime`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TimeRule {
    /// A certificate that expires on or before it is issued.
    #[error("certificate expires {expires} on or before its issue date {issued}")]
    CertificateExpiry {
        /// Its expiry day.
        expires: String,
        /// Its issue day.
        issued: String,
    },
    /// A task lease too short or too long.
    #[error("lease of {minutes} minutes is outside 1..={max}")]
    Lease {
        /// The lease given.
        minutes: i64,
        /// The longest lease.
        max: i64,
    },
    /// A claim dated before the task's last claim.
    #[error("claim time is before an earlier claim")]
    ClaimBeforeEarlier,
    /// Opening hours that do not read as a span of the day.
    #[error("opening hours {hours:?}: write them as HH:MM-HH:MM, such as 08:00-21:00")]
    OpeningHours {
        /// The hours as given.
        hours: String,
    },
    /// A deadline at or before the submission.
    #[error("the deadline must be after the submission time")]
    DeadlineBeforeSubmission,
    /// A report id of another month than its submission.
    #[error("report {report} does not belong to the month it was submitted in")]
    OtherMonth {
        /// The report.
        report: String,
    },
    /// A dispatch due at or before it is made.
    #[error("the due time must be after the dispatch")]
    DueBeforeDispatch,
    /// An event dated before the case's last one.
    #[error("event time {at} is before the case's last event at {last}")]
    EventBeforeLast {
        /// The event's time.
        at: String,
        /// The last event's time.
        last: String,
    },
}

/// Why an attachment breaks the rules ([`crate::ValidationError::BadAttachment`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AttachmentRule {
    /// A hash that is not a BLAKE3 hash written out.
    #[error("hash {hash:?} is not 64 lowercase hex digits")]
    BadHash {
        /// The hash as given.
        hash: String,
    },
    /// A media type without a slash.
    #[error("media type {mime:?} is not of the form type/subtype")]
    MimeForm {
        /// The media type as given.
        mime: String,
    },
    /// A media type with an empty part, or too long.
    #[error("media type {mime:?} is malformed")]
    MimeMalformed {
        /// The media type as given.
        mime: String,
    },
    /// A recorded size that is zero or too large.
    #[error("size {size} is outside 1..={max} bytes")]
    Size {
        /// The size recorded.
        size: u64,
        /// The largest attachment.
        max: u64,
    },
    /// More attachments than a report holds.
    #[error("{count} attachments; at most {max}")]
    TooMany {
        /// Attachments given.
        count: usize,
        /// The most a report holds.
        max: usize,
    },
    /// Uploaded bytes that are empty or too many.
    #[error("the photo is {bytes} bytes; attachments must hold 1 to {max} bytes")]
    UploadSize {
        /// The bytes uploaded.
        bytes: u64,
        /// The largest attachment.
        max: u64,
    },
    /// A file that is empty or too large.
    #[error("{kind} {path} is {bytes} bytes; attachments must hold 1 to {max} bytes")]
    FileSize {
        /// What the file is (`photo`, `voice`...).
        kind: &'static str,
        /// The file.
        path: String,
        /// Its size.
        bytes: u64,
        /// The largest attachment.
        max: u64,
    },
}

/// Why a need refuses an operation ([`crate::ValidationError::NeedRefused`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NeedRefusal {
    /// It was resolved already.
    #[error("is already resolved")]
    AlreadyResolved,
}
