//! The rider's page's own JSON endpoints under `/api/rider/`, beside
//! Open311 (which files the reports): the rider's reports with their
//! history, open cases nearby to confirm instead ("me too"), and the
//! confirmation itself. Each needs the rider's access code as a bearer
//! token (`Authorization: Bearer CODE`), never in a cookie.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use crdt_model::{Category, LatLon, MemberId, ReportId};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_http::limit::RequestBodyLimitLayer;

use super::HttpState;
use super::codes::CodeHolder;
use super::edge::Limits;
use super::open311::{Answer, Open311Error, ask, rider, unexpected, write_call};
use crate::admin::{Call, Request as AdminRequest, Response as AdminResponse};
use crate::api::{ReportFilter, ReportView};
use crate::workflow::{ReportRequest, WorkflowRequest, WorkflowResponse};

/// Reports "my reports" lists at most, newest first.
pub const MINE_LISTED_MAX: usize = 200;
/// Cases offered as "me too" at most, nearest first.
pub const NEARBY_LISTED_MAX: usize = 10;
/// The phone's location accuracy widens the search by at most this much:
/// a fix ±2 km says nothing about which case is the same hazard.
pub const ACCURACY_COUNTED_M_MAX: f64 = 200.0;

/// The rider's routes.
pub fn routes(state: HttpState, limits: &Limits) -> Router {
    Router::new()
        .route("/mine", get(mine))
        .route("/nearby", get(nearby))
        .route("/confirm", post(confirm))
        .layer(RequestBodyLimitLayer::new(limits.body_bytes_max))
        .with_state(state)
}

/// The access code in `Authorization: Bearer CODE`.
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// The rider the bearer code signs in; staff codes are refused here.
async fn signed_in_rider(
    state: &HttpState,
    headers: &HeaderMap,
) -> Result<(String, MemberId), Open311Error> {
    match rider(state, bearer(headers)).await? {
        (hash, CodeHolder::Rider { member }) => Ok((hash, member)),
        (_, CodeHolder::Staff { .. }) => Err(Open311Error::new(
            StatusCode::FORBIDDEN,
            "this is a staff code; the rider's page needs a rider's access code",
        )),
    }
}

async fn open_reports(
    state: &HttpState,
    category: Option<Category>,
) -> Result<Vec<ReportView>, Open311Error> {
    let filter = ReportFilter {
        place: Some(state.place.clone()),
        category,
        ..ReportFilter::default()
    };
    match ask(state, Call::new(AdminRequest::ListReports(filter))).await? {
        AdminResponse::Reports(list) => Ok(list),
        other => Err(unexpected(&other)),
    }
}

/// A step of a case's history as the rider sees it.
#[derive(Serialize)]
struct Step {
    at: chrono::DateTime<chrono::Utc>,
    kind: &'static str,
    note: Option<String>,
}

/// One of the rider's reports.
#[derive(Serialize)]
struct MyReport {
    id: String,
    category: Category,
    status: crdt_model::Status,
    open: bool,
    text: String,
    address: Option<String>,
    submitted_at: chrono::DateTime<chrono::Utc>,
    deadline: chrono::DateTime<chrono::Utc>,
    history: Vec<Step>,
}

/// `GET /api/rider/mine`: the rider's reports, newest first, each with
/// its status and history.
async fn mine(State(state): State<HttpState>, headers: HeaderMap) -> Answer {
    let (_, member) = signed_in_rider(&state, &headers).await?;
    let mut list: Vec<ReportView> = open_reports(&state, None)
        .await?
        .into_iter()
        .filter(|r| r.reporter.as_ref() == Some(&member))
        .collect();
    list.sort_by_key(|r| std::cmp::Reverse(r.submitted_at));
    list.truncate(MINE_LISTED_MAX);
    let out: Vec<MyReport> = list
        .into_iter()
        .map(|r| MyReport {
            id: r.id.to_string(),
            category: r.category,
            status: r.status,
            open: r.status.is_open(),
            text: r.text,
            address: r.address,
            submitted_at: r.submitted_at,
            deadline: r.deadline,
            history: r
                .events
                .into_iter()
                .map(|e| Step {
                    at: e.at,
                    kind: e.kind.name(),
                    note: e.note,
                })
                .collect(),
        })
        .collect();
    Ok(Json(out).into_response())
}

fn number(q: &HashMap<String, String>, name: &str) -> Result<Option<f64>, Open311Error> {
    q.get(name)
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            v.trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| Open311Error::bad(format!("{name} {v:?} is not a number")))
        })
        .transpose()
}

/// `GET /api/rider/nearby?service_code=&lat=&long=&accuracy=`: open cases
/// of the category within the node's `duplicate_radius_m` (widened by the
/// fix's accuracy), nearest first. No reporter is shown.
async fn nearby(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    signed_in_rider(&state, &headers).await?;
    let code = q
        .get("service_code")
        .ok_or_else(|| Open311Error::bad("service_code is missing"))?;
    let category = Category::from_name(code)
        .ok_or_else(|| Open311Error::bad(format!("service_code {code:?} is not a service here")))?;
    let (Some(lat), Some(lon)) = (number(&q, "lat")?, number(&q, "long")?) else {
        return Err(Open311Error::bad("lat and long are required"));
    };
    let here = LatLon::new(lat, lon).map_err(|e| Open311Error::bad(e.to_string()))?;
    let accuracy = number(&q, "accuracy")?
        .unwrap_or(0.0)
        .clamp(0.0, ACCURACY_COUNTED_M_MAX);
    let radius = state.duplicate_radius_m + accuracy;
    let mut found: Vec<(ReportView, f64)> = open_reports(&state, Some(category))
        .await?
        .into_iter()
        .filter(|r| r.status.is_open())
        .filter_map(|r| {
            let there = LatLon::new(r.lat, r.lon).ok()?;
            let d = here.distance_m(&there);
            (d <= radius).then_some((r, d))
        })
        .collect();
    found.sort_by(|a, b| a.1.total_cmp(&b.1));
    found.truncate(NEARBY_LISTED_MAX);
    let out: Vec<_> = found
        .into_iter()
        .map(|(r, d)| {
            json!({
                "id": r.id.as_str(),
                "category": r.category,
                "status": r.status,
                "text": r.text,
                "address": r.address,
                "distance_m": d.round(),
                "confirmations": r.state.confirmations,
                "submitted_at": r.submitted_at,
            })
        })
        .collect();
    Ok(Json(out).into_response())
}

/// What a "me too" posts.
#[derive(Deserialize)]
struct MeToo {
    id: String,
    service_code: Option<String>,
    note: Option<String>,
}

/// `POST /api/rider/confirm` with `{id, service_code, note}`: the rider
/// confirms an open case, through the same request as `yizhan report
/// submit --me-too` (the node checks the case is open and the category
/// matches). An `Idempotency-Key` makes a resend harmless.
async fn confirm(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Result<Json<MeToo>, axum::extract::rejection::JsonRejection>,
) -> Answer {
    let (hash, member) = signed_in_rider(&state, &headers).await?;
    let Json(body) = body.map_err(|e| Open311Error::new(e.status(), e.body_text()))?;
    let report = ReportId::parse(&body.id).map_err(|e| Open311Error::bad(e.to_string()))?;
    let category = body
        .service_code
        .as_deref()
        .map(|c| {
            Category::from_name(c).ok_or_else(|| {
                Open311Error::bad(format!("service_code {c:?} is not a service here"))
            })
        })
        .transpose()?;
    let request = ReportRequest::Confirm {
        report,
        member: Some(member),
        category,
        note: body.note.filter(|n| !n.trim().is_empty()),
    };
    let call = write_call(
        &headers,
        &hash,
        AdminRequest::Workflow(WorkflowRequest::Report(request)),
    )?;
    match ask(&state, call).await? {
        AdminResponse::Workflow(w) => match *w {
            WorkflowResponse::Report(r) => Ok(Json(json!({
                "id": r.id.as_str(),
                "confirmations": r.state.confirmations,
                "status": r.status,
            }))
            .into_response()),
            other => Err(unexpected(&AdminResponse::Workflow(Box::new(other)))),
        },
        other => Err(unexpected(&other)),
    }
}
