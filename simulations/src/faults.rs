//! Scheduling a scenario's faults: outages, partitions, churn, and the
//! revocations and reinstatements of trust.

use rand::Rng;

use crate::scenario::{Fault, Issuer, StoreFate};
use crate::sim::{Event, Sim, exp_ms, hours_ms};
use crate::trust::TrustEvent;

impl Sim {
    /// Queues every fault of the scenario that happens before `until_ms`
    /// (churn is drawn from the seeded randomness up to then).
    pub(crate) fn schedule_faults(&mut self, until_ms: u64) {
        let faults = self.faults.clone();
        let streets: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].id.role == node::Role::Street)
            .collect();
        let communities = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].id.role == node::Role::Community)
            .count();
        for f in &faults {
            if let Some((target, by, at_hour)) = f.trust_act() {
                // Validated with the scenario: both indices exist.
                let (Ok(target), Ok(parent)) = (
                    target.index_among(streets.len(), communities),
                    target.parent_index_among(streets.len(), communities),
                ) else {
                    continue;
                };
                let issuer = match by {
                    Issuer::District => 0,
                    Issuer::Street => parent,
                };
                let event = match f {
                    Fault::Revoke { .. } => TrustEvent::Revoke { issuer, target },
                    _ => TrustEvent::Reinstate { issuer, target },
                };
                self.schedule(hours_ms(at_hour), Event::Trust(event));
            }
            match f {
                Fault::StreetDown {
                    street,
                    at_hour,
                    hours,
                    store,
                } => {
                    let node = streets[street - 1];
                    self.schedule(
                        hours_ms(*at_hour),
                        Event::Stop {
                            node,
                            store: *store,
                        },
                    );
                    self.schedule(hours_ms(at_hour + hours), Event::Start { node });
                }
                Fault::Partition {
                    share,
                    at_hour,
                    hours,
                } => {
                    let k = (share * streets.len() as f64).ceil() as usize;
                    for &child in streets.iter().take(k) {
                        self.schedule(hours_ms(*at_hour), Event::Cut { child, cut: true });
                        self.schedule(hours_ms(at_hour + hours), Event::Cut { child, cut: false });
                    }
                }
                Fault::StationsCut { at_hour, hours } => {
                    let stations = (0..self.nodes.len())
                        .filter(|&i| self.nodes[i].id.role == node::Role::Station);
                    for child in stations.collect::<Vec<_>>() {
                        self.schedule(hours_ms(*at_hour), Event::Cut { child, cut: true });
                        self.schedule(hours_ms(at_hour + hours), Event::Cut { child, cut: false });
                    }
                }
                Fault::Churn {
                    restarts_per_hour,
                    down_minutes_max,
                    lose_store,
                } => {
                    let communities: Vec<usize> = (0..self.nodes.len())
                        .filter(|&i| {
                            matches!(
                                self.nodes[i].id.role,
                                node::Role::Community | node::Role::Station
                            )
                        })
                        .collect();
                    let mut t = 0u64;
                    loop {
                        t += exp_ms(&mut self.rng, *restarts_per_hour);
                        if t >= until_ms {
                            break;
                        }
                        let node = communities[self.rng.random_range(0..communities.len())];
                        let down = self
                            .rng
                            .random_range(1..=(*down_minutes_max).max(1) * 60_000);
                        let store = if self.rng.random_bool(*lose_store) {
                            StoreFate::Lost
                        } else {
                            StoreFate::Kept
                        };
                        self.schedule(t, Event::Stop { node, store });
                        self.schedule(t + down, Event::Start { node });
                    }
                }
                Fault::Loss { .. } | Fault::Revoke { .. } | Fault::Reinstate { .. } => {}
            }
        }
    }

    /// The end of the last scheduled fault, in ms.
    pub fn faults_end_ms(&self) -> u64 {
        self.faults
            .iter()
            .map(|f| match f {
                Fault::StreetDown { at_hour, hours, .. }
                | Fault::Partition { at_hour, hours, .. }
                | Fault::StationsCut { at_hour, hours } => hours_ms(at_hour + hours),
                Fault::Loss { at_hour, hours, .. } => hours.map_or(0, |h| hours_ms(at_hour + h)),
                Fault::Revoke { at_hour, .. } | Fault::Reinstate { at_hour, .. } => {
                    hours_ms(*at_hour)
                }
                Fault::Churn { .. } => 0,
            })
            .max()
            .unwrap_or(0)
    }
}
