//! Operation-level write rules: whether the writer of a change was entitled to
//! every operation in it.
//!
//! Schema validation says whether a document reads; these rules say who may
//! write what. A receiving node applies a peer's changes to a scratch copy and,
//! for every new change, calls [`check_reports_change`] (for `reports/YYYY-MM`)
//! or [`check_append_only_change`] (for the charter) with that copy and the
//! change. The copy must hold the change and all its dependencies. The checks
//! only read; on `Err` the caller drops the scratch copy.
//!
//! Two moments of the document are consulted, never "now": the change's
//! dependencies (what the writer saw, so what it may replace) and the change's
//! own hash (what it wrote). Later or concurrent changes in the scratch copy
//! therefore cannot make an honest change look forged, or a forged one honest.
//!
//! Reports hold maps and scalars only, so the rules reason about map keys;
//! sequence operations are judged by their target object alone.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use automerge::legacy::{ElementId, Key, ObjectId, Op, OpId, OpType};
use automerge::{
    ActorId, AutoCommit, Change, ChangeHash, ObjId, ObjType, Prop, ROOT, ReadDoc, ScalarValue,
    Value,
};

use crate::actor::same_writer;
use crate::ids::ReportId;
use crate::place::PlaceLevel;
use crate::report::level_name;
use crate::report_content::{self, CONTENT_KEY};

/// The event kinds a street writes on a case it was escalated.
const STREET_EVENT_KINDS: &[&str] = &["accept", "dispatch", "handle"];

/// Who wrote a change, as the receiver established from the signer's admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeAuthor<'a> {
    /// The peer id string the writer puts in `by`.
    pub by: &'a str,
    /// The writer's level ([`PlaceLevel::Community`] or [`PlaceLevel::Street`]).
    pub level: PlaceLevel,
    /// True when the writer owns the document (the community for its own reports).
    pub owner: bool,
}

/// The rule a refused change breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// Only the owning community and a street write reports.
    Writer,
    /// Nobody deletes, overwrites or adds to another writer's operations or events.
    OthersOps,
    /// A write must name (in its pred) every value it replaces; leaving one out
    /// would create a conflict that can hide another writer's value.
    HiddenOverwrite,
    /// A street never deletes.
    StreetDeletes,
    /// A street only adds events to existing reports.
    StreetScope,
    /// An event carries its writer's `by` and `by_level`.
    EventAuthor,
    /// A street writes only accept, dispatch and handle events.
    EventKind,
    /// Every operation refers to an object the document holds.
    Unresolved,
    /// An append-only document takes only new text entries at allowed root keys.
    AppendOnly,
    /// Escrow moves: a station spends only its own escrow, within its bound;
    /// grants come from the community, in its own name (`escrow_rules.rs`).
    Escrow,
    /// A report's map holds one content value that reads
    /// ([`crate::report_content`]) and the events map made with it, nothing else.
    ReportLayout,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rule::Writer => "only the owning community and its street write reports",
            Rule::OthersOps => "nobody may delete, overwrite or add to another writer's operations",
            Rule::HiddenOverwrite => "a write must name every value it replaces",
            Rule::StreetDeletes => "a street may not delete",
            Rule::StreetScope => "a street may only add events to reports",
            Rule::EventAuthor => "an event must carry its writer's by and by_level",
            Rule::EventKind => "a street may only write accept, dispatch and handle events",
            Rule::Unresolved => "every operation must refer to an object the document holds",
            Rule::AppendOnly => {
                "an append-only document takes only new text entries at allowed root keys"
            }
            Rule::Escrow => {
                "a station spends only its own escrow within its bound, and only the community grants"
            }
            Rule::ReportLayout => {
                "a report holds one valid content value and the events map made with it"
            }
        })
    }
}

/// A change that breaks a write rule. Display says which rule and where, in one
/// line, such as `a street may only add events to reports: change puts text at
/// report/202611-0000002a/text`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rule}: change {detail}")]
pub struct RuleError {
    /// The rule broken.
    pub rule: Rule,
    /// What the change does and where, such as `deletes report/202611-0000002a`.
    pub detail: String,
}

fn refuse(rule: Rule, detail: impl Into<String>) -> RuleError {
    RuleError {
        rule,
        detail: detail.into(),
    }
}

/// A path from the root: each object on the way and the key it holds the next one at.
type Path = Vec<(ObjId, Prop)>;

/// Deepest object a change may write to. Yizhan's documents nest a few
/// levels (root, entity, events, event, attachments); anything deeper is
/// no document of ours, or a cycle.
pub const PATH_DEPTH_MAX: usize = 32;

/// One change seen against the document that holds it.
struct Scope<'c> {
    doc: &'c AutoCommit,
    actor: &'c ActorId,
    /// Counters of the change's own operations.
    ops: Range<u64>,
    /// What the writer saw.
    deps: &'c [ChangeHash],
    /// What the writer wrote.
    written: [ChangeHash; 1],
    /// Objects resolved so far: a change names the object it makes again
    /// when it fills it, and the checks after the walk name it once more.
    resolved: RefCell<HashMap<ObjectId, ObjId>>,
}

impl<'c> Scope<'c> {
    fn of(doc: &'c AutoCommit, change: &'c Change) -> Self {
        let start = change.start_op().get();
        Scope {
            doc,
            actor: change.actor_id(),
            ops: start..start + change.len() as u64,
            deps: change.deps(),
            written: [change.hash()],
            resolved: RefCell::new(HashMap::new()),
        }
    }

    fn in_change(&self, id: &OpId) -> bool {
        id.actor() == self.actor && self.ops.contains(&id.counter())
    }

    fn created_here(&self, obj: &ObjectId) -> bool {
        matches!(obj, ObjectId::Id(id) if self.in_change(id))
    }

    /// The document's id for a change's object id, if the document holds that object.
    fn resolve(&self, obj: &ObjectId) -> Result<ObjId, RuleError> {
        if let Some(id) = self.resolved.borrow().get(obj) {
            return Ok(id.clone());
        }
        // `import` is the only public way from a counter@actor id to an `ObjId`,
        // and it also checks that the id names an object.
        // `import` panics (inside Automerge) on an id whose actor the
        // document does not know: found by fuzzing,
        // fuzz/regressions/change_check. Such an id names no object here.
        let doc = self.doc;
        let text = obj.to_string();
        let id = std::panic::catch_unwind(move || doc.import(&text))
            .ok()
            .and_then(Result::ok)
            .map(|(id, _)| id)
            .ok_or_else(|| refuse(Rule::Unresolved, format!("refers to unknown object {obj}")))?;
        self.resolved.borrow_mut().insert(obj.clone(), id.clone());
        Ok(id)
    }

    /// The path from the root to `obj`, refused past [`PATH_DEPTH_MAX`]
    /// objects: a change can make an object its own ancestor, which
    /// Automerge 0.12 loads, and then walking its parents never ends and
    /// fills memory (found by fuzzing: fuzz/regressions/change_check).
    fn path(&self, obj: &ObjId) -> Result<Path, RuleError> {
        let parents = self
            .doc
            .parents(obj)
            .map_err(|e| refuse(Rule::Unresolved, format!("refers to object {obj}: {e}")))?;
        let mut path: Path = parents
            .take(PATH_DEPTH_MAX + 1)
            .map(|p| (p.obj, p.prop))
            .collect();
        if path.len() > PATH_DEPTH_MAX {
            return Err(refuse(
                Rule::Unresolved,
                format!("refers to object {obj} nested deeper than {PATH_DEPTH_MAX} objects"),
            ));
        }
        path.reverse();
        Ok(path)
    }

    /// Refuses a write that leaves out of its pred a value the writer could see.
    fn no_hidden_overwrite(&self, op: &Op, target: &ObjId, at: &str) -> Result<(), RuleError> {
        if !matches!(op.action, OpType::Put(_) | OpType::Make(_) | OpType::Delete) {
            return Ok(());
        }
        let Key::Map(key) = &op.key else {
            return Ok(());
        };
        let seen = self
            .doc
            .get_all_at(target, key.as_str(), self.deps)
            .map_err(|e| refuse(Rule::Unresolved, format!("{}: {e}", describe(op, at))))?;
        match seen
            .iter()
            .find(|(_, id)| !op.pred.iter().any(|p| same_op(id, p)))
        {
            Some((_, id)) => Err(refuse(
                Rule::HiddenOverwrite,
                format!("{} without replacing {id}", describe(op, at)),
            )),
            None => Ok(()),
        }
    }

    /// True when `target` is the events map of a report the writer could see.
    fn events_map_seen(&self, target: &ObjId, path: &Path) -> bool {
        let [(_, Prop::Map(report)), ..] = path.as_slice() else {
            return false;
        };
        let Ok(Some((Value::Object(ObjType::Map), report))) =
            self.doc.get_at(ROOT, report.as_str(), self.deps)
        else {
            return false;
        };
        matches!(
            self.doc.get_at(&report, "events", self.deps),
            Ok(Some((Value::Object(ObjType::Map), events))) if events == *target
        )
    }

    /// A text field of an object as this change left it.
    fn text_written(&self, obj: &ObjId, key: &str) -> Option<String> {
        match self.doc.get_at(obj, key, &self.written) {
            Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
                ScalarValue::Str(t) => Some(t.to_string()),
                _ => None,
            },
            _ => None,
        }
    }

    /// Checks a report map this change created: it holds content and events.
    fn check_new_report(&self, id: OpId, at: &str) -> Result<(), RuleError> {
        let report = self.resolve(&ObjectId::Id(id))?;
        let has_events = matches!(
            self.doc.get_at(&report, "events", &self.written),
            Ok(Some((Value::Object(ObjType::Map), _)))
        );
        if self.text_written(&report, CONTENT_KEY).is_none() || !has_events {
            return Err(refuse(
                Rule::ReportLayout,
                format!("makes a report at {at} without its content and events"),
            ));
        }
        Ok(())
    }

    /// Checks an event map this change created: signed by its writer, of a kind it may write.
    fn check_event(&self, id: OpId, at: &str, author: &ChangeAuthor<'_>) -> Result<(), RuleError> {
        let ev = self.resolve(&ObjectId::Id(id))?;
        let by = self.text_written(&ev, "by");
        if by.as_deref() != Some(author.by) {
            return Err(refuse(
                Rule::EventAuthor,
                format!("writes an event at {at} with by {}", shown(&by)),
            ));
        }
        let level = self.text_written(&ev, "by_level");
        if level.as_deref() != Some(level_name(author.level)) {
            return Err(refuse(
                Rule::EventAuthor,
                format!(
                    "writes an event at {at} with by_level {} as a {}",
                    shown(&level),
                    level_name(author.level)
                ),
            ));
        }
        if !author.owner {
            let kind = self.text_written(&ev, "kind");
            if !kind
                .as_deref()
                .is_some_and(|k| STREET_EVENT_KINDS.contains(&k))
            {
                return Err(refuse(
                    Rule::EventKind,
                    format!("writes an event at {at} of kind {}", shown(&kind)),
                ));
            }
        }
        Ok(())
    }
}

/// Checks one change to a `reports/YYYY-MM` document.
///
/// `doc` is the receiver's scratch copy holding `change` and its dependencies.
/// For every writer: no operation may name another actor's operation in its
/// pred, leave out of its pred a value it could see, or write into another
/// writer's event. A street (non-owner) may only create event maps in the
/// `events` map of a report it could see, fill the objects it created in the
/// same change, and never delete. Every event map the change creates must carry
/// the author's `by` and level name in `by_level`; a street's must be an accept,
/// dispatch or handle. An owner may not rewrite `by` or `by_level` of its own
/// events to anything else. In a report's own map only the owner writes, and
/// only the layout of `crate::report`: a content value that decodes (which
/// it may later replace whole, as a purge would) and, in the change that
/// creates the report, its events map; a report it creates must hold both.
pub fn check_reports_change(
    doc: &AutoCommit,
    change: &Change,
    author: &ChangeAuthor<'_>,
) -> Result<(), RuleError> {
    if !author.owner && author.level != PlaceLevel::Street {
        return Err(refuse(
            Rule::Writer,
            format!(
                "comes from a {} that does not own the document",
                level_name(author.level)
            ),
        ));
    }
    let scope = Scope::of(doc, change);
    let ops = change.decode().operations;
    let mut created_events = Vec::new();
    let mut created_reports = Vec::new();
    // A change's operations mostly come in runs on one object (a report's
    // fields, an event's): its id and path are looked up once per run.
    let mut run: Option<(&ObjectId, ObjId, Path)> = None;
    for (counter, op) in scope.ops.clone().zip(&ops) {
        let (target, path) = match &run {
            Some((obj, target, path)) if *obj == &op.obj => (target.clone(), path.clone()),
            _ => {
                let target = scope.resolve(&op.obj)?;
                let path = scope.path(&target)?;
                run = Some((&op.obj, target.clone(), path.clone()));
                (target, path)
            }
        };
        let at = location(&path, &op.key);
        let new_target = scope.created_here(&op.obj);
        if !author.owner {
            street_may(&scope, op, &target, &path, &at)?;
        }
        if let Some(report) = report_of_map(&path) {
            report_field(op, &report, new_target, &at)?;
        }
        // Writers are keys: a node restored from a backup writes under a new
        // actor of the same key and may replace what it wrote before.
        if let Some(p) = op
            .pred
            .iter()
            .find(|p| !same_writer(p.actor(), scope.actor))
        {
            return Err(refuse(
                Rule::OthersOps,
                format!("{} over {p}", describe(op, &at)),
            ));
        }
        if !new_target {
            scope.no_hidden_overwrite(op, &target, &at)?;
            if let Some(event) = event_of(&path, &target) {
                // Events are immutable once written; only their writer may touch them.
                if !matches!(event, ObjId::Id(_, actor, _) if same_writer(actor, scope.actor)) {
                    return Err(refuse(
                        Rule::OthersOps,
                        format!("{} in another writer's event", describe(op, &at)),
                    ));
                }
                if path.len() == 3 {
                    keeps_signature(op, author, &at)?;
                }
            }
        }
        if is_events_map(&path) && op.action == OpType::Make(ObjType::Map) {
            created_events.push((OpId::new(counter, scope.actor), at));
        } else if path.is_empty()
            && op.action == OpType::Make(ObjType::Map)
            && matches!(&op.key, Key::Map(k) if is_report_key(k))
        {
            created_reports.push((OpId::new(counter, scope.actor), at));
        }
    }
    for (id, at) in created_reports {
        scope.check_new_report(id, &at)?;
    }
    for (id, at) in created_events {
        scope.check_event(id, &at, author)?;
    }
    Ok(())
}

/// What an operation in a report's own map may write: its content whole, and
/// its events map in the change that makes the report. A second events map
/// would replace the first and the street's events in it; content that does
/// not decode would make the report unreadable on every replica.
fn report_field(op: &Op, report: &ReportId, new_report: bool, at: &str) -> Result<(), RuleError> {
    let refused = |why: String| refuse(Rule::ReportLayout, why);
    match (&op.key, &op.action) {
        (Key::Map(k), OpType::Put(ScalarValue::Str(v))) if k == CONTENT_KEY => {
            report_content::decode(report, v)
                .map(drop)
                .map_err(|e| refused(format!("{}: {e}", describe(op, at))))
        }
        (Key::Map(k), OpType::Make(ObjType::Map)) if k == "events" && new_report => Ok(()),
        _ => Err(refused(describe(op, at))),
    }
}

/// What a street may do with one operation, beside the rules every writer follows.
fn street_may(
    scope: &Scope<'_>,
    op: &Op,
    target: &ObjId,
    path: &Path,
    at: &str,
) -> Result<(), RuleError> {
    if op.action == OpType::Delete {
        return Err(refuse(Rule::StreetDeletes, describe(op, at)));
    }
    let allowed = if scope.created_here(&op.obj) {
        // Filling in what it created in this very change: the event's fields, a photo.
        matches!(op.action, OpType::Put(_) | OpType::Make(_))
            && op.pred.iter().all(|p| scope.in_change(p))
    } else {
        // Creating one event map in an existing report's events.
        op.action == OpType::Make(ObjType::Map)
            && op.key.is_map_key()
            && !op.insert
            && op.pred.is_empty()
            && is_events_map(path)
            && scope.events_map_seen(target, path)
    };
    if allowed {
        Ok(())
    } else {
        Err(refuse(Rule::StreetScope, describe(op, at)))
    }
}

/// Refuses an operation on `by` or `by_level` of an existing event unless it
/// writes the author's own value there.
fn keeps_signature(op: &Op, author: &ChangeAuthor<'_>, at: &str) -> Result<(), RuleError> {
    let want = match &op.key {
        Key::Map(k) if k == "by" => author.by,
        Key::Map(k) if k == "by_level" => level_name(author.level),
        _ => return Ok(()),
    };
    match &op.action {
        OpType::Put(ScalarValue::Str(s)) if s.as_str() == want => Ok(()),
        _ => Err(refuse(
            Rule::EventAuthor,
            format!("{}; it must hold {want:?}", describe(op, at)),
        )),
    }
}

/// Checks one change to an append-only document of flat string entries (the
/// charter): every operation must put a string at a root key that starts with
/// one of `prefixes`, overwriting nothing (empty pred), inserting nothing,
/// deleting nothing.
///
/// Without the document this cannot see a put with an empty pred that lands on
/// a key another writer already holds; keys that name their signer keep
/// writers apart.
pub fn check_append_only_change(change: &Change, prefixes: &[&str]) -> Result<(), RuleError> {
    for op in change.decode().operations {
        let key = match (&op.obj, &op.key) {
            (ObjectId::Root, Key::Map(k)) if !op.insert => k.to_string(),
            _ => {
                return Err(refuse(
                    Rule::AppendOnly,
                    format!("writes inside {} rather than at a root key", op.obj),
                ));
            }
        };
        let detail = if op.action == OpType::Delete {
            format!("deletes root key {key}")
        } else if !op.pred.is_empty() {
            format!("overwrites root key {key}")
        } else if !matches!(op.action, OpType::Put(ScalarValue::Str(_))) {
            describe(&op, &key)
        } else if !prefixes.iter().any(|p| key.starts_with(p)) {
            format!("puts text at {key}, outside the prefixes {prefixes:?}")
        } else {
            continue;
        };
        return Err(refuse(Rule::AppendOnly, detail));
    }
    Ok(())
}

fn is_report_key(key: &str) -> bool {
    key.strip_prefix("report/")
        .is_some_and(|id| ReportId::parse(id).is_ok())
}

/// The report whose own map `path` leads to, if it does.
fn report_of_map(path: &Path) -> Option<ReportId> {
    match path.as_slice() {
        [(_, Prop::Map(r))] => r
            .strip_prefix("report/")
            .and_then(|id| ReportId::parse(id).ok()),
        _ => None,
    }
}

/// True when `path` leads to the events map of a report.
fn is_events_map(path: &Path) -> bool {
    matches!(
        path.as_slice(),
        [(_, Prop::Map(r)), (_, Prop::Map(e))] if is_report_key(r) && e == "events"
    )
}

/// The event map `target` is, or lies inside, if any.
fn event_of<'p>(path: &'p Path, target: &'p ObjId) -> Option<&'p ObjId> {
    match path.as_slice() {
        [
            (_, Prop::Map(r)),
            (_, Prop::Map(e)),
            (_, Prop::Map(_)),
            rest @ ..,
        ] if is_report_key(r) && e == "events" => {
            Some(rest.first().map_or(target, |(event, _)| event))
        }
        _ => None,
    }
}

fn same_op(id: &ObjId, op: &OpId) -> bool {
    matches!(id, ObjId::Id(counter, actor, _) if *counter == op.counter() && actor == op.actor())
}

/// Where an operation writes, as a slash path such as `report/<id>/events/<event>`.
fn location(path: &Path, key: &Key) -> String {
    let key = match key {
        Key::Map(k) => k.to_string(),
        Key::Seq(ElementId::Head) => "[head]".to_owned(),
        Key::Seq(ElementId::Id(id)) => format!("[{id}]"),
    };
    path.iter()
        .map(|(_, p)| p.to_string())
        .chain([key])
        .collect::<Vec<_>>()
        .join("/")
}

fn describe(op: &Op, at: &str) -> String {
    match &op.action {
        OpType::Put(ScalarValue::Str(_)) => format!("puts text at {at}"),
        OpType::Put(v) => format!("puts {v} at {at}"),
        OpType::Make(t) => format!("makes a {t} at {at}"),
        OpType::Delete => format!("deletes {at}"),
        OpType::Increment(n) => format!("increments {at} by {n}"),
        OpType::MarkBegin(_) | OpType::MarkEnd(_) => format!("marks {at}"),
    }
}

fn shown(v: &Option<String>) -> String {
    v.as_ref()
        .map_or_else(|| "missing".to_owned(), |s| format!("{s:?}"))
}

#[cfg(test)]
mod tests;
