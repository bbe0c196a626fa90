//! The HTTP server's edge: what every request passes before a handler
//! sees it. Timeouts for the whole request and for its body, a rate limit
//! per client address (tower_governor), a refusal of cross-site posts
//! (CSRF), and every error answer in Open311's error format. Limits per
//! access code are checked by handlers once they have read the code
//! ([`KeyedLimits::code_allows`]), since Open311 puts it in the body.
//!
//! No cookie is ever set: clients send the access code with each request
//! (`api_key`), so a browser has nothing to send on a third site's behalf;
//! the Origin check is a second line for forms a later page may add.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use super::open311::error_response;

/// The edge's numbers. Defaults suit a community office's node serving a
/// few hundred riders.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest body of a request that may carry a photo.
    pub media_body_bytes_max: usize,
    /// Largest photo accepted; below the body cap, so that a request with
    /// a photo too large is read whole and answered with Open311's error
    /// rather than cut off mid-upload.
    pub photo_bytes_max: usize,
    /// Largest voice note accepted: a minute of Opus is about 0.5 MiB, so
    /// this leaves room for less frugal codecs (AAC, WAV at low rates).
    pub voice_bytes_max: usize,
    /// Largest body of any other request.
    pub body_bytes_max: usize,
    /// A request not answered by then gets 408.
    pub request_timeout_ms: u64,
    /// Requests one client address may make in a burst.
    pub ip_burst: u32,
    /// After a burst, one more request per this many milliseconds.
    pub ip_refill_ms: u64,
    /// Requests one access code may make in a burst.
    pub code_burst: u32,
    /// After a burst, one more request per this many milliseconds.
    pub code_refill_ms: u64,
    /// Requests one staff code may make in a burst: the console asks for
    /// a case, its photos and voice notes at each click.
    pub staff_code_burst: u32,
    /// After a burst, one more staff request per this many milliseconds.
    pub staff_code_refill_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // A phone photo (a few MiB) and a voice note, with room for the
            // form around them.
            media_body_bytes_max: 16 * 1024 * 1024,
            photo_bytes_max: 10 * 1024 * 1024,
            voice_bytes_max: 4 * 1024 * 1024,
            body_bytes_max: 64 * 1024,
            request_timeout_ms: 30_000,
            ip_burst: 60,
            ip_refill_ms: 200,
            code_burst: 20,
            code_refill_ms: 3_000,
            staff_code_burst: 120,
            staff_code_refill_ms: 250,
        }
    }
}

/// Rate limits keyed by access code, riders' and staff codes apart, and
/// the numbers they came from.
pub(super) struct KeyedLimits {
    codes: DefaultKeyedRateLimiter<String>,
    staff_codes: DefaultKeyedRateLimiter<String>,
    pub(super) config: Limits,
}

fn quota(burst: u32, refill_ms: u64) -> Quota {
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(Duration::from_millis(refill_ms.max(1)))
        .map(|q| q.allow_burst(burst))
        .unwrap_or_else(|| Quota::per_second(burst))
}

impl KeyedLimits {
    pub(super) fn new(limits: &Limits) -> KeyedLimits {
        KeyedLimits {
            codes: RateLimiter::keyed(quota(limits.code_burst, limits.code_refill_ms)),
            staff_codes: RateLimiter::keyed(quota(
                limits.staff_code_burst,
                limits.staff_code_refill_ms,
            )),
            config: limits.clone(),
        }
    }

    /// True when the code with hash `hash` may make one more request now.
    pub(super) fn code_allows(&self, hash: &str) -> bool {
        self.codes.check_key(&hash.to_owned()).is_ok()
    }

    /// True when the staff code with hash `hash` may make one more request now.
    pub(super) fn staff_code_allows(&self, hash: &str) -> bool {
        self.staff_codes.check_key(&hash.to_owned()).is_ok()
    }

    /// Forgets codes whose bucket has refilled, keeping the tables bounded
    /// by the codes active lately.
    fn forget_idle(&self) {
        for table in [&self.codes, &self.staff_codes] {
            table.retain_recent();
            table.shrink_to_fit();
        }
    }
}

/// How often idle keys are dropped from the rate-limit tables.
const FORGET_IDLE_MS: u64 = 60_000;

/// Puts the edge around `app`.
pub(super) fn wrap(app: Router, limits: &Limits, keyed: Arc<KeyedLimits>) -> Router {
    let ip = GovernorConfigBuilder::default()
        .per_millisecond(limits.ip_refill_ms.max(1))
        .burst_size(limits.ip_burst.max(1))
        .finish()
        .map(Arc::new);
    let timeout = Duration::from_millis(limits.request_timeout_ms);
    let app = app
        .layer(middleware::from_fn(same_origin_posts))
        .layer(RequestBodyTimeoutLayer::new(timeout))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ));
    let app = match ip {
        Some(config) => {
            let ips = config.limiter().clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(FORGET_IDLE_MS)).await;
                    ips.retain_recent();
                    ips.shrink_to_fit();
                    keyed.forget_idle();
                }
            });
            app.layer(GovernorLayer::new(config))
        }
        None => app,
    };
    // Outermost, so that refusals made by the layers above (413, 408, 429)
    // reach the client in Open311's format too.
    app.layer(middleware::map_response(open311_errors))
}

/// Refuses a request that changes something when a browser says it comes
/// from another site: a page elsewhere cannot make a rider's browser post.
async fn same_origin_posts(req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && cross_site(req.headers()) {
        return error_response(
            StatusCode::FORBIDDEN,
            "cross-site requests are refused: post from this server's own pages or from an app",
        );
    }
    next.run(req).await
}

fn cross_site(headers: &HeaderMap) -> bool {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        // Not a browser, or an old one on a same-origin form: apps and
        // command-line clients send no Origin.
        return false;
    };
    let host = headers.get(header::HOST).map(|h| h.as_bytes());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://").map(|(_, rest)| rest.as_bytes()));
    origin_host.is_none() || origin_host != host
}

/// An error answer that is not JSON yet (from a layer, or axum's own
/// refusals) becomes Open311's list of `{code, description}`.
async fn open311_errors(res: Response) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let description = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "the request is too large".to_owned(),
        StatusCode::TOO_MANY_REQUESTS => "too many requests; wait and try again".to_owned(),
        StatusCode::REQUEST_TIMEOUT => "the request took too long".to_owned(),
        _ if text.trim().is_empty() => status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_lowercase(),
        _ => text.trim().to_owned(),
    };
    let mut out = error_response(status, &description);
    // Keep what tells a client when to come back (retry-after).
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out.into_response().map(Body::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_posts_from_another_site_are_cross_site() {
        let host = ("host", "yizhan.example.cn:8443");
        assert!(!cross_site(&headers(&[host])), "apps send no Origin");
        assert!(!cross_site(&headers(&[
            host,
            ("origin", "https://yizhan.example.cn:8443")
        ])));
        assert!(cross_site(&headers(&[
            host,
            ("origin", "https://evil.example")
        ])));
        assert!(cross_site(&headers(&[host, ("origin", "null")])));
        assert!(cross_site(&headers(&[
            host,
            ("sec-fetch-site", "cross-site")
        ])));
    }

    #[test]
    fn a_code_is_limited_after_its_burst_and_others_are_not() {
        let limits = Limits {
            code_burst: 3,
            code_refill_ms: 60_000,
            ..Limits::default()
        };
        let keyed = KeyedLimits::new(&limits);
        for _ in 0..3 {
            assert!(keyed.code_allows("a"));
        }
        assert!(!keyed.code_allows("a"));
        assert!(keyed.code_allows("b"));
    }

    #[test]
    fn staff_codes_have_a_larger_bucket_of_their_own() {
        let limits = Limits {
            code_burst: 2,
            code_refill_ms: 60_000,
            staff_code_burst: 5,
            staff_code_refill_ms: 60_000,
            ..Limits::default()
        };
        let keyed = KeyedLimits::new(&limits);
        assert!(keyed.code_allows("s") && keyed.code_allows("s"));
        assert!(!keyed.code_allows("s"));
        for _ in 0..5 {
            assert!(keyed.staff_code_allows("s"));
        }
        assert!(!keyed.staff_code_allows("s"));
    }
}
