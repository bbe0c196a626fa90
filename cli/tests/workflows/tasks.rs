//! Task leases, sign-off and concurrent claims.

use super::*;

#[test]
fn task_leases_refuse_second_claims_and_sign_off_awards_points() {
    let tmp = tempfile::tempdir().unwrap();
    let d = community(tmp.path());
    let a = active_member(&d, "小王");
    let b = active_member(&d, "小李");
    let t = json(
        &d,
        &[
            "task",
            "post",
            "--title",
            "deliver medicine to Mrs Zhao",
            "--points",
            "12",
            "--lease-minutes",
            "45",
        ],
    );
    let task = s(&t["id"]);
    assert_eq!(t["status"], "open");
    let claimed = json(&d, &["task", "claim", &task, "--member", &a]);
    assert_eq!(claimed["status"], "claimed");
    assert_eq!(claimed["holder"]["member"], a.as_str());
    let line = fails(&d, &["task", "claim", &task, "--member", &b], "claimed by");
    assert!(line.contains(&a), "{line}");
    fails(
        &d,
        &["task", "complete", &task, "--member", &b],
        "held by another member",
    );
    fails(
        &d,
        &["task", "sign-off", &task],
        "is claimed, not completed",
    );
    let done = json(
        &d,
        &[
            "task",
            "complete",
            &task,
            "--member",
            &a,
            "--note",
            "delivered",
        ],
    );
    assert_eq!(done["status"], "completed");
    let signed = json(&d, &["task", "sign-off", &task]);
    assert_eq!(signed["task"]["status"], "signed_off");
    assert_eq!(signed["entry"]["amount"], 12);
    assert_eq!(signed["entry"]["kind"], "task");
    assert_eq!(signed["entry"]["reference"], task.as_str());
    fails(&d, &["task", "sign-off", &task], "signed_off");
    fails(
        &d,
        &["points", "award", "--rule", "task", "--task", &task],
        "already awarded",
    );
    let bal = json(&d, &["points", "balance", &a]);
    assert_eq!(bal[0]["balance"], 12);
    let listed = json(&d, &["task", "list", "--status", "signed_off"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let text = ok(&d, &["task", "show", &task]);
    assert!(
        text.contains("deliver medicine") && text.contains(&a),
        "{text}"
    );
}

#[test]
fn concurrent_claims_on_two_nodes_pick_the_same_winner_on_both() {
    let tmp = tempfile::tempdir().unwrap();
    // Two nodes of one community (the office PC and a station's machine)
    // that share the roster and the task list.
    let one = community(tmp.path());
    let two = tmp.path().join("station");
    init(&two, "community", COMMUNITY);
    let a = active_member(&one, "小王");
    let b = active_member(&one, "小李");
    let task = s(&json(
        &one,
        &["task", "post", "--title", "night patrol", "--points", "5"],
    )["id"]);
    for doc in ["roster", "tasks"] {
        replicate(&one, &two, &format!("{COMMUNITY}/{doc}"));
    }
    // Partitioned: each node grants a claim, b's first.
    let at_two = json(&two, &["task", "claim", &task, "--member", &b]);
    assert_eq!(at_two["holder"]["member"], b.as_str());
    let at_one = json(&one, &["task", "claim", &task, "--member", &a]);
    assert_eq!(at_one["holder"]["member"], a.as_str());

    // Healed: both replicas hold both claims and fold to the same holder,
    // the earlier claim.
    let tasks = format!("{COMMUNITY}/tasks");
    replicate(&one, &two, &tasks);
    replicate(&two, &one, &tasks);
    let seen: Vec<Value> = [&one, &two]
        .iter()
        .map(|d| json(d, &["task", "show", &task]))
        .collect();
    for v in &seen {
        assert_eq!(v["claims"].as_array().unwrap().len(), 2);
        assert_eq!(v["holder"]["member"], b.as_str(), "the earlier claim wins");
    }
    assert_eq!(seen[0]["holder"], seen[1]["holder"]);
    assert_eq!(heads(&one)[&tasks], heads(&two)[&tasks]);
    // The loser cannot complete the task; the winner can.
    fails(
        &one,
        &["task", "complete", &task, "--member", &a],
        "held by another member",
    );
    ok(&one, &["task", "complete", &task, "--member", &b]);
}
