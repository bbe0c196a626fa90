//! The community's two lists as node operations: tasks riders claim with a
//! lease, complete and get signed off (which awards the task's points in the
//! same commit), and needs riders raise and the community resolves.

use chrono::{DateTime, Utc};
use crdt_model::ids::{ClaimId, NeedId, TaskId};
use crdt_model::ledger::{self, Entry, EntryKind};
use crdt_model::tasks::{self, Claim, Need, NeedKind, NewTask, Task, TaskStatus};
use crdt_model::{DocKind, MemberId, PlaceId};
use serde::{Deserialize, Serialize};

use super::{WorkflowError, WorkflowResponse, mint};
use crate::api::Node;
use crate::error::NodeError;

/// `yizhan task ...`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", content = "args", rename_all = "snake_case")]
pub enum TaskRequest {
    /// Post a task on this community's list.
    Post {
        /// Short title.
        title: String,
        /// Longer description.
        description: Option<String>,
        /// Points awarded on sign-off.
        points: i64,
        /// How long a claim holds the task, in minutes.
        lease_minutes: i64,
    },
    /// Tasks of every task list held.
    List {
        /// Only lists of places under this prefix.
        place: Option<PlaceId>,
        /// Only tasks in this state now.
        status: Option<TaskStatus>,
    },
    /// One task with its claims.
    Show {
        /// The task.
        task: TaskId,
    },
    /// A member claims a task; refused while another live lease holds it.
    Claim {
        /// The task.
        task: TaskId,
        /// The member.
        member: MemberId,
    },
    /// The holder reports the task done.
    Complete {
        /// The task.
        task: TaskId,
        /// The holder.
        member: MemberId,
        /// What they say.
        note: Option<String>,
    },
    /// The community signs a completed task off and awards its points.
    SignOff {
        /// The task.
        task: TaskId,
    },
}

impl TaskRequest {
    /// True for requests that change the store.
    pub fn writes(&self) -> bool {
        !matches!(self, TaskRequest::List { .. } | TaskRequest::Show { .. })
    }
}

/// `yizhan need ...`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", content = "args", rename_all = "snake_case")]
pub enum NeedRequest {
    /// A member's need.
    Add {
        /// Whose need.
        member: MemberId,
        /// What kind.
        kind: NeedKind,
        /// In their words.
        text: String,
    },
    /// Needs of every list held.
    List {
        /// Only lists of places under this prefix.
        place: Option<PlaceId>,
        /// Only needs not yet resolved.
        open_only: bool,
    },
    /// Mark a need resolved.
    Resolve {
        /// The need.
        need: NeedId,
        /// How.
        note: Option<String>,
    },
}

impl NeedRequest {
    /// True for requests that change the store.
    pub fn writes(&self) -> bool {
        !matches!(self, NeedRequest::List { .. })
    }
}

/// A task as operators see it at one moment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskView {
    /// The community whose list holds it.
    pub place: PlaceId,
    /// The task with every claim.
    #[serde(flatten)]
    pub task: Task,
    /// Its state at the time of asking.
    pub status: TaskStatus,
    /// The live lease, if one holds it.
    pub holder: Option<Claim>,
}

impl TaskView {
    fn new(place: PlaceId, task: Task, now: DateTime<Utc>) -> TaskView {
        TaskView {
            place,
            status: task.status(now),
            holder: task.holder(now).cloned(),
            task,
        }
    }
}

/// A need as operators see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NeedView {
    /// The community whose list holds it.
    pub place: PlaceId,
    /// The need.
    #[serde(flatten)]
    pub need: Need,
}

impl Node {
    pub(super) fn execute_task(
        &mut self,
        req: TaskRequest,
        now: DateTime<Utc>,
    ) -> Result<WorkflowResponse, NodeError> {
        let task = match req {
            TaskRequest::List { place, status } => {
                let list = self
                    .tasks(place.as_ref(), now)?
                    .into_iter()
                    .filter(|t| status.is_none_or(|s| s == t.status))
                    .collect();
                return Ok(WorkflowResponse::Tasks(list));
            }
            TaskRequest::Show { task } => task,
            TaskRequest::Post {
                title,
                description,
                points,
                lease_minutes,
            } => {
                self.own_community("task list")?;
                let doc_id = self.own_doc(DocKind::Tasks);
                let by = self.author();
                self.repo.write(now, |w| {
                    let doc = w.doc(&doc_id)?;
                    let id: TaskId = mint("t", |t| matches!(tasks::get(&*doc, t), Ok(Some(_))))?;
                    tasks::post(
                        doc,
                        &NewTask {
                            id: id.clone(),
                            title,
                            description,
                            points,
                            lease_minutes,
                            posted_at: now,
                            posted_by: by,
                        },
                    )?;
                    Ok(id)
                })?
            }
            TaskRequest::Claim { task, member } => {
                self.own_community("task list")?;
                let m = self.own_member(&member)?;
                let t = self.own_task(&task)?;
                let claim: ClaimId = mint("c", |c| t.claims.iter().any(|x| &x.id == c))?;
                let doc_id = self.own_doc(DocKind::Tasks);
                self.repo.write(now, |w| {
                    tasks::claim(w.doc(&doc_id)?, &task, &claim, &m, now)?;
                    Ok(())
                })?;
                task
            }
            TaskRequest::Complete { task, member, note } => {
                self.own_community("task list")?;
                self.own_member(&member)?;
                let doc_id = self.own_doc(DocKind::Tasks);
                self.repo.write(now, |w| {
                    tasks::complete(w.doc(&doc_id)?, &task, &member, now, note.as_deref())?;
                    Ok(())
                })?;
                task
            }
            TaskRequest::SignOff { task } => {
                let (view, entry) = self.sign_off(&task, now)?;
                return Ok(WorkflowResponse::SignedOff {
                    task: Box::new(view),
                    entry,
                });
            }
        };
        Ok(WorkflowResponse::Task(Box::new(self.task(&task, now)?)))
    }

    /// Signs a completed task off and credits its points to the member who
    /// completed it, in one commit: a task is never signed off without its
    /// award, nor awarded twice.
    fn sign_off(
        &mut self,
        task: &TaskId,
        now: DateTime<Utc>,
    ) -> Result<(TaskView, Entry), NodeError> {
        let place = self.own_community("task list")?;
        let t = self.own_task(task)?;
        if t.status(now) != TaskStatus::Completed {
            return Err(crdt_model::ValidationError::TaskRefused {
                task: task.to_string(),
                why: crdt_model::TaskRefusal::NotCompleted {
                    status: t.status(now).as_str(),
                },
            }
            .into());
        }
        let member_id = t
            .valid_completion()
            .map(|c| c.member.clone())
            .ok_or_else(|| NodeError::Internal("a completed task without completion".into()))?;
        let member = self.own_member(&member_id)?;
        let entries = self.all_entries(&place)?;
        if let Some(e) = ledger::credited_for(&entries, EntryKind::Task, task.as_str()) {
            return Err(WorkflowError::DoubleAward {
                reference: format!("task {task}"),
                member: e.member.to_string(),
                entry: e.id.to_string(),
            }
            .into());
        }
        let plan = self.ledger_plan(&place, now)?;
        let doc_id = self.own_doc(DocKind::Tasks);
        let by = self.author();
        let entry = self.repo.write(now, |w| {
            let signed = tasks::sign_off(w.doc(&doc_id)?, task, &by, now)?;
            let ledger_doc = plan.open(w, now, &by)?;
            let entry = Entry {
                id: super::points::mint_entry(ledger_doc)?,
                member: member.id.clone(),
                amount: signed.points,
                kind: EntryKind::Task,
                at: now,
                by: by.clone(),
                reason: Some(format!("task: {}", signed.title)),
                reference: Some(task.to_string()),
                redeemed_at: None,
                item: None,
            };
            ledger::credit(ledger_doc, &member, &entry)?;
            Ok(entry)
        })?;
        Ok((self.task(task, now)?, entry))
    }

    fn own_task(&mut self, id: &TaskId) -> Result<Task, NodeError> {
        let doc_id = self.own_doc(DocKind::Tasks);
        let task = match self.repo.existing(&doc_id)? {
            Some(doc) => tasks::get(&*doc, id)?,
            None => None,
        };
        task.ok_or_else(|| {
            WorkflowError::NotHeld {
                what: "task",
                id: id.to_string(),
                hint: "yizhan task list",
            }
            .into()
        })
    }

    /// One task from whichever task list this node holds it in.
    pub fn task(&mut self, id: &TaskId, now: DateTime<Utc>) -> Result<TaskView, NodeError> {
        for doc_id in self.held(DocKind::Tasks)? {
            let Some(doc) = self.repo.existing(&doc_id)? else {
                continue;
            };
            if let Some(t) = tasks::get(&*doc, id)? {
                return Ok(TaskView::new(doc_id.place().clone(), t, now));
            }
        }
        Err(WorkflowError::NotHeld {
            what: "task",
            id: id.to_string(),
            hint: "yizhan task list",
        }
        .into())
    }

    /// Every task of the lists held under `place`, by place and id.
    pub fn tasks(
        &mut self,
        place: Option<&PlaceId>,
        now: DateTime<Utc>,
    ) -> Result<Vec<TaskView>, NodeError> {
        let mut out = Vec::new();
        for doc_id in self.held(DocKind::Tasks)? {
            if place.is_some_and(|p| !p.contains(doc_id.place())) {
                continue;
            }
            let Some(doc) = self.repo.existing(&doc_id)? else {
                continue;
            };
            for t in tasks::list(&*doc)? {
                out.push(TaskView::new(doc_id.place().clone(), t, now));
            }
        }
        Ok(out)
    }

    pub(super) fn execute_need(
        &mut self,
        req: NeedRequest,
        now: DateTime<Utc>,
    ) -> Result<WorkflowResponse, NodeError> {
        let id = match req {
            NeedRequest::List { place, open_only } => {
                let list = self
                    .needs(place.as_ref())?
                    .into_iter()
                    .filter(|n| !open_only || n.need.resolved.is_none())
                    .collect();
                return Ok(WorkflowResponse::Needs(list));
            }
            NeedRequest::Add { member, kind, text } => {
                self.own_community("needs list")?;
                let m = self.own_member(&member)?;
                let doc_id = self.own_doc(DocKind::Tasks);
                self.repo.write(now, |w| {
                    let doc = w.doc(&doc_id)?;
                    let held = tasks::list_needs(&*doc)?;
                    let id: NeedId = mint("n", |n| held.iter().any(|x| &x.id == n))?;
                    let need = Need {
                        id: id.clone(),
                        member: m.id.clone(),
                        kind,
                        text,
                        at: now,
                        resolved: None,
                    };
                    tasks::add_need(doc, &need, &m)?;
                    Ok(id)
                })?
            }
            NeedRequest::Resolve { need, note } => {
                self.own_community("needs list")?;
                let doc_id = self.own_doc(DocKind::Tasks);
                self.repo.write(now, |w| {
                    tasks::resolve_need(w.doc(&doc_id)?, &need, now, note.as_deref())?;
                    Ok(())
                })?;
                need
            }
        };
        let view = self
            .needs(Some(&self.config.place.clone()))?
            .into_iter()
            .find(|n| n.need.id == id)
            .ok_or_else(|| NodeError::Internal(format!("need {id} vanished after writing")))?;
        Ok(WorkflowResponse::Need(Box::new(view)))
    }

    /// Every need of the lists held under `place`.
    pub fn needs(&mut self, place: Option<&PlaceId>) -> Result<Vec<NeedView>, NodeError> {
        let mut out = Vec::new();
        for doc_id in self.held(DocKind::Tasks)? {
            if place.is_some_and(|p| !p.contains(doc_id.place())) {
                continue;
            }
            let Some(doc) = self.repo.existing(&doc_id)? else {
                continue;
            };
            for need in tasks::list_needs(&*doc)? {
                out.push(NeedView {
                    place: doc_id.place().clone(),
                    need,
                });
            }
        }
        Ok(out)
    }
}
