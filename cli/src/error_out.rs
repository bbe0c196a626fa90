//! How a failed command reports itself: one line on stderr in the language
//! in force, or with `--json` one JSON object
//! `{"error":{"code":"...","message":"..."}}` whose code is stable and
//! whose message is English.

use node::error::NodeError;
use node::error_code::{ErrorBody, RefusedRow};

use crate::i18n;

/// A refusal raised by the CLI itself, with a stable code and the key of
/// its text in `cli/locales/labels.yml`.
#[derive(Debug)]
pub struct Refusal {
    /// Stable, snake_case.
    pub code: &'static str,
    /// The text's key.
    pub key: &'static str,
    /// The values its placeholders take.
    pub args: Vec<(&'static str, String)>,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let english = i18n::lookup(i18n::Lang::En, self.key).unwrap_or_default();
        f.write_str(&i18n::fill(&english, &self.args))
    }
}

impl std::error::Error for Refusal {}

/// A [`Refusal`] as an error: `code`, the text `key` and its values.
pub fn refuse(
    code: &'static str,
    key: &'static str,
    args: &[(&'static str, String)],
) -> anyhow::Error {
    Refusal {
        code,
        key,
        args: args.to_vec(),
    }
    .into()
}

/// A failure as it is shown: its stable code, the English message, and the
/// message in the language in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// Stable code (`failed` when the failure has none).
    pub code: String,
    /// English: the whole chain of causes, outermost first.
    pub english: String,
    /// In the language in force.
    pub localised: String,
}

/// How `e` is shown. The English message joins the chain of causes with
/// ": " as it always has; the localised one replaces the cause that has a
/// code with its text in the language in force, when there is one.
pub fn shown(e: &anyhow::Error) -> Shown {
    let links: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    let english = links.join(": ");
    let coded = e.chain().enumerate().find_map(|(i, c)| {
        if let Some(r) = c.downcast_ref::<Refusal>() {
            let args: Vec<(&str, String)> = r.args.iter().map(|(k, v)| (*k, param(k, v))).collect();
            return Some((i, r.code.to_owned(), i18n::tr_args(r.key, &args)));
        }
        let body = if let Some(n) = c.downcast_ref::<NodeError>() {
            ErrorBody::of(n)
        } else if let Some(v) = c.downcast_ref::<crdt_model::ValidationError>() {
            ErrorBody::of(&NodeError::from(v.clone()))
        } else if let Some(v) = c.downcast_ref::<crdt_model::IdError>() {
            ErrorBody::of(&NodeError::from(crdt_model::ValidationError::Id(v.clone())))
        } else {
            return None;
        };
        let text = node_text(&body).unwrap_or_else(|| body.message.clone());
        Some((i, body.code, text))
    });
    let Some((at, code, text)) = coded else {
        return Shown {
            code: "failed".into(),
            localised: english.clone(),
            english,
        };
    };
    // The cause with a code says everything below it already.
    let mut parts: Vec<String> = links[..at].to_vec();
    parts.push(text);
    Shown {
        code,
        english,
        localised: parts.join(": "),
    }
}

/// The text of a node error in the language in force, if it has one there.
fn node_text(body: &ErrorBody) -> Option<String> {
    if i18n::current() == i18n::Lang::En {
        return None;
    }
    let template = i18n::lookup(i18n::current(), &format!("error.{}", body.code))?;
    let mut args: Vec<(&str, String)> = body
        .params
        .iter()
        .map(|(k, v)| (k.as_str(), param(k, v)))
        .collect();
    if body.code == "unknown_category" {
        args.push(("known", known_categories()));
    }
    // An import's rows, each with its own code, read in this language too.
    if !body.rows.is_empty() {
        let rows: Vec<String> = body.rows.iter().map(row_text).collect();
        args.retain(|(k, _)| *k != "rows");
        args.push(("rows", rows.join(&i18n::tr("import.separator"))));
    }
    Some(i18n::fill(&template, &args))
}

/// One refused row of an import, `line N: why`, in the language in force.
pub fn row_text(row: &RefusedRow) -> String {
    let why = node_text(&row.error).unwrap_or_else(|| row.error.message.clone());
    i18n::tr_args(
        "import.row",
        &[("line", row.line.to_string()), ("why", why)],
    )
}

/// A parameter's value as people read it: domain names by their name in
/// the language in force, everything else as it is.
fn param(name: &str, value: &str) -> String {
    match name {
        "status" | "role" | "event" | "category" | "field" | "what" => i18n::named(name, value),
        "given_category" => i18n::category(value),
        "entry_kind" | "attachment_kind" => i18n::named(name, value),
        // A level is a role's place in the hierarchy; an action is a step.
        "level" => i18n::role(value),
        "action" => i18n::event(value),
        // A roster status change names the statuses it goes between.
        "from" | "to" => i18n::named("member_status", value),
        "token_role" | "config_role" => i18n::role(value),
        "task_status" => i18n::named("task_status", value),
        _ => value.to_owned(),
    }
}

/// Every category as typed on the command line, with its name.
fn known_categories() -> String {
    crdt_model::Category::names()
        .into_iter()
        .map(|n| format!("{n}（{}）", i18n::category(n)))
        .collect::<Vec<_>>()
        .join("、")
}

/// Prints `e` as one line on stderr, or as a JSON object with `json`.
pub fn print(e: &anyhow::Error, json: bool) {
    let s = shown(e);
    if json {
        eprintln!("{}", json_line(&s.code, &s.english));
    } else {
        eprintln!(
            "{}{}",
            i18n::tr("error.prefix"),
            crate::table::printable(&s.localised)
        );
    }
}

/// The JSON object of an error with `code` and English `message`.
pub fn json_line(code: &str, message: &str) -> String {
    serde_json::json!({ "error": { "code": code, "message": message } }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_error_keeps_its_code_and_english_under_context() {
        let e = anyhow::Error::new(NodeError::UnknownReport("2026-11-000007".into()))
            .context("cannot show the report");
        let s = shown(&e);
        assert_eq!(s.code, "report_not_found");
        assert!(
            s.english
                .starts_with("cannot show the report: report 2026-11-000007")
        );
    }

    #[test]
    fn an_error_without_a_code_is_failed() {
        let s = shown(&anyhow::anyhow!("something broke"));
        assert_eq!(s.code, "failed");
        assert_eq!(s.english, "something broke");
    }

    #[test]
    fn every_node_error_code_has_a_chinese_text() {
        for code in node::error_code::CODES {
            let key = format!("error.{code}");
            let zh = i18n::lookup(i18n::Lang::Zh, &key)
                .unwrap_or_else(|| panic!("{key} has no zh-CN text in errors.yml"));
            assert!(!zh.is_ascii(), "{key}: {zh}");
        }
        // And no text is left for a code that no longer exists.
        let texts = include_str!("../locales/errors.yml");
        for line in texts.lines().filter(|l| l.starts_with("error.")) {
            if let Some(code) = line
                .strip_prefix("error.")
                .and_then(|l| l.strip_suffix(':'))
            {
                assert!(
                    node::error_code::CODES.contains(&code),
                    "errors.yml has a text for {code}, which no node error has"
                );
            }
        }
    }

    #[test]
    fn json_errors_are_one_object_with_code_and_message() {
        let v: serde_json::Value =
            serde_json::from_str(&json_line("usage", "bad \"flag\"")).unwrap();
        assert_eq!(v["error"]["code"], "usage");
        assert_eq!(v["error"]["message"], "bad \"flag\"");
    }
}
