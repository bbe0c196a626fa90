//! The CLI's failures to read or write a file the operator named: a code
//! (`cannot_read`, `cannot_write`, `cannot_create`) and a text in the
//! language in force; the reason inside is the operating system's own.
//! The English reads as before, `cannot read PATH: REASON`.

use std::fmt::Display;
use std::path::Path;

use crate::error_out::refuse;

/// Turns the error of a file operation on `path` into the CLI's refusal.
pub trait FileContext<T> {
    /// Reading (or looking at) `path` failed.
    fn reading(self, path: &Path) -> anyhow::Result<T>;
    /// Writing `path` failed.
    fn writing(self, path: &Path) -> anyhow::Result<T>;
    /// Creating the directory `path` failed.
    fn creating(self, path: &Path) -> anyhow::Result<T>;
}

impl<T, E: Display> FileContext<T> for Result<T, E> {
    fn reading(self, path: &Path) -> anyhow::Result<T> {
        self.map_err(|e| failed("cannot_read", "file.cannot_read", path, &e))
    }

    fn writing(self, path: &Path) -> anyhow::Result<T> {
        self.map_err(|e| failed("cannot_write", "file.cannot_write", path, &e))
    }

    fn creating(self, path: &Path) -> anyhow::Result<T> {
        self.map_err(|e| failed("cannot_create", "file.cannot_create", path, &e))
    }
}

fn failed(code: &'static str, key: &'static str, path: &Path, why: &dyn Display) -> anyhow::Error {
    let args = [
        ("path", path.display().to_string()),
        ("why", why.to_string()),
    ];
    refuse(code, key, &args)
}

/// The node answered with something the command did not ask for: a bug,
/// said plainly, with a code of its own.
pub fn unexpected(answer: &dyn std::fmt::Debug) -> anyhow::Error {
    refuse(
        "unexpected_answer",
        "file.unexpected_answer",
        &[("answer", format!("{answer:?}"))],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_cannot_be_read_has_a_code_and_the_english_of_before() {
        let path = Path::new("/nonexistent/yizhan-test");
        let e = std::fs::read(path).reading(path).unwrap_err();
        let s = crate::error_out::shown(&e);
        assert_eq!(s.code, "cannot_read");
        assert!(
            s.english
                .starts_with("cannot read /nonexistent/yizhan-test: "),
            "{}",
            s.english
        );
    }
}
