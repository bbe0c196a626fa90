//! `yizhan report import`: many reports at once, as an office types them
//! into a spreadsheet after a day in the field, or as a paper register is
//! entered. Every row is checked before any is written; one bad row
//! refuses the whole file, naming each bad row by its line, and the rows
//! are written in one durable commit.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::{Node, ReportContent, SubmitReport};
use crate::error::NodeError;

/// Rows one import holds at most: a busy community's month is thousands of
/// reports; more in one request would hold the node's loop for seconds.
pub const IMPORT_REPORTS_MAX: usize = 20_000;

/// One row of an import, with its line in the file for the office to find.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportedReport {
    /// The line (1-based, the header being line 1 in a CSV file).
    pub line: u64,
    /// What the row says.
    #[serde(flatten)]
    pub content: ReportContent,
}

/// What an import wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportsImported {
    /// Reports written.
    pub imported: usize,
    /// The reports document they went into.
    pub document: String,
    /// The first report's id, if any.
    pub first: Option<crdt_model::ReportId>,
    /// The last report's id, if any.
    pub last: Option<crdt_model::ReportId>,
}

impl Node {
    /// Checks every row, then writes them all in one durable commit; if
    /// any row is refused, nothing is written and the error names every
    /// refused row with its line.
    pub fn import_reports(
        &mut self,
        rows: Vec<ImportedReport>,
        now: DateTime<Utc>,
    ) -> Result<ReportsImported, NodeError> {
        if rows.is_empty() || rows.len() > IMPORT_REPORTS_MAX {
            return Err(crate::refusal::AdminRefusal::ImportSize {
                count: rows.len(),
                max: IMPORT_REPORTS_MAX,
            }
            .into());
        }
        let mut staged = Vec::with_capacity(rows.len());
        let mut refused = Vec::new();
        for row in rows {
            let req = SubmitReport {
                content: row.content,
                attachments: Vec::new(),
            };
            match self.stage_report(req, now) {
                Ok(s) => staged.push(s),
                Err(e) => refused.push(crate::error_code::RefusedRow::new(row.line, &e)),
            }
        }
        if !refused.is_empty() {
            return Err(NodeError::ImportRefused { rows: refused });
        }
        let document = crdt_model::DocumentId::reports(self.config.place.clone(), now).to_string();
        let ids = self.write_reports(staged, now)?;
        Ok(ReportsImported {
            imported: ids.len(),
            document,
            first: ids.first().cloned(),
            last: ids.last().cloned(),
        })
    }
}
