//! The directory as node operations: service stations with their services,
//! opening hours and maintenance log, and caring merchants with the rewards
//! they offer for points.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveTime, Utc};
use crdt_model::directory::{self, Maintenance, Merchant, Service, Station};
use crdt_model::ids::{MerchantId, StationId};
use crdt_model::{DocKind, LatLon, PlaceId};
use serde::{Deserialize, Serialize};

use super::{WorkflowError, WorkflowResponse, mint};
use crate::api::Node;
use crate::error::NodeError;

/// `yizhan directory ...`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", content = "args", rename_all = "snake_case")]
pub enum DirectoryRequest {
    /// Add a service station.
    AddStation {
        /// Its name.
        name: String,
        /// Latitude.
        lat: f64,
        /// Longitude.
        lon: f64,
        /// Street address.
        address: Option<String>,
        /// Opening time, local.
        opens: NaiveTime,
        /// Closing time, local.
        closes: NaiveTime,
        /// What it offers.
        services: Vec<Service>,
    },
    /// Log a maintenance visit.
    Maintain {
        /// The station.
        station: StationId,
        /// What was done.
        note: String,
    },
    /// Stations of every directory held.
    Stations {
        /// Only directories of places under this prefix.
        place: Option<PlaceId>,
    },
    /// Add a caring merchant.
    AddMerchant {
        /// Its name.
        name: String,
        /// Street address.
        address: Option<String>,
        /// Rewards offered: item → points.
        rewards: BTreeMap<String, i64>,
    },
    /// Merchants of every directory held.
    Merchants {
        /// Only directories of places under this prefix.
        place: Option<PlaceId>,
    },
}

impl DirectoryRequest {
    /// True for requests that change the store.
    pub fn writes(&self) -> bool {
        !matches!(
            self,
            DirectoryRequest::Stations { .. } | DirectoryRequest::Merchants { .. }
        )
    }
}

/// A station as operators see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StationView {
    /// The community whose directory lists it.
    pub place: PlaceId,
    /// The station.
    #[serde(flatten)]
    pub station: Station,
}

/// A merchant as operators see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MerchantView {
    /// The community whose directory lists it.
    pub place: PlaceId,
    /// The merchant.
    #[serde(flatten)]
    pub merchant: Merchant,
}

impl Node {
    pub(super) fn execute_directory(
        &mut self,
        req: DirectoryRequest,
        now: DateTime<Utc>,
    ) -> Result<WorkflowResponse, NodeError> {
        match req {
            DirectoryRequest::Stations { place } => {
                Ok(WorkflowResponse::Stations(self.stations(place.as_ref())?))
            }
            DirectoryRequest::Merchants { place } => {
                Ok(WorkflowResponse::Merchants(self.merchants(place.as_ref())?))
            }
            DirectoryRequest::AddStation {
                name,
                lat,
                lon,
                address,
                opens,
                closes,
                services,
            } => {
                self.own_community("directory")?;
                let point = LatLon::new(lat, lon)?;
                let doc_id = self.own_doc(DocKind::Directory);
                let id = self.repo.write(now, |w| {
                    let doc = w.doc(&doc_id)?;
                    let held = directory::list_stations(&*doc)?;
                    let id: StationId = mint("st", |s| held.iter().any(|x| &x.id == s))?;
                    let mut services = services;
                    services.sort();
                    services.dedup();
                    directory::add_station(
                        doc,
                        &Station {
                            id: id.clone(),
                            name,
                            point,
                            address,
                            opens,
                            closes,
                            services,
                            maintenance: Vec::new(),
                        },
                    )?;
                    Ok(id)
                })?;
                self.station_view(&id)
            }
            DirectoryRequest::Maintain { station, note } => {
                self.own_community("directory")?;
                let doc_id = self.own_doc(DocKind::Directory);
                let by = self.author();
                self.repo.write(now, |w| {
                    directory::log_maintenance(
                        w.doc(&doc_id)?,
                        &station,
                        &Maintenance { at: now, note, by },
                    )?;
                    Ok(())
                })?;
                self.station_view(&station)
            }
            DirectoryRequest::AddMerchant {
                name,
                address,
                rewards,
            } => {
                self.own_community("directory")?;
                let doc_id = self.own_doc(DocKind::Directory);
                let id = self.repo.write(now, |w| {
                    let doc = w.doc(&doc_id)?;
                    let held = directory::list_merchants(&*doc)?;
                    let id: MerchantId = mint("mc", |m| held.iter().any(|x| &x.id == m))?;
                    directory::add_merchant(
                        doc,
                        &Merchant {
                            id: id.clone(),
                            name,
                            address,
                            rewards,
                        },
                    )?;
                    Ok(id)
                })?;
                let view = self
                    .merchants(Some(&self.config.place.clone()))?
                    .into_iter()
                    .find(|m| m.merchant.id == id)
                    .ok_or_else(|| NodeError::Internal(format!("merchant {id} vanished")))?;
                Ok(WorkflowResponse::Merchant(Box::new(view)))
            }
        }
    }

    fn station_view(&mut self, id: &StationId) -> Result<WorkflowResponse, NodeError> {
        let view = self
            .stations(Some(&self.config.place.clone()))?
            .into_iter()
            .find(|s| &s.station.id == id)
            .ok_or_else(|| WorkflowError::NotHeld {
                what: "station",
                id: id.to_string(),
                hint: "yizhan directory station list",
            })?;
        Ok(WorkflowResponse::Station(Box::new(view)))
    }

    /// Stations of every directory held under `place`.
    pub fn stations(&mut self, place: Option<&PlaceId>) -> Result<Vec<StationView>, NodeError> {
        let mut out = Vec::new();
        for doc_id in self.held(DocKind::Directory)? {
            if place.is_some_and(|p| !p.contains(doc_id.place())) {
                continue;
            }
            if let Some(doc) = self.repo.existing(&doc_id)? {
                for station in directory::list_stations(&*doc)? {
                    out.push(StationView {
                        place: doc_id.place().clone(),
                        station,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Merchants of every directory held under `place`.
    pub fn merchants(&mut self, place: Option<&PlaceId>) -> Result<Vec<MerchantView>, NodeError> {
        let mut out = Vec::new();
        for doc_id in self.held(DocKind::Directory)? {
            if place.is_some_and(|p| !p.contains(doc_id.place())) {
                continue;
            }
            if let Some(doc) = self.repo.existing(&doc_id)? {
                for merchant in directory::list_merchants(&*doc)? {
                    out.push(MerchantView {
                        place: doc_id.place().clone(),
                        merchant,
                    });
                }
            }
        }
        Ok(out)
    }
}
