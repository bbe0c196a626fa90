//! Writing a run's results into `docs/benchmarks.md`: the generated part
//! sits between two marker lines, and the prose around it is kept.

use std::path::Path;

use anyhow::{Context, bail};

use super::{Line, number, table};

/// The line the generated part starts after.
pub const BEGIN: &str =
    "<!-- bench:begin (written by `simulations bench --write`; edits here are lost) -->";
/// The line the generated part ends before.
pub const END: &str = "<!-- bench:end -->";

/// What a run was: where, how, how long.
#[derive(Debug, Clone)]
pub struct Run {
    /// The command line, as typed.
    pub command: String,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
    /// True for a release build.
    pub release: bool,
    /// When it ran (UTC, RFC 3339).
    pub at: String,
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn memory_gib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: f64 = s
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / (1024.0 * 1024.0))
}

/// Every figure that has a target, met or not, with its number.
pub fn targets(lines: &[Line]) -> String {
    let mut s = String::from(
        "| target | bench | measured | value | ratio to its baseline | |\n\
         | --- | --- | --- | ---: | ---: | --- |\n",
    );
    for l in lines {
        let Some(t) = &l.target else { continue };
        s.push_str(&format!(
            "| {} | {} | {} | {} {} | {} | {} |\n",
            t.rule,
            l.bench,
            l.what,
            number(l.value),
            l.unit,
            number(l.ratio()),
            if t.met { "met" } else { "**NOT met**" }
        ));
    }
    s
}

/// The generated part: machine, command, time, the figures and the targets.
pub fn section(lines: &[Line], run: &Run) -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = memory_gib().map_or("unknown".into(), |g| format!("{g:.1} GiB"));
    let missed = lines
        .iter()
        .filter(|l| l.target.as_ref().is_some_and(|t| !t.met))
        .count();
    format!(
        "{BEGIN}\n\n\
         - machine: {cpus} CPUs ({}), {memory} of memory\n\
         - build: {}\n\
         - command: `{}`\n\
         - ran {} for {:.0} s; {}\n\n\
         {}\n\
         Ratio = value ÷ baseline value.\n\n\
         ### Targets\n\n\
         {}\n\
         {END}\n",
        cpu_model(),
        if run.release {
            "release"
        } else {
            "debug (figures are not comparable with release)"
        },
        run.command,
        run.at,
        run.seconds,
        if missed == 0 {
            "every target met".to_owned()
        } else {
            format!("{missed} target(s) not met")
        },
        table(lines),
        targets(lines),
    )
}

/// Replaces the generated part of `doc` (its text) with `section`.
pub fn splice(doc: &str, section: &str) -> anyhow::Result<String> {
    let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
        bail!("the file has no {BEGIN:?} … {END:?} lines to write between");
    };
    if e < b {
        bail!("the end marker comes before the begin marker");
    }
    let after = &doc[e + END.len()..];
    let after = after.strip_prefix('\n').unwrap_or(after);
    Ok(format!("{}{section}{after}", &doc[..b]))
}

/// Writes `section` into the file at `path`, between its markers.
pub fn write(path: &Path, section: &str) -> anyhow::Result<()> {
    let doc = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let new = splice(&doc, section).with_context(|| format!("{}", path.display()))?;
    std::fs::write(path, new).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splicing_replaces_only_the_generated_part() {
        let doc = format!("# Title\n\nprose before\n\n{BEGIN}\nold table\n{END}\n\nprose after\n");
        let new = splice(&doc, &format!("{BEGIN}\nnew table\n{END}\n")).unwrap();
        assert_eq!(
            new,
            format!("# Title\n\nprose before\n\n{BEGIN}\nnew table\n{END}\n\nprose after\n")
        );
        assert!(splice("no markers", "x").is_err());
        assert!(splice(&format!("{END}\n{BEGIN}\n"), "x").is_err());
    }
}
