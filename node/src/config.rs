//! The node's configuration file, `config.toml` in the data directory.
//! Flags override the file; the file overrides defaults.

use std::fs;
use std::path::{Path, PathBuf};

use crdt_model::{Category, PlaceId, PlaceLevel};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Which rule of `config.toml` a value breaks: one variant per rule, so
/// each has a code and reads in the operator's language.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigRule {
    /// An alert command's timeout of zero.
    #[error("[alerts] timeout_s must be at least 1 second")]
    AlertTimeout,
    /// Too many retries of an alert.
    #[error("[alerts] retries = {retries} is more than {max}")]
    AlertRetries {
        /// The retries set.
        retries: u32,
        /// The most allowed.
        max: u32,
    },
    /// One of `[http] cert` and `key` without the other.
    #[error("[http] cert and key go together: set both or neither")]
    CertWithoutKey,
    /// `[http] plain` together with a certificate.
    #[error("[http] plain = true and a cert contradict each other: remove one")]
    PlainWithCert,
    /// `[escrow] return_on_reconnect` on a node that is not a station.
    #[error(
        "[escrow] return_on_reconnect is for station nodes, which hold points in escrow; this is a {role} node: remove it"
    )]
    ReturnOnReconnectOffStation {
        /// This node's role.
        role: &'static str,
    },
}

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
    /// The file names a key this version does not know.
    #[error(
        "config {path}: unknown key `{key}`; the keys config.toml may hold are: {}",
        KEYS.join(", ")
    )]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key, as written (`section.key` inside a table).
        key: String,
    },
    /// A value is out of its range.
    #[error("config: {0}")]
    Invalid(ConfigRule),
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
    /// `timezone` names no IANA zone.
    #[error("config: {0}")]
    Timezone(#[from] crate::timezone::UnknownZone),
}

/// Most runs of the alert command again for one alert that `retries` may ask.
pub const ALERT_RETRIES_MAX: u32 = 10;

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
    /// A community's station or caring merchant: at the community's place,
    /// admitted by its street, writing only escrow moves in the community's
    /// ledger (`docs/escrow.md`).
    Station,
}

impl Role {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::District => "district",
            Role::Street => "street",
            Role::Community => "community",
            Role::Station => "station",
        }
    }

    /// The level of place a node of this role sits at.
    pub fn level(self) -> PlaceLevel {
        match self {
            Role::District => PlaceLevel::District,
            Role::Street => PlaceLevel::Street,
            Role::Community | Role::Station => PlaceLevel::Community,
        }
    }

    fn depth(self) -> usize {
        match self {
            Role::District => 1,
            Role::Street => 2,
            Role::Community | Role::Station => 3,
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

/// Every key `config.toml` may hold, in the order `docs/configuration.md`
/// lists them. A key not here is refused when the file is read: a
/// misspelt key silently left at its default is worse than an error.
pub const KEYS: [&str; 15] = [
    "role",
    "place",
    "name",
    "listen",
    "peers",
    "mdns",
    "learn_addresses",
    "duplicate_radius_m",
    "timezone",
    "replicate",
    "summaries",
    "metrics",
    "alerts",
    "http",
    "escrow",
];

/// The contents of `config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// The IANA zone the office reads times in (`Asia/Shanghai`): CSV
    /// exports write times in it and take their days in it. Unset: `TZ`,
    /// else the system's zone, else `Asia/Shanghai` ([`crate::timezone`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// For a district: the places (prefixes) whose reports it replicates in
    /// full. Empty means every place of the federation.
    #[serde(default)]
    pub replicate: Vec<PlaceId>,
    /// For a district: the places (prefixes) it follows only through their
    /// street's statistics summary, without replicating their reports.
    #[serde(default)]
    pub summaries: Vec<PlaceId>,
    /// The metrics endpoint (`[metrics]`), off unless `listen` is set.
    #[serde(default, skip_serializing_if = "MetricsConfig::is_off")]
    pub metrics: MetricsConfig,
    /// The alert command (`[alerts]`), off unless `command` is set.
    #[serde(default, skip_serializing_if = "AlertsConfig::is_default")]
    pub alerts: AlertsConfig,
    /// The HTTP server for riders' phones and Open311 clients (`[http]`),
    /// off unless `listen` is set.
    #[serde(default, skip_serializing_if = "HttpConfig::is_default")]
    pub http: HttpConfig,
    /// What a station does with the points it holds in escrow (`[escrow]`);
    /// stations only.
    #[serde(default, skip_serializing_if = "EscrowConfig::is_default")]
    pub escrow: EscrowConfig,
}

/// `[escrow]` in `config.toml`: a station's escrow (`docs/escrow.md`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscrowConfig {
    /// After being cut off from its community, return what it held then
    /// once the community's ledger is in step again. Off by default: a
    /// station on a flaky link would hand back its allowance at every blip
    /// and hold nothing when the next cut comes, which is when it needs it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub return_on_reconnect: bool,
}

impl EscrowConfig {
    /// Nothing set: the file then needs no `[escrow]` table.
    pub fn is_default(&self) -> bool {
        *self == EscrowConfig::default()
    }
}

/// `[http]` in `config.toml`: the HTTP server ([`crate::http`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Serve on this address, such as `0.0.0.0:8443`; unset: no server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// The TLS certificate chain, PEM (relative paths are read from the
    /// data directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// The certificate's private key, PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// Serve plain HTTP without TLS. Only for loopback trials and behind a
    /// TLS proxy: phone browsers give location and camera to secure pages
    /// only, and codes would cross the network in the clear.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub plain: bool,
    /// The address riders' phones reach this server at, such as
    /// `https://yizhan.example.cn:8443`: the sign-in link in their QR codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
}

impl HttpConfig {
    /// Nothing set: the file then needs no `[http]` table.
    pub fn is_default(&self) -> bool {
        *self == HttpConfig::default()
    }
}

/// `[metrics]` in `config.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve Prometheus metrics at `/metrics` and a health check at
    /// `/healthz` on this address, such as `127.0.0.1:9464`. Bind it to
    /// loopback or a monitoring network: the endpoint has no access control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
}

impl MetricsConfig {
    /// No endpoint: the file then needs no `[metrics]` table.
    pub fn is_off(&self) -> bool {
        self.listen.is_none()
    }
}

fn default_urgent() -> Vec<Category> {
    vec![
        Category::ElectricalFire,
        Category::ChildSafety,
        Category::LostPerson,
        Category::FireLaneBlocked,
    ]
}

fn default_alert_timeout_s() -> u64 {
    30
}

fn default_alert_retries() -> u32 {
    3
}

/// `[alerts]` in `config.toml`: a command the node runs for each urgent
/// or overdue case, with the case as JSON on its standard input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// The program and its arguments, run without a shell (write
    /// `["sh", "-c", "..."]` for one). Empty: no command runs, though
    /// `yizhan watch` still shows urgent and overdue cases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Categories whose new reports alert at once.
    #[serde(default = "default_urgent")]
    pub urgent: Vec<Category>,
    /// A command still running after this many seconds is killed, and
    /// counts as failed.
    #[serde(default = "default_alert_timeout_s")]
    pub timeout_s: u64,
    /// How many times a failed command is run again for the same alert.
    #[serde(default = "default_alert_retries")]
    pub retries: u32,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            command: Vec::new(),
            urgent: default_urgent(),
            timeout_s: default_alert_timeout_s(),
            retries: default_alert_retries(),
        }
    }
}

impl AlertsConfig {
    /// Every setting at its default: the file then needs no `[alerts]` table.
    pub fn is_default(&self) -> bool {
        *self == AlertsConfig::default()
    }
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
            timezone: None,
            replicate: Vec::new(),
            summaries: Vec::new(),
            metrics: MetricsConfig::default(),
            alerts: AlertsConfig::default(),
            http: HttpConfig::default(),
            escrow: EscrowConfig::default(),
        };
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.alerts.timeout_s == 0 {
            return Err(ConfigError::Invalid(ConfigRule::AlertTimeout));
        }
        if self.alerts.retries > ALERT_RETRIES_MAX {
            return Err(ConfigError::Invalid(ConfigRule::AlertRetries {
                retries: self.alerts.retries,
                max: ALERT_RETRIES_MAX,
            }));
        }
        if self.http.cert.is_some() != self.http.key.is_some() {
            return Err(ConfigError::Invalid(ConfigRule::CertWithoutKey));
        }
        if self.http.plain && self.http.cert.is_some() {
            return Err(ConfigError::Invalid(ConfigRule::PlainWithCert));
        }
        if self.escrow.return_on_reconnect && self.role != Role::Station {
            return Err(ConfigError::Invalid(
                ConfigRule::ReturnOnReconnectOffStation {
                    role: self.role.as_str(),
                },
            ));
        }
        let got = self.place.depth();
        if got != self.role.depth() {
            return Err(ConfigError::RoleMismatch {
                role: self.role.as_str(),
                place: self.place.clone(),
                want: self.role.depth(),
                got,
            });
        }
        if let Some(name) = &self.timezone {
            crate::timezone::parse(name)?;
        }
        Ok(())
    }

    /// The zone in force: `timezone`, else `TZ`, else the system's, else
    /// `Asia/Shanghai`.
    pub fn zone(&self) -> Result<crate::timezone::NodeZone, ConfigError> {
        Ok(crate::timezone::resolve(self.timezone.as_deref())?)
    }

    /// Reads and validates the file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with_keys(path).map(|(c, _)| c)
    }

    /// Reads and validates the file, and returns with it the keys the file
    /// sets (the others hold their defaults). Refuses a key not in [`KEYS`],
    /// naming it and listing the valid ones.
    pub fn load_with_keys(path: &Path) -> Result<(Config, Vec<String>), ConfigError> {
        let text = fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let parse = |e: toml::de::Error| ConfigError::Parse {
            path: path.to_owned(),
            why: e.message().to_owned(),
        };
        // Keys first, on the bare table: serde's own refusal of an unknown
        // field names it but not what would have been right.
        let table: toml::Table = toml::from_str(&text).map_err(parse)?;
        let mut keys = Vec::new();
        for (key, value) in &table {
            if !KEYS.contains(&key.as_str()) {
                let key = match value.as_table().and_then(|t| t.keys().next()) {
                    Some(inner) => format!("{key}.{inner}"),
                    None => key.clone(),
                };
                return Err(ConfigError::UnknownKey {
                    path: path.to_owned(),
                    key,
                });
            }
            keys.push(key.clone());
        }
        let c: Config = toml::from_str(&text).map_err(parse)?;
        c.validate()?;
        Ok((c, keys))
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

    #[test]
    fn a_timezone_must_be_an_iana_zone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let head = "role = \"district\"\nplace = \"guandu\"\n";
        fs::write(&path, format!("{head}timezone = \"Asia/Shanghai\"\n")).unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(c.zone().unwrap().tz, chrono_tz::Asia::Shanghai);
        fs::write(&path, format!("{head}timezone = \"Beijing\"\n")).unwrap();
        let err = Config::load(&path).unwrap_err();
        assert!(matches!(err, ConfigError::Timezone(_)), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused_naming_the_valid_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(
            &path,
            "role = \"district\"\nplace = \"guandu\"\nmnds = false\n",
        )
        .unwrap();
        let err = Config::load(&path).unwrap_err();
        assert!(
            matches!(&err, ConfigError::UnknownKey { key, .. } if key == "mnds"),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains("unknown key `mnds`"), "{msg}");
        for key in KEYS {
            assert!(msg.contains(key), "{msg} should list {key}");
        }
        fs::write(&path, "role = \"district\"\nplace = \"guandu\"\n").unwrap();
        let (_, mut keys) = Config::load_with_keys(&path).unwrap();
        keys.sort_unstable();
        assert_eq!(keys, ["place", "role"]);
    }

    #[test]
    fn return_on_reconnect_is_refused_off_a_station() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let table = "[escrow]\nreturn_on_reconnect = true\n";
        let place = "place = \"guandu/yiliu/xinyazhou\"\n";
        fs::write(&path, format!("role = \"station\"\n{place}{table}")).unwrap();
        assert!(Config::load(&path).unwrap().escrow.return_on_reconnect);
        fs::write(&path, format!("role = \"community\"\n{place}{table}")).unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("return_on_reconnect is for station nodes") && err.contains("community"),
            "{err}"
        );
        fs::write(&path, format!("role = \"station\"\n{place}")).unwrap();
        assert!(!Config::load(&path).unwrap().escrow.return_on_reconnect);
    }

    #[test]
    fn every_field_is_a_known_key_and_documented() {
        let mut c = Config::new(Role::District, PlaceId::parse("guandu").unwrap(), None).unwrap();
        c.name = Some("官渡区".into());
        c.metrics.listen = Some("127.0.0.1:9464".into());
        c.timezone = Some("Asia/Shanghai".into());
        c.alerts.command = vec!["sh".into(), "-c".into(), "cat >> alerts.jsonl".into()];
        c.http.listen = Some("0.0.0.0:8443".into());
        // Valid on a station only, so set past `new`'s check.
        c.escrow.return_on_reconnect = true;
        let table: toml::Table = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
        let mut fields: Vec<&str> = table.keys().map(String::as_str).collect();
        let mut known = KEYS.to_vec();
        fields.sort_unstable();
        known.sort_unstable();
        assert_eq!(fields, known, "KEYS must list every field of Config");
        let doc = include_str!("../../docs/configuration.md");
        for key in KEYS {
            assert!(
                doc.contains(&format!("| `{key}` |")),
                "docs/configuration.md has no row for `{key}`"
            );
        }
    }
}
