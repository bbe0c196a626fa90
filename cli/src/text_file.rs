//! Reading the files offices bring: spreadsheets saved as CSV and lists
//! of JSON lines. Excel saves "CSV UTF-8" with a byte order mark, which is
//! skipped; a file saved as plain "CSV" on Chinese Windows is GBK, which is
//! refused with the way to save it right, rather than read as mojibake.

use crate::file_error::FileContext as _;
use std::collections::HashMap;
use std::io::Read as _;
use std::path::Path;

use crate::error_out::refuse;

/// The text of `file`, at most `max` bytes, without a UTF-8 byte order mark.
pub fn read_utf8(file: &Path, max: u64) -> anyhow::Result<String> {
    let shown = file.display();
    let size = std::fs::metadata(file).reading(file)?.len();
    let file_and_max = [("file", shown.to_string()), ("max", max.to_string())];
    if size > max {
        let mut args = file_and_max.to_vec();
        args.push(("bytes", size.to_string()));
        return Err(refuse("bad_file", "import.too_large", &args));
    }
    // A device or a file still growing says nothing true of its size:
    // read one byte past the limit at most.
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(max + 1).read_to_end(&mut bytes))
        .reading(file)?;
    if bytes.len() as u64 > max {
        return Err(refuse("bad_file", "import.past_max", &file_and_max));
    }
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let valid = e.utf8_error().valid_up_to();
        let line = bytes[..valid].iter().filter(|b| **b == b'\n').count() + 1;
        let args = [("file", shown.to_string()), ("line", line.to_string())];
        refuse("bad_file", "import.not_utf8", &args)
    })
}

/// What the csv reader found wrong, without its own position (the line is
/// said once, in front), in the language in force; the reader's other
/// complaints (an IO error, a UTF-8 error after the file was checked) are
/// its own words.
pub fn csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => crate::i18n::tr_args(
            "import.field_count",
            &[
                ("len", len.to_string()),
                ("expected", expected_len.to_string()),
            ],
        ),
        _ => e.to_string(),
    }
}

/// The trimmed value of column `name` in `record`, by the header's column
/// positions `at`; `None` when the column is absent or the cell blank.
pub fn cell(at: &HashMap<&str, usize>, record: &csv::StringRecord, name: &str) -> Option<String> {
    at.get(name)
        .and_then(|&i| record.get(i))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}
