//! The small HTML page the browser sees at the end of an OAuth flow.
//!
//! It tells the person what happened and, when the flow ran in a popup,
//! notifies the opener with `postMessage` addressed to one exact origin
//! (never `*`). The page is locked down: a CSP allowing only its own inline
//! script and style, no referrer (the URL carries the authorization code),
//! no caching, no framing.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// What the opener window receives.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenerMessage<'a> {
    /// Always `grantd:oauth`, so listeners can filter.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<&'a str>,
    pub provider: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<&'a str>,
}

pub struct CallbackPage<'a> {
    pub status: StatusCode,
    pub title: &'a str,
    pub message: String,
    /// The opener to notify and what to tell it; `None` when the flow is unknown.
    pub notify: Option<(&'a str, OpenerMessage<'a>)>,
}

/// JSON safe to embed in a `<script>` element.
fn script_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|_| "null".into())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

impl IntoResponse for CallbackPage<'_> {
    fn into_response(self) -> Response {
        let nonce = crate::secrets::random_token();
        let script = match &self.notify {
            Some((origin, message)) => format!(
                "<script nonce=\"{nonce}\">(function(){{var m={msg};var o={origin};\
                 if(window.opener&&!window.opener.closed){{window.opener.postMessage(m,o);\
                 setTimeout(function(){{window.close();}},1500);}}}})();</script>",
                msg = script_json(message),
                origin = script_json(origin),
            ),
            None => String::new(),
        };
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <title>{title}</title><style nonce=\"{nonce}\">\
             body{{font:16px/1.5 system-ui,sans-serif;margin:0;display:grid;place-items:center;min-height:100vh;background:#f6f7f9;color:#1b1f24}}\
             main{{max-width:28rem;padding:2rem;background:#fff;border-radius:12px;box-shadow:0 1px 4px rgba(0,0,0,.1)}}\
             h1{{font-size:1.25rem;margin:0 0 .5rem}}</style></head>\
             <body><main role=\"status\"><h1>{title}</h1><p>{message}</p></main>{script}</body></html>",
            title = html_escape::encode_text(self.title),
            message = html_escape::encode_text(&self.message),
        );
        let csp = format!(
            "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
        );
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if let Ok(value) = HeaderValue::from_str(&csp) {
            headers.insert(header::CONTENT_SECURITY_POLICY, value);
        }
        response
    }
}
