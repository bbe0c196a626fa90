//! The simulator on a tiny scenario: every invariant holds, a seed replays
//! exactly, and a deliberately broken engine is caught with its seed named.

use std::path::Path;

use simulations::run::{failures, row, run_seed};
use simulations::scenario::Scenario;
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
    let mutation = Mutation {
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
