//! Refused invocations: one line, non-zero exit, no document changed.

use super::*;

#[test]
fn refused_invocations_exit_non_zero_in_one_line_and_change_no_document() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let a = active_member(&d, "小王");
    let applicant = s(&json(
        &d,
        &[
            "roster",
            "add",
            "--display-name",
            "新人",
            "--name",
            "李四",
            "--phone",
            "139",
        ],
    )["id"]);
    let r = s(&submit(&d, "manhole_cover", "24.97", Some(&a))["report"]["id"]);
    let closed = s(&submit(&d, "sanitation", "24.90", None)["report"]["id"]);
    ok(
        &d,
        &["report", "close", &closed, "--reason", "no_further_action"],
    );
    let task = s(&json(&d, &["task", "post", "--title", "patrol", "--points", "5"])["id"]);
    ok(&d, &["task", "claim", &task, "--member", &a]);
    ok(&d, &["points", "award", "--rule", "patrol", "--member", &a]);
    let need = s(&json(
        &d,
        &[
            "need", "add", "--member", &a, "--kind", "rest", "--text", "a seat",
        ],
    )["id"]);
    ok(&d, &["need", "resolve", &need]);
    ok(
        &d,
        &[
            "directory",
            "merchant",
            "add",
            "--name",
            "面馆",
            "--reward",
            "lunch=8",
        ],
    );
    let before = heads(&d);
    assert!(before.len() >= 6, "{before:?}");

    let refusals: &[(&[&str], &str)] = &[
        // Illegal transitions.
        (
            &["report", "handle", &r],
            "cannot handle a case that is submitted",
        ),
        (
            &["report", "close", &r, "--reason", "fixed"],
            "cannot close a case that is submitted",
        ),
        (
            &["report", "reopen", &r],
            "cannot reopen a case that is submitted",
        ),
        (
            &["report", "verify", &closed],
            "cannot verify a case that is closed",
        ),
        (&["report", "accept", &r], "the street's step"),
        // Unknown report ids, malformed ones, bad reasons.
        (
            &["report", "verify", "202611-00000000"],
            "not held on this node",
        ),
        (&["report", "escalate", "not-an-id"], "report id"),
        (
            &["report", "void", &r, "--reason", "bored"],
            "unknown void reason",
        ),
        // Bad dates and times.
        (
            &[
                "report", "dispatch", &r, "--to", "team", "--due", "tomorrow",
            ],
            "is not a time",
        ),
        (
            &[
                "report",
                "dispatch",
                &r,
                "--to",
                "team",
                "--due",
                "2001-01-01 10:00",
            ],
            "in the past",
        ),
        (
            &[
                "roster",
                "certify",
                &a,
                "--number",
                "N1",
                "--issued",
                "2026-02-30",
                "--expires",
                "2027-01-01",
            ],
            "is not a date",
        ),
        (
            &[
                "roster",
                "certify",
                &a,
                "--number",
                "N1",
                "--issued",
                "2026-02-01",
                "--expires",
                "2025-01-01",
            ],
            "must come after",
        ),
        (&["stats", "--from", "2026/01/01"], "is not a date"),
        // Bad coordinates.
        (
            &[
                "report",
                "submit",
                "--category",
                "other",
                "--lat",
                "91",
                "--lon",
                "102",
            ],
            "latitude 91",
        ),
        (
            &[
                "directory",
                "station",
                "add",
                "--name",
                "x",
                "--lat",
                "24",
                "--lon",
                "200",
                "--hours",
                "08:00-21:00",
            ],
            "longitude 200",
        ),
        // Unknown members, and members who may not.
        (
            &["roster", "approve", "m-nobody"],
            "m-nobody is not on this community's roster",
        ),
        (
            &["task", "claim", &task, "--member", "m-nobody"],
            "m-nobody",
        ),
        (
            &[
                "points", "award", "--rule", "patrol", "--member", &applicant,
            ],
            "is applied",
        ),
        (
            &["roster", "approve", &a],
            "cannot go from active to active",
        ),
        // A live lease, a task not completed.
        (
            &["task", "claim", &task, "--member", &applicant],
            "needs an active member",
        ),
        (&["task", "sign-off", &task], "not completed"),
        (
            &["task", "claim", "t-nothere", "--member", &a],
            "task t-nothere",
        ),
        // Overdraft and double awards.
        (
            &[
                "points", "redeem", "--member", &a, "--at", "面馆", "--item", "lunch",
            ],
            "would overdraw",
        ),
        (
            &[
                "points", "correct", "--member", &a, "--points", "-4", "--reason", "oops",
            ],
            "would overdraw",
        ),
        (
            &["points", "award", "--rule", "report", "--report", &r],
            "has not been verified",
        ),
        (
            &[
                "points", "award", "--member", &a, "--points", "0", "--reason", "x",
            ],
            "outside 1..=",
        ),
        // Resolved need, unknown station, malformed values.
        (&["need", "resolve", &need], "already resolved"),
        (
            &["directory", "station", "maintain", "st-none", "--note", "x"],
            "does not exist",
        ),
        (
            &["task", "post", "--title", "x", "--points", "-3"],
            "must be positive",
        ),
        (
            &["roster", "list", "--status", "asleep"],
            "unknown member status",
        ),
        // Malformed on the command line itself (exit 2).
        (
            &["task", "post", "--title", "x", "--points", "many"],
            "--points",
        ),
    ];
    assert!(refusals.len() >= 15);
    for (args, needle) in refusals {
        fails(&d, args, needle);
    }
    assert_eq!(heads(&d), before, "a refused command changed a document");
}
