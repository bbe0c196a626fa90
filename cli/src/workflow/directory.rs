//! `yizhan directory ...`: service stations (location, services, opening
//! hours, maintenance log) and caring merchants (rewards with point prices).

use std::collections::BTreeMap;
use std::path::Path;

use clap::Subcommand;
use crdt_model::LatLon;
use crdt_model::directory::{Service, parse_hours};
use crdt_model::ids::StationId;
use node::workflow::{
    DirectoryRequest, MerchantView, StationView, WorkflowRequest, WorkflowResponse,
};

use super::{call, named, place, unexpected};
use crate::error_out::refuse;
use crate::output::{Output, clip, local, print_json, table};

/// `yizhan directory ...`
#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Service stations.
    #[command(subcommand)]
    Station(StationCommand),
    /// Caring merchants.
    #[command(subcommand)]
    Merchant(MerchantCommand),
}

/// `yizhan directory station ...`
#[derive(Debug, Subcommand)]
pub enum StationCommand {
    /// Add a station.
    Add {
        /// Its name.
        #[arg(long)]
        name: String,
        /// Latitude, degrees north.
        #[arg(long, allow_negative_numbers = true)]
        lat: f64,
        /// Longitude, degrees east.
        #[arg(long, allow_negative_numbers = true)]
        lon: f64,
        /// Street address.
        #[arg(long)]
        address: Option<String>,
        /// Opening hours, local, such as 08:00-21:00.
        #[arg(long)]
        hours: String,
        /// A service: warmth, cooling, water, rest, first_aid, charging, meals, toilet (repeatable).
        #[arg(long)]
        service: Vec<String>,
    },
    /// Stations of every directory this node holds.
    List {
        /// Only directories of places under this prefix.
        #[arg(long)]
        place: Option<String>,
    },
    /// Log a maintenance visit to a station.
    Maintain {
        /// Station id, such as st-3f9a2c1d.
        station: String,
        /// What was done.
        #[arg(long)]
        note: String,
    },
}

/// `yizhan directory merchant ...`
#[derive(Debug, Subcommand)]
pub enum MerchantCommand {
    /// Add a merchant with the rewards it offers.
    Add {
        /// Its name.
        #[arg(long)]
        name: String,
        /// Street address.
        #[arg(long)]
        address: Option<String>,
        /// A reward and its price, ITEM=POINTS, such as "lunch box=20" (repeatable).
        #[arg(long)]
        reward: Vec<String>,
    },
    /// Merchants of every directory this node holds.
    List {
        /// Only directories of places under this prefix.
        #[arg(long)]
        place: Option<String>,
    },
}

fn reward(s: &str) -> anyhow::Result<(String, i64)> {
    let given = ("reward", format!("{s:?}"));
    let (item, points) = s.rsplit_once('=').ok_or_else(|| {
        refuse(
            "bad_value",
            "input.reward_form",
            std::slice::from_ref(&given),
        )
    })?;
    let points: i64 = points.trim().parse().map_err(|_| {
        refuse(
            "bad_value",
            "input.reward_points",
            &[given.clone(), ("points", format!("{points:?}"))],
        )
    })?;
    if points <= 0 {
        return Err(refuse("bad_value", "input.reward_price", &[given]));
    }
    Ok((item.trim().to_owned(), points))
}

/// Runs a directory command.
pub fn run(dir: &Path, cmd: DirectoryCommand, out: &Output) -> anyhow::Result<()> {
    let req = match cmd {
        DirectoryCommand::Station(StationCommand::Add {
            name,
            lat,
            lon,
            address,
            hours,
            service,
        }) => {
            LatLon::new(lat, lon)?;
            let (opens, closes) = parse_hours(&hours)?;
            DirectoryRequest::AddStation {
                name,
                lat,
                lon,
                address,
                opens,
                closes,
                services: service
                    .iter()
                    .map(|s| named(s, "service", Service::from_name, Service::names))
                    .collect::<anyhow::Result<_>>()?,
            }
        }
        DirectoryCommand::Station(StationCommand::List { place: p }) => {
            DirectoryRequest::Stations {
                place: place(p.as_deref())?,
            }
        }
        DirectoryCommand::Station(StationCommand::Maintain { station, note }) => {
            DirectoryRequest::Maintain {
                station: StationId::parse(&station)?,
                note,
            }
        }
        DirectoryCommand::Merchant(MerchantCommand::Add {
            name,
            address,
            reward: rewards,
        }) => {
            let mut map = BTreeMap::new();
            for r in &rewards {
                let (item, points) = reward(r)?;
                if map.insert(item.clone(), points).is_some() {
                    let item = [("item", format!("{item:?}"))];
                    return Err(refuse("bad_value", "input.reward_twice", &item));
                }
            }
            DirectoryRequest::AddMerchant {
                name,
                address,
                rewards: map,
            }
        }
        DirectoryCommand::Merchant(MerchantCommand::List { place: p }) => {
            DirectoryRequest::Merchants {
                place: place(p.as_deref())?,
            }
        }
    };
    match call(dir, WorkflowRequest::Directory(req))? {
        WorkflowResponse::Station(s) => print_stations(std::slice::from_ref(&*s), out, true),
        WorkflowResponse::Stations(list) => print_stations(&list, out, false),
        WorkflowResponse::Merchant(m) => print_merchants(std::slice::from_ref(&*m), out, true),
        WorkflowResponse::Merchants(list) => print_merchants(&list, out, false),
        other => unexpected(other),
    }
}

fn print_stations(list: &[StationView], out: &Output, one: bool) -> anyhow::Result<()> {
    if out.json {
        return if one {
            print_json(&list[0])
        } else {
            print_json(list)
        };
    }
    if list.is_empty() {
        println!("{}", crate::i18n::tr("empty.stations"));
        return Ok(());
    }
    let mut t = table(&[
        "station",
        "name",
        "hours",
        "services",
        "location",
        "last maintained",
        "community",
    ]);
    for v in list {
        let s = &v.station;
        let services: Vec<String> = s
            .services
            .iter()
            .map(|x| crate::i18n::named("service", x.as_str()))
            .collect();
        t.add_row(vec![
            s.id.to_string(),
            s.name.clone(),
            format!("{}–{}", s.opens.format("%H:%M"), s.closes.format("%H:%M")),
            services.join(", "),
            format!("{:.5}, {:.5}", s.point.lat, s.point.lon),
            s.maintenance
                .last()
                .map(|m| format!("{}: {}", local(m.at), clip(&m.note, 24)))
                .unwrap_or_else(|| crate::i18n::tr("station.never")),
            v.place.to_string(),
        ]);
    }
    crate::table::print(t);
    if one {
        for m in &list[0].station.maintenance {
            println!("  {} {}", local(m.at), crate::table::printable(&m.note));
        }
    }
    Ok(())
}

fn print_merchants(list: &[MerchantView], out: &Output, one: bool) -> anyhow::Result<()> {
    if out.json {
        return if one {
            print_json(&list[0])
        } else {
            print_json(list)
        };
    }
    if list.is_empty() {
        println!("{}", crate::i18n::tr("empty.merchants"));
        return Ok(());
    }
    let mut t = table(&[
        "merchant",
        "name",
        "reward",
        "points",
        "address",
        "community",
    ]);
    for v in list {
        let m = &v.merchant;
        let mut first = true;
        let rewards: Vec<(String, String)> = if m.rewards.is_empty() {
            vec![("-".into(), "-".into())]
        } else {
            m.rewards
                .iter()
                .map(|(i, p)| (i.clone(), p.to_string()))
                .collect()
        };
        for (item, price) in rewards {
            let (id, name, address, place) = if first {
                (
                    m.id.to_string(),
                    m.name.clone(),
                    m.address.clone().unwrap_or_else(|| "-".into()),
                    v.place.to_string(),
                )
            } else {
                Default::default()
            };
            first = false;
            t.add_row(vec![id, name, item, price, address, place]);
        }
    }
    crate::table::print(t);
    Ok(())
}
