//! The language the CLI speaks: chosen once at start from `--lang` or the
//! locale environment, then used by every label through [`tr`] and the
//! domain names through [`category`], [`status`], [`role`] and [`event`].
//!
//! The texts live in `cli/locales/*.yml` (rust-i18n's one-file-per-area
//! format, English and Chinese side by side); docs/localisation.md says how
//! to add one. `--json` output never goes through here: its keys and values
//! are the stable English names.

use std::borrow::Cow;

/// A language the CLI speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// English.
    En,
    /// Simplified Chinese.
    Zh,
}

impl Lang {
    /// The rust-i18n locale of this language.
    fn locale(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }

    /// The language the locale environment asks for, as POSIX ranks it:
    /// `LC_ALL`, then `LC_MESSAGES`, then `LANG`, the first one set and not
    /// empty. Chinese for any `zh*` locale (`zh_CN.UTF-8`, `zh_TW`, `zh`);
    /// English for everything else, `C` and `POSIX` included.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Lang {
        let chosen = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|k| var(k))
            .find(|v| !v.is_empty());
        match chosen {
            Some(v) if v.to_ascii_lowercase().starts_with("zh") => Lang::Zh,
            _ => Lang::En,
        }
    }
}

/// Makes `lang` the language of everything printed from now on.
pub fn set(lang: Lang) {
    rust_i18n::set_locale(lang.locale());
}

/// The language in force.
pub fn current() -> Lang {
    if &*rust_i18n::locale() == Lang::Zh.locale() {
        Lang::Zh
    } else {
        Lang::En
    }
}

/// The text of `key` in the language in force, English when it has no
/// text in that language, and the key itself when it has none at all (so a
/// missing text shows up, rather than an empty line).
pub fn tr(key: &str) -> String {
    tr_in(current(), key)
}

/// [`tr`] in `lang` rather than the language in force.
pub fn tr_in(lang: Lang, key: &str) -> String {
    lookup(lang, key)
        .or_else(|| lookup(Lang::En, key))
        .map(Cow::into_owned)
        .unwrap_or_else(|| key.to_owned())
}

/// [`tr`] with its `%{name}` placeholders filled from `args`.
pub fn tr_args(key: &str, args: &[(&str, String)]) -> String {
    fill(&tr(key), args)
}

/// The text of `key` in `lang` only, if it has one.
pub fn lookup(lang: Lang, key: &str) -> Option<Cow<'static, str>> {
    crate::_rust_i18n_try_translate(lang.locale(), key)
}

/// `text` with each `%{name}` replaced by its value in `args`.
pub fn fill(text: &str, args: &[(&str, String)]) -> String {
    let names: Vec<&str> = args.iter().map(|(k, _)| *k).collect();
    let values: Vec<String> = args.iter().map(|(_, v)| v.clone()).collect();
    rust_i18n::replace_patterns(text, &names, &values)
}

/// A name from `domain.yml` (`kind` is `category`, `status`, `role`,
/// `event`, `field` or `what`) as people read it; an unknown name is shown
/// as it is.
pub fn named(kind: &str, name: &str) -> String {
    named_in(current(), kind, name)
}

/// [`named`] in `lang`.
pub fn named_in(lang: Lang, kind: &str, name: &str) -> String {
    lookup(lang, &format!("{kind}.{name}"))
        .map(Cow::into_owned)
        .unwrap_or_else(|| name.to_owned())
}

/// A report category, such as 井盖问题 for `manhole_cover`.
pub fn category(name: &str) -> String {
    named("category", name)
}

/// A case status, such as 已核实 for `verified`.
pub fn status(name: &str) -> String {
    named("status", name)
}

/// A node role, such as 街道 for `street`.
pub fn role(name: &str) -> String {
    named("role", name)
}

/// A lifecycle step, such as 派单 for `dispatch`.
pub fn event(name: &str) -> String {
    named("event", name)
}

/// "yes" or "no".
pub fn yes_no(b: bool) -> String {
    tr(if b { "yes" } else { "no" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_locale_environment_is_read_in_posix_order() {
        assert_eq!(Lang::from_env(env(&[])), Lang::En);
        assert_eq!(Lang::from_env(env(&[("LANG", "zh_CN.UTF-8")])), Lang::Zh);
        assert_eq!(Lang::from_env(env(&[("LANG", "C")])), Lang::En);
        assert_eq!(Lang::from_env(env(&[("LANG", "POSIX")])), Lang::En);
        assert_eq!(Lang::from_env(env(&[("LANG", "en_US.UTF-8")])), Lang::En);
        let both = [("LANG", "zh_CN.UTF-8"), ("LC_MESSAGES", "C")];
        assert_eq!(Lang::from_env(env(&both)), Lang::En);
        let all = [
            ("LANG", "C"),
            ("LC_MESSAGES", "C"),
            ("LC_ALL", "zh_CN.UTF-8"),
        ];
        assert_eq!(Lang::from_env(env(&all)), Lang::Zh);
        let empty_all = [("LC_ALL", ""), ("LANG", "zh_CN.UTF-8")];
        assert_eq!(Lang::from_env(env(&empty_all)), Lang::Zh);
    }

    #[test]
    fn every_domain_name_has_a_chinese_name() {
        let names = crdt_model::Category::names()
            .into_iter()
            .map(|n| format!("category.{n}"))
            .chain(
                crdt_model::Status::ALL
                    .iter()
                    .map(|s| format!("status.{}", s.as_str())),
            )
            .chain(
                [
                    node::Role::District,
                    node::Role::Street,
                    node::Role::Community,
                    node::Role::Station,
                ]
                .iter()
                .map(|r| format!("role.{}", r.as_str())),
            )
            .chain(
                crdt_model::roster::MemberKind::names()
                    .into_iter()
                    .map(|n| format!("member_kind.{n}")),
            )
            .chain(
                crdt_model::roster::MemberStatus::names()
                    .into_iter()
                    .map(|n| format!("member_status.{n}")),
            )
            .chain(
                crdt_model::roster::Role::names()
                    .into_iter()
                    .map(|n| format!("member_role.{n}")),
            )
            .chain(
                crdt_model::tasks::NeedKind::names()
                    .into_iter()
                    .map(|n| format!("need_kind.{n}")),
            )
            .chain(
                crdt_model::directory::Service::names()
                    .into_iter()
                    .map(|n| format!("service.{n}")),
            );
        for key in names {
            let zh = lookup(Lang::Zh, &key).unwrap_or_else(|| panic!("{key} has no zh-CN text"));
            assert!(!zh.is_ascii(), "{key} is not Chinese: {zh}");
            let en = lookup(Lang::En, &key).unwrap_or_else(|| panic!("{key} has no en text"));
            assert_eq!(Some(en.as_ref()), key.split_once('.').map(|(_, n)| n));
        }
    }

    /// The keys at the top level of a locale file.
    fn keys(file: &str) -> Vec<&str> {
        file.lines()
            .filter(|l| !l.starts_with([' ', '#', '_']) && l.ends_with(':'))
            .map(|l| l.trim_end_matches(':'))
            .collect()
    }

    #[test]
    fn every_label_and_name_has_both_languages() {
        for file in [
            include_str!("../locales/labels.yml"),
            include_str!("../locales/domain.yml"),
            include_str!("../locales/messages.yml"),
        ] {
            let keys = keys(file);
            assert!(keys.len() > 20);
            for key in keys {
                assert!(lookup(Lang::En, key).is_some(), "{key} has no en text");
                let zh = lookup(Lang::Zh, key).unwrap_or_else(|| panic!("{key}: no zh-CN"));
                assert_ne!(
                    Some(&zh),
                    lookup(Lang::En, key).as_ref(),
                    "{key}: zh-CN is English"
                );
            }
        }
    }

    #[test]
    fn every_error_text_is_chinese_and_has_no_english_copy() {
        for key in keys(include_str!("../locales/errors.yml")) {
            let zh = lookup(Lang::Zh, key).unwrap_or_else(|| panic!("{key}: no zh-CN"));
            assert!(!zh.is_ascii(), "{key}");
            assert!(
                lookup(Lang::En, key).is_none(),
                "{key}: English comes from the node"
            );
        }
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(
            fill("%{a} of %{b}", &[("a", "1".into()), ("b", "2".into())]),
            "1 of 2"
        );
    }
}
