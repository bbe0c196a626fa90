//! The staff console's JSON endpoints under `/api/staff/`: the cases of
//! this node's place, one case in full, and the lifecycle steps. Each
//! needs a staff code (`yizhan staff code`) as a bearer token; riders'
//! codes are refused. A step is sent to the node as the same workflow
//! request `yizhan report verify|void|...` sends, so the node applies the
//! same rules, signs the same change and commits it before answering; the
//! checks the command line makes before it reaches the node (a dispatch's
//! deadline ahead) are made here with the same words.

use std::collections::HashMap;

use axum::extract::{FromRequest as _, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use crdt_model::report::{CloseReason, VoidReason};
use crdt_model::{Category, ReportId, Status};
use serde::Deserialize;
use serde_json::json;
use tower_http::limit::RequestBodyLimitLayer;

use super::HttpState;
use super::codes::CodeHolder;
use super::edge::Limits;
use super::open311::{
    Answer, Open311Error, ask, content_type, malformed_multipart, rider, unexpected, write_call,
};
use super::rider_api::bearer;
use super::sniff::sniff_image;
use crate::admin::{Call, Request as AdminRequest, Response as AdminResponse};
use crate::api::{ReportFilter, ReportView};
use crate::workflow::{
    PhotoUpload, ReportAction, ReportRequest, WorkflowRequest, WorkflowResponse,
};

/// Cases one list returns at most: open ones first, then the newest.
pub const CASES_LISTED_MAX: usize = 1_000;

/// The console's routes.
pub fn routes(state: HttpState, limits: &Limits) -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/reports", get(list))
        .route("/reports/{id}", get(show))
        .layer(RequestBodyLimitLayer::new(limits.body_bytes_max))
        .merge(
            // A step may carry the handler's evidence photo.
            Router::new()
                .route("/reports/{id}/{verb}", post(step))
                .layer(axum::extract::DefaultBodyLimit::disable())
                .layer(RequestBodyLimitLayer::new(limits.media_body_bytes_max)),
        )
        .with_state(state)
}

/// The staff member the bearer code signs in, with the code's hash.
pub(super) async fn staff(
    state: &HttpState,
    headers: &HeaderMap,
) -> Result<(String, String), Open311Error> {
    match rider(state, bearer(headers)).await? {
        (hash, CodeHolder::Staff { name }) => Ok((hash, name)),
        (_, CodeHolder::Rider { .. }) => Err(Open311Error::new(
            StatusCode::FORBIDDEN,
            "this is a rider's access code; the console needs a staff code (yizhan staff code)",
        )),
    }
}

/// `GET /api/staff/whoami`: who is signed in, on which node.
async fn whoami(State(state): State<HttpState>, headers: HeaderMap) -> Answer {
    let (_, name) = staff(&state, &headers).await?;
    Ok(Json(json!({ "name": name, "place": state.place, "role": state.role })).into_response())
}

fn named<T>(
    q: &HashMap<String, String>,
    key: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, Open311Error> {
    q.get(key)
        .filter(|v| !v.is_empty())
        .map(|v| {
            parse(v).ok_or_else(|| Open311Error::bad(format!("{key} {v:?} is not known here")))
        })
        .transpose()
}

/// `GET /api/staff/reports?category=&status=&overdue=true`: the place's
/// cases, overdue ones first, then the other open ones, then the rest,
/// newest first within each. Grid and month are filtered by the page.
async fn list(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    staff(&state, &headers).await?;
    let filter = ReportFilter {
        place: Some(state.place.clone()),
        category: named(&q, "category", Category::from_name)?,
        status: named(&q, "status", |s| {
            Status::ALL.into_iter().find(|x| x.as_str() == s)
        })?,
        overdue: q.get("overdue").is_some_and(|v| v == "true"),
    };
    let mut cases = match ask(&state, Call::new(AdminRequest::ListReports(filter))).await? {
        AdminResponse::Reports(list) => list,
        other => return Err(unexpected(&other)),
    };
    cases.sort_by_key(|r| {
        (
            !r.overdue,
            !r.status.is_open(),
            std::cmp::Reverse(r.submitted_at),
        )
    });
    cases.truncate(CASES_LISTED_MAX);
    Ok(Json(cases).into_response())
}

async fn case(state: &HttpState, id: &str) -> Result<ReportView, Open311Error> {
    let not_found = || {
        Open311Error::new(
            StatusCode::NOT_FOUND,
            format!("report {id:?} is not a case of {}", state.place),
        )
    };
    let id = ReportId::parse(id).map_err(|_| not_found())?;
    match state.call(Call::new(AdminRequest::ShowReport(id))).await {
        Some(AdminResponse::Report(r)) if state.place.contains(&r.place) => Ok(*r),
        Some(AdminResponse::Report(_) | AdminResponse::Failed(_)) => Err(not_found()),
        None => Err(Open311Error::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node is busy or shutting down; try again",
        )),
        Some(other) => Err(unexpected(&other)),
    }
}

/// `GET /api/staff/reports/{id}`: one case with its attachments and its
/// full history.
async fn show(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    staff(&state, &headers).await?;
    Ok(Json(case(&state, &id).await?).into_response())
}

/// Reads a step's fields from JSON or from a multipart form with the
/// evidence photo as `photo`, its type read from its bytes.
async fn read_step(
    req: Request,
    limits: &Limits,
) -> Result<(StepBody, Option<PhotoUpload>), Open311Error> {
    if !content_type(&req).starts_with("multipart/form-data") {
        let Json(body) = Json::<StepBody>::from_request(req, &())
            .await
            .map_err(|e| Open311Error::new(e.status(), e.body_text()))?;
        return Ok((body, None));
    }
    let broken = malformed_multipart;
    let mut form = Multipart::from_request(req, &())
        .await
        .map_err(|e| Open311Error::new(e.status(), e.body_text()))?;
    let mut body = StepBody::default();
    let mut photo = None;
    while let Some(field) = form.next_field().await.map_err(broken)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "photo" {
            let bytes = field.bytes().await.map_err(broken)?.to_vec();
            if bytes.is_empty() || bytes.len() > limits.photo_bytes_max {
                return Err(Open311Error::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "photo is too large or empty: {} bytes; a photo holds 1 to {} bytes",
                        bytes.len(),
                        limits.photo_bytes_max
                    ),
                ));
            }
            let mime = sniff_image(&bytes)
                .ok_or_else(|| Open311Error::bad("photo is not a JPEG, PNG or WebP image"))?;
            photo = Some(PhotoUpload {
                bytes,
                mime: mime.to_owned(),
            });
            continue;
        }
        let text = Some(field.text().await.map_err(broken)?).filter(|t| !t.is_empty());
        match name.as_str() {
            "note" => body.note = text,
            "reason" => body.reason = text,
            "to" => body.to = text,
            "due" => body.due = text,
            _ => {}
        }
    }
    Ok((body, photo))
}

/// What a step posts; which fields count depends on the verb.
#[derive(Deserialize, Default)]
struct StepBody {
    note: Option<String>,
    /// For void and close: the reason's name.
    reason: Option<String>,
    /// For dispatch: who handles it.
    to: Option<String>,
    /// For dispatch: the deadline, RFC 3339.
    due: Option<String>,
}

/// The lifecycle action of `verb` with what `body` gives, checked as the
/// command line checks its arguments.
fn action(verb: &str, body: &StepBody, now: DateTime<Utc>) -> Result<ReportAction, Open311Error> {
    let reason = || {
        body.reason
            .as_deref()
            .filter(|r| !r.is_empty())
            .ok_or_else(|| Open311Error::bad(format!("{verb} needs a reason")))
    };
    Ok(match verb {
        "verify" => ReportAction::Verify,
        "escalate" => ReportAction::Escalate,
        "accept" => ReportAction::Accept,
        "reopen" => ReportAction::Reopen,
        "handle" => ReportAction::Handle {
            photo: None,
            uploaded: None,
        },
        "void" => {
            let r = reason()?;
            ReportAction::Void {
                reason: VoidReason::from_name(r).ok_or_else(|| {
                    Open311Error::bad(format!(
                        "void reason {r:?} is not one of: {}",
                        VoidReason::names().join(", ")
                    ))
                })?,
            }
        }
        "close" => {
            let r = reason()?;
            ReportAction::Close {
                reason: CloseReason::from_name(r).ok_or_else(|| {
                    Open311Error::bad(format!(
                        "close reason {r:?} is not one of: {}",
                        CloseReason::names().join(", ")
                    ))
                })?,
            }
        }
        "dispatch" => {
            let to = body
                .to
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| Open311Error::bad("dispatch needs a handler (to)"))?;
            let given = body
                .due
                .as_deref()
                .ok_or_else(|| Open311Error::bad("dispatch needs a deadline (due)"))?;
            let due = DateTime::parse_from_rfc3339(given)
                .map_err(|_| {
                    Open311Error::bad(format!(
                        "due {given:?} is not a date-time such as 2026-11-30T18:00:00+08:00"
                    ))
                })?
                .with_timezone(&Utc);
            if due <= now {
                return Err(Open311Error::bad(format!(
                    "due {given} is in the past; a dispatch needs a deadline ahead"
                )));
            }
            ReportAction::Dispatch {
                to: to.to_owned(),
                due,
            }
        }
        other => {
            return Err(Open311Error::new(
                StatusCode::NOT_FOUND,
                format!(
                    "{other:?} is not a step; the steps are verify, void, dispatch, handle, escalate, accept, close, reopen"
                ),
            ));
        }
    })
}

/// `POST /api/staff/reports/{id}/{verb}`: one lifecycle step, as JSON,
/// or for `handle` with an evidence photo as a multipart form (`photo`
/// and the same fields); answers the case as it stands after the step.
async fn step(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path((id, verb)): Path<(String, String)>,
    req: Request,
) -> Answer {
    let (hash, name) = staff(&state, &headers).await?;
    let (body, photo) = read_step(req, &state.limits.config).await?;
    let mut action = action(&verb, &body, Utc::now())?;
    if let Some(photo) = photo {
        match &mut action {
            ReportAction::Handle { uploaded, .. } => *uploaded = Some(photo),
            _ => {
                return Err(Open311Error::bad(format!(
                    "{verb} takes no photo; handle does"
                )));
            }
        }
    }
    let report = case(&state, &id).await?.id;
    // The note says who acted: the node signs as itself, the staff member
    // is known only to this console.
    let note = match body
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        Some(n) => format!("{n}（{name}）"),
        None => format!("（{name}）"),
    };
    let request = ReportRequest::Event {
        report,
        action,
        note: Some(note),
    };
    let call = write_call(
        &headers,
        &hash,
        AdminRequest::Workflow(WorkflowRequest::Report(request)),
    )?;
    match ask(&state, call).await? {
        AdminResponse::Workflow(w) => match *w {
            WorkflowResponse::Report(r) => Ok(Json(r).into_response()),
            other => Err(unexpected(&AdminResponse::Workflow(Box::new(other)))),
        },
        other => Err(unexpected(&other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_checked_as_the_command_line_checks_them() {
        let now = Utc::now();
        assert!(matches!(
            action("verify", &StepBody::default(), now),
            Ok(ReportAction::Verify)
        ));
        assert!(action("void", &StepBody::default(), now).is_err());
        let close = StepBody {
            reason: Some("fixed".into()),
            ..StepBody::default()
        };
        assert!(matches!(
            action("close", &close, now),
            Ok(ReportAction::Close {
                reason: CloseReason::Fixed
            })
        ));
        let past = StepBody {
            to: Some("物业".into()),
            due: Some("2020-01-01T00:00:00+08:00".into()),
            ..StepBody::default()
        };
        let e = action("dispatch", &past, now).unwrap_err();
        assert!(e.description.contains("in the past"), "{}", e.description);
        assert!(action("explode", &StepBody::default(), now).is_err());
    }
}
