//! Scenario files: the federation's shape, what its people do per simulated
//! hour, the network's quality and the faults to inject, all in TOML.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// One scenario, as read from `simulations/scenarios/*.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Shown in the output.
    pub name: String,
    /// Wall-clock time at simulated millisecond zero (stamps changes,
    /// reports, ledger entries and credential checks).
    #[serde(default = "default_start")]
    pub start: DateTime<Utc>,
    /// Simulated hours during which the workload runs and faults happen.
    pub hours: u64,
    /// How long after the last write or fault the federation may take to
    /// go quiet before the run stops and the invariants are checked anyway.
    #[serde(default = "default_settle_hours_max")]
    pub settle_hours_max: u64,
    /// Every node snapshots its store this often; a node that loses its
    /// store comes back from its latest snapshot.
    #[serde(default = "default_backup_every_hours")]
    pub backup_every_hours: u64,
    /// Places and people.
    pub topology: Topology,
    /// What happens per simulated hour.
    #[serde(default)]
    pub workload: Workload,
    /// Link quality outside faults.
    #[serde(default)]
    pub network: Network,
    /// Faults, in any order.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Admissions that lapse during the run (none lapse otherwise).
    #[serde(default)]
    pub expiries: Vec<Expiry>,
}

/// A street or a community named in a scenario, by 1-based number (as
/// placed: street `s02` is 2, community `c05` is 5). Exactly one is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeRef {
    /// A street, 1-based.
    pub street: Option<usize>,
    /// A community, 1-based.
    pub community: Option<usize>,
}

impl NodeRef {
    /// The node's index in the federation as [`crate::federation::build`]
    /// lays it out (district, streets, communities), or why there is none.
    pub fn index(&self, t: &Topology) -> Result<usize, String> {
        self.index_among(t.streets, t.communities)
    }

    /// [`NodeRef::index`] in a federation of `streets` and `communities`.
    pub fn index_among(&self, streets: usize, communities: usize) -> Result<usize, String> {
        match (self.street, self.community) {
            (Some(s), None) if (1..=streets).contains(&s) => Ok(s),
            (None, Some(c)) if (1..=communities).contains(&c) => Ok(streets + c),
            (Some(s), None) => Err(format!("street {s} does not exist")),
            (None, Some(c)) => Err(format!("community {c} does not exist")),
            _ => Err("name exactly one of street or community".into()),
        }
    }

    /// The index of the node's parent, in a federation of `streets` and
    /// `communities`: the district for a street, its street for a community.
    pub fn parent_index_among(&self, streets: usize, communities: usize) -> Result<usize, String> {
        self.index_among(streets, communities)?;
        // Communities are dealt to the streets in turn.
        Ok(self.community.map_or(0, |c| 1 + (c - 1) % streets))
    }
}

/// An admission that lapses at a simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expiry {
    /// The street whose admission lapses (1-based).
    pub street: Option<usize>,
    /// The community whose admission lapses (1-based).
    pub community: Option<usize>,
    /// When, in simulated hours (after 0: a node must be valid at the start).
    pub at_hour: f64,
}

impl Expiry {
    /// The node it names.
    pub fn node(&self) -> NodeRef {
        NodeRef {
            street: self.street,
            community: self.community,
        }
    }
}

/// Who issues a revocation or reinstatement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Issuer {
    /// The district (the federation's root): may revoke any street or community.
    District,
    /// The target community's street (its admitter).
    Street,
}

/// The federation tree: one district, its streets, their communities.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// The district's slug.
    #[serde(default = "default_district")]
    pub district: String,
    /// Number of streets under the district.
    pub streets: usize,
    /// Number of communities, dealt to the streets in turn.
    pub communities: usize,
    /// Grids, dealt to the communities in turn.
    #[serde(default = "default_grids")]
    pub grids: usize,
    /// Riders on the rosters, dealt to the communities in turn.
    #[serde(default = "default_riders")]
    pub riders: usize,
    /// Station nodes, dealt to the communities in turn; each redeems from
    /// the escrow its community grants it (`docs/escrow.md`).
    #[serde(default)]
    pub stations: usize,
}

/// What the federation's people do, in events per simulated hour across the
/// whole federation (each event picks a community at random).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Workload {
    /// New reports submitted.
    pub reports_per_hour: f64,
    /// Lifecycle steps on open reports (verify, escalate, dispatch, handle,
    /// close, void) taken by communities.
    pub steps_per_hour: f64,
    /// Tasks posted or claimed.
    pub tasks_per_hour: f64,
    /// Points credited or redeemed.
    pub points_per_hour: f64,
    /// Escrow acts across all stations: grants by their communities,
    /// redemptions and returns by the stations. Zero without stations.
    pub escrow_per_hour: f64,
    /// Times per hour each street looks for escalated cases and accepts them.
    pub street_rounds_per_hour: f64,
}

impl Default for Workload {
    fn default() -> Workload {
        Workload {
            reports_per_hour: 20.0,
            steps_per_hour: 30.0,
            tasks_per_hour: 4.0,
            points_per_hour: 10.0,
            escrow_per_hour: 0.0,
            street_rounds_per_hour: 2.0,
        }
    }
}

/// Link quality that applies when no fault says otherwise.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Network {
    /// Least one-way latency, ms.
    pub latency_ms_min: u64,
    /// Most one-way latency, ms; messages drawn across the range reorder.
    pub latency_ms_max: u64,
    /// Share of messages lost.
    pub loss: f64,
    /// Share of messages delivered twice.
    pub duplicate: f64,
}

impl Default for Network {
    fn default() -> Network {
        Network {
            latency_ms_min: 5,
            latency_ms_max: 150,
            loss: 0.01,
            duplicate: 0.01,
        }
    }
}

/// Which links a loss fault degrades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkLevel {
    /// Community–street links.
    Community,
    /// Street–district links.
    Street,
}

/// What happens to a restarted node's store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreFate {
    /// The store survives the restart.
    #[default]
    Kept,
    /// The store is lost and restored from the latest backup snapshot.
    Lost,
}

/// One fault.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Street number `street` (1-based) is down from `at_hour` for `hours`.
    StreetDown {
        /// Which street, 1-based.
        street: usize,
        /// Start, in simulated hours.
        at_hour: f64,
        /// Length, in hours.
        hours: f64,
        /// Whether its store survives.
        #[serde(default)]
        store: StoreFate,
    },
    /// Extra loss on every link of `links` from `at_hour` for `hours`
    /// (whole run when left out).
    Loss {
        /// Which links.
        links: LinkLevel,
        /// Share of messages lost, replacing the network's.
        loss: f64,
        /// Start, in simulated hours.
        #[serde(default)]
        at_hour: f64,
        /// Length, in hours; the whole run when absent.
        hours: Option<f64>,
    },
    /// The links from the district to the first `share` of the streets
    /// are cut from `at_hour` for `hours`.
    Partition {
        /// Share of the streets cut off, rounded up.
        share: f64,
        /// Start, in simulated hours.
        at_hour: f64,
        /// Length, in hours.
        hours: f64,
    },
    /// Every station's link to its community is cut from `at_hour` for
    /// `hours`: stations redeem from their escrow alone meanwhile.
    StationsCut {
        /// Start, in simulated hours.
        at_hour: f64,
        /// Length, in hours.
        hours: f64,
    },
    /// Communities restart at random: `restarts_per_hour` across all of
    /// them, each down for up to `down_minutes_max`; a share
    /// `lose_store` of the restarts lose the store.
    Churn {
        /// Restarts per hour across all communities.
        restarts_per_hour: f64,
        /// Longest time a restarted community stays down.
        down_minutes_max: u64,
        /// Share of restarts that lose the store.
        #[serde(default)]
        lose_store: f64,
    },
    /// `by` revokes a street or a community at `at_hour`, writing the
    /// revocation into its charter with the heads it holds of what the
    /// target may have written (as `yizhan revoke` does). An issuer that is
    /// down or restoring a backup then revokes once it can write.
    Revoke {
        /// The street revoked (1-based).
        street: Option<usize>,
        /// The community revoked (1-based).
        community: Option<usize>,
        /// Who revokes.
        by: Issuer,
        /// When, in simulated hours.
        at_hour: f64,
    },
    /// `by` reinstates a node it revoked earlier (as `yizhan reinstate`).
    Reinstate {
        /// The street reinstated (1-based).
        street: Option<usize>,
        /// The community reinstated (1-based).
        community: Option<usize>,
        /// Who reinstates: the issuer of the revocation.
        by: Issuer,
        /// When, in simulated hours.
        at_hour: f64,
    },
}

impl Fault {
    /// For a revocation or reinstatement: its target, issuer and hour.
    pub fn trust_act(&self) -> Option<(NodeRef, Issuer, f64)> {
        match self {
            Fault::Revoke {
                street,
                community,
                by,
                at_hour,
            }
            | Fault::Reinstate {
                street,
                community,
                by,
                at_hour,
            } => Some((
                NodeRef {
                    street: *street,
                    community: *community,
                },
                *by,
                *at_hour,
            )),
            _ => None,
        }
    }
}

fn default_start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T06:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn default_settle_hours_max() -> u64 {
    6
}

fn default_backup_every_hours() -> u64 {
    6
}

fn default_district() -> String {
    "guandu".into()
}

fn default_grids() -> usize {
    80
}

fn default_riders() -> usize {
    187
}

/// Why a scenario could not be loaded.
#[derive(Debug)]
pub enum ScenarioError {
    /// The file could not be read.
    Read(std::io::Error),
    /// The TOML does not describe a scenario.
    Parse(toml::de::Error),
    /// The scenario describes something impossible.
    Invalid(String),
}

impl std::fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScenarioError::Read(e) => write!(f, "cannot read the scenario: {e}"),
            ScenarioError::Parse(e) => write!(f, "the scenario is not valid TOML: {e}"),
            ScenarioError::Invalid(why) => write!(f, "the scenario is invalid: {why}"),
        }
    }
}

impl std::error::Error for ScenarioError {}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(ScenarioError::Read)?;
        Scenario::parse(&text)
    }

    /// Parses and validates a scenario.
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let s: Scenario = toml::from_str(text).map_err(ScenarioError::Parse)?;
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> Result<(), ScenarioError> {
        let bad = |why: String| Err(ScenarioError::Invalid(why));
        let t = &self.topology;
        if t.streets == 0 || t.communities < t.streets {
            return bad(format!(
                "{} streets and {} communities: every street needs a community",
                t.streets, t.communities
            ));
        }
        if t.grids < t.communities {
            return bad("every community needs a grid".into());
        }
        if self.network.latency_ms_min > self.network.latency_ms_max {
            return bad("latency_ms_min exceeds latency_ms_max".into());
        }
        let share = |x: f64| (0.0..=1.0).contains(&x);
        if !share(self.network.loss) || !share(self.network.duplicate) {
            return bad("loss and duplicate are shares between 0 and 1".into());
        }
        for f in &self.faults {
            match f {
                Fault::StreetDown { street, .. } if *street == 0 || *street > t.streets => {
                    return bad(format!("street {street} does not exist"));
                }
                Fault::Loss { loss, .. } if !share(*loss) || *loss >= 1.0 => {
                    return bad(format!("loss {loss} must be below 1"));
                }
                Fault::Partition { share: s, .. } if !share(*s) => {
                    return bad(format!("partition share {s} is not between 0 and 1"));
                }
                Fault::Churn { lose_store, .. } if !share(*lose_store) => {
                    return bad(format!("lose_store {lose_store} is not between 0 and 1"));
                }
                _ => {}
            }
            let Some((target, by, at)) = f.trust_act() else {
                continue;
            };
            target.index(t).map_err(ScenarioError::Invalid)?;
            if by == Issuer::Street && target.community.is_none() {
                return bad("a street may revoke or reinstate only its communities".into());
            }
            if at < 0.0 {
                return bad(format!("a revocation or reinstatement at hour {at}"));
            }
            // Only the issuer of a revocation reinstates here (the root could
            // undo a street's, but no scenario needs it).
            let revoked_before = self.faults.iter().any(|g| {
                matches!(g, Fault::Revoke { .. })
                    && g.trust_act()
                        .is_some_and(|(t2, b2, at2)| t2 == target && b2 == by && at2 < at)
            });
            if matches!(f, Fault::Reinstate { .. }) && !revoked_before {
                let who = match by {
                    Issuer::District => "the district",
                    Issuer::Street => "the street",
                };
                return bad(format!(
                    "reinstatement at hour {at}: {who} did not revoke that node before"
                ));
            }
        }
        for e in &self.expiries {
            e.node().index(t).map_err(ScenarioError::Invalid)?;
            if e.at_hour <= 0.0 {
                return bad(format!(
                    "an admission lapsing at hour {}: nodes must be admitted at the start",
                    e.at_hour
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_scenario_takes_defaults() {
        let s = Scenario::parse(
            "name = \"tiny\"\nhours = 1\n[topology]\nstreets = 1\ncommunities = 2\ngrids = 2\nriders = 4\n",
        )
        .unwrap();
        assert_eq!(s.topology.district, "guandu");
        assert_eq!(s.workload.reports_per_hour, 20.0);
        assert!(s.faults.is_empty());
    }

    #[test]
    fn a_fault_on_a_missing_street_is_refused() {
        let e = Scenario::parse(
            "name = \"x\"\nhours = 1\n[topology]\nstreets = 1\ncommunities = 1\ngrids = 1\n\
             [[faults]]\nkind = \"street_down\"\nstreet = 2\nat_hour = 0\nhours = 1\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("street 2"), "{e}");
    }

    const TWO_STREETS: &str =
        "name = \"x\"\nhours = 4\n[topology]\nstreets = 2\ncommunities = 4\ngrids = 4\n";

    #[test]
    fn revocations_reinstatements_and_expiries_name_their_nodes() {
        let s = Scenario::parse(&format!(
            "{TWO_STREETS}\
             [[faults]]\nkind = \"revoke\"\ncommunity = 3\nby = \"street\"\nat_hour = 1\n\
             [[faults]]\nkind = \"reinstate\"\ncommunity = 3\nby = \"street\"\nat_hour = 2\n\
             [[expiries]]\nstreet = 2\nat_hour = 3\n"
        ))
        .unwrap();
        let (target, by, at) = s.faults[0].trust_act().unwrap();
        // Community 3 is dealt to street 1: index 2 + 3, its street index 1.
        assert_eq!(target.index(&s.topology), Ok(5));
        assert_eq!(target.parent_index_among(2, 4), Ok(1));
        assert_eq!((by, at), (Issuer::Street, 1.0));
        assert_eq!(s.expiries[0].node().index(&s.topology), Ok(2));
    }

    #[test]
    fn trust_faults_out_of_scope_or_out_of_order_are_refused() {
        let cases = [
            (
                "[[faults]]\nkind = \"revoke\"\nstreet = 1\nby = \"street\"\nat_hour = 1\n",
                "only its communities",
            ),
            (
                "[[faults]]\nkind = \"reinstate\"\ncommunity = 1\nby = \"district\"\nat_hour = 1\n",
                "did not revoke that node before",
            ),
            (
                "[[faults]]\nkind = \"revoke\"\ncommunity = 9\nby = \"district\"\nat_hour = 1\n",
                "community 9",
            ),
            (
                "[[faults]]\nkind = \"revoke\"\nstreet = 1\ncommunity = 1\nby = \"district\"\nat_hour = 1\n",
                "exactly one",
            ),
            (
                "[[expiries]]\ncommunity = 1\nat_hour = 0\n",
                "admitted at the start",
            ),
        ];
        for (fault, why) in cases {
            let e = Scenario::parse(&format!("{TWO_STREETS}{fault}")).unwrap_err();
            assert!(e.to_string().contains(why), "{fault}: {e}");
        }
    }
}
