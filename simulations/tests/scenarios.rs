//! The simulator on a tiny scenario: every invariant holds, a seed replays
//! exactly, and a deliberately broken engine is caught with its seed named.

use std::path::Path;

use simulations::run::{failures, row, run_seed};
use simulations::scenario::{Fault, Scenario};
use simulations::sim::{MessageKind, Mutation};

fn tiny() -> Scenario {
    Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tiny.toml")).unwrap()
}

#[test]
fn a_tiny_federation_keeps_every_invariant_under_faults() {
    let sc = tiny();
    for seed in 1..=2 {
        let r = run_seed(&sc, seed, None).unwrap();
        println!("{}", row(&r));
        assert!(r.passed(), "{:?}", failures(&r));
        assert!(
            r.counters.writes > 20,
            "seed {seed}: the workload wrote little"
        );
        assert!(
            r.counters.restarts >= 1,
            "seed {seed}: the street never restarted"
        );
    }
}

#[test]
fn the_same_seed_prints_the_same_numbers() {
    let sc = tiny();
    let a = run_seed(&sc, 7, None).unwrap();
    let b = run_seed(&sc, 7, None).unwrap();
    assert_eq!(row(&a), row(&b));
    assert_eq!(a.counters, b.counters);
}

#[test]
fn a_street_that_never_sends_sync_to_the_district_is_caught_with_its_seed() {
    let sc = tiny();
    let mutation = Mutation::Silent {
        from: "guandu/s02".into(),
        kind: MessageKind::Sync,
    };
    for seed in 1..=2 {
        let r = run_seed(&sc, seed, Some(mutation.clone())).unwrap();
        let lines = failures(&r);
        println!("{}\n{}", row(&r), lines.join("\n"));
        assert!(!r.passed(), "seed {seed}: the broken engine went unnoticed");
        let converged = r
            .invariants
            .iter()
            .find(|(n, _)| *n == "converged")
            .unwrap();
        assert!(converged.1.is_err(), "seed {seed}: convergence held");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("seed {seed}: converged failed"))),
            "{lines:?}"
        );
    }
}

fn revocations() -> Scenario {
    Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/revocations-tiny.toml"))
        .unwrap()
}

#[test]
fn revoked_and_lapsed_nodes_are_cut_off_while_everyone_else_converges() {
    let sc = revocations();
    for seed in 1..=4 {
        let r = run_seed(&sc, seed, None).unwrap();
        println!("{}", row(&r));
        assert!(r.passed(), "{:?}", failures(&r));
        let c = &r.counters;
        assert_eq!(
            (c.revocations, c.reinstatements),
            (2, 1),
            "seed {seed}: the revocations were not all written"
        );
        // Community 1 stays revoked and community 4's admission lapsed;
        // community 2 was reinstated and is entitled again.
        assert_eq!(
            r.cut_off,
            ["guandu/s01/c01", "guandu/s02/c04"],
            "seed {seed}"
        );
        assert!(
            r.stayed_home > 0,
            "seed {seed}: no cut-off node wrote after its cut-off, so nothing was tested"
        );
        // Street 1 witnessed community 1's revocation, the district
        // community 2's; both admitters witnessed community 4's lapse.
        assert_eq!(c.cutoffs, 4, "seed {seed}");
        assert_eq!(
            c.forged, 0,
            "seed {seed}: an honest run refused a change as forged"
        );
    }
}

#[test]
fn a_street_that_ignores_the_charter_is_caught_with_its_seed() {
    let mut sc = revocations();
    // The district refuses what the street forwards and the two retry
    // without end, which a debug build simulates slowly: heal the partition
    // two minutes before the run ends and judge it then. An honest street
    // witnesses and drops the revoked community within a second of the heal.
    for f in &mut sc.faults {
        if let Fault::Partition { at_hour, hours, .. } = f {
            *hours = 1.97 - *at_hour;
        }
    }
    sc.settle_hours_max = 0;
    let mutation = Mutation::IgnoresCharter {
        node: "guandu/s01".into(),
    };
    for seed in 1..=2 {
        let r = run_seed(&sc, seed, Some(mutation.clone())).unwrap();
        let lines = failures(&r);
        println!("{}\n{}", row(&r), lines.join("\n"));
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("seed {seed}: cut-off-stays failed"))),
            "seed {seed}: a street kept a revoked community's later work unnoticed: {lines:?}"
        );
    }
}

#[test]
fn stations_redeeming_offline_never_overspend() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stations-tiny.toml");
    let sc = Scenario::load(&path).unwrap();
    for seed in 1..=3 {
        let r = run_seed(&sc, seed, None).unwrap();
        println!("{}", row(&r));
        assert!(r.passed(), "seed {seed}: {:?}", failures(&r));
    }
}
