//! The rider's page (`/`) and the staff console (`/console`): plain HTML,
//! CSS and JavaScript compiled into the binary, so a node serves them with
//! no files to install and no frontend build step. `docs/web.md` describes
//! the pages and the JSON endpoints they call.
//!
//! Every page goes out with a strict Content-Security-Policy: scripts only
//! from this server's own files (no inline script, no `eval`), nothing
//! framed, nothing fetched from elsewhere. A text a rider or staff member
//! wrote can therefore never run as script even if a page forgot to escape
//! it; the pages escape anyway (`textContent`, never `innerHTML`).

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The policy on every page and script. `blob:` is for the photo preview
/// and the voice note played back before sending; `data:` for nothing
/// but small inline images a browser makes itself.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; \
worker-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One embedded file: its bytes and its media type.
struct Asset {
    body: &'static str,
    mime: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const RIDER_PAGE: Asset = Asset {
    body: include_str!("assets/rider.html"),
    mime: HTML,
};
const CONSOLE_PAGE: Asset = Asset {
    body: include_str!("assets/console.html"),
    mime: HTML,
};
const RIDER_JS: Asset = Asset {
    body: include_str!("assets/rider.js"),
    mime: JS,
};
const QUEUE_JS: Asset = Asset {
    body: include_str!("assets/queue.js"),
    mime: JS,
};
const CONSOLE_JS: Asset = Asset {
    body: include_str!("assets/console.js"),
    mime: JS,
};
const COMMON_JS: Asset = Asset {
    body: include_str!("assets/common.js"),
    mime: JS,
};
const STYLE_CSS: Asset = Asset {
    body: include_str!("assets/style.css"),
    mime: CSS,
};
const SERVICE_WORKER: Asset = Asset {
    body: include_str!("assets/sw.js"),
    mime: JS,
};

impl Asset {
    /// The file with the security headers every page and script carries.
    /// `no-cache` lets a phone keep a copy but ask for a newer one each
    /// time it is online, so a node's upgrade reaches riders at once.
    fn answer(&self) -> Response {
        let mut res = ([(header::CONTENT_TYPE, self.mime)], self.body).into_response();
        let h = res.headers_mut();
        for (name, value) in [
            ("content-security-policy", CONTENT_SECURITY_POLICY),
            ("x-content-type-options", "nosniff"),
            // The page URL may carry the access code in its fragment; no
            // browser sends fragments, and this keeps the rest at home too.
            ("referrer-policy", "no-referrer"),
            ("x-frame-options", "DENY"),
            (
                "permissions-policy",
                "geolocation=(self), camera=(self), microphone=(self)",
            ),
            ("cache-control", "no-cache"),
        ] {
            h.insert(name, HeaderValue::from_static(value));
        }
        res
    }
}

/// The pages and their files.
pub fn routes() -> Router {
    Router::new()
        .route("/", get(|| async { RIDER_PAGE.answer() }))
        .route("/console", get(|| async { CONSOLE_PAGE.answer() }))
        .route("/static/rider.js", get(|| async { RIDER_JS.answer() }))
        .route("/static/queue.js", get(|| async { QUEUE_JS.answer() }))
        .route("/static/console.js", get(|| async { CONSOLE_JS.answer() }))
        .route("/static/common.js", get(|| async { COMMON_JS.answer() }))
        .route("/static/style.css", get(|| async { STYLE_CSS.answer() }))
        // At the root, so that its scope covers the rider's page.
        .route("/sw.js", get(|| async { SERVICE_WORKER.answer() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_hold_no_inline_script_and_no_inner_html() {
        for page in [RIDER_PAGE, CONSOLE_PAGE] {
            for chunk in page.body.split("<script").skip(1) {
                let tag = chunk.split('>').next().unwrap_or("");
                assert!(
                    tag.contains("src="),
                    "inline script in a page: <script{tag}>"
                );
            }
            for handler in ["onclick=", "onload=", "onerror=", "onsubmit=", "onchange="] {
                assert!(!page.body.contains(handler), "inline {handler} in a page");
            }
        }
        for script in [RIDER_JS, QUEUE_JS, CONSOLE_JS, COMMON_JS, SERVICE_WORKER] {
            assert!(!script.body.contains("innerHTML"), "innerHTML in a script");
            assert!(!script.body.contains("eval("), "eval in a script");
        }
    }
}
