//! The morning the demo plays: riders join the rosters, report what they see
//! at both communities, one report is a duplicate and becomes a "me too",
//! one case goes up to the street and comes back handled, a task earns
//! points that are spent at a station. Every step goes through the running
//! nodes' admin sockets, the way `yizhan` commands reach them, and the
//! morning waits for each item to arrive where it should.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::{NaiveTime, Utc};
use crdt_model::directory::Service;
use crdt_model::ids::StationId;
use crdt_model::report::{CloseReason, VoidReason};
use crdt_model::roster::{MemberKind, MemberStatus, Role as MemberRole};
use crdt_model::{Category, DocKind, DocumentId, MemberId, ReportId, Status};
use indicatif::ProgressBar;
use node::admin::{Request, Response};
use node::api::{ReportContent, ReportSubmission, ReportView, Submitted};
use node::workflow::{
    DirectoryRequest, MemberApplication, PointsRequest, ReportAction, ReportRequest, RosterRequest,
    TaskRequest, WorkflowRequest, WorkflowResponse,
};
use serde::Serialize;

use super::fleet::{Fleet, Who};
use super::photo;
use super::timeline::Said;
pub(super) use super::timeline::Step;
use crate::i18n::{self, Lang};

/// How long one item may take to arrive where it should.
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(30);

/// A report the morning played, and how its case should stand at the end.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Played {
    /// Its id.
    pub id: ReportId,
    /// The community that recorded it.
    #[serde(skip)]
    pub owner: Who,
    /// That community's place.
    pub place: &'static str,
    /// Its category.
    pub category: Category,
    /// What the rider said.
    pub text: String,
    /// The reporter's display name.
    pub reporter: &'static str,
    /// The hash of its photo, if it has one.
    pub photo: Option<String>,
    /// How the case stands once the morning is over.
    pub status: Status,
    /// Milliseconds from submission until the street held it.
    pub reached_street_ms: u64,
    /// Milliseconds from submission until the district held it.
    pub reached_district_ms: u64,
}

/// A member who joined a roster.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Joined {
    /// Their id.
    pub id: MemberId,
    /// Their shown name.
    pub display_name: &'static str,
    /// The community whose roster holds them.
    pub place: &'static str,
}

/// Everything the morning did, and what should now hold everywhere.
#[derive(Debug, Clone)]
pub(super) struct Morning {
    /// The timeline.
    pub steps: Vec<Step>,
    /// The reports, in the order they were submitted.
    pub reports: Vec<Played>,
    /// The riders who joined.
    pub members: Vec<Joined>,
    /// The points balances the morning ends with, by member.
    pub balances: BTreeMap<MemberId, i64>,
    /// The documents the arrival table looks for.
    pub documents: Vec<Doc>,
}

/// A document the arrival table looks for.
#[derive(Debug, Clone)]
pub(super) struct Doc {
    /// Its id.
    pub id: DocumentId,
    /// What it holds, for people, in English.
    pub what: String,
    /// `what` as a text of the locale files.
    pub key: &'static str,
    /// The nodes that should hold it once everything has synced.
    pub expected: Vec<Who>,
}

impl Morning {
    /// How many reports end in a status `pred` accepts.
    pub(super) fn count(&self, pred: impl Fn(Status) -> bool) -> u64 {
        self.reports.iter().filter(|r| pred(r.status)).count() as u64
    }
}

/// A rider who joins a roster.
struct Rider {
    who: Who,
    display_name: &'static str,
    real_name: &'static str,
    phone: &'static str,
    kind: MemberKind,
    platform: &'static str,
    grid: &'static str,
}

/// A report a rider makes.
struct Sighting {
    category: Category,
    lat: f64,
    lon: f64,
    text: &'static str,
    address: &'static str,
    grid: &'static str,
}

/// Plays the morning on a started fleet. `scratch` is where the photo file
/// is written.
pub(super) fn play(
    fleet: &mut Fleet,
    scratch: &Path,
    bar: &ProgressBar,
) -> anyhow::Result<Morning> {
    let mut p = Player {
        fleet,
        bar,
        steps: Vec::new(),
        reports: Vec::new(),
        members: Vec::new(),
    };

    // Riders join the rosters.
    let wang = p.join(&Rider {
        who: Who::Xinyazhou,
        display_name: "小王",
        real_name: "王小明",
        phone: "138 0000 0001",
        kind: MemberKind::Rider,
        platform: "meituan",
        grid: "g01",
    })?;
    let li = p.join(&Rider {
        who: Who::Xinyazhou,
        display_name: "小李",
        real_name: "李丽",
        phone: "139 0000 0002",
        kind: MemberKind::Courier,
        platform: "sf",
        grid: "g02",
    })?;
    let chen = p.join(&Rider {
        who: Who::Guanshuo,
        display_name: "老陈",
        real_name: "陈建国",
        phone: "137 0000 0003",
        kind: MemberKind::Driver,
        platform: "didi",
        grid: "g01",
    })?;

    // A service station where points can be spent.
    let station = p.add_station()?;

    // Reports at both communities; the first carries a photo.
    let photo_file = scratch.join("manhole-cover.png");
    std::fs::write(&photo_file, photo::manhole_cover_png())
        .with_context(|| format!("cannot write {}", photo_file.display()))?;
    let cover = p.submit(
        Who::Xinyazhou,
        &wang,
        &Sighting {
            category: Category::ManholeCover,
            lat: 24.9700,
            lon: 102.7400,
            text: "井盖翘起",
            address: "体育城 5 号路口",
            grid: "g01",
        },
        Some(photo_file),
    )?;
    let dup = p.submit(
        Who::Xinyazhou,
        &li,
        &Sighting {
            category: Category::ManholeCover,
            lat: 24.97012,
            lon: 102.74008,
            text: "路口井盖松动",
            address: "体育城 5 号路口",
            grid: "g01",
        },
        None,
    )?;
    p.void_duplicate(&dup, &cover, &li)?;
    let lane = p.submit(
        Who::Xinyazhou,
        &wang,
        &Sighting {
            category: Category::FireLaneBlocked,
            lat: 24.9690,
            lon: 102.7420,
            text: "消防通道被货车堵住",
            address: "新亚洲花园 2 栋",
            grid: "g01",
        },
        None,
    )?;
    let rubbish = p.submit(
        Who::Xinyazhou,
        &li,
        &Sighting {
            category: Category::Sanitation,
            lat: 24.9725,
            lon: 102.7385,
            text: "垃圾堆积无人清运",
            address: "菜市场后巷",
            grid: "g02",
        },
        None,
    )?;
    let lift = p.submit(
        Who::Guanshuo,
        &chen,
        &Sighting {
            category: Category::ElevatorFault,
            lat: 24.9650,
            lon: 102.7300,
            text: "电梯困人",
            address: "8 号楼",
            grid: "g01",
        },
        None,
    )?;
    let bridge = p.submit(
        Who::Guanshuo,
        &chen,
        &Sighting {
            category: Category::ChildSafety,
            lat: 24.9640,
            lon: 102.7320,
            text: "儿童攀爬桥栏杆",
            address: "宝象河人行桥",
            grid: "g01",
        },
        None,
    )?;

    // The communities work their cases.
    let now = Utc::now();
    let report = |id: &ReportId| [("report", id.to_string())];
    p.log(Who::Xinyazhou, "demo.cover_closed", &report(&cover));
    p.step(Who::Xinyazhou, &cover, ReportAction::Verify, None)?;
    p.step(
        Who::Xinyazhou,
        &cover,
        ReportAction::Dispatch {
            to: "市政维修队".into(),
            due: now + chrono::Duration::hours(2),
        },
        None,
    )?;
    p.step(
        Who::Xinyazhou,
        &cover,
        ReportAction::Handle {
            photo: None,
            uploaded: None,
        },
        Some("cover reseated"),
    )?;
    p.step(
        Who::Xinyazhou,
        &cover,
        ReportAction::Close {
            reason: CloseReason::Fixed,
        },
        None,
    )?;
    p.log(Who::Xinyazhou, "demo.earns", &report(&cover));
    let award = p.fleet.flow(
        Who::Xinyazhou,
        WorkflowRequest::Points(PointsRequest::Award {
            members: vec![wang.clone()],
            rule: node::workflow::AwardRule::Report {
                report: cover.clone(),
            },
        }),
    )?;
    let WorkflowResponse::Booked(award) = award else {
        bail!("xinyazhou gave an unexpected answer to an award");
    };
    let award_points: i64 = award.entries.iter().map(|e| e.amount).sum();
    p.amend_last("demo.plus", &[("points", award_points.to_string())]);

    p.log(Who::Xinyazhou, "demo.lane_escalated", &report(&lane));
    p.step(Who::Xinyazhou, &lane, ReportAction::Verify, None)?;
    p.step(
        Who::Xinyazhou,
        &lane,
        ReportAction::Escalate,
        Some("a freight truck blocks the lane; needs the street's traffic team"),
    )?;
    p.log(Who::Xinyazhou, "demo.verified", &report(&rubbish));
    p.step(Who::Xinyazhou, &rubbish, ReportAction::Verify, None)?;
    p.log(Who::Guanshuo, "demo.lift_dispatched", &report(&lift));
    p.step(Who::Guanshuo, &lift, ReportAction::Verify, None)?;
    p.step(
        Who::Guanshuo,
        &lift,
        ReportAction::Dispatch {
            to: "电梯维保公司".into(),
            due: Utc::now() + chrono::Duration::hours(2),
        },
        None,
    )?;
    p.log(Who::Guanshuo, "demo.bridge_closed", &report(&bridge));
    p.step(Who::Guanshuo, &bridge, ReportAction::Verify, None)?;
    p.step(
        Who::Guanshuo,
        &bridge,
        ReportAction::Close {
            reason: CloseReason::NoFurtherAction,
        },
        Some("children guided down; parents told"),
    )?;

    // The street takes the escalated case and hands it back handled.
    let took = p.arrive(Who::Street, &lane, Status::Escalated)?;
    p.log(Who::Street, "demo.lane_handled", &report(&lane));
    p.arrived("demo.came_up", &[("time", secs(took))]);
    p.step(Who::Street, &lane, ReportAction::Accept, None)?;
    p.step(
        Who::Street,
        &lane,
        ReportAction::Dispatch {
            to: "街道城管中队".into(),
            due: Utc::now() + chrono::Duration::hours(4),
        },
        None,
    )?;
    p.step(
        Who::Street,
        &lane,
        ReportAction::Handle {
            photo: None,
            uploaded: None,
        },
        Some("truck moved on; lane marked"),
    )?;
    let took = p.arrive(Who::Xinyazhou, &lane, Status::Handled)?;
    p.log(Who::Xinyazhou, "demo.lane_closed", &report(&lane));
    p.arrived("demo.came_back", &[("time", secs(took))]);
    p.step(
        Who::Xinyazhou,
        &lane,
        ReportAction::Close {
            reason: CloseReason::Fixed,
        },
        Some("checked: the lane is clear"),
    )?;

    // A task earns points, spent at the station.
    let task_points = p.task(&wang)?;
    let spent = 2;
    p.log(
        Who::Xinyazhou,
        "demo.redeems",
        &[("points", spent.to_string())],
    );
    let redeemed = p.fleet.flow(
        Who::Xinyazhou,
        WorkflowRequest::Points(PointsRequest::Redeem {
            member: wang.clone(),
            at: station.to_string(),
            item: "water".into(),
            points: Some(spent),
        }),
    )?;
    let WorkflowResponse::Booked(redeemed) = redeemed else {
        bail!("xinyazhou gave an unexpected answer to a redemption");
    };
    let balance = redeemed
        .balances
        .iter()
        .find(|b| b.member == wang)
        .map(|b| b.balance)
        .context("xinyazhou did not say 小王's balance after the redemption")?;
    p.amend_last("demo.balance", &[("balance", balance.to_string())]);
    let ledger_at = redeemed.entries.first().map(|e| e.at).unwrap_or(now);

    let expected = award_points + task_points - spent;
    if balance != expected {
        bail!("xinyazhou says 小王 has {balance} points; the morning expected {expected}");
    }
    let mut balances = BTreeMap::new();
    balances.insert(wang.clone(), balance);

    let xin = Who::Xinyazhou.place_id()?;
    let gua = Who::Guanshuo.place_id()?;
    use Who::{District, Guanshuo, Street, Xinyazhou};
    let doc = |id: DocumentId, key: &'static str, expected: &[Who]| Doc {
        id,
        what: i18n::tr_in(Lang::En, key),
        key,
        expected: expected.to_vec(),
    };
    let documents = vec![
        doc(
            DocumentId::singleton(xin.clone(), DocKind::Roster),
            "demo.doc.roster_xinyazhou",
            &[Xinyazhou, Street],
        ),
        doc(
            DocumentId::singleton(xin.clone(), DocKind::RosterPrivate),
            "demo.doc.private_xinyazhou",
            &[Xinyazhou],
        ),
        doc(
            DocumentId::singleton(xin.clone(), DocKind::Tasks),
            "demo.doc.tasks_xinyazhou",
            &[Xinyazhou, Street],
        ),
        doc(
            DocumentId::ledger(xin.clone(), ledger_at),
            "demo.doc.ledger_xinyazhou",
            &[Xinyazhou, Street],
        ),
        doc(
            DocumentId::singleton(xin, DocKind::Directory),
            "demo.doc.directory_xinyazhou",
            &Who::ALL,
        ),
        doc(
            DocumentId::singleton(gua.clone(), DocKind::Roster),
            "demo.doc.roster_guanshuo",
            &[Guanshuo, Street],
        ),
        doc(
            DocumentId::singleton(gua, DocKind::RosterPrivate),
            "demo.doc.private_guanshuo",
            &[Guanshuo],
        ),
        doc(
            DocumentId::singleton(Street.place_id()?, DocKind::Summary),
            "demo.doc.summary",
            &[Street, District],
        ),
        doc(
            DocumentId::singleton(District.place_id()?, DocKind::Charter),
            "demo.doc.charter",
            &Who::ALL,
        ),
    ];

    let mut morning = Morning {
        steps: p.steps,
        reports: p.reports,
        members: p.members,
        balances,
        documents,
    };
    // How each case ends.
    for r in &mut morning.reports {
        r.status = if r.id == cover || r.id == lane || r.id == bridge {
            Status::Closed
        } else if r.id == dup {
            Status::Voided
        } else if r.id == lift {
            Status::Dispatched
        } else {
            Status::Verified
        };
    }
    Ok(morning)
}

/// Seconds, for people.
pub(super) fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

struct Player<'a> {
    fleet: &'a mut Fleet,
    bar: &'a ProgressBar,
    steps: Vec<Step>,
    reports: Vec<Played>,
    members: Vec<Joined>,
}

impl Player<'_> {
    /// Adds a line to the timeline (text `key` with `args`) and shows it
    /// on the spinner.
    fn log(&mut self, who: Who, key: &'static str, args: &[(&'static str, String)]) {
        let said = Said::new(key, args);
        self.bar
            .set_message(format!("{}: {}", who.name(), said.shown()));
        self.steps.push(Step {
            at: Utc::now(),
            node: who.name(),
            what: said.in_lang(Lang::En),
            arrived: String::new(),
            said: vec![said],
            arrived_said: None,
        });
    }

    /// Says on the last line of the timeline how long something took to arrive.
    fn arrived(&mut self, key: &'static str, args: &[(&'static str, String)]) {
        if let Some(s) = self.steps.last_mut() {
            let said = Said::new(key, args);
            s.arrived = said.in_lang(Lang::En);
            s.arrived_said = Some(said);
        }
    }

    /// Adds a text to the last line of the timeline.
    fn amend_last(&mut self, key: &'static str, args: &[(&'static str, String)]) {
        if let Some(s) = self.steps.last_mut() {
            let said = Said::new(key, args);
            s.what.push_str(&said.in_lang(Lang::En));
            s.said.push(said);
        }
    }

    /// A rider applies to the roster and is approved.
    fn join(&mut self, r: &Rider) -> anyhow::Result<MemberId> {
        self.log(
            r.who,
            "demo.joins",
            &[
                ("name", r.display_name.to_owned()),
                ("kind", r.kind.as_str().to_owned()),
                ("platform", r.platform.to_owned()),
            ],
        );
        let app = MemberApplication {
            display_name: r.display_name.into(),
            kind: r.kind,
            platform: Some(r.platform.into()),
            grid: Some(r.grid.into()),
            roles: vec![MemberRole::PartTimeGridWorker],
            real_name: r.real_name.into(),
            phone: r.phone.into(),
            id_number: None,
        };
        let id = match self.fleet.flow(
            r.who,
            WorkflowRequest::Roster(RosterRequest::Add {
                application: app,
                force: false,
            }),
        )? {
            WorkflowResponse::Member(m) => m.member.id,
            other => bail!("{} gave an unexpected answer: {other:?}", r.who.name()),
        };
        self.fleet.flow(
            r.who,
            WorkflowRequest::Roster(RosterRequest::SetStatus {
                member: id.clone(),
                to: MemberStatus::Active,
            }),
        )?;
        self.members.push(Joined {
            id: id.clone(),
            display_name: r.display_name,
            place: r.who.place(),
        });
        Ok(id)
    }

    /// Xinyazhou lists a service station in its directory.
    fn add_station(&mut self) -> anyhow::Result<StationId> {
        self.log(Who::Xinyazhou, "demo.station", &[]);
        let time = |h| NaiveTime::from_hms_opt(h, 0, 0).context("a bad opening hour");
        let req = DirectoryRequest::AddStation {
            name: "暖新驿站".into(),
            lat: 24.9712,
            lon: 102.7408,
            address: Some("体育城 3 号门".into()),
            opens: time(8)?,
            closes: time(21)?,
            services: vec![
                Service::Warmth,
                Service::Cooling,
                Service::Water,
                Service::Rest,
                Service::FirstAid,
                Service::Charging,
            ],
        };
        match self
            .fleet
            .flow(Who::Xinyazhou, WorkflowRequest::Directory(req))?
        {
            WorkflowResponse::Station(s) => Ok(s.station.id),
            other => bail!("xinyazhou gave an unexpected answer: {other:?}"),
        }
    }

    /// The member's display name.
    fn name_of(&self, m: &MemberId) -> &'static str {
        self.members
            .iter()
            .find(|j| &j.id == m)
            .map(|j| j.display_name)
            .unwrap_or("a rider")
    }

    /// A rider reports what they saw; waits until the street and the
    /// district hold the report (and the street its photo).
    fn submit(
        &mut self,
        who: Who,
        reporter: &MemberId,
        s: &Sighting,
        photo: Option<PathBuf>,
    ) -> anyhow::Result<ReportId> {
        let name = self.name_of(reporter);
        let key = if photo.is_some() {
            "demo.reports_with_photo"
        } else {
            "demo.reports"
        };
        let category = s.category.to_string();
        self.log(
            who,
            key,
            &[
                ("name", name.to_owned()),
                ("category", category),
                ("text", s.text.to_owned()),
            ],
        );
        let sub = ReportSubmission {
            content: ReportContent {
                category: s.category,
                lat: s.lat,
                lon: s.lon,
                text: s.text.into(),
                address: Some(s.address.into()),
                grid: Some(s.grid.into()),
                reporter: Some(reporter.clone()),
            },
            photos: photo.into_iter().collect(),
            voices: Vec::new(),
            loaded: None,
        };
        let submitted: Submitted = match self.fleet.ask(who, Request::SubmitReport(sub))? {
            Response::Submitted(s) => *s,
            other => bail!("{} gave an unexpected answer: {other:?}", who.name()),
        };
        let sent = std::time::Instant::now();
        let id = submitted.report.id.clone();
        let photo = submitted.report.attachments.first().map(|a| a.hash.clone());
        self.amend_last("demo.report_id", &[("report", id.to_string())]);
        if let Some((near, d)) = submitted.nearby.first() {
            let near = [("metres", format!("{d:.0}")), ("near", near.to_string())];
            self.amend_last("demo.near", &near);
        }
        self.arrive(Who::Street, &id, Status::Submitted)?;
        let street = sent.elapsed();
        if let Some(hash) = &photo {
            let what = format!("the photo of {id} to reach the street");
            let hash = hash.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            self.fleet.wait(&what, ARRIVAL_TIMEOUT, |f| {
                Ok(f.try_ask(Who::Street, Request::Blob(hash))?.is_ok())
            })?;
        }
        self.arrive(Who::District, &id, Status::Submitted)?;
        let district = sent.elapsed();
        self.arrived(
            "demo.reached",
            &[("street", secs(street)), ("district", secs(district))],
        );
        self.reports.push(Played {
            id: id.clone(),
            owner: who,
            place: who.place(),
            category: s.category,
            text: s.text.into(),
            reporter: name,
            photo,
            status: Status::Submitted,
            reached_street_ms: street.as_millis() as u64,
            reached_district_ms: district.as_millis() as u64,
        });
        Ok(id)
    }

    /// The duplicate is voided, and its rider's sighting recorded as a "me
    /// too" on the case it duplicates.
    fn void_duplicate(
        &mut self,
        dup: &ReportId,
        of: &ReportId,
        rider: &MemberId,
    ) -> anyhow::Result<()> {
        let name = self.name_of(rider);
        self.log(
            Who::Xinyazhou,
            "demo.voided",
            &[
                ("report", dup.to_string()),
                ("name", name.to_owned()),
                ("of", of.to_string()),
            ],
        );
        self.step(
            Who::Xinyazhou,
            dup,
            ReportAction::Void {
                reason: VoidReason::Duplicate,
            },
            Some(&format!("same cover as {of}")),
        )?;
        self.fleet.flow(
            Who::Xinyazhou,
            WorkflowRequest::Report(ReportRequest::Confirm {
                report: of.clone(),
                member: Some(rider.clone()),
                category: Some(Category::ManholeCover),
                note: Some("still raised when I passed".into()),
            }),
        )?;
        Ok(())
    }

    /// One lifecycle step on `who`.
    fn step(
        &mut self,
        who: Who,
        id: &ReportId,
        action: ReportAction,
        note: Option<&str>,
    ) -> anyhow::Result<ReportView> {
        let req = ReportRequest::Event {
            report: id.clone(),
            action,
            note: note.map(str::to_owned),
        };
        match self.fleet.flow(who, WorkflowRequest::Report(req))? {
            WorkflowResponse::Report(v) => Ok(*v),
            other => bail!("{} gave an unexpected answer: {other:?}", who.name()),
        }
    }

    /// Waits until `who` holds report `id` at `status` (any status for
    /// `Submitted`); returns how long that took.
    fn arrive(&mut self, who: Who, id: &ReportId, status: Status) -> anyhow::Result<Duration> {
        let what = if status == Status::Submitted {
            format!("report {id} to reach {}", who.name())
        } else {
            format!("report {id} to reach {} as {status}", who.name())
        };
        self.bar.set_message(format!("waiting for {what}"));
        self.fleet.wait(&what, ARRIVAL_TIMEOUT, |f| {
            Ok(match report_at(f, who, id)? {
                Some(v) => status == Status::Submitted || v.status == status,
                None => false,
            })
        })
    }

    /// Xinyazhou posts a task; the rider claims and completes it; the
    /// community signs it off, which credits the points. Returns the points.
    fn task(&mut self, rider: &MemberId) -> anyhow::Result<i64> {
        let title = "给 7 栋独居的赵奶奶送药";
        let points = 12;
        let name = self.name_of(rider);
        self.log(
            Who::Xinyazhou,
            "demo.task",
            &[
                ("title", title.to_owned()),
                ("points", points.to_string()),
                ("name", name.to_owned()),
            ],
        );
        let task = match self.fleet.flow(
            Who::Xinyazhou,
            WorkflowRequest::Task(TaskRequest::Post {
                title: title.into(),
                description: Some("medicine from the clinic, before noon".into()),
                points,
                lease_minutes: 90,
            }),
        )? {
            WorkflowResponse::Task(t) => t.task.id,
            other => bail!("xinyazhou gave an unexpected answer: {other:?}"),
        };
        self.fleet.flow(
            Who::Xinyazhou,
            WorkflowRequest::Task(TaskRequest::Claim {
                task: task.clone(),
                member: rider.clone(),
            }),
        )?;
        self.fleet.flow(
            Who::Xinyazhou,
            WorkflowRequest::Task(TaskRequest::Complete {
                task: task.clone(),
                member: rider.clone(),
                note: Some("delivered".into()),
            }),
        )?;
        let entry = match self.fleet.flow(
            Who::Xinyazhou,
            WorkflowRequest::Task(TaskRequest::SignOff { task: task.clone() }),
        )? {
            WorkflowResponse::SignedOff { entry, .. } => entry,
            other => bail!("xinyazhou gave an unexpected answer: {other:?}"),
        };
        self.amend_last("demo.plus", &[("points", entry.amount.to_string())]);
        Ok(entry.amount)
    }
}

/// Report `id` as node `who` holds it, if it does.
pub(super) fn report_at(f: &Fleet, who: Who, id: &ReportId) -> anyhow::Result<Option<ReportView>> {
    Ok(match f.try_ask(who, Request::ShowReport(id.clone()))? {
        Ok(Response::Report(v)) => Some(*v),
        _ => None,
    })
}
