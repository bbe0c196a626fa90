//! Codes of the errors that concern the federation and the operator's
//! requests: admissions and trust, service certificates, the node's
//! refusals of admin requests, blobs fetched on demand, and workflow steps.
//! Split from `error_code.rs` to keep each file to one area; the rule is the
//! same (every variant named, no catch-all arm).

use super::{Params, RefusedRow, shown};
use crate::certificate::{AdmittedInstead, CertificateError};
use crate::error::BlobDemandError;
use crate::http::tls::TlsError;
use crate::refusal::AdminRefusal;
use crate::trust::TrustError;
use crate::trust::charter::RevokeRule;
use crate::workflow::{AwardRefusal, ConfirmRefusal, EscrowRefusal, RedeemRefusal, WorkflowError};

pub(super) fn trust(t: &TrustError) -> (&'static str, Params) {
    match t {
        TrustError::NotEd25519(key) => ("not_ed25519", vec![("key", key.clone())]),
        TrustError::BadSignature { node, issuer } => (
            "admission_bad_signature",
            vec![("node", node.clone()), ("issuer", issuer.clone())],
        ),
        TrustError::Broken { node, issuer } => (
            "admission_chain_broken",
            vec![("node", node.clone()), ("issuer", issuer.clone())],
        ),
        TrustError::NotAnAdmitter { node, issuer } => (
            "not_an_admitter",
            vec![("node", node.clone()), ("issuer", issuer.clone())],
        ),
        TrustError::Revoked(node) => ("revoked", vec![("node", node.clone())]),
        TrustError::WrongNode { expected, actual } => (
            "token_for_another_node",
            vec![("expected", expected.clone()), ("actual", actual.clone())],
        ),
        TrustError::Malformed(why) => ("bad_token", vec![("why", why.clone())]),
        TrustError::NotValidNow { node, why } => (
            "admission_not_valid",
            vec![("node", node.clone()), ("why", (*why).to_owned())],
        ),
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
        TrustError::RoleMismatch { role, place } => (
            "role_place_mismatch",
            vec![
                ("role", role.as_str().to_owned()),
                ("place", place.to_string()),
            ],
        ),
        TrustError::ChainLength(n) => ("admission_chain_length", vec![("links", n.to_string())]),
        TrustError::Signing(why) => ("cannot_sign", vec![("why", why.clone())]),
    }
}

pub(super) fn certificate(c: &CertificateError) -> (&'static str, Params) {
    use CertificateError as C;
    match c {
        C::Malformed(why) => ("certificate_malformed", vec![("why", why.clone())]),
        C::WrongRoot { found, expected } => (
            "certificate_wrong_root",
            vec![("found", found.clone()), ("expected", expected.clone())],
        ),
        C::Chain(t) => {
            let (code, params) = trust(t);
            let mut all = vec![("code", code.to_owned())];
            all.extend(params);
            ("certificate_chain", all)
        }
        C::NotAdmittedFor {
            community,
            why: AdmittedInstead::AnotherNode { chain_end, issuer },
        } => (
            "certificate_chain_of_another",
            vec![
                ("community", community.to_string()),
                ("chain_end", chain_end.clone()),
                ("issuer", issuer.clone()),
            ],
        ),
        C::NotAdmittedFor {
            community,
            why:
                AdmittedInstead::AnotherRole {
                    issuer,
                    role,
                    place,
                },
        } => (
            "certificate_admits_another_role",
            vec![
                ("community", community.to_string()),
                ("issuer", issuer.clone()),
                ("role", (*role).to_owned()),
                ("place", place.clone()),
            ],
        ),
        C::BadSignature { issuer } => (
            "certificate_bad_signature",
            vec![("issuer", issuer.clone())],
        ),
        C::Revoked {
            key,
            by,
            at,
            issued,
            ..
        } => (
            "certificate_revoked",
            vec![
                ("key", key.clone()),
                ("by", by.clone()),
                ("at", at.clone()),
                ("issued", issued.clone()),
            ],
        ),
        C::Charter(why) => ("charter_file", vec![("why", why.clone())]),
        C::CannotIssue(why) => ("cannot_issue_certificate", vec![("why", why.clone())]),
    }
}

pub(super) fn refusal(r: &AdminRefusal) -> (&'static str, Params) {
    use AdminRefusal as A;
    let role = |r: &crate::config::Role| r.as_str().to_owned();
    match r {
        A::NotAPeerId { peer, .. } => ("not_a_peer_id", vec![("peer", peer.clone())]),
        A::NotAMember { .. } => ("not_a_member", vec![]),
        A::MayNotAdmit => ("may_not_admit", vec![]),
        A::StationMayNotAdmit => ("station_may_not_admit", vec![]),
        A::ImportSize { count, max } => (
            "import_size",
            vec![("count", count.to_string()), ("max", max.to_string())],
        ),
        A::TokenForOtherPlace {
            token_role,
            token_place,
            role: mine,
            place,
        } => (
            "token_for_other_place",
            vec![
                ("token_role", role(token_role)),
                ("token_place", token_place.to_string()),
                ("role", role(mine)),
                ("place", place.to_string()),
            ],
        ),
        A::TokenForOtherFederation {
            federation,
            district,
        } => (
            "token_for_other_federation",
            vec![
                ("federation", federation.to_string()),
                ("district", district.to_string()),
            ],
        ),
        A::CannotRevoke { peer, why } => revoke_rule(peer, why),
        A::AlreadyRevoked { peer, by } => (
            "already_revoked",
            vec![("peer", peer.clone()), ("by", by.clone())],
        ),
        A::NotRevoked { peer } => ("not_revoked", vec![("peer", peer.clone())]),
        A::NotTheRevoker { peer, by } => (
            "not_the_revoker",
            vec![("peer", peer.clone()), ("by", by.clone())],
        ),
        A::ConfigDisagrees {
            role: admitted,
            place,
            config_role,
            config_place,
            ..
        } => (
            "config_disagrees_with_admission",
            vec![
                ("role", role(admitted)),
                ("place", place.to_string()),
                ("config_role", role(config_role)),
                ("config_place", config_place.to_string()),
            ],
        ),
        A::AdmissionFileTooLarge { path, bytes } => (
            "admission_file_too_large",
            vec![("path", shown(path)), ("bytes", bytes.to_string())],
        ),
        A::NotAnAdmissionFile { path, why } => (
            "not_an_admission_file",
            vec![("path", shown(path)), ("why", why.clone())],
        ),
        A::NothingToRebuild { dir, file } => (
            "nothing_to_rebuild",
            vec![("dir", shown(dir)), ("file", (*file).to_owned())],
        ),
        A::RebuildWhileRunning { dir } => ("rebuild_while_running", vec![("dir", shown(dir))]),
        A::NotADocumentId { id, why } => (
            "not_a_document_id",
            vec![("id", id.clone()), ("why", why.clone())],
        ),
        A::PrivateNotExported { id } => ("private_not_exported", vec![("id", id.clone())]),
        A::DocumentNotHeld { id } => ("document_not_held", vec![("id", id.clone())]),
        A::BadCodeHash { hash } => ("bad_code_hash", vec![("hash", hash.clone())]),
        A::RiderCodeElsewhere { role: here } => {
            ("rider_code_elsewhere", vec![("role", role(here))])
        }
        A::StaffCodeAtDistrict => ("staff_code_at_district", vec![]),
        A::BadStaffName { name, max } => (
            "bad_staff_name",
            vec![("name", name.clone()), ("max", max.to_string())],
        ),
        A::NoAccessCode { holder } => ("no_access_code", vec![("holder", holder.clone())]),
        A::CodeForInactiveMember { member, status } => (
            "code_for_inactive_member",
            vec![("member", member.clone()), ("status", (*status).to_owned())],
        ),
        A::BadRequestId { id, max } => (
            "bad_request_id",
            vec![("id", id.clone()), ("max", max.to_string())],
        ),
        A::AnswerLostEarlier { id } => ("answer_lost_earlier", vec![("id", id.clone())]),
        A::BodyTooLarge { what, bytes, max } => (
            "body_too_large",
            vec![
                ("what", (*what).to_owned()),
                ("bytes", bytes.to_string()),
                ("max", max.to_string()),
            ],
        ),
        A::BadListenAddress {
            section,
            value,
            example,
            why,
        } => (
            "bad_listen_address",
            vec![
                ("section", (*section).to_owned()),
                ("value", value.clone()),
                ("example", (*example).to_owned()),
                ("why", why.clone()),
            ],
        ),
        A::CannotServe { what, addr, why } => (
            "cannot_serve",
            vec![
                ("what", (*what).to_owned()),
                ("addr", addr.to_string()),
                ("why", why.clone()),
            ],
        ),
        A::CannotListen { addr, why } => (
            "cannot_listen",
            vec![("addr", addr.clone()), ("why", why.clone())],
        ),
        A::Tls(e) => tls(e),
        A::NoTls => ("no_tls", vec![]),
    }
}

pub(super) fn blob_demand(b: &BlobDemandError) -> (&'static str, Params) {
    match b {
        BlobDemandError::Busy { hash, max } => (
            "blob_demand_busy",
            vec![("hash", hash.clone()), ("max", max.to_string())],
        ),
        BlobDemandError::NotSent { hash } => ("blob_not_sent", vec![("hash", hash.clone())]),
        BlobDemandError::Late { hash, secs } => (
            "blob_late",
            vec![("hash", hash.clone()), ("secs", secs.to_string())],
        ),
    }
}

pub(super) fn workflow(w: &WorkflowError) -> (&'static str, Params) {
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
        W::ReportOutOfScope {
            report,
            owner,
            role,
            place,
            action,
        } => (
            "out_of_scope",
            vec![
                ("report", report.clone()),
                ("owner", owner.to_string()),
                ("role", role.as_str().to_owned()),
                ("place", place.to_string()),
                ("action", (*action).to_owned()),
            ],
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
        W::AwardRefused(why) => award_refusal(why),
        W::DoubleAward {
            reference,
            member,
            entry,
        } => (
            "double_award",
            vec![
                ("reference", reference.clone()),
                ("member", member.clone()),
                ("entry", entry.clone()),
            ],
        ),
        W::RedeemRefused(why) => redeem_refusal(why),
        W::EscrowRefused(why) => escrow_refusal(why),
        W::NotAStation { station, why } => (
            "not_a_station",
            vec![("station", station.clone()), ("why", why.clone())],
        ),
        W::ConfirmRefused(ConfirmRefusal::OtherCategory {
            report,
            category,
            given,
        }) => (
            "confirm_other_category",
            vec![
                ("report", report.clone()),
                ("category", (*category).to_owned()),
                ("given_category", (*given).to_owned()),
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
        W::DuplicatePhone {
            member,
            display_name,
            status,
        } => (
            "duplicate_phone",
            vec![
                ("member", member.clone()),
                ("display_name", display_name.clone()),
                ("status", (*status).to_owned()),
            ],
        ),
        W::NothingToChange => ("nothing_to_change", vec![]),
        W::NoPersonalData { member } => ("no_personal_data", vec![("member", member.clone())]),
        W::ImportRefused { rows } => (
            "import_refused",
            vec![
                ("count", rows.len().to_string()),
                ("rows", RefusedRow::joined(rows)),
            ],
        ),
        W::ImportSize { count, max } => (
            "roster_import_size",
            vec![("count", count.to_string()), ("max", max.to_string())],
        ),
        W::PhoneOnRoster { member } => ("phone_on_roster", vec![("member", member.clone())]),
        W::PhoneRepeated { first } => ("phone_repeated", vec![("first", first.to_string())]),
    }
}

fn escrow_refusal(why: &EscrowRefusal) -> (&'static str, Params) {
    match why {
        EscrowRefusal::NotAPeerId { station } => {
            ("escrow_not_a_peer_id", vec![("station", station.clone())])
        }
        EscrowRefusal::StationOnly { what, role } => (
            "escrow_station_only",
            vec![("what", (*what).to_owned()), ("role", (*role).to_owned())],
        ),
        EscrowRefusal::WrongStation { me, station } => (
            "escrow_wrong_station",
            vec![("me", me.clone()), ("station", station.clone())],
        ),
    }
}

fn award_refusal(why: &AwardRefusal) -> (&'static str, Params) {
    use AwardRefusal as A;
    match why {
        A::NotOwnReport { report, owner } => (
            "award_not_own_report",
            vec![("report", report.clone()), ("owner", owner.clone())],
        ),
        A::NotVerified { report, status } => (
            "award_not_verified",
            vec![("report", report.clone()), ("status", (*status).to_owned())],
        ),
        A::NoReporter { report } => ("award_no_reporter", vec![("report", report.clone())]),
        A::NotTheReporter { report, reporter } => (
            "award_not_the_reporter",
            vec![("report", report.clone()), ("reporter", reporter.clone())],
        ),
        A::TaskBySignOff { task } => ("award_task_by_sign_off", vec![("task", task.clone())]),
        A::NoMember => ("award_no_member", vec![]),
    }
}

fn redeem_refusal(why: &RedeemRefusal) -> (&'static str, Params) {
    use RedeemRefusal as R;
    match why {
        R::NotOffered {
            name,
            merchant,
            item,
            offered,
        } => (
            "redeem_not_offered",
            vec![
                ("name", name.clone()),
                ("merchant", merchant.clone()),
                ("item", item.clone()),
                // Item and points only, so the CLI's text names the unit.
                (
                    "offered",
                    offered
                        .iter()
                        .map(|(i, p)| format!("{i} ({p})"))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            ],
        ),
        R::NothingOffered {
            name,
            merchant,
            item,
        } => (
            "redeem_nothing_offered",
            vec![
                ("name", name.clone()),
                ("merchant", merchant.clone()),
                ("item", item.clone()),
            ],
        ),
        R::WrongPrice {
            name,
            item,
            price,
            points,
        } => (
            "redeem_wrong_price",
            vec![
                ("name", name.clone()),
                ("item", item.clone()),
                ("price", price.to_string()),
                ("points", points.to_string()),
            ],
        ),
        R::NoPrices { name, station } => (
            "redeem_no_prices",
            vec![("name", name.clone()), ("station", station.clone())],
        ),
        R::UnknownPlace { at } => ("redeem_unknown_place", vec![("at", at.clone())]),
    }
}

fn revoke_rule(peer: &str, why: &RevokeRule) -> (&'static str, Params) {
    let peer = ("peer", peer.to_owned());
    match why {
        RevokeRule::Root => ("revoke_root", vec![peer]),
        RevokeRule::Itself => ("revoke_itself", vec![peer]),
        RevokeRule::NoChain { issuer, target } => (
            "revoke_no_chain",
            vec![peer, ("issuer", issuer.clone()), ("target", target.clone())],
        ),
        RevokeRule::OtherFederation { target } => (
            "revoke_other_federation",
            vec![peer, ("target", target.clone())],
        ),
        RevokeRule::ChainBroken { target, why } => (
            "revoke_chain_broken",
            vec![peer, ("target", target.clone()), ("why", why.clone())],
        ),
        RevokeRule::ChainOfAnother { shown, target } => (
            "revoke_chain_of_another",
            vec![peer, ("shown", shown.clone()), ("target", target.clone())],
        ),
        RevokeRule::NotAnAdmitter {
            issuer,
            target,
            place,
        } => (
            "revoke_not_an_admitter",
            vec![
                peer,
                ("issuer", issuer.clone()),
                ("target", target.clone()),
                ("place", place.clone()),
            ],
        ),
    }
}

// The reasons inside are rustls's, rcgen's and the PEM parser's own words,
// like the operating system's in `io`.
fn tls(e: &TlsError) -> (&'static str, Params) {
    match e {
        TlsError::Pem { what, path, why } => (
            "tls_pem",
            vec![
                ("what", (*what).to_owned()),
                ("path", shown(path)),
                ("why", why.clone()),
            ],
        ),
        TlsError::NoCertificate { path } => ("tls_no_certificate", vec![("path", shown(path))]),
        TlsError::Rustls(why) => ("tls_refused", vec![("why", why.to_string())]),
        TlsError::Generate(why) => ("tls_generate", vec![("why", why.to_string())]),
    }
}
