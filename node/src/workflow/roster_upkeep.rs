//! Keeping the roster right: corrections to a member's record, the check
//! that a phone is not already another member's, and imports from the
//! office's spreadsheet.
//!
//! A phone already on the roster usually means the same rider applying
//! twice (a second account, a second platform); so a second application or
//! a correction with it is refused naming the member who has it, and goes
//! through only with `force` (riders sharing a family phone exist). Phones
//! are compared by their digits, with China's `+86`/`0086` left off, since
//! offices type `138 0000 0000`, `138-0000-0000` and `+86 13800000000` for
//! one number.
//!
//! An import checks every row before it writes any, and writes all of them
//! in one commit: an office fixing its spreadsheet wants every bad line
//! named at once, and never half a roster.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use crdt_model::roster::{self, MemberEdit};
use crdt_model::roster_private::{self, PrivateRecord};
use crdt_model::{DocKind, MemberId, PlaceId};
use serde::{Deserialize, Serialize};

use super::WorkflowError;
use super::roster::MemberApplication;
use crate::api::Node;
use crate::error::NodeError;
use crate::error_code::RefusedRow;

/// Rows one import may hold: a community's roster is hundreds of members,
/// and one commit should stay small enough to sync in one message.
pub const IMPORT_ROWS_MAX: usize = 5_000;

/// Corrections to one member; each field given replaces the recorded one.
/// Name, phone and ID number go to roster-private, the rest to the roster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberChanges {
    /// The shown name.
    pub display_name: Option<String>,
    /// Legal name (roster-private).
    pub real_name: Option<String>,
    /// Phone (roster-private).
    pub phone: Option<String>,
    /// Resident ID number (roster-private).
    pub id_number: Option<String>,
    /// The platform.
    pub platform: Option<String>,
    /// The grid.
    pub grid: Option<String>,
}

impl MemberChanges {
    fn touches_private(&self) -> bool {
        self.real_name.is_some() || self.phone.is_some() || self.id_number.is_some()
    }
}

/// One row of an import, with its line in the file for the office to find.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportRow {
    /// The line in the file (the header is line 1).
    pub line: u64,
    /// The application it holds.
    pub application: MemberApplication,
}

/// What an import did, or on a dry run would do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportView {
    /// The community whose roster it is.
    pub place: PlaceId,
    /// Nothing was written.
    pub dry_run: bool,
    /// Rows accepted.
    pub rows: usize,
    /// The members written, in the file's order (none on a dry run).
    pub members: Vec<MemberId>,
}

/// A phone as compared: its digits, without China's country code.
fn phone_key(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    if let Some(rest) = digits.strip_prefix("0086") {
        return rest.to_owned();
    }
    match digits.strip_prefix("86") {
        // A mainland mobile number has 11 digits; with the code, 13.
        Some(rest) if digits.len() == 13 => rest.to_owned(),
        _ => digits,
    }
}

impl Node {
    /// Every phone on this community's roster-private, by member.
    fn phones(&mut self) -> Result<Vec<(MemberId, String)>, NodeError> {
        let private_id = self.own_doc(DocKind::RosterPrivate);
        let Some(doc) = self.repo.existing(&private_id)? else {
            return Ok(Vec::new());
        };
        Ok(roster_private::list(&*doc)?
            .into_iter()
            .map(|(id, r)| (id, r.phone))
            .collect())
    }

    /// The refusal to give when `phone` is already another member's than
    /// `except`; `None` when it is nobody else's.
    pub(super) fn phone_taken(
        &mut self,
        phone: &str,
        except: Option<&MemberId>,
    ) -> Result<Option<WorkflowError>, NodeError> {
        let key = phone_key(phone);
        let holder = self
            .phones()?
            .into_iter()
            .find(|(id, p)| Some(id) != except && phone_key(p) == key);
        let Some((id, _)) = holder else {
            return Ok(None);
        };
        let m = self.own_member(&id)?;
        Ok(Some(WorkflowError::DuplicatePhone {
            member: id.to_string(),
            display_name: m.display_name,
            status: m.status.as_str(),
        }))
    }

    /// Applies `changes` to `member` of this community's roster in one
    /// commit: the public fields to the roster, the personal ones to
    /// roster-private.
    pub(super) fn edit_member(
        &mut self,
        member: &MemberId,
        changes: MemberChanges,
        force: bool,
        now: DateTime<Utc>,
    ) -> Result<(), NodeError> {
        let place = self.own_community("roster")?;
        let public = MemberEdit {
            display_name: changes.display_name.clone(),
            platform: changes.platform.clone(),
            grid: changes.grid.clone(),
        };
        if public.is_empty() && !changes.touches_private() {
            return Err(WorkflowError::NothingToChange.into());
        }
        self.own_member(member)?;
        let private = if changes.touches_private() {
            let record = match (self.private_record(&place, member)?, changes.clone()) {
                (Some(r), c) => PrivateRecord {
                    real_name: c.real_name.unwrap_or(r.real_name),
                    phone: c.phone.unwrap_or(r.phone),
                    id_number: c.id_number.or(r.id_number),
                },
                // Purged after leaving: a record is made anew only whole.
                (
                    None,
                    MemberChanges {
                        real_name: Some(real_name),
                        phone: Some(phone),
                        id_number,
                        ..
                    },
                ) => PrivateRecord {
                    real_name,
                    phone,
                    id_number,
                },
                (None, _) => {
                    return Err(WorkflowError::NoPersonalData {
                        member: member.to_string(),
                    }
                    .into());
                }
            };
            if !force
                && let Some(phone) = &changes.phone
                && let Some(refusal) = self.phone_taken(phone, Some(member))?
            {
                return Err(refusal.into());
            }
            Some(record)
        } else {
            None
        };
        let roster_id = self.own_doc(DocKind::Roster);
        let private_id = self.own_doc(DocKind::RosterPrivate);
        self.repo.write(now, |w| {
            if !public.is_empty() {
                roster::edit(w.doc(&roster_id)?, member, &public)?;
            }
            if let Some(r) = &private {
                roster_private::put(w.doc(&private_id)?, member, r)?;
            }
            Ok(())
        })
    }

    /// Checks every row, then writes them all in one commit (or, on a dry
    /// run, nothing). Any refused row refuses the import, naming each.
    pub(super) fn import_members(
        &mut self,
        rows: Vec<ImportRow>,
        dry_run: bool,
        force: bool,
        now: DateTime<Utc>,
    ) -> Result<ImportView, NodeError> {
        let place = self.own_community("roster")?;
        if rows.is_empty() || rows.len() > IMPORT_ROWS_MAX {
            return Err(WorkflowError::ImportSize {
                count: rows.len(),
                max: IMPORT_ROWS_MAX,
            }
            .into());
        }
        let on_roster: HashMap<String, MemberId> = if force {
            HashMap::new()
        } else {
            self.phones()?
                .into_iter()
                .map(|(id, p)| (phone_key(&p), id))
                .collect()
        };
        let mut in_file: HashMap<String, u64> = HashMap::new();
        let mut bad = Vec::new();
        for row in &rows {
            let a = &row.application;
            let checked = roster::check_public(
                Some(&a.display_name),
                a.platform.as_deref(),
                a.grid.as_deref(),
            )
            .and_then(|()| {
                roster_private::check(&PrivateRecord {
                    real_name: a.real_name.clone(),
                    phone: a.phone.clone(),
                    id_number: a.id_number.clone(),
                })
            });
            if let Err(e) = checked {
                bad.push(RefusedRow::new(row.line, &e.into()));
                continue;
            }
            if force {
                continue;
            }
            let key = phone_key(&a.phone);
            if let Some(id) = on_roster.get(&key) {
                let why = WorkflowError::PhoneOnRoster {
                    member: id.to_string(),
                };
                bad.push(RefusedRow::new(row.line, &why.into()));
            } else if let Some(first) = in_file.get(&key) {
                let why = WorkflowError::PhoneRepeated { first: *first };
                bad.push(RefusedRow::new(row.line, &why.into()));
            } else {
                in_file.insert(key, row.line);
            }
        }
        if !bad.is_empty() {
            return Err(WorkflowError::ImportRefused { rows: bad }.into());
        }
        let count = rows.len();
        if dry_run {
            return Ok(ImportView {
                place,
                dry_run,
                rows: count,
                members: Vec::new(),
            });
        }
        let members =
            self.write_applications(rows.into_iter().map(|r| r.application).collect(), now)?;
        Ok(ImportView {
            place,
            dry_run,
            rows: count,
            members,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::phone_key;

    #[test]
    fn one_number_typed_three_ways_compares_equal() {
        let k = phone_key("138 0000 1111");
        assert_eq!(k, "13800001111");
        assert_eq!(phone_key("+86 138-0000-1111"), k);
        assert_eq!(phone_key("0086 13800001111"), k);
        // A landline with its area code keeps every digit.
        assert_eq!(phone_key("0871-6512 3456"), "087165123456");
    }
}
