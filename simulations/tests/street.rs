//! The busy street at a size CI can afford (4 communities, 1 simulated
//! minute, the same rate and links as the full run): the street keeps up and
//! every report reaches the district in time; and a street that stops
//! passing changes on is reported as missing the target, not as a pass.

use std::time::Duration;

use simulations::bench::street::{Busy, DELIVERY_MS_MAX, HOPS, LATENCY_MS, lines, simulate};
use simulations::sim::{MessageKind, Mutation};

fn small() -> Busy {
    Busy {
        communities: 4,
        minutes: 1,
        per_minute: 50,
        latency_ms_min: LATENCY_MS,
        latency_ms_max: LATENCY_MS,
        loss: 0.0,
        seed: 7,
    }
}

#[test]
fn a_busy_street_keeps_up_and_every_report_reaches_the_district() {
    let busy = small();
    let o = simulate(&busy, None).unwrap();
    assert_eq!(o.written, 4 * 50);
    assert_eq!(o.arrived(), o.written, "reports lost on the way");
    // No report can beat the links it crosses.
    assert!(
        o.delays_ms[0] >= HOPS * LATENCY_MS,
        "{:?}",
        &o.delays_ms[..3]
    );
    assert!(
        o.delivered_in_time(),
        "slowest report took {:?} ms, more than {DELIVERY_MS_MAX}",
        o.delays_ms.last()
    );
    assert!(
        o.street_cpu > Duration::ZERO,
        "the street's work was not timed"
    );
    assert!(o.street_kept_up(), "street used {} cores", o.street_cores());
    for l in lines(&busy, &o) {
        if let Some(t) = &l.target {
            assert!(t.met, "{}: {} {} ({})", l.what, l.value, l.unit, t.rule);
        }
    }
}

#[test]
fn a_street_that_stops_forwarding_misses_the_delivery_target() {
    let busy = small();
    let silent = Mutation::Silent {
        from: "guandu/s01".into(),
        kind: MessageKind::Sync,
    };
    let o = simulate(&busy, Some(silent)).unwrap();
    assert_eq!(o.written, 4 * 50);
    assert_eq!(
        o.arrived(),
        0,
        "a street that sends no sync message passed reports on"
    );
    assert!(!o.delivered_in_time());
    let missed: Vec<_> = lines(&busy, &o)
        .into_iter()
        .filter(|l| l.target.as_ref().is_some_and(|t| !t.met))
        .map(|l| l.what)
        .collect();
    assert!(
        missed.iter().any(|w| w.contains("max")),
        "the delivery target passed with every report missing: {missed:?}"
    );
}
