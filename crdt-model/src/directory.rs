//! The directory: service stations (暖新驿站: warmth, cooling, water, rest,
//! first aid, charging) and caring merchants with the rewards they offer.
//!
//! Layout: `station/<id>` holding `name, lat, lon, address?, opens, closes,
//! services: {service: true}, maintenance: {<at ms>-<n>: {at, note, by}}`, and
//! `merchant/<id>` holding `name, address?, rewards: {<item>: points}`.

use std::collections::BTreeMap;

use automerge::{ReadDoc, transaction::Transactable};
use chrono::{DateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, SchemaError, ValidationError};
use crate::geo::LatLon;
use crate::ids::{MerchantId, StationId};
use crate::report::{check_line, check_text};
use crate::schema::{MapRef, MapWriter, child_map, entity_ids, entity_obj, has_entity};

named!(
    /// What a station offers.
    Service {
        /// Somewhere warm in winter.
        Warmth => "warmth",
        /// Somewhere cool in summer.
        Cooling => "cooling",
        /// Drinking water.
        Water => "water",
        /// A seat and a rest.
        Rest => "rest",
        /// A first-aid kit.
        FirstAid => "first_aid",
        /// Phone and e-bike charging.
        Charging => "charging",
        /// Meals.
        Meals => "meals",
        /// A toilet.
        Toilet => "toilet",
    }
);

/// A service station.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Station {
    /// Its id.
    pub id: StationId,
    /// Its name.
    pub name: String,
    /// Where it is.
    pub point: LatLon,
    /// Street address.
    pub address: Option<String>,
    /// Opening time, local.
    pub opens: NaiveTime,
    /// Closing time, local.
    pub closes: NaiveTime,
    /// What it offers.
    pub services: Vec<Service>,
    /// Maintenance log, oldest first.
    pub maintenance: Vec<Maintenance>,
}

/// One maintenance visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maintenance {
    /// When.
    pub at: DateTime<Utc>,
    /// What was done.
    pub note: String,
    /// The recording node.
    pub by: String,
}

/// A caring merchant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Merchant {
    /// Its id.
    pub id: MerchantId,
    /// Its name.
    pub name: String,
    /// Street address.
    pub address: Option<String>,
    /// Rewards offered, item → price in points.
    pub rewards: BTreeMap<String, i64>,
}

fn station_key(id: &StationId) -> String {
    format!("station/{id}")
}

fn merchant_key(id: &MerchantId) -> String {
    format!("merchant/{id}")
}

/// Parses opening hours written `08:00-21:00` (or with an en dash).
pub fn parse_hours(s: &str) -> Result<(NaiveTime, NaiveTime), ValidationError> {
    let bad = || {
        ValidationError::BadTime(crate::TimeRule::OpeningHours {
            hours: s.to_owned(),
        })
    };
    let (a, b) = s
        .split_once('-')
        .or_else(|| s.split_once('–'))
        .ok_or_else(bad)?;
    let t = |x: &str| NaiveTime::parse_from_str(x.trim(), "%H:%M").map_err(|_| bad());
    let (opens, closes) = (t(a)?, t(b)?);
    if opens == closes {
        return Err(bad());
    }
    Ok((opens, closes))
}

/// Adds a station.
pub fn add_station<T: Transactable + ReadDoc>(doc: &mut T, s: &Station) -> Result<(), ModelError> {
    check_line("station name", &s.name, 100, false)?;
    LatLon::new(s.point.lat, s.point.lon)?;
    if let Some(a) = &s.address {
        check_line("address", a, 200, false)?;
    }
    let k = station_key(&s.id);
    if has_entity(doc, &k) {
        return Err(ValidationError::DuplicateEntity {
            what: "station",
            id: s.id.to_string(),
        }
        .into());
    }
    let mut w = MapWriter::create_entity(doc, &k)?;
    w.str("name", &s.name)?
        .f64("lat", s.point.lat)?
        .f64("lon", s.point.lon)?
        .opt_str("address", s.address.as_deref())?
        .str("opens", &s.opens.format("%H:%M").to_string())?
        .str("closes", &s.closes.format("%H:%M").to_string())?
        .set("services", s.services.iter().map(|x| x.as_str()))?;
    w.map("maintenance")?;
    Ok(())
}

/// Logs a maintenance visit to a station.
pub fn log_maintenance<T: Transactable + ReadDoc>(
    doc: &mut T,
    id: &StationId,
    m: &Maintenance,
) -> Result<(), ModelError> {
    check_text("maintenance note", &m.note, 500, false)?;
    let station = list_stations(doc)?
        .into_iter()
        .find(|s| &s.id == id)
        .ok_or_else(|| ValidationError::UnknownEntity {
            what: "station",
            id: id.to_string(),
        })?;
    let obj = entity_obj(doc, &station_key(id))?.ok_or_else(|| SchemaError {
        path: station_key(id),
        why: "vanished".into(),
    })?;
    let log = match child_map(doc, &obj, "maintenance", &station_key(id))? {
        Some(l) => l,
        None => MapWriter::open(doc, obj).map("maintenance")?,
    };
    let slot = format!("{}-{}", m.at.timestamp_millis(), station.maintenance.len());
    let e = MapWriter::open(doc, log).map(&slot)?;
    MapWriter::open(doc, e)
        .time("at", m.at)?
        .str("note", &m.note)?
        .str("by", &m.by)?;
    Ok(())
}

/// Every station, in id order.
pub fn list_stations<D: ReadDoc>(doc: &D) -> Result<Vec<Station>, SchemaError> {
    let mut out = Vec::new();
    for raw in entity_ids(doc, "station") {
        let path = format!("station/{raw}");
        let Some(m) = MapRef::entity(doc, &path)? else {
            continue;
        };
        let time = |k: &str| m.parsed(k, |s| NaiveTime::parse_from_str(s, "%H:%M").ok());
        let mut services = Vec::new();
        for s in m.set("services")? {
            services.push(Service::from_name(&s).ok_or_else(|| SchemaError {
                path: format!("{path}/services/{s}"),
                why: "unknown service".into(),
            })?);
        }
        services.sort();
        let mut maintenance = Vec::new();
        if let Some(log) = m.opt_map("maintenance")? {
            for k in log.keys() {
                let e = log.map(&k)?;
                maintenance.push(Maintenance {
                    at: e.time("at")?,
                    note: e.str("note")?,
                    by: e.str("by")?,
                });
            }
        }
        maintenance.sort_by(|a, b| (a.at, &a.note).cmp(&(b.at, &b.note)));
        let point = LatLon::new(m.f64("lat")?, m.f64("lon")?).map_err(|e| SchemaError {
            path: path.clone(),
            why: e.to_string(),
        })?;
        out.push(Station {
            id: StationId::parse(&raw).map_err(|e| SchemaError {
                path: path.clone(),
                why: e.to_string(),
            })?,
            name: m.str("name")?,
            point,
            address: m.opt_str("address")?,
            opens: time("opens")?,
            closes: time("closes")?,
            services,
            maintenance,
        });
    }
    Ok(out)
}

/// Adds a merchant with the rewards it offers.
pub fn add_merchant<T: Transactable + ReadDoc>(
    doc: &mut T,
    m: &Merchant,
) -> Result<(), ModelError> {
    check_line("merchant name", &m.name, 100, false)?;
    if let Some(a) = &m.address {
        check_line("address", a, 200, false)?;
    }
    for (item, price) in &m.rewards {
        check_line("reward item", item, 100, false)?;
        if *price <= 0 {
            return Err(ValidationError::NonPositiveAmount(*price).into());
        }
    }
    let k = merchant_key(&m.id);
    if has_entity(doc, &k) {
        return Err(ValidationError::DuplicateEntity {
            what: "merchant",
            id: m.id.to_string(),
        }
        .into());
    }
    let mut w = MapWriter::create_entity(doc, &k)?;
    w.str("name", &m.name)?
        .opt_str("address", m.address.as_deref())?;
    let rewards = w.map("rewards")?;
    let mut r = MapWriter::open(doc, rewards);
    for (item, price) in &m.rewards {
        r.i64(item, *price)?;
    }
    Ok(())
}

/// Every merchant, in id order.
pub fn list_merchants<D: ReadDoc>(doc: &D) -> Result<Vec<Merchant>, SchemaError> {
    let mut out = Vec::new();
    for raw in entity_ids(doc, "merchant") {
        let path = format!("merchant/{raw}");
        let Some(m) = MapRef::entity(doc, &path)? else {
            continue;
        };
        let mut rewards = BTreeMap::new();
        if let Some(r) = m.opt_map("rewards")? {
            for item in r.keys() {
                rewards.insert(item.clone(), r.i64(&item)?);
            }
        }
        out.push(Merchant {
            id: MerchantId::parse(&raw).map_err(|e| SchemaError {
                path: path.clone(),
                why: e.to_string(),
            })?,
            name: m.str("name")?,
            address: m.opt_str("address")?,
            rewards,
        });
    }
    Ok(out)
}
