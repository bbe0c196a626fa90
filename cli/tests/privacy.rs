//! `yizhan privacy purge`: the personal data of members who left goes from
//! the store file's bytes, history included, and nothing else changes.

mod common;

use std::path::Path;

use chrono::{Duration, Utc};
use common::{NodeProc, fails, init, json, ok, submit_report};
use serde_json::Value;

const COMMUNITY: &str = "guandu/yiliu/xinyazhou";

/// A member as added: display name, real name, phone, ID number.
struct Person {
    display: &'static str,
    name: &'static str,
    phone: &'static str,
    id_number: &'static str,
}

const STAYS: Person = Person {
    display: "小张",
    name: "张在岗甲",
    phone: "+86 139-0000-8881",
    id_number: "530102199001018881",
};
const SUSPENDED: Person = Person {
    display: "小陈",
    name: "陈暂停乙",
    phone: "13900008882",
    id_number: "530102199101018882",
};
const GONE: Person = Person {
    display: "小王",
    name: "王离开丙",
    phone: "+86 138-0000-7771",
    id_number: "53010219880202777X",
};
const ALSO_GONE: Person = Person {
    display: "小李",
    name: "李离开丁",
    phone: "13800007772",
    id_number: "530102198703037772",
};

/// Adds and approves `p`; returns the member id.
fn add(dir: &Path, p: &Person) -> String {
    let added = json(
        dir,
        &[
            "roster",
            "add",
            "--display-name",
            p.display,
            "--name",
            p.name,
            "--phone",
            p.phone,
            "--id-number",
            p.id_number,
        ],
    );
    let id = added["id"].as_str().unwrap().to_owned();
    ok(dir, &["roster", "approve", &id]);
    id
}

fn store_bytes(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("store.redb")).unwrap()
}

fn store_hash(dir: &Path) -> String {
    blake3::hash(&store_bytes(dir)).to_hex().to_string()
}

fn holds(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Every document but roster-private, with its heads.
fn other_documents(dir: &Path) -> Vec<Value> {
    json(dir, &["doc", "list"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| !d["id"].as_str().unwrap().ends_with("/roster-private"))
        .map(|d| serde_json::json!({ "id": d["id"], "heads": d["heads"] }))
        .collect()
}

fn ids(report: &Value) -> Vec<String> {
    let mut ids: Vec<String> = report["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["member"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[test]
fn purge_removes_leavers_personal_data_from_the_file_and_keeps_everything_else() {
    let tmp = tempfile::tempdir().unwrap();
    let c = tmp.path().join("community");
    init(&c, "community", COMMUNITY);
    let stays = add(&c, &STAYS);
    let suspended = add(&c, &SUSPENDED);
    let gone = add(&c, &GONE);
    let also_gone = add(&c, &ALSO_GONE);
    ok(&c, &["roster", "suspend", &suspended]);
    let left = json(&c, &["roster", "leave", &gone]);
    assert!(left["left_at"].is_string(), "leaving records when: {left}");
    ok(&c, &["roster", "leave", &also_gone]);
    submit_report(&c, "路灯不亮");
    let tomorrow = (Utc::now() + Duration::days(1)).date_naive().to_string();
    let purge = ["privacy", "purge", "--left-before", tomorrow.as_str()];
    let dry = [&purge[..], &["--dry-run"]].concat();

    let before = store_bytes(&c);
    for p in [&GONE, &ALSO_GONE] {
        assert!(
            holds(&before, p.phone) && holds(&before, p.name),
            "the store holds {} before the purge, or this test proves nothing",
            p.phone
        );
    }
    let reports = json(&c, &["report", "list"]);
    let documents = other_documents(&c);

    // Refusals change nothing: a bad day, a day none left before, a street.
    let hash = store_hash(&c);
    fails(
        &c,
        &["privacy", "purge", "--left-before", "2026-13-01"],
        "--left-before",
    );
    let nobody = json(&c, &["privacy", "purge", "--left-before", "2000-01-01"]);
    assert_eq!(ids(&nobody), Vec::<String>::new());
    let street = tmp.path().join("street");
    init(&street, "street", "guandu/yiliu");
    fails(&street, &purge, "community");
    assert_eq!(store_hash(&c), hash, "refusals left the store alone");

    // The dry run names the leavers and changes no byte.
    let preview = json(&c, &dry);
    let mut want = vec![gone.clone(), also_gone.clone()];
    want.sort();
    assert_eq!(ids(&preview), want, "{preview}");
    assert_eq!(preview["dry_run"], true);
    assert_eq!(preview["kept"], 2);
    assert!(ok(&c, &dry).contains(GONE.display));
    assert_eq!(store_hash(&c), hash, "a dry run changes nothing");

    // With the node running: the dry run works, the purge is refused.
    let node = NodeProc::start(&c, &[]);
    assert_eq!(ids(&json(&c, &dry)), want);
    fails(&c, &purge, "stop the node");
    node.stop();

    let done = json(&c, &purge);
    assert_eq!(ids(&done), want, "{done}");
    assert_eq!(done["dry_run"], false);
    assert!(done["answers_cleared"].as_u64().unwrap() >= 2, "{done}");

    let after = store_bytes(&c);
    for p in [&GONE, &ALSO_GONE] {
        for needle in [p.name, p.phone, p.id_number] {
            assert!(
                !holds(&after, needle),
                "{needle} is still in the store file"
            );
        }
    }
    for (id, p) in [(&stays, &STAYS), (&suspended, &SUSPENDED)] {
        let shown = json(&c, &["roster", "show", id, "--reveal"]);
        assert_eq!(shown["private"]["real_name"], p.name, "{shown}");
        assert_eq!(shown["private"]["phone"], p.phone);
        assert_eq!(shown["private"]["id_number"], p.id_number);
    }
    let shown = json(&c, &["roster", "show", &gone, "--reveal"]);
    assert_eq!(shown["status"], "left", "the pseudonymous entry stays");
    assert!(shown.get("private").is_none(), "{shown}");
    assert_eq!(json(&c, &["report", "list"]), reports);
    assert_eq!(other_documents(&c), documents);
    let checked = ok(&c, &["check", "--deep"]);
    assert!(checked.contains("no problems found"), "{checked}");

    // A second purge finds nobody and leaves the file alone; the node
    // writes roster-private again as before.
    let hash = store_hash(&c);
    assert_eq!(ids(&json(&c, &purge)), Vec::<String>::new());
    assert_eq!(store_hash(&c), hash);
    let newcomer = Person {
        display: "小赵",
        name: "赵新来戊",
        phone: "13700006661",
        id_number: "530102199505056661",
    };
    let id = add(&c, &newcomer);
    let shown = json(&c, &["roster", "show", &id]);
    assert_eq!(shown["private"]["phone"], newcomer.phone);
    assert!(ok(&c, &["check", "--deep"]).contains("no problems found"));
}
