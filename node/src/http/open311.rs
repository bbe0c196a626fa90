//! Open311 GeoReport v2 under `/open311/v2/`, in JSON: the report
//! categories as services, reports as service requests. `docs/open311.md`
//! gives the mapping and the reasons behind it.
//!
//! Requests are written with a rider's access code as `api_key` and filed
//! as that rider's reports; reading services and requests needs no code,
//! as in the spec, and never shows who reported.

use std::collections::HashMap;

use axum::extract::{FromRequest as _, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use chrono::{DateTime, Duration, Utc};
use crdt_model::report::{AttachmentKind, EventKind};
use crdt_model::{Category, LatLon, PlaceLevel, ReportId};
use serde::Serialize;
use serde_json::{Value, json};
use tower_http::limit::RequestBodyLimitLayer;

use super::HttpState;
use super::codes::{CodeHolder, code_hash};
use super::edge::Limits;
use super::sniff::{sniff_audio, sniff_image};
use crate::admin::{Call, Request as AdminRequest, Response as AdminResponse};
use crate::api::{NewAttachment, ReportContent, ReportFilter, ReportSubmission, ReportView};
use crate::store::BlobHash;

/// Fields read from a posted form at most.
const FORM_FIELDS_MAX: usize = 64;
/// Longest `Idempotency-Key` accepted.
const IDEMPOTENCY_KEY_CHARS_MAX: usize = 128;
/// Requests one `GET requests.json` returns at most, newest first (the
/// spec's suggestion).
pub const REQUESTS_LISTED_MAX: usize = 1_000;
/// Without dates, `GET requests.json` covers this many recent days (the
/// spec's default).
pub const DEFAULT_WINDOW_DAYS: i64 = 90;

/// An Open311 error: the HTTP status and one `{code, description}`.
#[derive(Debug)]
pub struct Open311Error {
    pub(super) status: StatusCode,
    pub(super) description: String,
}

impl Open311Error {
    pub(super) fn new(status: StatusCode, description: impl Into<String>) -> Open311Error {
        Open311Error {
            status,
            description: description.into(),
        }
    }

    pub(super) fn bad(description: impl Into<String>) -> Open311Error {
        Open311Error::new(StatusCode::BAD_REQUEST, description)
    }
}

impl IntoResponse for Open311Error {
    fn into_response(self) -> Response {
        error_response(self.status, &self.description)
    }
}

/// The spec's error answer: a list of `{code, description}`.
pub fn error_response(status: StatusCode, description: &str) -> Response {
    (
        status,
        Json(json!([{ "code": status.as_u16(), "description": description }])),
    )
        .into_response()
}

pub(super) type Answer = Result<Response, Open311Error>;

/// The Open311 routes; photos may come with `POST requests.json`, so only
/// it takes bodies of [`Limits::media_body_bytes_max`].
pub fn routes(state: HttpState, limits: &Limits) -> Router {
    let small = Router::new()
        .route("/services.json", get(services))
        .route("/services/{file}", get(service_definition))
        .route("/requests/{file}", get(one_request))
        .route("/media/{hash}", get(media))
        .layer(RequestBodyLimitLayer::new(limits.body_bytes_max));
    let with_media = Router::new()
        .route("/requests.json", get(list_requests).post(submit))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(limits.media_body_bytes_max));
    small.merge(with_media).with_state(state)
}

/// Refuses a `jurisdiction_id` other than this node's place.
fn check_jurisdiction(state: &HttpState, given: Option<&String>) -> Result<(), Open311Error> {
    match given {
        Some(j) if !j.is_empty() && *j != state.place.to_string() => Err(Open311Error::new(
            StatusCode::NOT_FOUND,
            format!(
                "jurisdiction_id {j:?} is not served here; this node serves {}",
                state.place
            ),
        )),
        _ => Ok(()),
    }
}

fn service(c: Category) -> Value {
    json!({
        "service_code": c.as_str(),
        "service_name": c.zh_name(),
        "description": c.description(),
        "metadata": false,
        "type": "realtime",
        "keywords": c.as_str().replace('_', ","),
        "group": "",
    })
}

async fn services(
    State(state): State<HttpState>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    check_jurisdiction(&state, q.get("jurisdiction_id"))?;
    let all: Vec<Value> = Category::ALL.iter().map(|c| service(*c)).collect();
    Ok(Json(all).into_response())
}

/// `services/{code}.json`: the category's definition. No category asks
/// for extra attributes, so the list is empty.
async fn service_definition(
    State(state): State<HttpState>,
    Path(file): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    check_jurisdiction(&state, q.get("jurisdiction_id"))?;
    let code = json_file(&file)?;
    let c = Category::from_name(code).ok_or_else(|| unknown_service(code))?;
    Ok(Json(json!({ "service_code": c.as_str(), "attributes": [] })).into_response())
}

fn unknown_service(code: &str) -> Open311Error {
    Open311Error::new(
        StatusCode::NOT_FOUND,
        format!(
            "service_code {code:?} is not a service here; services.json lists them: {}",
            Category::names().join(", ")
        ),
    )
}

/// The name in `NAME.json`; only JSON is served.
fn json_file(file: &str) -> Result<&str, Open311Error> {
    file.strip_suffix(".json").ok_or_else(|| {
        Open311Error::new(
            StatusCode::NOT_FOUND,
            format!("{file:?}: this server answers in JSON only; ask for NAME.json"),
        )
    })
}

/// Sends `call` to the node; its refusal becomes a 400 with its words.
pub(super) async fn ask(state: &HttpState, call: Call) -> Result<AdminResponse, Open311Error> {
    match state.call(call).await {
        None => Err(Open311Error::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node is busy or shutting down; try again",
        )),
        Some(AdminResponse::Failed(body)) => Err(Open311Error::bad(body.message)),
        Some(other) => Ok(other),
    }
}

/// Whoever the access code `key` signs in (rider or staff), or 403; each
/// code is rate-limited on its own.
pub(super) async fn rider(
    state: &HttpState,
    key: Option<&str>,
) -> Result<(String, CodeHolder), Open311Error> {
    let key = key
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            Open311Error::new(
                StatusCode::FORBIDDEN,
                "api_key is missing: send the rider's access code as api_key",
            )
        })?;
    let hash = code_hash(key);
    let request = AdminRequest::CodeHolder { hash: hash.clone() };
    // The code is looked up before it is counted, since staff codes have
    // a bucket of their own; guessing codes is bounded by the per-address
    // limit around every request.
    match ask(state, Call::new(request)).await? {
        AdminResponse::CodeHolder(Some(record)) => {
            let allowed = match record.holder {
                CodeHolder::Staff { .. } => state.limits.staff_code_allows(&hash),
                CodeHolder::Rider { .. } => state.limits.code_allows(&hash),
            };
            if !allowed {
                return Err(Open311Error::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many requests with this access code; wait and try again",
                ));
            }
            Ok((hash, record.holder))
        }
        AdminResponse::CodeHolder(None) => Err(Open311Error::new(
            StatusCode::FORBIDDEN,
            "api_key is not a valid access code on this node (revoked, for another place, or mistyped)",
        )),
        other => Err(unexpected(&other)),
    }
}

pub(super) fn unexpected(r: &AdminResponse) -> Open311Error {
    tracing::warn!(answer = ?r, "unexpected answer from the node to an HTTP request");
    Open311Error::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the node gave an unexpected answer",
    )
}

/// A posted request's fields, its photo and its voice note.
struct Posted {
    fields: HashMap<String, String>,
    photo: Option<NewAttachment>,
    voice: Option<NewAttachment>,
}

impl Posted {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }
}

/// Reads a form, URL-encoded or multipart (with the photo as `media` and
/// a voice note as `voice_note`, an extension of the spec for the rider's
/// page: Open311 has one media field, and riders describe hazards aloud).
async fn read_posted(req: Request, limits: &Limits) -> Result<Posted, Open311Error> {
    let content_type = content_type(&req);
    let mut fields = HashMap::new();
    let mut photo = None;
    let mut voice = None;
    if content_type.starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(req, &())
            .await
            .map_err(|e| Open311Error::new(e.status(), e.body_text()))?;
        let broken = malformed_multipart;
        while let Some(field) = form.next_field().await.map_err(broken)? {
            if fields.len() >= FORM_FIELDS_MAX {
                return Err(Open311Error::bad(format!(
                    "more than {FORM_FIELDS_MAX} form fields"
                )));
            }
            let name = field.name().unwrap_or_default().to_owned();
            if name == "media" {
                let mime = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_owned();
                let bytes = field.bytes().await.map_err(broken)?;
                photo = Some(photo_attachment(bytes.to_vec(), mime, limits)?);
            } else if name == "voice_note" {
                let bytes = field.bytes().await.map_err(broken)?;
                voice = Some(voice_attachment(bytes.to_vec(), limits)?);
            } else {
                fields.insert(name, field.text().await.map_err(broken)?);
            }
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let Form(pairs) = Form::<Vec<(String, String)>>::from_request(req, &())
            .await
            .map_err(|e| {
                Open311Error::new(e.status(), format!("malformed form: {}", e.body_text()))
            })?;
        if pairs.len() > FORM_FIELDS_MAX {
            return Err(Open311Error::bad(format!(
                "more than {FORM_FIELDS_MAX} form fields"
            )));
        }
        fields.extend(pairs);
    } else {
        return Err(Open311Error::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "post the request as application/x-www-form-urlencoded or multipart/form-data",
        ));
    }
    Ok(Posted {
        fields,
        photo,
        voice,
    })
}

fn photo_attachment(
    bytes: Vec<u8>,
    mime: String,
    limits: &Limits,
) -> Result<NewAttachment, Open311Error> {
    if !mime.starts_with("image/") {
        return Err(Open311Error::bad(format!(
            "media must be a photo (image/*), not {mime}"
        )));
    }
    let max = (limits.photo_bytes_max as u64).min(crdt_model::report::ATTACHMENT_BYTES_MAX);
    if bytes.is_empty() || bytes.len() as u64 > max {
        return Err(Open311Error::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "media is too large or empty: {} bytes; a photo holds 1 to {max} bytes",
                bytes.len()
            ),
        ));
    }
    Ok(NewAttachment {
        bytes,
        mime,
        kind: AttachmentKind::Photo,
    })
}

/// The request's media type, lowercased; empty when it gives none.
pub(super) fn content_type(req: &Request) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// A multipart body that could not be read, in Open311's error format.
pub(super) fn malformed_multipart(e: axum::extract::multipart::MultipartError) -> Open311Error {
    Open311Error::new(
        e.status(),
        format!("malformed multipart body: {}", e.body_text()),
    )
}

/// A voice note: its media type comes from its bytes, not from what the
/// client claims, so that what is stored and later served as audio is audio.
fn voice_attachment(bytes: Vec<u8>, limits: &Limits) -> Result<NewAttachment, Open311Error> {
    let max = (limits.voice_bytes_max as u64).min(crdt_model::report::ATTACHMENT_BYTES_MAX);
    if bytes.is_empty() || bytes.len() as u64 > max {
        return Err(Open311Error::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "voice_note is too large or empty: {} bytes; a voice note holds 1 to {max} bytes",
                bytes.len()
            ),
        ));
    }
    let mime = sniff_audio(&bytes).ok_or_else(|| {
        Open311Error::bad(
            "voice_note is not audio this server knows (WebM, Ogg, MP4/AAC, WAV, AMR or MP3)",
        )
    })?;
    Ok(NewAttachment {
        bytes,
        mime: mime.to_owned(),
        kind: AttachmentKind::Voice,
    })
}

fn coordinate(posted: &Posted, name: &str) -> Result<Option<f64>, Open311Error> {
    posted
        .get(name)
        .map(|v| {
            v.trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| Open311Error::bad(format!("{name} {v:?} is not a number")))
        })
        .transpose()
}

/// The request id of a write: the client's `Idempotency-Key` (scoped to
/// its access code, so two riders' keys never meet), else a fresh one.
pub(super) fn write_call(
    headers: &HeaderMap,
    code: &str,
    request: AdminRequest,
) -> Result<Call, Open311Error> {
    let Some(key) = headers.get("idempotency-key") else {
        return Ok(Call::new(request));
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= IDEMPOTENCY_KEY_CHARS_MAX)
        .ok_or_else(|| {
            Open311Error::bad(format!(
                "Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_CHARS_MAX} visible ASCII characters"
            ))
        })?;
    let id = blake3::hash(format!("{code}\n{key}").as_bytes()).to_hex();
    Ok(Call {
        id: Some(format!("http-{}", &id[..40])),
        request,
    })
}

/// `POST requests.json`: files a report as the rider's.
async fn submit(State(state): State<HttpState>, headers: HeaderMap, req: Request) -> Answer {
    let posted = read_posted(req, &state.limits.config).await?;
    check_jurisdiction(&state, posted.fields.get("jurisdiction_id"))?;
    let (hash, holder) = rider(&state, posted.get("api_key")).await?;
    let CodeHolder::Rider { member } = holder else {
        return Err(Open311Error::new(
            StatusCode::FORBIDDEN,
            "staff codes do not file reports; use a rider's access code",
        ));
    };
    let code = posted
        .get("service_code")
        .ok_or_else(|| Open311Error::bad("service_code is missing"))?;
    let category = Category::from_name(code).ok_or_else(|| {
        let mut e = unknown_service(code);
        e.status = StatusCode::BAD_REQUEST;
        e
    })?;
    let (lat, lon) = match (coordinate(&posted, "lat")?, coordinate(&posted, "long")?) {
        (Some(lat), Some(lon)) => (lat, lon),
        (None, None) if posted.get("address_string").is_some() => {
            return Err(Open311Error::bad(
                "address_string alone cannot be placed: this node holds no map to look addresses up in; send lat and long too",
            ));
        }
        _ => return Err(Open311Error::bad("lat and long are required")),
    };
    LatLon::new(lat, lon).map_err(|e| Open311Error::bad(e.to_string()))?;
    let mut attachments: Vec<NewAttachment> =
        posted.photo.iter().chain(&posted.voice).cloned().collect();
    if let Some(url) = posted.get("media_url") {
        attachments.push(held_photo(&state, url).await?);
    }
    let text = posted
        .get("description")
        .unwrap_or(category.zh_name())
        .to_owned();
    let submission = ReportSubmission {
        content: ReportContent {
            category,
            lat,
            lon,
            text,
            address: posted.get("address_string").map(str::to_owned),
            grid: None,
            reporter: Some(member),
        },
        photos: Vec::new(),
        voices: Vec::new(),
        loaded: Some(attachments),
    };
    let call = write_call(&headers, &hash, AdminRequest::SubmitReport(submission))?;
    match ask(&state, call).await? {
        AdminResponse::Submitted(s) => Ok(Json(json!([{
            "service_request_id": s.report.id.as_str(),
            "service_notice": format!("已提交到{}，期限 {}", state.place, s.report.deadline.to_rfc3339()),
            "account_id": null,
        }]))
        .into_response()),
        other => Err(unexpected(&other)),
    }
}

/// The blob a `media_url` names: a photo already on this node, given as
/// this server's `media/HASH` URL (as `GET requests` shows them) or as the
/// bare hash. Other URLs are refused: the node fetches nothing from the web.
async fn held_photo(state: &HttpState, url: &str) -> Result<NewAttachment, Open311Error> {
    let last = url.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let hash: BlobHash = last.parse().map_err(|_| {
        Open311Error::bad(format!(
            "media_url {url:?} names no photo held here: use a media_url this server gave out"
        ))
    })?;
    match ask(state, Call::new(AdminRequest::Blob(hash))).await? {
        AdminResponse::Blob(body) => {
            let mime = sniff_image(&body.bytes)
                .ok_or_else(|| Open311Error::bad(format!("media_url {url:?} is not a photo")))?;
            photo_attachment(body.bytes, mime.to_owned(), &state.limits.config)
        }
        other => Err(unexpected(&other)),
    }
}

/// `GET media/{hash}?api_key=CODE`: a photo or voice note of a report, to
/// holders of a code of this node only (photos may show people, voices
/// identify them).
async fn media(
    State(state): State<HttpState>,
    Path(hash): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    rider_or_staff(&state, q.get("api_key").map(String::as_str)).await?;
    let hash: BlobHash = hash
        .parse()
        .map_err(|_| Open311Error::new(StatusCode::NOT_FOUND, "no such media"))?;
    match state.call(Call::new(AdminRequest::Blob(hash))).await {
        Some(AdminResponse::Blob(body)) => {
            // The type comes from the bytes: a blob that is neither image nor
            // audio is served as opaque bytes, never as something a browser runs.
            let mime = sniff_image(&body.bytes)
                .or_else(|| sniff_audio(&body.bytes))
                .unwrap_or("application/octet-stream");
            Ok((
                [
                    (header::CONTENT_TYPE, mime),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                    (header::CACHE_CONTROL, "private, max-age=86400"),
                ],
                body.bytes,
            )
                .into_response())
        }
        // Held but damaged on disk: refused, never served, and said so
        // rather than passed off as missing.
        Some(AdminResponse::Failed(body)) if body.code == "blob_damaged" => Err(Open311Error::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "this photo is damaged on this node and is not served; the operator finds it with `yizhan check`",
        )),
        None => Err(Open311Error::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node is busy or shutting down; try again",
        )),
        Some(AdminResponse::Failed(_)) => {
            Err(Open311Error::new(StatusCode::NOT_FOUND, "no such media"))
        }
        Some(other) => Err(unexpected(&other)),
    }
}

async fn rider_or_staff(state: &HttpState, key: Option<&str>) -> Result<CodeHolder, Open311Error> {
    rider(state, key).await.map(|(_, holder)| holder)
}

/// Categories whose locations are those of vulnerable people (a lost
/// elderly person, a child in danger): sensitive personal information
/// (PIPL art. 28), listed only to holders of a code of this node.
const SENSITIVE: [Category; 2] = [Category::ChildSafety, Category::LostPerson];

/// True when the request carries a code of this node (`api_key` in the
/// query): it then sees the sensitive categories too. A wrong code is
/// refused rather than quietly shown less.
async fn sees_sensitive(
    state: &HttpState,
    q: &HashMap<String, String>,
) -> Result<bool, Open311Error> {
    match q.get("api_key").filter(|k| !k.trim().is_empty()) {
        Some(key) => rider(state, Some(key)).await.map(|_| true),
        None => Ok(false),
    }
}

/// A report as an Open311 service request.
#[derive(Serialize)]
struct ServiceRequest {
    service_request_id: String,
    status: &'static str,
    status_notes: Option<String>,
    service_name: &'static str,
    service_code: &'static str,
    description: String,
    agency_responsible: String,
    service_notice: Option<String>,
    requested_datetime: DateTime<Utc>,
    updated_datetime: DateTime<Utc>,
    expected_datetime: DateTime<Utc>,
    address: Option<String>,
    address_id: Option<String>,
    zipcode: Option<String>,
    lat: f64,
    long: f64,
    media_url: Option<String>,
    jurisdiction_id: String,
}

fn service_request(r: &ReportView, base: &str) -> ServiceRequest {
    let last = r
        .events
        .iter()
        .rev()
        .find(|e| !matches!(e.kind, EventKind::Confirm { .. }));
    let status_notes = last.map(|e| {
        let mut note = e.kind.name().to_owned();
        if let Some(n) = &e.note {
            note.push_str(": ");
            note.push_str(n);
        }
        note
    });
    let agency = if r.state.level == PlaceLevel::Street {
        r.place.parent().unwrap_or_else(|| r.place.clone())
    } else {
        r.place.clone()
    };
    let photo = r
        .attachments
        .iter()
        .find(|a| a.kind == AttachmentKind::Photo)
        .map(|a| format!("{base}/open311/v2/media/{}", a.hash));
    ServiceRequest {
        service_request_id: r.id.to_string(),
        status: if r.status.is_open() { "open" } else { "closed" },
        status_notes,
        service_name: r.category.zh_name(),
        service_code: r.category.as_str(),
        description: r.text.clone(),
        agency_responsible: agency.to_string(),
        service_notice: None,
        requested_datetime: r.submitted_at,
        updated_datetime: r.events.last().map_or(r.submitted_at, |e| e.at),
        expected_datetime: r.deadline,
        address: r.address.clone(),
        address_id: None,
        zipcode: None,
        lat: r.lat,
        long: r.lon,
        media_url: photo,
        jurisdiction_id: r.place.to_string(),
    }
}

/// The server's own base URL as the client reached it, for media links.
fn base_url(headers: &HeaderMap, state: &HttpState) -> String {
    if let Some(url) = &state.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("{}://{host}", state.scheme)
}

fn date(q: &HashMap<String, String>, name: &str) -> Result<Option<DateTime<Utc>>, Open311Error> {
    q.get(name)
        .filter(|v| !v.is_empty())
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|d| d.with_timezone(&Utc))
                .map_err(|_| {
                    Open311Error::bad(format!(
                        "{name} {v:?} is not a w3c date-time such as 2026-11-30T08:00:00+08:00"
                    ))
                })
        })
        .transpose()
}

fn list_of(q: &HashMap<String, String>, name: &str) -> Option<Vec<String>> {
    q.get(name).filter(|v| !v.is_empty()).map(|v| {
        v.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    })
}

async fn reports(state: &HttpState) -> Result<Vec<ReportView>, Open311Error> {
    let filter = ReportFilter {
        place: Some(state.place.clone()),
        ..ReportFilter::default()
    };
    match ask(state, Call::new(AdminRequest::ListReports(filter))).await? {
        AdminResponse::Reports(list) => Ok(list),
        other => Err(unexpected(&other)),
    }
}

/// `GET requests.json` with the spec's filters. `service_request_id`
/// overrides the others, as the spec says.
async fn list_requests(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    check_jurisdiction(&state, q.get("jurisdiction_id"))?;
    let ids = list_of(&q, "service_request_id");
    let codes = list_of(&q, "service_code");
    if let Some(codes) = &codes
        && let Some(bad) = codes.iter().find(|c| Category::from_name(c).is_none())
    {
        return Err(unknown_service(bad));
    }
    let statuses = list_of(&q, "status");
    if let Some(bad) = statuses
        .iter()
        .flatten()
        .find(|s| *s != "open" && *s != "closed")
    {
        return Err(Open311Error::bad(format!(
            "status {bad:?} is neither open nor closed"
        )));
    }
    let (start, end) = (date(&q, "start_date")?, date(&q, "end_date")?);
    let sensitive = sees_sensitive(&state, &q).await?;
    let now = Utc::now();
    let (start, end) = match (start, end) {
        (None, None) => (Some(now - Duration::days(DEFAULT_WINDOW_DAYS)), None),
        other => other,
    };
    let base = base_url(&headers, &state);
    let mut list: Vec<ReportView> = reports(&state)
        .await?
        .into_iter()
        .filter(|r| sensitive || !SENSITIVE.contains(&r.category))
        .filter(|r| match &ids {
            Some(ids) => ids.iter().any(|i| i == r.id.as_str()),
            None => {
                codes
                    .as_ref()
                    .is_none_or(|c| c.iter().any(|c| c == r.category.as_str()))
                    && statuses
                        .as_ref()
                        .is_none_or(|s| s.iter().any(|s| (s == "open") == r.status.is_open()))
                    && start.is_none_or(|d| r.submitted_at >= d)
                    && end.is_none_or(|d| r.submitted_at <= d)
            }
        })
        .collect();
    list.sort_by_key(|r| std::cmp::Reverse(r.submitted_at));
    list.truncate(REQUESTS_LISTED_MAX);
    let out: Vec<ServiceRequest> = list.iter().map(|r| service_request(r, &base)).collect();
    Ok(Json(out).into_response())
}

/// `GET requests/{id}.json`: one request, as a list of one (the spec's shape).
async fn one_request(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(file): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    check_jurisdiction(&state, q.get("jurisdiction_id"))?;
    let id = json_file(&file)?;
    let not_found = || {
        Open311Error::new(
            StatusCode::NOT_FOUND,
            format!(
                "service_request_id {id:?} is not a request of {}",
                state.place
            ),
        )
    };
    let id = ReportId::parse(id).map_err(|_| not_found())?;
    let report = match state.call(Call::new(AdminRequest::ShowReport(id))).await {
        Some(AdminResponse::Report(r)) if state.place.contains(&r.place) => r,
        Some(AdminResponse::Report(_) | AdminResponse::Failed(_)) => {
            return Err(not_found());
        }
        None => {
            return Err(Open311Error::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the node is busy or shutting down; try again",
            ));
        }
        Some(other) => return Err(unexpected(&other)),
    };
    if SENSITIVE.contains(&report.category) && !sees_sensitive(&state, &q).await? {
        return Err(Open311Error::new(
            StatusCode::FORBIDDEN,
            format!(
                "{} requests are shown to holders of an access code only: add api_key",
                report.category
            ),
        ));
    }
    let base = base_url(&headers, &state);
    Ok(Json(vec![service_request(&report, &base)]).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_scoped_to_the_code() {
        let mut h = HeaderMap::new();
        h.insert("idempotency-key", "k1".parse().unwrap());
        let a = write_call(&h, "code-a", AdminRequest::Status).unwrap();
        let a2 = write_call(&h, "code-a", AdminRequest::Status).unwrap();
        let b = write_call(&h, "code-b", AdminRequest::Status).unwrap();
        assert_eq!(a.id, a2.id);
        assert_ne!(a.id, b.id);
        assert!(crate::requests::valid_id(a.id.as_deref().unwrap()).is_ok());
        h.insert("idempotency-key", "x".repeat(200).parse().unwrap());
        assert!(write_call(&h, "code-a", AdminRequest::Status).is_err());
    }
}
