//! Codes of the model's rules: why a value, a time, an attachment or a need
//! is refused, one code per rule.

use crdt_model::{AttachmentRule, NeedRefusal, TimeRule, ValueRule};

use super::Params;

pub(super) fn value_rule(field: &str, why: &ValueRule) -> (&'static str, Params) {
    let field = ("field", field.to_owned());
    match why {
        ValueRule::GrantingCommunity => ("station_is_granter", vec![field]),
        ValueRule::TrainingHours { hours } => (
            "training_hours_out_of_range",
            vec![field, ("hours", hours.to_string())],
        ),
        ValueRule::EntryTooLarge { amount, max } => (
            "entry_too_large",
            vec![
                field,
                ("amount", amount.to_string()),
                ("max", max.to_string()),
            ],
        ),
        ValueRule::TaskTooRich { points, max } => (
            "task_too_rich",
            vec![
                field,
                ("points", points.to_string()),
                ("max", max.to_string()),
            ],
        ),
        ValueRule::NotAnEarning { kind } => (
            "not_an_earning",
            vec![field, ("entry_kind", (*kind).to_owned())],
        ),
        ValueRule::NotACorrection => ("not_a_correction", vec![field]),
        ValueRule::AwardNeedsReason => ("award_needs_reason", vec![field]),
        ValueRule::CorrectionNeedsReason => ("correction_needs_reason", vec![field]),
    }
}

pub(super) fn time_rule(why: &TimeRule) -> (&'static str, Params) {
    match why {
        TimeRule::CertificateExpiry { expires, issued } => (
            "certificate_expiry",
            vec![("expires", expires.clone()), ("issued", issued.clone())],
        ),
        TimeRule::Lease { minutes, max } => (
            "lease_out_of_range",
            vec![("minutes", minutes.to_string()), ("max", max.to_string())],
        ),
        TimeRule::ClaimBeforeEarlier => ("claim_before_earlier", vec![]),
        TimeRule::OpeningHours { hours } => ("opening_hours", vec![("hours", hours.clone())]),
        TimeRule::DeadlineBeforeSubmission => ("deadline_before_submission", vec![]),
        TimeRule::OtherMonth { report } => ("report_other_month", vec![("report", report.clone())]),
        TimeRule::DueBeforeDispatch => ("due_before_dispatch", vec![]),
        TimeRule::EventBeforeLast { at, last } => (
            "event_before_last",
            vec![("at", at.clone()), ("last", last.clone())],
        ),
    }
}

pub(super) fn attachment_rule(why: &AttachmentRule) -> (&'static str, Params) {
    match why {
        AttachmentRule::BadHash { hash } => ("attachment_hash", vec![("hash", hash.clone())]),
        AttachmentRule::MimeForm { mime } => ("attachment_mime_form", vec![("mime", mime.clone())]),
        AttachmentRule::MimeMalformed { mime } => {
            ("attachment_mime_malformed", vec![("mime", mime.clone())])
        }
        AttachmentRule::Size { size, max } => (
            "attachment_size",
            vec![("size", size.to_string()), ("max", max.to_string())],
        ),
        AttachmentRule::TooMany { count, max } => (
            "too_many_attachments",
            vec![("count", count.to_string()), ("max", max.to_string())],
        ),
        AttachmentRule::UploadSize { bytes, max } => (
            "upload_size",
            vec![("bytes", bytes.to_string()), ("max", max.to_string())],
        ),
        AttachmentRule::FileSize {
            kind,
            path,
            bytes,
            max,
        } => (
            "attachment_file_size",
            vec![
                ("attachment_kind", (*kind).to_owned()),
                ("path", path.clone()),
                ("bytes", bytes.to_string()),
                ("max", max.to_string()),
            ],
        ),
    }
}

pub(super) fn need_refusal(need: &str, why: &NeedRefusal) -> (&'static str, Params) {
    match why {
        NeedRefusal::AlreadyResolved => ("need_already_resolved", vec![("need", need.to_owned())]),
    }
}
