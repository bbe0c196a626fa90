//! The node's configuration file, `config.toml` in the data directory.
//! Flags override the file; the file overrides defaults.

use std::fs;
use std::path::{Path, PathBuf};

use crdt_model::{PlaceId, PlaceLevel};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The configuration could not be read, parsed or written.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// IO on the file failed.
    #[error("config {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this version.
    #[error("config {path} is not valid: {why}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's words.
        why: String,
    },
    /// The role and the place do not fit together.
    #[error("a {role} node sits at a place with {want} segment(s), but {place} has {got}")]
    RoleMismatch {
        /// The role.
        role: &'static str,
        /// The place.
        place: PlaceId,
        /// Segments expected.
        want: usize,
        /// Segments given.
        got: usize,
    },
}

/// What a node does in the federation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Root of a federation.
    District,
    /// Coordinates and relays for its communities.
    Street,
    /// Where riders report.
    Community,
}

impl Role {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::District => "district",
            Role::Street => "street",
            Role::Community => "community",
        }
    }

    /// The level of place a node of this role sits at.
    pub fn level(self) -> PlaceLevel {
        match self {
            Role::District => PlaceLevel::District,
            Role::Street => PlaceLevel::Street,
            Role::Community => PlaceLevel::Community,
        }
    }

    fn depth(self) -> usize {
        match self {
            Role::District => 1,
            Role::Street => 2,
            Role::Community => 3,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn default_duplicate_radius_m() -> f64 {
    50.0
}

fn default_true() -> bool {
    true
}

/// The contents of `config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// This node's role: district, street or community.
    pub role: Role,
    /// The place this node owns, such as `guandu/yiliu/xinyazhou`.
    pub place: PlaceId,
    /// A human name for the node, shown to operators.
    #[serde(default)]
    pub name: Option<String>,
    /// Multiaddrs to listen on when the node runs (port 0 picks a free port).
    #[serde(default)]
    pub listen: Vec<String>,
    /// Multiaddrs of peers to dial when the node runs.
    #[serde(default)]
    pub peers: Vec<String>,
    /// Discover peers on the LAN with mDNS.
    #[serde(default = "default_true")]
    pub mdns: bool,
    /// Dial admitted peers again, after either side restarts, at the
    /// addresses they announce (identify) and at which this node reached
    /// them. Turn off where peers announce addresses this node must not
    /// use, and list them under `peers` instead.
    #[serde(default = "default_true")]
    pub learn_addresses: bool,
    /// Open reports of the same category within this many metres are offered
    /// as "me too" candidates when a new report is submitted.
    #[serde(default = "default_duplicate_radius_m")]
    pub duplicate_radius_m: f64,
    /// For a district: the places (prefixes) whose reports it replicates in
    /// full. Empty means every place of the federation.
    #[serde(default)]
    pub replicate: Vec<PlaceId>,
    /// For a district: the places (prefixes) it follows only through their
    /// street's statistics summary, without replicating their reports.
    #[serde(default)]
    pub summaries: Vec<PlaceId>,
}

impl Config {
    /// A configuration with defaults for a node of `role` at `place`.
    pub fn new(role: Role, place: PlaceId, name: Option<String>) -> Result<Config, ConfigError> {
        let c = Config {
            role,
            place,
            name,
            listen: Vec::new(),
            peers: Vec::new(),
            mdns: true,
            learn_addresses: true,
            duplicate_radius_m: default_duplicate_radius_m(),
            replicate: Vec::new(),
            summaries: Vec::new(),
        };
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let got = self.place.depth();
        if got != self.role.depth() {
            return Err(ConfigError::RoleMismatch {
                role: self.role.as_str(),
                place: self.place.clone(),
                want: self.role.depth(),
                got,
            });
        }
        Ok(())
    }

    /// Reads and validates the file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let c: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            why: e.message().to_owned(),
        })?;
        c.validate()?;
        Ok(c)
    }

    /// Writes the file (durably: written to a temporary file, synced, renamed).
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let io = |source| ConfigError::Io {
            path: path.to_owned(),
            source,
        };
        let text = toml::to_string_pretty(self).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            why: e.to_string(),
        })?;
        let tmp = path.with_extension("toml.tmp");
        fs::write(&tmp, text).map_err(io)?;
        fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        fs::rename(&tmp, path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_must_match_place_depth() {
        let p = PlaceId::parse("guandu/yiliu").unwrap();
        assert!(Config::new(Role::Street, p.clone(), None).is_ok());
        assert!(matches!(
            Config::new(Role::Community, p, None),
            Err(ConfigError::RoleMismatch { .. })
        ));
    }

    #[test]
    fn file_round_trips_and_defaults_apply() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let c = Config::new(
            Role::Community,
            PlaceId::parse("guandu/yiliu/xinyazhou").unwrap(),
            None,
        )
        .unwrap();
        c.save(&path).unwrap();
        assert_eq!(Config::load(&path).unwrap(), c);
        fs::write(
            &path,
            "role = \"community\"\nplace = \"guandu/yiliu/xinyazhou\"\n",
        )
        .unwrap();
        let d = Config::load(&path).unwrap();
        assert!(d.mdns);
        assert_eq!(d.duplicate_radius_m, 50.0);
        fs::write(&path, "role = \"mayor\"\nplace = \"guandu\"\n").unwrap();
        assert!(matches!(
            Config::load(&path),
            Err(ConfigError::Parse { .. })
        ));
    }
}
