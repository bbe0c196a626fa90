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
    let here = |what: &str| -> Option<String> {
        let key = if path.is_empty() {
            format!("help.{what}")
        } else {
            format!("help.{path}.{what}")
        };
        i18n::lookup(i18n::current(), &key).map(|t| t.into_owned())
    };
    if let Some(about) = here("about") {
        cmd = cmd.about(about.clone()).long_about(about);
    }
    let args: Vec<String> = cmd
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .collect();
    for id in args {
        // A global flag has its text once, at the top.
        let help = here(&format!("arg.{id}")).or_else(|| {
            i18n::lookup(i18n::current(), &format!("help.arg.{id}")).map(|t| t.into_owned())
        });
        cmd = cmd.mut_arg(&id, |a| {
            // Only arguments under clap's default heading move to the
            // Chinese one; a heading a command set stays.
            let a = match a.get_help_heading() {
                None => a.help_heading(i18n::tr("help.heading.options")),
                Some(_) => a,
            };
            match help {
                Some(h) => a.help(h.clone()).long_help(h),
                None => a,
            }
        });
    }
    cmd = cmd
        .subcommand_help_heading(i18n::tr("help.heading.commands"))
        .help_template(i18n::tr("help.template"))
        .disable_help_subcommand(true);
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in subs {
        let sub_path = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        cmd = cmd.mut_subcommand(&name, |s| walk(s, &sub_path));
    }
    cmd
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
            if rest.starts_with("heading.") || rest == "template" {
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
                assert!(
                    cmd.get_arguments().any(|a| a.get_id() == id),
                    "{key}: no argument {id}"
                );
            }
        }
    }

    fn help_keys() -> Vec<String> {
        include_str!("../locales/help.yml")
            .lines()
            .filter(|l| l.starts_with("help.") && l.ends_with(':'))
            .map(|l| l.trim_end_matches(':').to_owned())
            .collect()
    }
}
