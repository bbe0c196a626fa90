//! Tables for people: fitted to the terminal's width, coloured on a
//! terminal, with control characters in user text shown escaped.
//!
//! Commands build a plain [`comfy_table::Table`] and hand it to [`print`],
//! the one place that decides how it looks, so no command can forget to
//! escape a report's text or to fit the width.

use comfy_table::{
    Attribute, Cell, CellAlignment, Color, ContentArrangement, Row, Table,
    presets::UTF8_FULL_CONDENSED,
};

use crate::terminal::Terminal;

/// Prints `t` on stdout, fitted and escaped for the terminal in force.
pub fn print(t: Table) {
    println!("{}", render(&t, &Terminal::detect()));
}

/// `t` as it prints on `term`: every cell escaped with [`printable`],
/// wrapped to `term.columns` (display columns: a Chinese character takes
/// two), with a bold header when `term` takes colour.
pub fn render(t: &Table, term: &Terminal) -> String {
    let mut out = Table::new();
    out.load_preset(UTF8_FULL_CONDENSED);
    out.set_content_arrangement(ContentArrangement::Dynamic);
    if let Some(w) = term.columns {
        out.set_width(w);
    }
    if term.colour() {
        out.enforce_styling();
    } else {
        out.force_no_tty();
    }
    if let Some(h) = t.header() {
        let cells = h.cell_iter().map(|c| {
            let cell = Cell::new(printable(&header(&c.content())));
            if term.colour() {
                cell.add_attribute(Attribute::Bold)
            } else {
                cell
            }
        });
        out.set_header(Row::from(cells.collect::<Vec<_>>()));
    }
    // What needs attention stands out: the overdue mark, wherever a
    // command shows it, is red on a terminal.
    let overdue = crate::i18n::tr("list.overdue");
    for r in t.row_iter() {
        let cells: Vec<Cell> = r
            .cell_iter()
            .map(|c| {
                let text = printable(&c.content());
                let late = term.colour() && text.contains(&overdue);
                let cell = Cell::new(text);
                if late { cell.fg(Color::Red) } else { cell }
            })
            .collect();
        out.add_row(cells);
    }
    for i in numeric_columns(t) {
        if let Some(c) = out.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    out.to_string()
}

/// A header in the language in force: headers the commands set in English
/// are looked up as `header.<text>` (`cli/locales/headers.yml`), so a
/// command's table needs no change to read in Chinese.
fn header(text: &str) -> String {
    label(text)
}

/// A row label of a key-value table (`roster show`, `task show`), by its
/// English text, in the language in force; the same texts as headers.
pub fn label(text: &str) -> String {
    match crate::i18n::current() {
        crate::i18n::Lang::En => text.to_owned(),
        lang => crate::i18n::lookup(lang, &format!("header.{text}"))
            .map(|t| t.into_owned())
            .unwrap_or_else(|| text.to_owned()),
    }
}

/// The columns whose every cell is a number (a count, an amount such as
/// `+5`, a rate such as `80.0%`) or `-`: they are right-aligned so their
/// digits line up. Deciding here, from the content, means no command has
/// to say which of its columns are numbers.
fn numeric_columns(t: &Table) -> Vec<usize> {
    let columns = t.row_iter().map(|r| r.cell_count()).max().unwrap_or(0);
    (0..columns)
        .filter(|&i| {
            let cells: Vec<String> = t
                .row_iter()
                .filter_map(|r| r.cell_iter().nth(i).map(|c| c.content()))
                .collect();
            cells.iter().any(|c| is_number(c))
                && cells.iter().all(|c| c.trim() == "-" || is_number(c))
        })
        .collect()
}

/// A count, an amount such as `+5`, or a rate such as `80.0%`.
fn is_number(s: &str) -> bool {
    let n = s
        .trim()
        .trim_start_matches(['+', '-'])
        .trim_end_matches('%');
    n.starts_with(|c: char| c.is_ascii_digit()) && n.parse::<f64>().is_ok()
}

/// `s` with every character that would act on the terminal instead of
/// showing (C0 and C1 controls, DEL, and the bidirectional overrides that
/// reorder what follows) written as a visible escape: `\n`, `\t`, `\r`, or
/// `\u{1b}`. Ordinary text, Chinese included, is left as it is.
pub fn printable(s: &str) -> String {
    if !s.chars().any(acts_on_terminal) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if acts_on_terminal(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// True for characters a terminal interprets rather than prints.
fn acts_on_terminal(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_width::UnicodeWidthStr as _;

    fn plain(columns: Option<u16>) -> Terminal {
        Terminal {
            stdout_is_tty: false,
            columns,
            no_color: false,
        }
    }

    #[test]
    fn escapes_reach_the_table_only_escaped() {
        let mut t = Table::new();
        t.set_header(vec!["text"]);
        t.add_row(vec!["红\u{1b}[31m灯\u{1b}]0;title\u{7}\n第二行\u{202e}"]);
        let out = render(&t, &plain(None));
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}') && !out.contains('\u{202e}'));
        assert!(out.contains("红\\u{1b}[31m灯\\u{1b}]0;title\\u{7}\\n第二行\\u{202e}"));
        assert_eq!(out.lines().count(), 5, "one row stays one line: {out}");
    }

    #[test]
    fn chinese_rows_fit_the_width_in_display_columns() {
        let mut t = Table::new();
        t.set_header(vec!["编号", "类别", "状态", "地点", "文字"]);
        for _ in 0..3 {
            t.add_row(vec![
                "2026-11-000001".to_owned(),
                "公共设施损坏".to_owned(),
                "已核实".to_owned(),
                "guandu/yiliu/xinyazhou".to_owned(),
                "井盖翘起，".repeat(12),
            ]);
        }
        let out = render(&t, &plain(Some(60)));
        for line in out.lines() {
            assert!(line.width() <= 60, "{} columns: {line}", line.width());
        }
    }

    #[test]
    fn no_colour_off_a_terminal() {
        let mut t = Table::new();
        t.set_header(vec!["a"]);
        t.add_row(vec!["b"]);
        assert!(!render(&t, &plain(None)).contains('\u{1b}'));
    }

    #[test]
    fn bold_headers_on_a_terminal() {
        let mut t = Table::new();
        t.set_header(vec!["a"]);
        t.add_row(vec!["b"]);
        let tty = Terminal {
            stdout_is_tty: true,
            columns: Some(80),
            no_color: false,
        };
        assert!(render(&t, &tty).contains('\u{1b}'));
    }

    #[test]
    fn number_columns_are_right_aligned() {
        let mut t = Table::new();
        t.set_header(vec!["name", "points", "grid"]);
        t.add_row(vec!["小王", "+5", "-"]);
        t.add_row(vec!["老李", "120", "-"]);
        let out = render(&t, &plain(None));
        assert!(out.contains("┆     +5 ┆"), "{out}");
        assert!(
            out.contains("┆ -    │"),
            "a column of dashes stays left: {out}"
        );
    }

    #[test]
    fn the_overdue_mark_is_red_only_on_a_terminal() {
        let mut t = Table::new();
        t.add_row(vec![format!(
            "2026-11-30 09:00 {}",
            crate::i18n::tr("list.overdue")
        )]);
        let tty = Terminal {
            stdout_is_tty: true,
            columns: None,
            no_color: false,
        };
        assert!(
            render(&t, &tty).contains("\u{1b}[38;5;9m") || render(&t, &tty).contains("\u{1b}[31m")
        );
        assert!(!render(&t, &plain(None)).contains('\u{1b}'));
    }
}
