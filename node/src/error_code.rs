//! Stable codes for [`NodeError`]s, with the values their messages name.
//!
//! Why: the English message is for people and may be reworded; a code and
//! named parameters are what a program (the CLI's `--json` errors, its
//! Chinese messages, an HTTP client) can rely on. A code, once published,
//! is never reused for another meaning. Errors that cross the admin socket
//! travel as an [`ErrorBody`], so the CLI sees the same code whether it
//! talked to a running node or opened the store itself.

use std::collections::BTreeMap;

use crdt_model::{IdError, ModelError, TaskRefusal, ValidationError};
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, ConfigRule};
use crate::error::NodeError;
use crate::identity::IdentityError;
use crate::store::{BackupError, StoreError};

mod federation;
mod rules;

use federation::{blob_demand, certificate, refusal, trust, workflow};

/// A failure as it travels to the operator: a stable code, the values its
/// message names, and the English message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable, snake_case: `not_initialised`, `report_not_found`, ...
    pub code: String,
    /// The English message, for people.
    pub message: String,
    /// The values the message names, by name (`report`, `status`, ...).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// For a refused import, each refused row with its own body, so the
    /// CLI can say every row's reason in the operator's language.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<RefusedRow>,
}

/// One refused row of an import: its line in the file and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedRow {
    /// The line (1-based; a CSV file's header is line 1).
    pub line: u64,
    /// Why the row is refused, with its own code.
    pub error: ErrorBody,
}

impl RefusedRow {
    /// The row at `line`, refused for `why`.
    pub fn new(line: u64, why: &NodeError) -> RefusedRow {
        RefusedRow {
            line,
            error: ErrorBody::of(why),
        }
    }

    /// Every row as English reads them, `; ` between.
    pub fn joined(rows: &[RefusedRow]) -> String {
        rows.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl std::fmt::Display for RefusedRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.error.message)
    }
}

impl ErrorBody {
    /// The body of `e`.
    pub fn of(e: &NodeError) -> ErrorBody {
        if let NodeError::Remote(body) = e {
            return body.clone();
        }
        let (code, params) = code_and_params(e);
        let rows = match e {
            NodeError::ImportRefused { rows }
            | NodeError::Workflow(crate::workflow::WorkflowError::ImportRefused { rows }) => {
                rows.clone()
            }
            _ => Vec::new(),
        };
        ErrorBody {
            code: code.to_owned(),
            message: e.to_string(),
            params: params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            rows,
        }
    }
}

impl crate::admin::Response {
    /// The answer that says `e` failed the request.
    pub fn failed(e: &NodeError) -> crate::admin::Response {
        crate::admin::Response::Failed(ErrorBody::of(e))
    }
}

impl NodeError {
    /// This error's stable code.
    pub fn code(&self) -> String {
        match self {
            NodeError::Remote(body) => body.code.clone(),
            e => code_and_params(e).0.to_owned(),
        }
    }
}

/// Every code a node error can have. The CLI's tests check each has its
/// Chinese text (`cli/locales/errors.yml`); a test here checks the list
/// against the codes the functions below give.
pub const CODES: &[&str] = &[
    "not_initialised",
    "already_initialised",
    "io",
    "answer_lost",
    "report_not_found",
    "blob_not_found",
    "node_running",
    "not_running",
    "shutting_down",
    "malformed_request",
    "remote",
    "internal",
    "store_not_found",
    "store_exists",
    "store_damaged",
    "store_not_yizhan",
    "store_too_new",
    "store_in_use",
    "store_read_only",
    "store_io",
    "store_failed",
    "document_damaged",
    "blob_damaged",
    "blob_too_large",
    "reserved_meta_key",
    "backup_exists",
    "not_a_backup",
    "backup_mismatch",
    "identity_io",
    "identity_damaged",
    "identity_too_open",
    "config_io",
    "config_invalid",
    "config_unknown_key",
    "config_alert_timeout",
    "config_alert_retries",
    "config_cert_without_key",
    "config_plain_with_cert",
    "config_return_on_reconnect_off_station",
    "role_place_mismatch",
    "unknown_timezone",
    "schema",
    "document",
    "latitude_out_of_range",
    "longitude_out_of_range",
    "unknown_category",
    "illegal_transition",
    "non_positive_amount",
    "overdraw",
    "escrow_short",
    "not_the_station",
    "unknown_member",
    "not_found",
    "already_exists",
    "control_character",
    "empty_text",
    "text_too_long",
    "bad_phone",
    "station_is_granter",
    "training_hours_out_of_range",
    "entry_too_large",
    "task_too_rich",
    "not_an_earning",
    "not_a_correction",
    "award_needs_reason",
    "correction_needs_reason",
    "certificate_expiry",
    "lease_out_of_range",
    "claim_before_earlier",
    "opening_hours",
    "deadline_before_submission",
    "report_other_month",
    "due_before_dispatch",
    "event_before_last",
    "member_not_active",
    "illegal_member_transition",
    "task_claimed",
    "task_already",
    "task_vanished",
    "task_lease_expired",
    "task_not_claimed",
    "task_held_by_another",
    "task_not_completed",
    "need_already_resolved",
    "attachment_hash",
    "attachment_mime_form",
    "attachment_mime_malformed",
    "attachment_size",
    "too_many_attachments",
    "upload_size",
    "attachment_file_size",
    "bad_place",
    "bad_id",
    "bad_document_id",
    "bad_period",
    "not_ed25519",
    "admission_bad_signature",
    "admission_chain_broken",
    "not_an_admitter",
    "revoked",
    "token_for_another_node",
    "bad_token",
    "admission_not_valid",
    "outside_place",
    "admission_chain_length",
    "cannot_sign",
    "certificate_malformed",
    "certificate_wrong_root",
    "certificate_chain",
    "certificate_chain_of_another",
    "certificate_admits_another_role",
    "certificate_bad_signature",
    "certificate_revoked",
    "charter_file",
    "cannot_issue_certificate",
    "not_a_peer_id",
    "not_a_member",
    "may_not_admit",
    "station_may_not_admit",
    "report_import_refused",
    "import_size",
    "escrow_not_a_peer_id",
    "escrow_station_only",
    "escrow_wrong_station",
    "not_a_station",
    "token_for_other_place",
    "token_for_other_federation",
    "revoke_root",
    "revoke_itself",
    "revoke_no_chain",
    "revoke_other_federation",
    "revoke_chain_broken",
    "revoke_chain_of_another",
    "revoke_not_an_admitter",
    "already_revoked",
    "not_revoked",
    "not_the_revoker",
    "config_disagrees_with_admission",
    "admission_file_too_large",
    "not_an_admission_file",
    "nothing_to_rebuild",
    "rebuild_while_running",
    "not_a_document_id",
    "private_not_exported",
    "document_not_held",
    "bad_code_hash",
    "rider_code_elsewhere",
    "staff_code_at_district",
    "bad_staff_name",
    "no_access_code",
    "code_for_inactive_member",
    "bad_request_id",
    "answer_lost_earlier",
    "body_too_large",
    "bad_listen_address",
    "cannot_serve",
    "cannot_listen",
    "tls_pem",
    "tls_no_certificate",
    "tls_refused",
    "tls_generate",
    "no_tls",
    "blob_demand_busy",
    "blob_not_sent",
    "blob_late",
    "community_only",
    "out_of_scope",
    "wrong_level",
    "award_not_own_report",
    "award_not_verified",
    "award_no_reporter",
    "award_not_the_reporter",
    "award_task_by_sign_off",
    "award_no_member",
    "double_award",
    "redeem_not_offered",
    "redeem_nothing_offered",
    "redeem_wrong_price",
    "redeem_no_prices",
    "redeem_unknown_place",
    "confirm_other_category",
    "duplicate_phone",
    "nothing_to_change",
    "no_personal_data",
    "import_refused",
    "roster_import_size",
    "phone_on_roster",
    "phone_repeated",
];

type Params = Vec<(&'static str, String)>;

/// A path as its message shows it.
fn shown(path: &std::path::Path) -> String {
    path.display().to_string()
}

// Every match below names each variant of an error type of this crate, with
// no catch-all arm: a variant added without a code of its own does not
// compile. (The model's enums are matched the same way; `crdt_model`
// marks none of them non-exhaustive.)
fn code_and_params(e: &NodeError) -> (&'static str, Params) {
    match e {
        NodeError::NotInitialised { dir } => ("not_initialised", vec![("dir", shown(dir))]),
        NodeError::AlreadyInitialised { dir } => ("already_initialised", vec![("dir", shown(dir))]),
        NodeError::Store(s) => store(s),
        NodeError::Backup(b) => backup(b),
        NodeError::Model(m) => model(m),
        NodeError::Identity(i) => identity(i),
        NodeError::Config(c) => config(c),
        NodeError::Io { path, source } => (
            "io",
            vec![("path", shown(path)), ("why", source.to_string())],
        ),
        NodeError::AnswerLost(why) => ("answer_lost", vec![("why", why.clone())]),
        NodeError::UnknownReport(id) => ("report_not_found", vec![("report", id.clone())]),
        NodeError::UnknownBlob(hash) => ("blob_not_found", vec![("hash", hash.clone())]),
        NodeError::Trust(t) => trust(t),
        NodeError::Workflow(w) => workflow(w),
        NodeError::Privacy(crate::privacy::PrivacyError::NodeRunning { dir }) => {
            ("node_running", vec![("dir", shown(dir))])
        }
        NodeError::Certificate(c) => certificate(c),
        NodeError::NotRunning { what } => ("not_running", vec![("what", (*what).to_owned())]),
        NodeError::Refused(r) => refusal(r),
        NodeError::ShuttingDown => ("shutting_down", vec![]),
        NodeError::MalformedRequest(why) => ("malformed_request", vec![("why", why.clone())]),
        NodeError::BlobDemand(b) => blob_demand(b),
        NodeError::Remote(body) => ("remote", vec![("code", body.code.clone())]),
        NodeError::Internal(why) => ("internal", vec![("why", why.clone())]),
        NodeError::ImportRefused { rows } => (
            "report_import_refused",
            vec![
                ("count", rows.len().to_string()),
                ("rows", RefusedRow::joined(rows)),
            ],
        ),
    }
}

fn store(e: &StoreError) -> (&'static str, Params) {
    use StoreError as S;
    match e {
        S::NotFound { path } => ("store_not_found", vec![("path", shown(path))]),
        S::AlreadyExists { path } => ("store_exists", vec![("path", shown(path))]),
        S::Corrupt { path, reason } => (
            "store_damaged",
            vec![("path", shown(path)), ("why", reason.clone())],
        ),
        S::MissingMeta { path } => ("store_not_yizhan", vec![("path", shown(path))]),
        S::SchemaTooNew {
            path,
            found,
            supported,
        } => (
            "store_too_new",
            vec![
                ("path", shown(path)),
                ("found", found.to_string()),
                ("supported", supported.to_string()),
            ],
        ),
        S::AlreadyOpen { path } => ("store_in_use", vec![("path", shown(path))]),
        S::ReadOnly { path } => ("store_read_only", vec![("path", shown(path))]),
        S::Io { path, op, source } => (
            "store_io",
            vec![
                ("path", shown(path)),
                ("op", (*op).to_owned()),
                ("why", source.to_string()),
            ],
        ),
        S::Database { path, op, source } => (
            "store_failed",
            vec![
                ("path", shown(path)),
                ("op", (*op).to_owned()),
                ("why", source.to_string()),
            ],
        ),
        S::CorruptDocument { id, reason } => (
            "document_damaged",
            vec![("id", id.clone()), ("why", reason.clone())],
        ),
        S::CorruptBlob { hash, reason } => (
            "blob_damaged",
            vec![("hash", hash.to_string()), ("why", reason.clone())],
        ),
        S::BlobTooLarge { bytes, max } => (
            "blob_too_large",
            vec![("bytes", bytes.to_string()), ("max", max.to_string())],
        ),
        S::ReservedMetaKey { key } => ("reserved_meta_key", vec![("key", key.clone())]),
    }
}

fn backup(e: &BackupError) -> (&'static str, Params) {
    match e {
        BackupError::Exists { path } => ("backup_exists", vec![("path", shown(path))]),
        BackupError::NotABackup { path, why } => (
            "not_a_backup",
            vec![("path", shown(path)), ("why", why.clone())],
        ),
        BackupError::Mismatch { path, what } => (
            "backup_mismatch",
            vec![("path", shown(path)), ("what", what.clone())],
        ),
        BackupError::Store(s) => store(s),
    }
}

fn identity(e: &IdentityError) -> (&'static str, Params) {
    match e {
        IdentityError::Io { path, source } => (
            "identity_io",
            vec![("path", shown(path)), ("why", source.to_string())],
        ),
        IdentityError::Malformed { path, why } => (
            "identity_damaged",
            vec![("path", shown(path)), ("why", why.clone())],
        ),
        IdentityError::TooOpen { path, mode } => (
            "identity_too_open",
            vec![("path", shown(path)), ("mode", format!("{mode:o}"))],
        ),
    }
}

fn config(e: &ConfigError) -> (&'static str, Params) {
    match e {
        ConfigError::Io { path, source } => (
            "config_io",
            vec![("path", shown(path)), ("why", source.to_string())],
        ),
        ConfigError::Parse { path, why } => (
            "config_invalid",
            vec![("path", shown(path)), ("why", why.clone())],
        ),
        ConfigError::UnknownKey { path, key } => (
            "config_unknown_key",
            vec![
                ("path", shown(path)),
                ("key", key.clone()),
                ("known", crate::config::KEYS.join(", ")),
            ],
        ),
        ConfigError::Invalid(rule) => config_rule(rule),
        ConfigError::RoleMismatch {
            role,
            place,
            want,
            got,
        } => (
            "role_place_mismatch",
            vec![
                ("role", (*role).to_owned()),
                ("place", place.to_string()),
                ("want", want.to_string()),
                ("got", got.to_string()),
            ],
        ),
        ConfigError::Timezone(z) => ("unknown_timezone", vec![("zone", z.name.clone())]),
    }
}

fn config_rule(rule: &ConfigRule) -> (&'static str, Params) {
    match rule {
        ConfigRule::AlertTimeout => ("config_alert_timeout", vec![]),
        ConfigRule::AlertRetries { retries, max } => (
            "config_alert_retries",
            vec![("retries", retries.to_string()), ("max", max.to_string())],
        ),
        ConfigRule::CertWithoutKey => ("config_cert_without_key", vec![]),
        ConfigRule::PlainWithCert => ("config_plain_with_cert", vec![]),
        ConfigRule::ReturnOnReconnectOffStation { role } => (
            "config_return_on_reconnect_off_station",
            vec![("role", (*role).to_owned())],
        ),
    }
}

fn model(e: &ModelError) -> (&'static str, Params) {
    match e {
        ModelError::Invalid(v) => validation(v),
        ModelError::Schema(s) => (
            "schema",
            vec![("at", s.path.clone()), ("why", s.why.clone())],
        ),
        ModelError::Automerge(why) => ("document", vec![("why", why.clone())]),
    }
}

fn validation(v: &ValidationError) -> (&'static str, Params) {
    use ValidationError as V;
    match v {
        V::LatitudeOutOfRange(x) => ("latitude_out_of_range", vec![("value", x.to_string())]),
        V::LongitudeOutOfRange(x) => ("longitude_out_of_range", vec![("value", x.to_string())]),
        V::UnknownCategory(c) => ("unknown_category", vec![("category", c.clone())]),
        V::IllegalTransition {
            report,
            event,
            status,
        } => (
            "illegal_transition",
            vec![
                ("report", report.clone()),
                ("event", (*event).to_owned()),
                ("status", (*status).to_owned()),
            ],
        ),
        V::NonPositiveAmount(n) => ("non_positive_amount", vec![("amount", n.to_string())]),
        V::Overdraw {
            member,
            balance,
            needed,
        } => (
            "overdraw",
            vec![
                ("member", member.clone()),
                ("balance", balance.to_string()),
                ("needed", needed.to_string()),
            ],
        ),
        V::EscrowShort {
            station,
            member,
            held,
            needed,
        } => (
            "escrow_short",
            vec![
                ("station", station.clone()),
                ("member", member.clone()),
                ("held", held.to_string()),
                ("needed", needed.to_string()),
            ],
        ),
        V::NotTheStation { station, by } => (
            "not_the_station",
            vec![("station", station.clone()), ("by", by.clone())],
        ),
        V::UnknownMember(m) => ("unknown_member", vec![("member", m.clone())]),
        V::UnknownEntity { what, id } => (
            "not_found",
            vec![("what", (*what).to_owned()), ("id", id.clone())],
        ),
        V::DuplicateEntity { what, id } => (
            "already_exists",
            vec![("what", (*what).to_owned()), ("id", id.clone())],
        ),
        V::ControlCharacter { field } => {
            ("control_character", vec![("field", (*field).to_owned())])
        }
        V::EmptyText { field } => ("empty_text", vec![("field", (*field).to_owned())]),
        V::TextTooLong { field, chars, max } => (
            "text_too_long",
            vec![
                ("field", (*field).to_owned()),
                ("chars", chars.to_string()),
                ("max", max.to_string()),
            ],
        ),
        V::BadPhone { phone } => ("bad_phone", vec![("phone", phone.clone())]),
        V::BadText { field, why } => rules::value_rule(field, why),
        V::BadTime(why) => rules::time_rule(why),
        V::MemberNotActive {
            member,
            status,
            action,
        } => (
            "member_not_active",
            vec![
                ("member", member.clone()),
                ("status", (*status).to_owned()),
                ("action", (*action).to_owned()),
            ],
        ),
        V::IllegalMemberTransition { member, from, to } => (
            "illegal_member_transition",
            vec![
                ("member", member.clone()),
                ("from", (*from).to_owned()),
                ("to", (*to).to_owned()),
            ],
        ),
        V::TaskRefused { task, why } => task_refusal(task, why),
        V::NeedRefused { need, why } => rules::need_refusal(need, why),
        V::BadAttachment(why) => rules::attachment_rule(why),
        V::Id(e) => id(e),
    }
}

fn task_refusal(task: &str, why: &TaskRefusal) -> (&'static str, Params) {
    let task = ("task", task.to_owned());
    match why {
        TaskRefusal::ClaimedBy { member, until } => (
            "task_claimed",
            vec![task, ("member", member.clone()), ("until", until.clone())],
        ),
        TaskRefusal::Already { status } => (
            "task_already",
            vec![task, ("task_status", (*status).to_owned())],
        ),
        TaskRefusal::Vanished => ("task_vanished", vec![task]),
        TaskRefusal::LeaseExpired { member, expired } => (
            "task_lease_expired",
            vec![
                task,
                ("member", member.clone()),
                ("expired", expired.clone()),
            ],
        ),
        TaskRefusal::NotClaimed => ("task_not_claimed", vec![task]),
        TaskRefusal::HeldByAnother { member } => (
            "task_held_by_another",
            vec![task, ("member", member.clone())],
        ),
        TaskRefusal::NotCompleted { status } => (
            "task_not_completed",
            vec![task, ("task_status", (*status).to_owned())],
        ),
    }
}

fn id(e: &IdError) -> (&'static str, Params) {
    match e {
        IdError::EmptyPlace => ("bad_place", vec![("place", String::new())]),
        IdError::PlaceTooDeep { place, .. } | IdError::BadPlaceSegment { place, .. } => {
            ("bad_place", vec![("place", place.clone())])
        }
        IdError::BadEntityId { what, id, .. } => (
            "bad_id",
            vec![("what", (*what).to_owned()), ("id", id.clone())],
        ),
        IdError::BadDocumentId { id, .. } => ("bad_document_id", vec![("id", id.clone())]),
        IdError::PeriodRequired { kind } | IdError::PeriodMismatch { kind, .. } => {
            ("bad_period", vec![("kind", kind.to_string())])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_keeps_code_params_and_english_message() {
        let e = NodeError::UnknownReport("2026-11-000007".into());
        let body = ErrorBody::of(&e);
        assert_eq!(body.code, "report_not_found");
        assert_eq!(body.params["report"], "2026-11-000007");
        assert_eq!(body.message, e.to_string());
        let back = NodeError::Remote(body.clone());
        assert_eq!(back.code(), "report_not_found");
        assert_eq!(back.to_string(), body.message);
    }

    /// The codes the mapping functions give, read from their source (this
    /// file and `error_code/federation.rs`): every `("code", vec![...])`
    /// tuple. (And `error_code/rules.rs`.)
    fn codes_in_source() -> Vec<String> {
        let src = include_str!("error_code.rs");
        let mapping = [
            &src[..src.find("#[cfg(test)]").unwrap()],
            include_str!("error_code/federation.rs"),
            include_str!("error_code/rules.rs"),
        ]
        .concat();
        let flat: String = mapping.chars().filter(|c| !c.is_whitespace()).collect();
        let mut found = Vec::new();
        for (at, _) in flat.match_indices("(\"") {
            let rest = &flat[at + 2..];
            let Some(end) = rest.find('"') else { continue };
            let (name, after) = rest.split_at(end);
            let is_code = ["\",vec!", "\",all)"].iter().any(|t| after.starts_with(t));
            if is_code && !found.iter().any(|f: &String| f == name) {
                found.push(name.to_owned());
            }
        }
        found
    }

    #[test]
    fn every_code_given_is_listed_and_every_listed_code_is_given() {
        let given = codes_in_source();
        assert!(given.len() > 60, "read {} codes", given.len());
        for code in &given {
            assert!(
                CODES.contains(&code.as_str()),
                "{code} is missing from CODES"
            );
        }
        for code in CODES {
            assert!(
                given.iter().any(|g| g == code),
                "{code} in CODES is never given"
            );
        }
    }

    #[test]
    fn no_error_of_the_node_travels_without_a_code_of_its_own() {
        // The catch-all codes of before (`store`, `config`, `refused` for
        // a workflow refusal...) are gone: each variant names its own.
        let e = NodeError::from(StoreError::AlreadyOpen {
            path: "/x/store.redb".into(),
        });
        assert_eq!(ErrorBody::of(&e).code, "store_in_use");
        let e = NodeError::from(ConfigError::Invalid(ConfigRule::CertWithoutKey));
        assert_eq!(ErrorBody::of(&e).code, "config_cert_without_key");
        let e = NodeError::from(crate::workflow::WorkflowError::NothingToChange);
        assert_eq!(ErrorBody::of(&e).code, "nothing_to_change");
        let e = NodeError::from(ValidationError::EmptyText { field: "text" });
        let body = ErrorBody::of(&e);
        assert_eq!(
            (body.code.as_str(), body.params["field"].as_str()),
            ("empty_text", "text")
        );
        assert_eq!(
            ErrorBody::of(&NodeError::ShuttingDown).code,
            "shutting_down"
        );
        // The admin protocol has no answer for a failure without a code:
        // `Response::Failed` is the only one, so this is all there is to check.
        let failed = crate::admin::Response::failed(&e);
        assert!(matches!(failed, crate::admin::Response::Failed(b) if b.code == "empty_text"));
    }

    #[test]
    fn a_control_character_names_its_field() {
        let e = NodeError::from(ValidationError::ControlCharacter {
            field: "display name",
        });
        let body = ErrorBody::of(&e);
        assert_eq!(body.code, "control_character");
        assert_eq!(body.params["field"], "display name");
    }
}
