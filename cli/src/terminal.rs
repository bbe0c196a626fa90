//! What the terminal we print to allows: its width, whether to colour, and
//! whether binary bytes may go to stdout.
//!
//! Every answer is a pure function of what [`Terminal::detect`] read from
//! the process, so the decisions are unit-tested without a terminal.

use std::io::IsTerminal as _;

/// What stdout is attached to, and what the environment asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terminal {
    /// stdout is a terminal (not a pipe or a file).
    pub stdout_is_tty: bool,
    /// The width to fit tables in, in display columns; `None`: no limit.
    pub columns: Option<u16>,
    /// `NO_COLOR` is set to something non-empty (<https://no-color.org>).
    pub no_color: bool,
}

/// Narrower than this, a table cannot show even one character per column
/// of a seven-column list; a smaller `COLUMNS` is treated as this.
const COLUMNS_MIN: u16 = 40;

impl Terminal {
    /// Reads stdout's kind, `COLUMNS`, the real terminal size and `NO_COLOR`.
    pub fn detect() -> Terminal {
        let stdout_is_tty = std::io::stdout().is_terminal();
        let env_columns = std::env::var("COLUMNS").ok();
        let tty_columns = if stdout_is_tty {
            crossterm::terminal::size().ok().map(|(w, _)| w)
        } else {
            None
        };
        Terminal {
            stdout_is_tty,
            columns: columns(env_columns.as_deref(), tty_columns),
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        }
    }

    /// Colour only on a terminal, and never when `NO_COLOR` asks not to.
    pub fn colour(&self) -> bool {
        self.stdout_is_tty && !self.no_color
    }

    /// Binary bytes written to a terminal garble it and can drive it with
    /// stray escape sequences: refuse unless they go to a file or a pipe.
    pub fn may_write_binary(&self) -> bool {
        !self.stdout_is_tty
    }
}

/// The width in force: `COLUMNS` when it is a number (so scripts and tests
/// can ask for one), else the terminal's own, else none.
fn columns(env: Option<&str>, tty: Option<u16>) -> Option<u16> {
    let from_env = env
        .and_then(|v| v.trim().parse::<u16>().ok())
        .filter(|w| *w > 0);
    from_env.or(tty).map(|w| w.max(COLUMNS_MIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(tty: bool, no_color: bool) -> Terminal {
        Terminal {
            stdout_is_tty: tty,
            columns: None,
            no_color,
        }
    }

    #[test]
    fn columns_env_wins_over_the_terminal() {
        assert_eq!(columns(Some("80"), Some(200)), Some(80));
        assert_eq!(columns(None, Some(120)), Some(120));
        assert_eq!(columns(Some("wide"), Some(120)), Some(120));
        assert_eq!(columns(Some("0"), None), None);
        assert_eq!(columns(None, None), None);
        assert_eq!(columns(Some("5"), None), Some(COLUMNS_MIN));
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(term(true, false).colour());
        assert!(!term(true, true).colour());
        assert!(!term(false, false).colour());
    }

    #[test]
    fn binary_is_refused_on_a_terminal_and_allowed_into_a_pipe() {
        assert!(!term(true, false).may_write_binary());
        assert!(term(false, false).may_write_binary());
    }
}
