//! The demo's timeline: one line per thing that happened, kept both in
//! English (what `--json` prints, stable) and as texts of the locale files
//! (what the table prints, in the language in force).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::i18n::{self, Lang};

/// One thing that happened, for the timeline.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Step {
    /// When it started.
    pub at: DateTime<Utc>,
    /// The node it happened on (its short name).
    pub node: &'static str,
    /// What happened, in English (`--json`).
    pub what: String,
    /// How long what it sent took to arrive, and where, for people.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub arrived: String,
    /// `what` as texts of the locale files, to print in the language in
    /// force.
    #[serde(skip)]
    pub said: Vec<Said>,
    /// `arrived` as a text of the locale files.
    #[serde(skip)]
    pub arrived_said: Option<Said>,
}

/// A text of the timeline: its key in `cli/locales/messages.yml` and the
/// values it names.
#[derive(Debug, Clone)]
pub(super) struct Said {
    key: &'static str,
    args: Vec<(&'static str, String)>,
}

impl Said {
    pub(super) fn new(key: &'static str, args: &[(&'static str, String)]) -> Said {
        Said {
            key,
            args: args.to_vec(),
        }
    }

    /// The text in `lang`, with the domain names among its values
    /// (`category`, a member's `kind`) named in `lang` too.
    pub(super) fn in_lang(&self, lang: Lang) -> String {
        let args: Vec<(&str, String)> = self
            .args
            .iter()
            .map(|(k, v)| {
                let v = match *k {
                    "category" => i18n::named_in(lang, "category", v),
                    "kind" => i18n::named_in(lang, "member_kind", v),
                    _ => v.clone(),
                };
                (*k, v)
            })
            .collect();
        i18n::fill(&i18n::tr_in(lang, self.key), &args)
    }

    pub(super) fn shown(&self) -> String {
        self.in_lang(i18n::current())
    }
}

impl Step {
    /// What happened, in the language in force.
    pub(super) fn shown_what(&self) -> String {
        self.said.iter().map(Said::shown).collect()
    }

    /// Where it arrived and when, in the language in force.
    pub(super) fn shown_arrived(&self) -> String {
        self.arrived_said
            .as_ref()
            .map(Said::shown)
            .unwrap_or_default()
    }
}
