//! `--help` in the language in force: the parser clap derives from
//! `args.rs` (English doc comments) is walked once before parsing, and each
//! command's `about` and each argument's help that `help.yml` has a text for
//! is replaced, with clap's fixed headings (Usage, Commands, Options)
//! replaced too.
//!
//! Why a walk and not `help = t!(..)` on every attribute: the argument
//! definitions stay plain English doc comments that every command file
//! keeps writing as before, and a command without a Chinese text yet still
//! has its English help.

use clap::Command;

use crate::i18n::{self, Lang};

/// `cmd` with its help in the language in force.
pub fn localise(cmd: Command) -> Command {
    if i18n::current() == Lang::En {
        return cmd;
    }
    // Built first, so that clap's own --help and --version and the global
    // flags copied into every subcommand are there to be translated too.
    let mut cmd = cmd;
    cmd.build();
    walk(cmd, "")
}

fn walk(mut cmd: Command, path: &str) -> Command {
    if let Some(about) = text(path, "about") {
        cmd = cmd.about(about.clone()).long_about(about);
    }
    let args: Vec<String> = cmd
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .collect();
    for id in args {
        let help = arg_text(path, &id);
        cmd = cmd.mut_arg(&id, |a| localise_arg(a, help));
    }
    cmd = cmd
        .subcommand_help_heading(i18n::tr("help.heading.commands"))
        .help_template(i18n::tr("help.template"));
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in subs {
        let sub_path = join(path, &name);
        cmd = if name == HELP {
            cmd.mut_subcommand(&name, |s| walk_help(s, path))
        } else {
            cmd.mut_subcommand(&name, |s| walk(s, &sub_path))
        };
    }
    cmd
}

/// The name of the `help` subcommand clap generates beside a command's own.
const HELP: &str = "help";

/// clap's generated `yizhan ... help [COMMAND]` tree, which mirrors the
/// commands at `path`: each entry gets the text of the command it names.
fn walk_help(mut cmd: Command, path: &str) -> Command {
    if let Some(about) = text("", "help.about") {
        cmd = cmd.about(about);
    }
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in subs {
        let about = if name == HELP {
            text("", "help.about")
        } else {
            text(&join(path, &name), "about")
        };
        let sub_path = join(path, &name);
        cmd = cmd.mut_subcommand(&name, |mut s| {
            if let Some(a) = about {
                s = s.about(a);
            }
            if name == HELP {
                s
            } else {
                walk_help(s, &sub_path)
            }
        });
    }
    cmd
}

/// An argument with its Chinese help, heading and bracketed notes. clap
/// writes the notes (possible values, default, environment variable) in
/// English, so they are hidden and written again in the help text.
fn localise_arg(a: clap::Arg, help: Option<String>) -> clap::Arg {
    // Only arguments under clap's default heading move to a Chinese one;
    // a heading a command set stays.
    let a = match (a.get_help_heading(), a.is_positional()) {
        (Some(_), _) => a,
        (None, true) => a.help_heading(i18n::tr("help.heading.arguments")),
        (None, false) => a.help_heading(i18n::tr("help.heading.options")),
    };
    let Some(help) = help else { return a };
    let mut notes = Vec::new();
    let values: Vec<String> = a
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| v.get_name().to_owned())
        .collect();
    if !values.is_empty() && !a.is_hide_possible_values_set() {
        notes.push(i18n::tr_args(
            "help.note.values",
            &[("values", values.join("、"))],
        ));
    }
    let defaults: Vec<String> = a
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .filter(|v| !v.is_empty())
        .collect();
    // A flag's default (false, 0) says nothing; clap leaves it out too.
    if !defaults.is_empty() && !a.is_hide_default_value_set() && a.get_action().takes_values() {
        notes.push(i18n::tr_args(
            "help.note.default",
            &[("value", defaults.join("、"))],
        ));
    }
    if let Some(env) = a.get_env()
        && !a.is_hide_env_set()
    {
        notes.push(i18n::tr_args(
            "help.note.env",
            &[("name", env.to_string_lossy().into_owned())],
        ));
    }
    let help = std::iter::once(help)
        .chain(notes)
        .collect::<Vec<_>>()
        .join(" ");
    a.hide_possible_values(true)
        .hide_default_value(true)
        .hide_env(true)
        .help(help.clone())
        .long_help(help)
}

/// `path` and `name` as a dotted command path.
fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// The Chinese text `help.<path>.<what>`, if there is one.
fn text(path: &str, what: &str) -> Option<String> {
    i18n::lookup(Lang::Zh, &format!("help.{}", join(path, what))).map(|t| t.into_owned())
}

/// The Chinese help of argument `id` of the command at `path`: its own
/// text, else the nearest enclosing command's text for an argument of that
/// name (`help.report.arg.id` serves every `report` step; `help.arg.json`
/// every command), since an argument shared down a command tree means the
/// same thing throughout it.
fn arg_text(path: &str, id: &str) -> Option<String> {
    let what = format!("arg.{id}");
    let mut at = path;
    loop {
        if let Some(t) = text(at, &what) {
            return Some(t);
        }
        if at.is_empty() {
            return None;
        }
        at = at.rsplit_once('.').map_or("", |(parent, _)| parent);
    }
}

/// `--lang` as given on the command line, read before clap parses it so
/// that `--lang zh --help` is already answered in Chinese.
pub fn lang_flag(args: &[std::ffi::OsString]) -> Option<Lang> {
    let mut it = args.iter().filter_map(|a| a.to_str());
    while let Some(a) = it.next() {
        let value = match a.strip_prefix("--lang=") {
            Some(v) => Some(v),
            None if a == "--lang" => it.next(),
            None => None,
        };
        match value {
            Some("zh") => return Some(Lang::Zh),
            Some("en") => return Some(Lang::En),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    fn os(args: &[&str]) -> Vec<std::ffi::OsString> {
        args.iter().map(Into::into).collect()
    }

    #[test]
    fn the_lang_flag_is_found_before_parsing() {
        assert_eq!(
            lang_flag(&os(&["yizhan", "--lang", "zh", "--help"])),
            Some(Lang::Zh)
        );
        assert_eq!(
            lang_flag(&os(&["yizhan", "status", "--lang=en"])),
            Some(Lang::En)
        );
        assert_eq!(lang_flag(&os(&["yizhan", "status"])), None);
    }

    #[test]
    fn every_help_key_names_a_real_command_or_argument() {
        // A text for a command or flag that was renamed would silently
        // stop showing: check each key still finds what it describes.
        let mut root = crate::args::Cli::command();
        root.build();
        let keys = help_keys();
        assert!(keys.len() > 40, "help.yml read: {} keys", keys.len());
        for key in keys {
            let rest = key.strip_prefix("help.").unwrap();
            if rest.starts_with("heading.") || rest.starts_with("note.") || rest == "template" {
                continue;
            }
            let mut parts: Vec<&str> = rest.split('.').collect();
            let leaf = parts.pop().unwrap();
            let arg = match leaf {
                "about" => None,
                id => {
                    assert_eq!(parts.pop(), Some("arg"), "{key}");
                    Some(id)
                }
            };
            let mut cmd = &root;
            for p in &parts {
                cmd = cmd
                    .find_subcommand(p)
                    .unwrap_or_else(|| panic!("{key}: no command {p}"));
            }
            if let Some(id) = arg {
                assert!(has_arg_below(cmd, id), "{key}: no argument {id}");
            }
        }
    }

    #[test]
    fn every_command_and_argument_has_a_chinese_help_text() {
        // A command added without its Chinese help would print English
        // under a Chinese locale: name every one that lacks it.
        let mut root = crate::args::Cli::command();
        root.build();
        let missing = missing_help(&root, "");
        assert!(
            missing.is_empty(),
            "help.yml has no zh-CN text for {} commands and arguments:\n{}",
            missing.len(),
            missing.join("\n")
        );
    }

    /// The keys under `cmd` (at `path`) that have no Chinese text.
    fn missing_help(cmd: &Command, path: &str) -> Vec<String> {
        let mut missing = Vec::new();
        if text(path, "about").is_none() {
            missing.push(format!("help.{}", join(path, "about")));
        }
        for a in cmd.get_arguments() {
            let id = a.get_id().as_str();
            if arg_text(path, id).is_none() {
                missing.push(format!("help.{}", join(path, &format!("arg.{id}"))));
            }
        }
        // clap's own `help` subcommand takes the texts of the commands it
        // names (walk_help), so only its own line needs a text.
        for s in cmd.get_subcommands().filter(|s| s.get_name() != HELP) {
            missing.extend(missing_help(s, &join(path, s.get_name())));
        }
        missing
    }

    /// True when `cmd` or a command below it has an argument `id`.
    fn has_arg_below(cmd: &Command, id: &str) -> bool {
        cmd.get_arguments().any(|a| a.get_id() == id)
            || cmd.get_subcommands().any(|s| has_arg_below(s, id))
    }

    fn help_keys() -> Vec<String> {
        include_str!("../locales/help.yml")
            .lines()
            .filter(|l| l.starts_with("help.") && l.ends_with(':'))
            .map(|l| l.trim_end_matches(':').to_owned())
            .collect()
    }
}
