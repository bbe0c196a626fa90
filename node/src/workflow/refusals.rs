//! Why the points rules refuse an award or a redemption, and why a case
//! refuses a "me too": one variant per reason, each with the values it
//! names, so the CLI can say it in the operator's language from a code
//! (`error_code`) instead of wrapping an English sentence.

use thiserror::Error;

/// Why an award is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AwardRefusal {
    /// The report is another community's.
    #[error("report {report} belongs to {owner}, not to this community")]
    NotOwnReport {
        /// The report.
        report: String,
        /// The place whose document holds it.
        owner: String,
    },
    /// The report has not been verified.
    #[error(
        "report {report} is {status} and has not been verified; points are for verified reports"
    )]
    NotVerified {
        /// The report.
        report: String,
        /// Its status now.
        status: &'static str,
    },
    /// The report names no member.
    #[error("report {report} names no reporter on the roster")]
    NoReporter {
        /// The report.
        report: String,
    },
    /// Someone other than the reporter was named.
    #[error("report {report} was reported by {reporter}, and only the reporter earns its points")]
    NotTheReporter {
        /// The report.
        report: String,
        /// Who reported it.
        reporter: String,
    },
    /// Task points come with the sign-off, not with an award.
    #[error("task points are awarded by `yizhan task sign-off {task}`")]
    TaskBySignOff {
        /// The task.
        task: String,
    },
    /// No member named.
    #[error("name at least one --member")]
    NoMember,
}

/// Why a redemption is refused: the community's directory does not back it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RedeemRefusal {
    /// The merchant lists other rewards.
    #[error(
        "merchant {name} ({merchant}) does not offer {item:?}; it offers {}",
        offered_list(.offered)
    )]
    NotOffered {
        /// The merchant's name.
        name: String,
        /// Its id.
        merchant: String,
        /// The item asked for.
        item: String,
        /// What it does offer, with prices in points.
        offered: Vec<(String, i64)>,
    },
    /// The merchant lists no rewards at all.
    #[error("merchant {name} ({merchant}) does not offer {item:?}; it offers nothing")]
    NothingOffered {
        /// The merchant's name.
        name: String,
        /// Its id.
        merchant: String,
        /// The item asked for.
        item: String,
    },
    /// Points given that differ from the merchant's price.
    #[error("{name} offers {item} for {price} points, not {points}")]
    WrongPrice {
        /// The merchant's name.
        name: String,
        /// The item.
        item: String,
        /// Its listed price.
        price: i64,
        /// The points given.
        points: i64,
    },
    /// A station, which lists no prices, without `--points`.
    #[error("station {name} ({station}) lists no prices; give the points with --points")]
    NoPrices {
        /// The station's name.
        name: String,
        /// Its id.
        station: String,
    },
    /// Neither a station nor a merchant of this community.
    #[error(
        "{at:?} is neither a station nor a merchant of this community; `yizhan directory station list` and `yizhan directory merchant list` show them"
    )]
    UnknownPlace {
        /// The name or id given.
        at: String,
    },
}

/// `item (N points), ...` as the English message lists a merchant's rewards.
fn offered_list(offered: &[(String, i64)]) -> String {
    offered
        .iter()
        .map(|(i, p)| format!("{i} ({p} points)"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why an escrow move may not be written on this node.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EscrowRefusal {
    /// The station given is not a peer id.
    #[error("{station:?} is not a peer id; `yizhan status` on the station prints it")]
    NotAPeerId {
        /// What was given.
        station: String,
    },
    /// A station's move asked of a node that is not a station.
    #[error(
        "{what} is written by the station that holds the points; this is a {role} node, so run it on the station"
    )]
    StationOnly {
        /// The move (`a return`, `a station redemption`).
        what: &'static str,
        /// This node's role.
        role: &'static str,
    },
    /// A return asked of another station than the one named.
    #[error(
        "this is station {me}; a return is written by the station that holds the points, so run it on {station}"
    )]
    WrongStation {
        /// This station.
        me: String,
        /// The station named.
        station: String,
    },
}

/// Why a "me too" does not fit the case.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfirmRefusal {
    /// The confirmation names another category than the case's.
    #[error("report {report} is a {category} case, not {given}; submit a new report instead")]
    OtherCategory {
        /// The report.
        report: String,
        /// Its category.
        category: &'static str,
        /// The category the confirmation gave.
        given: &'static str,
    },
}
