//! The hosted connect page: one HTML document, one stylesheet and one
//! script, embedded in the binary (`include_str!`), so that running grantd
//! needs no Node.js and no build step. The script is plain modern
//! JavaScript with JSDoc types (checked by editors; there is nothing to
//! compile). No third-party assets: provider badges are initials on a
//! colour derived from the name.
//!
//! Every response is locked down like the callback page: a CSP allowing only
//! the page's own nonce-tagged script and stylesheet and `fetch` to grantd
//! itself, no referrer, no caching. The page may be framed only by the
//! session's allow-listed parent origin, found by the session id in the
//! query; the session's token is in the URL's fragment, which only the
//! page's script reads (and removes from the address bar).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub const PAGE_HTML: &str = include_str!("assets/connect.html");
pub const PAGE_CSS: &str = include_str!("assets/connect.css");
pub const PAGE_JS: &str = include_str!("assets/connect.js");
pub const FAVICON_SVG: &str = include_str!("assets/favicon.svg");

/// The page for one request; `frame_ancestor` is the session's parent origin.
pub struct ConnectPage {
    pub frame_ancestor: Option<String>,
}

impl IntoResponse for ConnectPage {
    fn into_response(self) -> Response {
        let nonce = crate::secrets::random_token();
        let body = PAGE_HTML
            .replace("{{nonce}}", &nonce)
            .replace("{{version}}", env!("CARGO_PKG_VERSION"));
        // The parent origin was checked against the allow-list when the
        // session was created; it is a bare origin, safe in a header.
        let ancestors = self
            .frame_ancestor
            .filter(|o| {
                o.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b';' && b != b',')
            })
            .unwrap_or_else(|| "'none'".into());
        let csp = format!(
            "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
             connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
             frame-ancestors {ancestors}"
        );
        let mut response = (StatusCode::OK, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        locked_down(headers);
        if let Ok(value) = HeaderValue::from_str(&csp) {
            headers.insert(header::CONTENT_SECURITY_POLICY, value);
        }
        response
    }
}

/// `/connect/assets/{file}`: the stylesheet, the script and the icon.
pub fn asset(file: &str) -> Option<Response> {
    let (content_type, body) = match file {
        "connect.css" => ("text/css; charset=utf-8", PAGE_CSS),
        "connect.js" => ("text/javascript; charset=utf-8", PAGE_JS),
        "favicon.svg" => ("image/svg+xml", FAVICON_SVG),
        _ => return None,
    };
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The page asks for them with ?v={version}: safe to keep a while.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    Some(response)
}

/// A small HTML page of the flow (bounce, callback): its body with the
/// locked-down headers and a CSP allowing only its own nonce'd script and style.
pub fn nonce_page(status: StatusCode, body: String, nonce: &str, csp_extra: &str) -> Response {
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
         frame-ancestors 'none'; base-uri 'none'{csp_extra}"
    );
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    locked_down(headers);
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// Headers every page of the flow carries.
pub fn locked_down(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}
