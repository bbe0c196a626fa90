//! Which alerts were sent, kept in the store's `meta` table so that a case
//! alerts once per condition across restarts (`docs/storage.md`, "Alert
//! records").
//!
//! `alert/since` holds the time (RFC 3339) alerts were first configured on
//! this store: cases that went overdue before it, or urgent cases received
//! before it, never alert, so turning alerts on at a district with years of
//! open history does not send years of messages. `alert/sent/<condition>/<report id>`
//! holds a [`SentRecord`] once the command succeeded or its retries ran out.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use crdt_model::ReportId;
use serde::{Deserialize, Serialize};

use super::case::Condition;
use crate::store::{Store, StoreError};

const SINCE_KEY: &str = "alert/since";
const SENT_PREFIX: &str = "alert/sent/";

/// How an alert ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The command exited with status 0.
    Sent,
    /// Every attempt failed or timed out; the node gave up on this alert.
    Failed,
}

/// The record of one alert.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SentRecord {
    /// When it ended.
    pub at: DateTime<Utc>,
    /// How.
    pub outcome: Outcome,
    /// Runs of the command.
    pub attempts: u32,
}

fn key(condition: Condition, id: &ReportId) -> String {
    format!("{SENT_PREFIX}{}/{id}", condition.as_str())
}

/// When alerts were first configured here; records `now` if never.
pub fn since(store: &Store, now: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError> {
    if let Some(raw) = store.get_meta(SINCE_KEY)?
        && let Some(t) = std::str::from_utf8(&raw)
            .ok()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
    {
        return Ok(t.with_timezone(&Utc));
    }
    let mut batch = store.batch()?;
    batch.put_meta(SINCE_KEY, now.to_rfc3339().as_bytes())?;
    batch.commit()?;
    Ok(now)
}

/// The alerts recorded, as (condition, report) pairs; a key this version
/// cannot read is skipped (it never alerts twice for it, at worst once).
pub fn sent(store: &Store) -> Result<HashSet<(Condition, ReportId)>, StoreError> {
    let mut out = HashSet::new();
    for (k, _) in store.meta_with_prefix(SENT_PREFIX)? {
        let rest = &k[SENT_PREFIX.len()..];
        let Some((cond, id)) = rest.split_once('/') else {
            continue;
        };
        if let (Some(cond), Ok(id)) = (Condition::from_name(cond), ReportId::parse(id)) {
            out.insert((cond, id));
        }
    }
    Ok(out)
}

/// Records that the alert for `id` under `condition` ended, durably.
pub fn record(
    store: &Store,
    condition: Condition,
    id: &ReportId,
    rec: &SentRecord,
) -> Result<(), StoreError> {
    let value = serde_json::to_vec(rec).unwrap_or_default();
    let mut batch = store.batch()?;
    batch.put_meta(&key(condition, id), &value)?;
    batch.commit()
}

/// Drops the records of cases not in `keep` (no longer open), so the
/// records follow the open cases rather than the years of history.
/// Returns how many were dropped.
pub fn prune(store: &Store, keep: impl Fn(&ReportId) -> bool) -> Result<usize, StoreError> {
    let stale: Vec<String> = store
        .meta_with_prefix(SENT_PREFIX)?
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| {
            let id = k[SENT_PREFIX.len()..]
                .split_once('/')
                .and_then(|(_, id)| ReportId::parse(id).ok());
            !id.is_some_and(|id| keep(&id))
        })
        .collect();
    if stale.is_empty() {
        return Ok(0);
    }
    let mut batch = store.batch()?;
    for k in &stale {
        batch.delete_meta(k)?;
    }
    batch.commit()?;
    Ok(stale.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopening_and_prune_keeps_open_cases() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let now = Utc::now();
        let (open, closed) = (ReportId::new(now, 1), ReportId::new(now, 2));
        {
            let store = Store::create(&path).unwrap();
            let first = since(&store, now).unwrap();
            assert_eq!(
                since(&store, now + chrono::Duration::days(1)).unwrap(),
                first
            );
            let rec = SentRecord {
                at: now,
                outcome: Outcome::Sent,
                attempts: 1,
            };
            record(&store, Condition::Urgent, &open, &rec).unwrap();
            record(&store, Condition::Overdue, &closed, &rec).unwrap();
        }
        let store = Store::open(&path).unwrap();
        let got = sent(&store).unwrap();
        assert!(got.contains(&(Condition::Urgent, open.clone())));
        assert!(got.contains(&(Condition::Overdue, closed.clone())));
        assert_eq!(prune(&store, |id| *id == open).unwrap(), 1);
        let got = sent(&store).unwrap();
        assert_eq!(got.len(), 1);
        assert!(got.contains(&(Condition::Urgent, open)));
    }
}
