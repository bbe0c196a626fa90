//! A malformed command line, said in one line in the language in force.
//!
//! clap words its usage errors in English only (clap-rs/clap#380), but it
//! hands over what went wrong as a kind with named parts (the argument, the
//! value, the values it takes, a suggestion). Under Chinese the line is
//! built again from those parts; under English it is clap's own first line,
//! exactly as scripts have always seen it.

use clap::error::{ContextKind, ContextValue, Error, ErrorKind};

use crate::i18n::{self, Lang};

/// The one line that says what is wrong with the command line, prefix
/// included (`error: ` or `错误：`).
pub fn line(e: &Error) -> String {
    line_in(i18n::current(), e)
}

/// [`line`] in `lang`.
fn line_in(lang: Lang, e: &Error) -> String {
    let english = english(e);
    if lang == Lang::En {
        return english;
    }
    match localised(lang, e) {
        Some(text) => format!("{}{text}", i18n::tr_in(lang, "error.prefix")),
        None => english,
    }
}

/// clap's own first line, `error: ...`. A missing argument is named on
/// the lines below it; they are put on the line, so it says which.
pub fn english(e: &Error) -> String {
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or("error: bad arguments");
    match (e.kind(), get(e, ContextKind::InvalidArg)) {
        (ErrorKind::MissingRequiredArgument, Some(args)) if first.ends_with(':') => {
            format!("{first} {}", args.replace('、', ", "))
        }
        _ => first.to_owned(),
    }
}

/// The text of `e` without prefix in `lang`, when its kind has one.
fn localised(lang: Lang, e: &Error) -> Option<String> {
    let t = |key: &str, args: &[(&str, String)]| i18n::fill(&i18n::tr_in(lang, key), args);
    let arg = || get(e, ContextKind::InvalidArg);
    let value = || get(e, ContextKind::InvalidValue);
    let mut text = match e.kind() {
        ErrorKind::InvalidValue => {
            let value = value().unwrap_or_default();
            let key = if value.is_empty() {
                "usage.empty_value"
            } else {
                "usage.invalid_value"
            };
            let mut said = t(key, &[("arg", arg()?), ("value", value)]);
            if let Some(values) = get(e, ContextKind::ValidValue) {
                said.push_str(&t("usage.values", &[("values", values)]));
            }
            said
        }
        ErrorKind::ValueValidation => {
            let why = std::error::Error::source(e)
                .map(ToString::to_string)
                .unwrap_or_default();
            t(
                "usage.bad_value",
                &[("arg", arg()?), ("value", value()?), ("why", why)],
            )
        }
        ErrorKind::UnknownArgument => t("usage.unknown_argument", &[("arg", arg()?)]),
        ErrorKind::InvalidSubcommand => t(
            "usage.unknown_command",
            &[("command", get(e, ContextKind::InvalidSubcommand)?)],
        ),
        ErrorKind::MissingRequiredArgument => t("usage.missing_argument", &[("args", arg()?)]),
        ErrorKind::MissingSubcommand => t(
            "usage.missing_command",
            &[("command", get(e, ContextKind::InvalidSubcommand)?)],
        ),
        ErrorKind::ArgumentConflict => {
            let other = get(e, ContextKind::PriorArg).unwrap_or_default();
            t("usage.conflict", &[("arg", arg()?), ("other", other)])
        }
        ErrorKind::NoEquals => t("usage.no_equals", &[("arg", arg()?)]),
        ErrorKind::TooManyValues | ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues => {
            t("usage.value_count", &[("arg", arg()?)])
        }
        ErrorKind::InvalidUtf8 => t("usage.invalid_utf8", &[]),
        _ => return None,
    };
    let suggested = [
        ContextKind::SuggestedArg,
        ContextKind::SuggestedValue,
        ContextKind::SuggestedSubcommand,
    ]
    .into_iter()
    .find_map(|k| quoted(e, k));
    if let Some(s) = suggested {
        text.push_str(&t("usage.did_you_mean", &[("what", s)]));
    }
    Some(text)
}

/// A part of `e` that names things on the command line, each quoted.
fn quoted(e: &Error, kind: ContextKind) -> Option<String> {
    let names = match e.get(kind)? {
        ContextValue::String(s) => vec![s.clone()],
        ContextValue::Strings(v) => v.clone(),
        _ => return None,
    };
    let names: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    (!names.is_empty()).then(|| names.join("、"))
}

/// A part of `e`, as text: several values joined with 、.
fn get(e: &Error, kind: ContextKind) -> Option<String> {
    match e.get(kind)? {
        ContextValue::String(s) => Some(s.clone()),
        ContextValue::Strings(v) if !v.is_empty() => Some(v.join("、")),
        ContextValue::StyledStr(s) => Some(s.to_string()),
        ContextValue::StyledStrs(v) if !v.is_empty() => Some(
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("、"),
        ),
        ContextValue::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    fn error(args: &[&str]) -> Error {
        crate::args::Cli::command()
            .try_get_matches_from(args)
            .expect_err("the line is malformed")
    }

    #[test]
    fn every_usage_error_kind_reads_in_chinese() {
        let cases: [(&[&str], &[&str]); 6] = [
            (
                &["yizhan", "init", "--role", "mayor"],
                &["mayor", "--role", "district"],
            ),
            (
                &["yizhan", "init", "--role", "street"],
                &["缺少必需的参数", "--place"],
            ),
            (
                &["yizhan", "roster", "list", "--colour"],
                &["未知参数", "--colour"],
            ),
            (&["yizhan", "rooster"], &["未知命令", "rooster", "roster"]),
            (&["yizhan", "backup", "--forc", "f"], &["--force"]),
            (
                &["yizhan", "node", "start", "--metrics", "nowhere"],
                &["--metrics", "nowhere", "无效"],
            ),
        ];
        for (args, want) in cases {
            let shown = line_in(Lang::Zh, &error(args));
            assert!(shown.starts_with("错误："), "{args:?}: {shown}");
            for w in want {
                assert!(shown.contains(w), "{args:?}: {w} missing from {shown}");
            }
            assert!(!shown.contains("error:"), "{shown}");
        }
        let shown = line_in(Lang::En, &error(&["yizhan", "rooster"]));
        assert!(
            shown.starts_with("error: unrecognized subcommand"),
            "{shown}"
        );
    }
}
