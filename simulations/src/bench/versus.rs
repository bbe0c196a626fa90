//! Issue 16 item 8: Yizhan side by side with samod 0.16 (the Rust port of
//! automerge-repo). The same 1,000 documents of 10 changes each (reports of
//! 50 communities over 20 months, held by their street and synced to the
//! district) are synced by two samod repos and by two Yizhan engines with
//! signing on (every change signed by its community and checked by the
//! district with the node's own `check_changes`, as the node does), each end on a thread of its own
//! on a current-thread tokio runtime, over the same in-memory transport
//! (`super::duplex`): once with no delay and once with a 50 ms one-way delay
//! line. For each: cold sync (the receiver starts empty), warm reconnect
//! (disconnected, 10 documents changed, reconnected) and live (connected, 10
//! documents each get one change).
//!
//! Time is from the connect (or the writes) until the writer knows the
//! receiver holds its heads of every document concerned: samod's
//! `DocHandle::they_have_our_changes`, Yizhan's `Output::Synced`. Bytes are
//! every message both ways until the link has been quiet for
//! [`QUIET_MS`] (which takes in Yizhan's inventory re-check, due 3 to 3.75 s
//! after a change). Afterwards the receiver's heads are compared with the
//! writer's, document by document, so a run that lost data fails.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use automerge::{AutoCommit, Change, ChangeHash};
use chrono::{TimeZone, Utc};
use crdt_model::{DocumentId, PlaceId, report};
use node::trust::NodeKey;
use node::trust::charter::CharterView;
use node::trust::signing::sign;

use super::duplex::{Counter, duplex};
use super::fixtures::new_report;
use super::samod_side::{AcceptorGone, LinkDialer, SamodEnd, backoff};
use super::yizhan_side::{self, Command, Who};
use super::{Line, Target};
use crate::federation::{self, Identity};
use crate::scenario::Topology;
use crate::store::Store;

/// Changes (one report each) per document before the first sync.
const CHANGES: u32 = 10;
/// Documents changed for the warm and the live runs.
const CHANGED: usize = 10;
/// One-way delay of the slow link.
pub const DELAY_MS: u64 = 50;
/// The link is quiet when nothing crossed it for this long, in ms (the
/// full run's figure; [`super::Scale::samod_quiet_ms`]).
pub const QUIET_MS: u64 = 4_000;
/// A run that takes longer than this has failed.
const RUN_MAX: Duration = Duration::from_secs(300);

/// The documents, identical for both systems.
struct Fixture {
    ids: Vec<DocumentId>,
    /// Each document after its first [`CHANGES`] changes.
    base: Vec<AutoCommit>,
    /// One new change for each of [`CHANGED`] documents, written while
    /// disconnected.
    warm: Vec<(usize, Vec<Change>)>,
    /// One more change for each of the same documents, written while
    /// connected.
    live: Vec<(usize, Vec<Change>)>,
    /// Every document's heads at the end.
    heads: Vec<Vec<ChangeHash>>,
    /// Every change's signature by its author: hash, author, signature.
    signatures: Vec<([u8; 32], NodeKey, Vec<u8>)>,
}

/// Monthly reports documents per community.
const MONTHS: u32 = 20;

/// The document of month `m` (from January 2025) of `place`.
fn month_doc(place: &PlaceId, m: u32) -> anyhow::Result<DocumentId> {
    let t = Utc
        .with_ymd_and_hms(2025 + (m / 12) as i32, m % 12 + 1, 15, 8, 0, 0)
        .single()
        .context("month")?;
    Ok(DocumentId::reports(place.clone(), t))
}

/// One report more in `doc`, as the changes it adds.
fn one_more(doc: &mut AutoCommit, i: u32, by: &str) -> anyhow::Result<Vec<Change>> {
    let before = doc.get_heads();
    report::submit(doc, &new_report(i, by))?;
    doc.commit();
    Ok(doc.get_changes(&before))
}

/// `docs` documents, [`MONTHS`] per community of `authors` in turn, each
/// written by its community, and the signature of every change (those
/// written later too) by its author.
fn fixture(authors: &[Identity], docs: u32) -> anyhow::Result<Fixture> {
    let mut ids = Vec::with_capacity(docs as usize);
    let mut base = Vec::with_capacity(docs as usize);
    let mut author = Vec::with_capacity(docs as usize);
    let mut i = 0;
    for k in 0..docs {
        let a = (k / MONTHS) as usize;
        let who = authors
            .get(a)
            .context("fewer communities than the documents need")?;
        ids.push(month_doc(&who.place, k % MONTHS)?);
        let mut doc = AutoCommit::new().with_actor(who.actor.clone());
        for _ in 0..CHANGES {
            report::submit(&mut doc, &new_report(i, who.place.as_str()))?;
            doc.commit();
            i += 1;
        }
        base.push(doc);
        author.push(a);
    }
    let mut end: Vec<AutoCommit> = base.clone();
    let step = (ids.len() / CHANGED).max(1);
    let changed: Vec<usize> = (0..ids.len()).step_by(step).take(CHANGED).collect();
    let mut warm = Vec::new();
    let mut live = Vec::new();
    for &k in &changed {
        let by = authors[author[k]].place.as_str();
        warm.push((k, one_more(&mut end[k], i, by)?));
        live.push((k, one_more(&mut end[k], i + 1, by)?));
        i += 2;
    }
    let mut signatures = Vec::new();
    for (k, doc) in end.iter_mut().enumerate() {
        let who = &authors[author[k]];
        for change in doc.get_changes(&[]) {
            let sig = sign(&who.keypair, &ids[k], &change.hash()).context("signing")?;
            signatures.push((change.hash().0, who.trust.me.key, sig));
        }
    }
    let heads = end.iter_mut().map(AutoCommit::get_heads).collect();
    Ok(Fixture {
        ids,
        base,
        warm,
        live,
        heads,
        signatures,
    })
}

/// Time and bytes of one run.
#[derive(Debug, Clone, Copy)]
struct Figure {
    secs: f64,
    bytes: u64,
    messages: u64,
}

/// The three runs on one link.
struct Figures {
    cold: Figure,
    warm: Figure,
    live: Figure,
}

impl Figures {
    /// Each field's median over `runs` (not all from the same run).
    fn median(runs: &[Figures]) -> Figures {
        fn mid<T: Copy + PartialOrd>(mut xs: Vec<T>) -> T {
            xs.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            xs[xs.len() / 2]
        }
        let one = |pick: fn(&Figures) -> Figure| Figure {
            secs: mid(runs.iter().map(|r| pick(r).secs).collect()),
            bytes: mid(runs.iter().map(|r| pick(r).bytes).collect()),
            messages: mid(runs.iter().map(|r| pick(r).messages).collect()),
        };
        Figures {
            cold: one(|r| r.cold),
            warm: one(|r| r.warm),
            live: one(|r| r.live),
        }
    }
}

/// Waits until `counter` has not moved for [`QUIET_MS`].
fn quiet(counter: &Counter, quiet: Duration) {
    let mut last = counter.bytes();
    let mut since = Instant::now();
    while since.elapsed() < quiet {
        std::thread::sleep(Duration::from_millis(20));
        let now = counter.bytes();
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
}

fn figure(t: Instant, counter: &Counter, q: Duration) -> Figure {
    let secs = t.elapsed().as_secs_f64();
    quiet(counter, q);
    Figure {
        secs,
        bytes: counter.bytes(),
        messages: counter.messages(),
    }
}

// ---------------------------------------------------------------- Yizhan

/// Waits until every document of `want` has been reported in sync.
fn await_synced(rx: &Receiver<DocumentId>, want: &[DocumentId]) -> anyhow::Result<()> {
    let mut left: BTreeSet<&DocumentId> = want.iter().collect();
    let deadline = Instant::now() + RUN_MAX;
    while !left.is_empty() {
        let wait = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(doc) => {
                left.remove(&doc);
            }
            Err(RecvTimeoutError::Timeout) => {
                bail!("{} documents not in sync after {RUN_MAX:?}", left.len())
            }
            Err(RecvTimeoutError::Disconnected) => bail!("the Yizhan end stopped"),
        }
    }
    Ok(())
}

fn who(id: &Identity, wall: chrono::DateTime<Utc>) -> Who {
    Who {
        key: yizhan_engine::PeerKey::new(id.place.as_str()),
        actor: id.actor.clone(),
        credential: id.credential.clone(),
        trust: id.trust.clone(),
        wall,
    }
}

fn changes_of(fx: &Fixture, batch: &[(usize, Vec<Change>)]) -> Vec<(DocumentId, Vec<Change>)> {
    batch
        .iter()
        .map(|(k, c)| (fx.ids[*k].clone(), c.clone()))
        .collect()
}

fn yizhan(
    fx: &Fixture,
    writer: &Identity,
    reader: &Identity,
    authors: &[Identity],
    wall: chrono::DateTime<Utc>,
    delay: Duration,
    q: Duration,
) -> anyhow::Result<Figures> {
    // The street holds its communities' documents, their signatures and
    // their credentials, as after relaying them, and sends them on.
    let mut store = Store::default();
    for (id, doc) in fx.ids.iter().zip(&fx.base) {
        store.docs.insert(id.clone(), doc.clone());
    }
    for (hash, author, sig) in &fx.signatures {
        store.signatures.insert(*hash, (*author, sig.clone()));
    }
    for a in authors {
        store.authors.insert(a.trust.me.key, a.credential.clone());
    }
    let (a_tx, a_synced) = std::sync::mpsc::channel();
    let (b_tx, _b_synced) = std::sync::mpsc::channel();
    // Both hold the federation's charter, whose admission records (one per
    // `yizhan admit`) show every member's credential, so proofs need not
    // carry them; the charter syncs once per federation, not per message,
    // and is not counted here.
    let mut charter = CharterView::default();
    for id in authors.iter().chain([writer, reader]) {
        charter
            .credentials
            .insert(id.trust.me.key, id.credential.clone());
    }
    let (mut wa, mut wb) = (who(writer, wall), who(reader, wall));
    wa.trust.charter = charter.clone();
    wb.trust.charter = charter;
    let (ka, kb) = (wa.key.clone(), wb.key.clone());
    let a = yizhan_side::spawn(wa, store, 1, a_tx)?;
    let b = yizhan_side::spawn(wb, Store::default(), 2, b_tx)?;
    let send = |end: &yizhan_side::Running, c: Command| {
        end.commands
            .blocking_send(c)
            .ok()
            .context("a Yizhan end stopped")
    };
    let connect = |counter: &Arc<Counter>| -> anyhow::Result<()> {
        let (ha, hb) = duplex(delay, counter);
        send(
            &a,
            Command::Up {
                peer: kb.clone(),
                half: ha,
            },
        )?;
        send(
            &b,
            Command::Up {
                peer: ka.clone(),
                half: hb,
            },
        )
    };
    let drain = || while a_synced.try_recv().is_ok() {};

    let counter = Arc::new(Counter::default());
    let t = Instant::now();
    connect(&counter)?;
    await_synced(&a_synced, &fx.ids)?;
    let cold = figure(t, &counter, q);

    send(&a, Command::Down { peer: kb.clone() })?;
    send(&b, Command::Down { peer: ka.clone() })?;
    send(&a, Command::Write(changes_of(fx, &fx.warm)))?;
    let changed: Vec<DocumentId> = fx.warm.iter().map(|(k, _)| fx.ids[*k].clone()).collect();
    drain();
    let counter = Arc::new(Counter::default());
    let t = Instant::now();
    connect(&counter)?;
    await_synced(&a_synced, &changed)?;
    let warm = figure(t, &counter, q);

    drain();
    let before = (counter.bytes(), counter.messages());
    let t = Instant::now();
    send(&a, Command::Write(changes_of(fx, &fx.live)))?;
    await_synced(&a_synced, &changed)?;
    let mut live = figure(t, &counter, q);
    live.bytes -= before.0;
    live.messages -= before.1;

    a.stop()?;
    let mut held = b.stop()?;
    for (k, id) in fx.ids.iter().enumerate() {
        let heads = held.docs.get_mut(id).map(AutoCommit::get_heads);
        ensure!(
            heads.as_ref() == Some(&fx.heads[k]),
            "Yizhan: {id} differs at the receiver"
        );
    }
    Ok(Figures { cold, warm, live })
}

// ---------------------------------------------------------------- samod

fn samod(fx: &Fixture, delay: Duration, q: Duration) -> anyhow::Result<Figures> {
    let a = SamodEnd::spawn("street")?;
    let b = SamodEnd::spawn("district")?;
    let docs: Vec<automerge::Automerge> = fx
        .base
        .iter()
        .map(|d| d.clone().document().clone())
        .collect();
    let handles = a.run(move |repo| async move {
        let mut out = Vec::with_capacity(docs.len());
        for d in docs {
            out.push(repo.create(d).await);
        }
        out.into_iter().collect::<Result<Vec<_>, _>>()
    })??;
    let url = samod::Url::parse("bench://district").context("url")?;
    let acceptor = b.repo.make_acceptor(url)?;
    let dial = |counter: &Arc<Counter>,
                wanted: Vec<samod::DocHandle>|
     -> anyhow::Result<samod::DialerHandle<AcceptorGone>> {
        let counter = Arc::clone(counter);
        let dialer = LinkDialer::new(acceptor.clone(), move || duplex(delay, &counter));
        a.run(move |repo| async move {
            let dh = repo.dial(backoff(), Arc::new(dialer))?;
            dh.established().await?;
            let conn = dh
                .connection_id()
                .context("no connection after established")?;
            futures::future::join_all(wanted.iter().map(|h| h.they_have_our_changes(conn))).await;
            anyhow::Ok(dh)
        })?
    };
    let changed: Vec<samod::DocHandle> = fx.warm.iter().map(|(k, _)| handles[*k].clone()).collect();
    let write = |batch: &[(usize, Vec<Change>)]| -> anyhow::Result<()> {
        for (k, changes) in batch {
            let changes = changes.clone();
            handles[*k].with_document(|d| d.apply_changes(changes))?;
        }
        Ok(())
    };

    let counter = Arc::new(Counter::default());
    let t = Instant::now();
    let dh = dial(&counter, handles.clone())?;
    let cold = figure(t, &counter, q);

    dh.close();
    write(&fx.warm)?;
    let counter = Arc::new(Counter::default());
    let t = Instant::now();
    let dh = dial(&counter, changed.clone())?;
    let warm = figure(t, &counter, q);

    let before = (counter.bytes(), counter.messages());
    let t = Instant::now();
    let conn = dh.connection_id().context("the connection dropped")?;
    let (wanted, live_batch) = (changed.clone(), fx.live.clone());
    let live_handles = handles.clone();
    a.run(move |_| async move {
        for (k, changes) in live_batch {
            live_handles[k].with_document(|d| d.apply_changes(changes))?;
        }
        futures::future::join_all(wanted.iter().map(|h| h.they_have_our_changes(conn))).await;
        anyhow::Ok(())
    })??;
    let mut live = figure(t, &counter, q);
    live.bytes -= before.0;
    live.messages -= before.1;

    let ids: Vec<samod::DocumentId> = handles.iter().map(|h| h.document_id().clone()).collect();
    let got = b.run(move |repo| async move {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let h = repo.find(id).await?;
            out.push(h.map(|h| h.with_document(|d| d.get_heads())));
        }
        Ok::<_, samod::Stopped>(out)
    })??;
    for (k, heads) in got.into_iter().enumerate() {
        ensure!(
            heads.as_ref() == Some(&fx.heads[k]),
            "samod: document {k} differs at the receiver"
        );
    }
    dh.close();
    a.stop()?;
    b.stop()?;
    Ok(Figures { cold, warm, live })
}

// ---------------------------------------------------------------- figures

/// Targets the issue sets, as (time ratio max, bytes ratio max) per run.
struct Targets {
    cold: (f64, f64),
    warm: (f64, f64),
    live_bytes: f64,
    cold_delayed: f64,
}

const TARGETS: Targets = Targets {
    cold: (0.25, 1.0),
    warm: (0.05, 0.1),
    live_bytes: 1.0,
    cold_delayed: 0.5,
};

fn target(max: f64, value: f64, base: f64) -> Option<Target> {
    Some(Target {
        rule: format!("≤ {max}"),
        met: value <= max * base,
    })
}

#[allow(clippy::too_many_arguments)]
fn push(
    out: &mut Vec<Line>,
    link: &str,
    run: &str,
    y: Figure,
    s: Figure,
    time_max: Option<f64>,
    bytes_max: Option<f64>,
    docs: usize,
    q: Duration,
    runs: u32,
) {
    out.push(Line {
        bench: "samod",
        what: format!("{run}, {link}: time, Yizhan signed"),
        value: y.secs * 1e3,
        baseline: "samod 0.16".into(),
        base: s.secs * 1e3,
        unit: "ms",
        target: time_max.and_then(|m| target(m, y.secs, s.secs)),
        note: format!("{docs} documents of {CHANGES} changes; until the writer knows the receiver holds its heads; median of {runs}"),
    });
    out.push(Line {
        bench: "samod",
        what: format!("{run}, {link}: bytes, Yizhan signed"),
        value: y.bytes as f64 / 1e3,
        baseline: "samod 0.16".into(),
        base: s.bytes as f64 / 1e3,
        unit: "KB",
        target: bytes_max.and_then(|m| target(m, y.bytes as f64, s.bytes as f64)),
        note: format!(
            "both ways until quiet for {} s; {} messages against {}",
            q.as_secs_f64(),
            y.messages,
            s.messages
        ),
    });
}

/// Runs the comparison at `scale` (1,000 documents in the full run).
pub fn run(scale: &super::Scale) -> anyhow::Result<Vec<Line>> {
    let docs = scale.samod_docs;
    let q = Duration::from_millis(scale.samod_quiet_ms);
    let topology = Topology {
        district: "guandu".into(),
        streets: 1,
        communities: (docs.div_ceil(MONTHS) as usize).max(1),
        grids: 0,
        riders: 0,
        stations: 0,
    };
    let start = Utc
        .with_ymd_and_hms(2026, 11, 23, 6, 0, 0)
        .single()
        .context("start")?;
    let ids = federation::build(&topology, &[], 1, start)?;
    // The communities write; their street relays to the district, as on
    // that real link.
    let (reader, writer, authors) = (&ids[0], &ids[1], &ids[2..]);
    let t = Instant::now();
    let fx = fixture(authors, docs)?;
    eprintln!(
        "  samod: {} documents built in {:.1} s",
        fx.ids.len(),
        t.elapsed().as_secs_f64()
    );
    let mut out = Vec::new();
    for (link, delay) in [
        ("in memory", Duration::ZERO),
        ("50 ms delay line", Duration::from_millis(DELAY_MS)),
    ] {
        // Both systems in turn, each run afresh, so a slow moment of a
        // shared machine lands on both; each figure is the median.
        let (mut ss, mut ys) = (Vec::new(), Vec::new());
        for r in 0..scale.samod_runs {
            eprintln!("  samod: {link}, run {} of {}", r + 1, scale.samod_runs);
            ss.push(samod(&fx, delay, q)?);
            ys.push(yizhan(&fx, writer, reader, authors, start, delay, q)?);
        }
        let (s, y) = (Figures::median(&ss), Figures::median(&ys));
        let n = fx.ids.len();
        let slow = delay > Duration::ZERO;
        let cold_time = if slow {
            TARGETS.cold_delayed
        } else {
            TARGETS.cold.0
        };
        let cold_bytes = (!slow).then_some(TARGETS.cold.1);
        push(
            &mut out,
            link,
            "cold sync",
            y.cold,
            s.cold,
            Some(cold_time),
            cold_bytes,
            n,
            q,
            scale.samod_runs,
        );
        let (wt, wb) = TARGETS.warm;
        let (wt, wb) = if slow {
            (None, None)
        } else {
            (Some(wt), Some(wb))
        };
        push(
            &mut out,
            link,
            "warm reconnect (10 changed)",
            y.warm,
            s.warm,
            wt,
            wb,
            n,
            q,
            scale.samod_runs,
        );
        let lb = (!slow).then_some(TARGETS.live_bytes);
        push(
            &mut out,
            link,
            "live (10 changes)",
            y.live,
            s.live,
            None,
            lb,
            n,
            q,
            scale.samod_runs,
        );
    }
    Ok(out)
}
