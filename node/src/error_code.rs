//! Stable codes for [`NodeError`]s, with the values their messages name.
//!
//! Why: the English message is for people and may be reworded; a code and
//! named parameters are what a program (the CLI's `--json` errors, its
//! Chinese messages, an HTTP client) can rely on. A code, once published,
//! is never reused for another meaning. Errors that cross the admin socket
//! travel as an [`ErrorBody`], so the CLI sees the same code whether it
//! talked to a running node or opened the store itself.

use std::collections::BTreeMap;

use crdt_model::{IdError, ModelError, ValidationError};
use serde::{Deserialize, Serialize};

use crate::error::NodeError;
use crate::trust::TrustError;
use crate::workflow::WorkflowError;

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
}

impl ErrorBody {
    /// The body of `e`.
    pub fn of(e: &NodeError) -> ErrorBody {
        if let NodeError::Remote(body) = e {
            return body.clone();
        }
        let (code, params) = code_and_params(e);
        ErrorBody {
            code: code.to_owned(),
            message: e.to_string(),
            params: params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
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

type Params = Vec<(&'static str, String)>;

fn code_and_params(e: &NodeError) -> (&'static str, Params) {
    match e {
        NodeError::NotInitialised { dir } => {
            ("not_initialised", vec![("dir", dir.display().to_string())])
        }
        NodeError::AlreadyInitialised { dir } => (
            "already_initialised",
            vec![("dir", dir.display().to_string())],
        ),
        NodeError::Store(_) => ("store", vec![]),
        NodeError::Backup(_) => ("backup", vec![]),
        NodeError::Model(ModelError::Invalid(v)) => validation(v),
        NodeError::Model(ModelError::Schema(_)) => ("schema", vec![]),
        NodeError::Model(_) => ("document", vec![]),
        NodeError::Identity(_) => ("identity", vec![]),
        NodeError::Config(_) => ("config", vec![]),
        NodeError::Io { path, .. } => ("io", vec![("path", path.display().to_string())]),
        NodeError::AnswerLost(_) => ("answer_lost", vec![]),
        NodeError::UnknownReport(id) => ("report_not_found", vec![("report", id.clone())]),
        NodeError::UnknownBlob(hash) => ("blob_not_found", vec![("hash", hash.clone())]),
        NodeError::Trust(t) => trust(t),
        NodeError::Workflow(w) => workflow(w),
        NodeError::Privacy(_) => ("privacy", vec![]),
        NodeError::Certificate(_) => ("certificate", vec![]),
        NodeError::NotRunning { what } => ("not_running", vec![("what", (*what).to_owned())]),
        NodeError::Admin(_) => ("refused", vec![]),
        NodeError::Remote(body) => ("remote", vec![("code", body.code.clone())]),
        NodeError::Internal(_) => ("internal", vec![]),
        NodeError::ImportRefused { rows } => (
            "report_import_refused",
            vec![("count", rows.len().to_string()), ("rows", rows.join("\n"))],
        ),
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
        V::BadText { field, why } => (
            "bad_text",
            vec![("field", (*field).to_owned()), ("why", why.clone())],
        ),
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
        V::Id(e) => id(e),
        _ => ("invalid", vec![]),
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
        _ => ("bad_id", vec![]),
    }
}

fn trust(t: &TrustError) -> (&'static str, Params) {
    match t {
        TrustError::Revoked(node) => ("revoked", vec![("node", node.clone())]),
        TrustError::WrongNode { expected, actual } => (
            "token_for_another_node",
            vec![("expected", expected.clone()), ("actual", actual.clone())],
        ),
        TrustError::Malformed(why) => ("bad_token", vec![("why", why.clone())]),
        TrustError::NotValidNow { node, .. } => {
            ("admission_not_valid", vec![("node", node.clone())])
        }
        TrustError::OutsidePlace {
            issuer_place,
            place,
            ..
        } => (
            "outside_place",
            vec![
                ("issuer_place", issuer_place.to_string()),
                ("place", place.to_string()),
            ],
        ),
        _ => ("trust", vec![]),
    }
}

fn workflow(w: &WorkflowError) -> (&'static str, Params) {
    use WorkflowError as W;
    match w {
        W::CommunityOnly { what, role, place } => (
            "community_only",
            vec![
                ("what", (*what).to_owned()),
                ("role", role.as_str().to_owned()),
                ("place", place.to_string()),
            ],
        ),
        W::ReportOutOfScope { report, owner, .. } => (
            "out_of_scope",
            vec![("report", report.clone()), ("owner", owner.to_string())],
        ),
        W::WrongLevel {
            report,
            action,
            level,
        } => (
            "wrong_level",
            vec![
                ("report", report.clone()),
                ("action", (*action).to_owned()),
                ("level", (*level).to_owned()),
            ],
        ),
        W::NotHeld { what, id, hint } => (
            "not_found",
            vec![
                ("what", (*what).to_owned()),
                ("id", id.clone()),
                ("hint", (*hint).to_owned()),
            ],
        ),
        W::DuplicatePhone { member, .. } => ("duplicate_phone", vec![("member", member.clone())]),
        _ => ("refused", vec![]),
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
