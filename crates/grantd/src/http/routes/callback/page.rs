//! The small HTML page the browser sees at the end of an OAuth flow.
//!
//! It tells the person what happened and, when the flow ran in a popup,
//! notifies the opener with `postMessage` addressed to one exact origin
//! (never `*`). The page is locked down: a CSP allowing only its own inline
//! script and style, no referrer (the URL carries the authorization code),
//! no caching, no framing.
//!
//! Flows started from the hosted connect page cooperate with it: in a popup,
//! the opener is the connect page (grantd's own origin), which relays the
//! result to the embedding page; when the connect page itself was navigated
//! to the provider (popups blocked), the opener, if any, is the embedding
//! page, so the result is also posted to the session's allow-listed parent
//! origin; with no opener at all, the page sends the browser back to the
//! session's return URL with `connectionId`, `status`, `provider` (and
//! `error`) in its query.

use crate::domain::ConnectReturn;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// What the opener window receives.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenerMessage<'a> {
    /// `grantd:oauth` for the opener of the flow; `grantd:connect` for the
    /// page embedding the connect page. Listeners filter on it.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<&'a str>,
    pub provider: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// The connect session of a connect-page flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<&'a str>,
}

pub struct CallbackPage<'a> {
    pub status: StatusCode,
    pub title: &'a str,
    pub message: String,
    /// The opener to notify and what to tell it; `None` when the flow is unknown.
    pub notify: Option<(&'a str, OpenerMessage<'a>)>,
    /// The same news in Ampersand's words, for `@amp-labs/react` (see
    /// [`ampersand_message`]), posted to the same opener.
    pub ampersand: Option<serde_json::Value>,
    /// Set for flows started from the hosted connect page.
    pub connect: Option<&'a ConnectReturn>,
    /// `Set-Cookie` value that clears the flow's CSRF cookie.
    pub clear_cookie: Option<String>,
}

/// What `@amp-labs/react` listens for from its popup:
/// `{eventType: "AUTHORIZATION_SUCCEEDED", data: {connection}}` with the
/// connection as the API shows it (without credentials; the library puts it
/// in its connection list), or `{eventType: "AUTHORIZATION_FAILED", data:
/// {error}}` (one of its screens reads a top-level `message` instead). An
/// opener that hears neither, once the popup closes, opens the same,
/// now spent, authorization URL again.
pub fn ampersand_message(outcome: Result<serde_json::Value, &str>) -> serde_json::Value {
    match outcome {
        Ok(connection) => serde_json::json!({
            "eventType": "AUTHORIZATION_SUCCEEDED",
            "data": {"connection": connection},
        }),
        Err(error) => serde_json::json!({
            "eventType": "AUTHORIZATION_FAILED",
            "message": error,
            "data": {"error": error},
        }),
    }
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

/// The session's return URL with the result in its query.
fn return_url_with_result(return_url: &str, message: &OpenerMessage<'_>) -> Option<String> {
    let mut url = url::Url::parse(return_url).ok()?;
    {
        let mut query = url.query_pairs_mut();
        if let Some(id) = message.connection_id {
            query.append_pair("connectionId", id);
        }
        query
            .append_pair("status", message.status)
            .append_pair("provider", message.provider);
        if let Some(error) = message.error {
            query.append_pair("error", error);
        }
    }
    Some(url.into())
}

impl CallbackPage<'_> {
    /// The page's script and, for connect-page flows, the link back.
    fn script_and_link(&self, nonce: &str) -> (String, String) {
        let Some((origin, message)) = &self.notify else {
            return (String::new(), String::new());
        };
        let parent = self.connect.and_then(|c| c.parent_origin.as_deref());
        let return_url = self
            .connect
            .and_then(|c| c.return_url.as_deref())
            .and_then(|r| return_url_with_result(r, message));
        let parent_message = OpenerMessage {
            kind: "grantd:connect",
            ..message.clone()
        };
        let script = format!(
            "<script nonce=\"{nonce}\">(function(){{var m={msg};var o={origin};\
             var p={parent};var pm={parent_msg};var r={ret};var a={amp};var w=window.opener;\
             if(w&&!w.closed){{try{{w.postMessage(m,o);}}catch(e){{}}\
             if(a){{try{{w.postMessage(a,o);}}catch(e){{}}}}\
             if(p){{try{{w.postMessage(pm,p);}}catch(e){{}}}}\
             setTimeout(function(){{window.close();}},1500);}}\
             else if(r){{setTimeout(function(){{window.location.replace(r);}},1200);}}}})();</script>",
            msg = script_json(message),
            origin = script_json(origin),
            parent = script_json(&parent),
            parent_msg = script_json(&parent_message),
            ret = script_json(&return_url),
            amp = script_json(&self.ampersand),
        );
        let link = match &return_url {
            Some(url) => format!(
                "<p><a href=\"{}\">Return to the application</a></p>",
                html_escape::encode_double_quoted_attribute(url)
            ),
            None => String::new(),
        };
        (script, link)
    }
}

impl IntoResponse for CallbackPage<'_> {
    fn into_response(self) -> Response {
        let nonce = crate::secrets::random_token();
        let (script, link) = self.script_and_link(&nonce);
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <title>{title}</title><style nonce=\"{nonce}\">\
             body{{font:16px/1.5 system-ui,sans-serif;margin:0;display:grid;place-items:center;min-height:100vh;background:#f6f7f9;color:#1b1f24}}\
             main{{max-width:28rem;margin:1rem;padding:2rem;background:#fff;border-radius:12px;box-shadow:0 1px 4px rgba(0,0,0,.1)}}\
             h1{{font-size:1.25rem;margin:0 0 .5rem}}a{{color:#1d4ed8}}</style></head>\
             <body><main role=\"status\"><h1>{title}</h1><p>{message}</p>{link}</main>{script}</body></html>",
            title = html_escape::encode_text(self.title),
            message = html_escape::encode_text(&self.message),
        );
        let mut response = crate::http::routes::connect::page::nonce_page(
            self.status,
            body,
            &nonce,
            "; form-action 'none'",
        );
        if let Some(cookie) = self
            .clear_cookie
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        response
    }
}
