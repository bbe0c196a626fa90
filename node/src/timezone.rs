//! The node's time zone: the one its office reads times in. Documents store
//! UTC (replicas in other zones must agree on every instant); this zone only
//! decides how exports and day filters present them, so a report at 23:30 in
//! Kunming on 30 November counts in November there, not in December.
//!
//! Where it comes from, first that answers: `timezone` in `config.toml`; the
//! `TZ` environment variable when it names an IANA zone; the system's
//! `/etc/localtime`; else `Asia/Shanghai`, the zone of every node this
//! software is written for. Zone rules come from `chrono-tz` (the IANA
//! database compiled in), so a machine without tzdata still gets them right.

use chrono_tz::Tz;
use serde::Serialize;
use thiserror::Error;

/// The zone used when neither the config, `TZ` nor the system names one.
pub const FALLBACK_ZONE: &str = "Asia/Shanghai";

/// A zone name that is not in the IANA database.
#[derive(Debug, Error)]
#[error(
    "time zone {name:?} is not an IANA zone name; write it as Region/City, such as \"Asia/Shanghai\""
)]
pub struct UnknownZone {
    /// The name as given.
    pub name: String,
}

/// Where the zone in force came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneSource {
    /// `timezone` in `config.toml`.
    File,
    /// The `TZ` environment variable.
    Environment,
    /// The system's `/etc/localtime` (or `/etc/timezone`).
    System,
    /// None of them: [`FALLBACK_ZONE`].
    Default,
}

/// The zone in force and its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeZone {
    /// The zone.
    pub tz: Tz,
    /// Where it came from.
    pub source: ZoneSource,
}

/// Parses an IANA zone name such as `Asia/Shanghai`.
pub fn parse(name: &str) -> Result<Tz, UnknownZone> {
    name.trim().parse::<Tz>().map_err(|_| UnknownZone {
        name: name.to_owned(),
    })
}

/// The zone in force for a node whose config sets `configured`, looking at
/// this process's `TZ` and the system's zone when it sets none.
pub fn resolve(configured: Option<&str>) -> Result<NodeZone, UnknownZone> {
    resolve_from(
        configured,
        std::env::var("TZ").ok().as_deref(),
        iana_time_zone::get_timezone().ok().as_deref(),
    )
}

/// [`resolve`] with the environment and the system's answer passed in.
/// A configured name must parse: an operator who wrote it wants to hear it is
/// wrong. `TZ` may hold POSIX rules (`CST-8`) rather than a name; those are
/// passed over, as is a system answer this database does not know.
pub fn resolve_from(
    configured: Option<&str>,
    tz_env: Option<&str>,
    system: Option<&str>,
) -> Result<NodeZone, UnknownZone> {
    if let Some(name) = configured {
        return Ok(NodeZone {
            tz: parse(name)?,
            source: ZoneSource::File,
        });
    }
    // glibc accepts `TZ=:Asia/Shanghai` as well as the bare name.
    let from_env = tz_env
        .map(|v| v.strip_prefix(':').unwrap_or(v))
        .filter(|v| !v.is_empty())
        .and_then(|v| parse(v).ok());
    if let Some(tz) = from_env {
        return Ok(NodeZone {
            tz,
            source: ZoneSource::Environment,
        });
    }
    if let Some(tz) = system.and_then(|s| parse(s).ok()) {
        return Ok(NodeZone {
            tz,
            source: ZoneSource::System,
        });
    }
    Ok(NodeZone {
        tz: chrono_tz::Asia::Shanghai,
        source: ZoneSource::Default,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_wins_and_must_be_a_zone() {
        let z = resolve_from(Some("Asia/Urumqi"), Some("Europe/Berlin"), Some("UTC")).unwrap();
        assert_eq!(
            (z.tz, z.source),
            (chrono_tz::Asia::Urumqi, ZoneSource::File)
        );
        let err = resolve_from(Some("Beijing"), None, None).unwrap_err();
        assert!(err.to_string().contains("\"Beijing\""), "{err}");
    }

    #[test]
    fn environment_then_system_then_shanghai() {
        let z = resolve_from(None, Some(":Europe/Berlin"), Some("UTC")).unwrap();
        assert_eq!(
            (z.tz, z.source),
            (chrono_tz::Europe::Berlin, ZoneSource::Environment)
        );
        // POSIX rules in TZ are passed over for the system's zone.
        let z = resolve_from(None, Some("CST-8"), Some("Asia/Harbin")).unwrap();
        assert_eq!(
            (z.tz, z.source),
            (chrono_tz::Asia::Harbin, ZoneSource::System)
        );
        let z = resolve_from(None, Some(""), Some("not/a-zone")).unwrap();
        assert_eq!(
            (z.tz, z.source),
            (chrono_tz::Asia::Shanghai, ZoneSource::Default)
        );
    }
}
