//! The systemd unit in `packaging/` is one systemd accepts, runs the
//! binary the way the operator guide says, and keeps the hardening the
//! operator guide promises.

use std::path::Path;
use std::process::Command;

const UNIT: &str = include_str!("../../packaging/yizhan.service");

/// The value of every `key=` line of the unit, in order.
fn values<'a>(key: &str) -> Vec<&'a str> {
    let prefix = format!("{key}=");
    UNIT.lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .collect()
}

#[test]
fn the_service_unit_verifies_and_is_hardened() {
    // systemd checks that ExecStart names an executable: point it at the
    // binary under test, in a copy of the unit.
    let tmp = tempfile::tempdir().unwrap();
    let unit = tmp.path().join("yizhan.service");
    let exe = env!("CARGO_BIN_EXE_yizhan");
    std::fs::write(&unit, UNIT.replace("/usr/local/bin/yizhan", exe)).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze is needed (Debian package systemd; .ci/run installs it)");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert_eq!(values("User"), ["yizhan"]);
    assert_eq!(values("StateDirectory"), ["yizhan"]);
    assert_eq!(values("Environment")[0], "YIZHAN_DATA_DIR=/var/lib/yizhan");
    assert_eq!(values("ExecStart"), ["/usr/local/bin/yizhan node start"]);
    for (key, want) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("KillSignal", "SIGTERM"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert_eq!(values(key), [want], "{key}");
    }
    // The guide that the unit points at says how to install it.
    let guide = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/operator-guide.md"),
    )
    .unwrap();
    assert!(guide.contains("packaging/yizhan.service"));
    assert!(guide.contains("journalctl -u yizhan"));
}
