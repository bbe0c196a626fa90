//! Issuing a certificate at a community node: count the member's service
//! over the period from the documents that record it, and sign.
//!
//! Each count comes from the record that decides it: verified reports from
//! the reports documents (a verification the lifecycle fold kept, on a case
//! not voided since), signed-off tasks from the task list (a valid
//! completion by the member, signed off in the period), patrols and points
//! from the ledger.

use chrono::{DateTime, Days, NaiveDate, TimeZone as _, Utc};
use chrono_tz::Tz;
use crdt_model::ledger::EntryKind;
use crdt_model::report::{self, EventKind};
use crdt_model::{DocKind, MemberId, tasks};

use super::{Body, Certificate, CertificateError, CertifiedMember, PeerKey, Service, Span};
use crate::api::Node;
use crate::error::NodeError;

impl Node {
    /// Issues a certificate of `member`'s service over the local days
    /// `from..=to` (default: from the day they applied to today), signed
    /// with this community node's key and carrying its admission chain.
    pub fn certificate(
        &mut self,
        member: &MemberId,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        now: DateTime<Utc>,
    ) -> Result<Certificate, NodeError> {
        let place = self.own_community("service certificate")?;
        let cannot = |why: String| NodeError::Certificate(CertificateError::CannotIssue(why));
        // A node refused by its own federation would sign a certificate no
        // verifier accepts: say so here rather than hand one out.
        let Some(credential) = self.credential()? else {
            return Err(cannot(
                "this node has not joined a federation, so it has no admission chain to carry"
                    .into(),
            ));
        };
        self.federation_member(now)?;
        let m = self.own_member(member)?;
        let tz = self.config.zone()?.tz;
        let from = from.unwrap_or_else(|| m.applied_at.with_timezone(&tz).date_naive());
        let to = to.unwrap_or_else(|| now.with_timezone(&tz).date_naive());
        if to < from {
            return Err(cannot(format!("--to {to} comes before --from {from}")));
        }
        let start = day_start(tz, from)?;
        let end = day_start(tz, to.checked_add_days(Days::new(1)).unwrap_or(to))?;
        let within = |t: DateTime<Utc>| start <= t && t < end;

        let mut service = Service {
            verified_reports: 0,
            signed_off_tasks: 0,
            patrols: 0,
            points_earned: 0,
        };
        for id in self.held(DocKind::Reports)? {
            if id.place() != &place {
                continue;
            }
            let Some(doc) = self.repo.existing(&id)? else {
                continue;
            };
            for r in report::list(&*doc)? {
                if r.reporter.as_ref() != Some(member) || !r.was_verified() {
                    continue;
                }
                let skipped = r.state().skipped;
                let verified_at = r
                    .events
                    .iter()
                    .filter(|e| e.kind == EventKind::Verify && !skipped.contains(&e.id))
                    .map(|e| e.at)
                    .min();
                if verified_at.is_some_and(within) {
                    service.verified_reports += 1;
                }
            }
        }
        if let Some(doc) = self.repo.existing(&self.own_doc(DocKind::Tasks))? {
            for t in tasks::list(&*doc)? {
                let done_by_member = t.valid_completion().is_some_and(|c| &c.member == member);
                if done_by_member && t.sign_off.as_ref().is_some_and(|s| within(s.at)) {
                    service.signed_off_tasks += 1;
                }
            }
        }
        for e in self.all_entries(&place)? {
            if &e.member != member || !within(e.at) {
                continue;
            }
            if e.kind == EntryKind::Patrol {
                service.patrols += 1;
            }
            let earned = e.kind == EntryKind::Correction
                || (e.kind.is_credit() && e.kind != EntryKind::Opening);
            if earned {
                service.points_earned += e.amount;
            }
        }
        let body = Body {
            community: place,
            member: CertifiedMember {
                id: m.id.clone(),
                display_name: m.display_name.clone(),
            },
            period: Span {
                from,
                to,
                timezone: tz.name().to_owned(),
            },
            service,
            issued_at: now.timestamp(),
            issuer: PeerKey(self.key()?),
        };
        Ok(body.sign(self.identity.keypair(), &credential)?)
    }
}

/// The first instant of local day `day` (the earliest, on a day a clock
/// change makes ambiguous).
fn day_start(tz: Tz, day: NaiveDate) -> Result<DateTime<Utc>, NodeError> {
    day.and_hms_opt(0, 0, 0)
        .and_then(|t| tz.from_local_datetime(&t).earliest())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            NodeError::Certificate(CertificateError::CannotIssue(format!(
                "the day {day} has no midnight in {}",
                tz.name()
            )))
        })
}
