//! The recent cases `yizhan watch` follows: a bounded, numbered log in
//! memory that callers page through with a cursor.
//!
//! Polling with a cursor rather than a stream kept open: the admin socket
//! answers one line per request, every request has a deadline, and a
//! watcher that stalls (a terminal paused with Ctrl-S) costs the node
//! nothing. A watcher that falls further behind than the log holds is told
//! how many cases it missed.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::case::CaseEvent;

/// Cases kept for watchers.
pub const FEED_EVENTS_MAX: usize = 1_024;
/// Cases in one answer at most.
pub const FEED_PAGE_MAX: usize = 256;

/// One answer to `watch`: the cases after the cursor, and the cursor to ask
/// with next.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WatchPage {
    /// Ask for the cases from here on next time.
    pub cursor: u64,
    /// Cases since the cursor asked with, oldest first.
    pub events: Vec<CaseEvent>,
    /// Cases that had already left the log when asked for.
    pub missed: u64,
}

/// The numbered log.
#[derive(Debug, Default)]
pub struct Feed {
    /// The number of the first case in `events`.
    first: u64,
    events: VecDeque<CaseEvent>,
}

impl Feed {
    /// Adds a case, dropping the oldest past [`FEED_EVENTS_MAX`].
    pub fn push(&mut self, event: CaseEvent) {
        if self.events.len() == FEED_EVENTS_MAX {
            self.events.pop_front();
            self.first += 1;
        }
        self.events.push_back(event);
    }

    /// The number the next case will get.
    pub fn end(&self) -> u64 {
        self.first + self.events.len() as u64
    }

    /// The cases from `after` on (at most [`FEED_PAGE_MAX`]); without a
    /// cursor, none, and the cursor of what comes next: a new watcher
    /// follows from now.
    pub fn page(&self, after: Option<u64>) -> WatchPage {
        let Some(from) = after else {
            return WatchPage {
                cursor: self.end(),
                ..WatchPage::default()
            };
        };
        // A cursor from before a restart may lie past the end: start over.
        let from = if from > self.end() { self.end() } else { from };
        let missed = self.first.saturating_sub(from);
        let start = from.max(self.first);
        let skip = (start - self.first) as usize;
        let events: Vec<CaseEvent> = self
            .events
            .iter()
            .skip(skip)
            .take(FEED_PAGE_MAX)
            .cloned()
            .collect();
        WatchPage {
            cursor: start + events.len() as u64,
            events,
            missed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::case::{CaseLocation, Condition, NodeLabel};
    use crate::config::Role;
    use chrono::Utc;
    use crdt_model::{Category, PlaceId, ReportId, Status};

    fn event(n: u32) -> CaseEvent {
        let now = Utc::now();
        let place = PlaceId::parse("guandu/yiliu/xinyazhou").unwrap();
        CaseEvent {
            condition: Condition::New,
            report_id: ReportId::new(now, n),
            place: place.clone(),
            category: Category::Traffic,
            status: Status::Submitted,
            text: format!("case {n}"),
            location: CaseLocation {
                lat: 24.9,
                lon: 102.7,
                address: None,
                grid: None,
            },
            submitted_at: now,
            deadline: now,
            noticed_at: now,
            node: NodeLabel {
                place,
                role: Role::Community,
            },
        }
    }

    #[test]
    fn a_new_watcher_follows_from_now_and_pages_in_order() {
        let mut feed = Feed::default();
        feed.push(event(1));
        let start = feed.page(None);
        assert!(start.events.is_empty());
        feed.push(event(2));
        feed.push(event(3));
        let page = feed.page(Some(start.cursor));
        let texts: Vec<&str> = page.events.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["case 2", "case 3"]);
        assert_eq!(page.missed, 0);
        assert!(feed.page(Some(page.cursor)).events.is_empty());
    }

    #[test]
    fn a_watcher_left_behind_is_told_how_many_it_missed() {
        let mut feed = Feed::default();
        for n in 0..(FEED_EVENTS_MAX as u32 + 10) {
            feed.push(event(n));
        }
        let page = feed.page(Some(0));
        assert_eq!(page.missed, 10);
        assert_eq!(page.events.len(), FEED_PAGE_MAX);
        assert_eq!(page.events[0].text, "case 10");
        // A cursor past the end (the node restarted) starts from the end.
        let late = feed.page(Some(u64::MAX));
        assert!(late.events.is_empty());
        assert_eq!(late.cursor, feed.end());
    }
}
