//! The console's office pages beside the cases: roster applications to
//! approve and the task list, under `/api/staff/` with a staff code.
//! Approval is the same roster request as `yizhan roster approve`, so the
//! node applies the same rules and commits before answering. Personal
//! data (name, phone, ID number) stays off the web: an application shows
//! the name the rider chose, their platform and grid, which is what
//! `roster list` shows too.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use crdt_model::MemberId;
use crdt_model::roster::MemberStatus;
use tower_http::limit::RequestBodyLimitLayer;

use super::HttpState;
use super::edge::Limits;
use super::open311::{Answer, Open311Error, ask, unexpected, write_call};
use super::staff_api::staff;
use crate::admin::{Call, Request as AdminRequest, Response as AdminResponse};
use crate::workflow::{RosterRequest, TaskRequest, WorkflowRequest, WorkflowResponse};

/// The office's routes.
pub fn routes(state: HttpState, limits: &Limits) -> Router {
    Router::new()
        .route("/applications", get(applications))
        .route("/applications/{member}/approve", post(approve))
        .route("/tasks", get(tasks))
        .layer(RequestBodyLimitLayer::new(limits.body_bytes_max))
        .with_state(state)
}

async fn workflow(state: &HttpState, call: Call) -> Result<WorkflowResponse, Open311Error> {
    match ask(state, call).await? {
        AdminResponse::Workflow(w) => Ok(*w),
        other => Err(unexpected(&other)),
    }
}

/// `GET /api/staff/applications`: members of this place's roster who
/// applied and wait for approval, without their personal data.
async fn applications(State(state): State<HttpState>, headers: HeaderMap) -> Answer {
    staff(&state, &headers).await?;
    let request = WorkflowRequest::Roster(RosterRequest::List {
        place: Some(state.place.clone()),
        status: Some(MemberStatus::Applied),
        grid: None,
    });
    match workflow(&state, Call::new(AdminRequest::Workflow(request))).await? {
        WorkflowResponse::Members(mut list) => {
            for m in &mut list {
                m.private = None;
            }
            Ok(Json(list).into_response())
        }
        other => Err(unexpected(&AdminResponse::Workflow(Box::new(other)))),
    }
}

/// `POST /api/staff/applications/{member}/approve`: `yizhan roster
/// approve MEMBER`.
async fn approve(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(member): Path<String>,
) -> Answer {
    let (hash, _) = staff(&state, &headers).await?;
    let member = MemberId::parse(&member).map_err(|e| Open311Error::bad(e.to_string()))?;
    let request = WorkflowRequest::Roster(RosterRequest::SetStatus {
        member,
        to: MemberStatus::Active,
    });
    let call = write_call(&headers, &hash, AdminRequest::Workflow(request))?;
    match workflow(&state, call).await? {
        WorkflowResponse::Member(mut m) => {
            m.private = None;
            Ok(Json(m).into_response())
        }
        other => Err(unexpected(&AdminResponse::Workflow(Box::new(other)))),
    }
}

/// `GET /api/staff/tasks`: this place's task list, as `yizhan task list`.
async fn tasks(State(state): State<HttpState>, headers: HeaderMap) -> Answer {
    staff(&state, &headers).await?;
    let request = WorkflowRequest::Task(TaskRequest::List {
        place: Some(state.place.clone()),
        status: None,
    });
    match workflow(&state, Call::new(AdminRequest::Workflow(request))).await? {
        WorkflowResponse::Tasks(list) => Ok(Json(list).into_response()),
        other => Err(unexpected(&AdminResponse::Workflow(Box::new(other)))),
    }
}
