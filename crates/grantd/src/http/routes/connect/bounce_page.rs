//! The page at a protected flow's bounce URL (`{redirect URI}/start#flow=…`).
//!
//! The flow's state is in the URL's fragment, which the browser never sends
//! to a server, so it cannot end up in an access log. This page's script
//! reads it, removes it from the address bar and posts it in a form to the
//! same path: a top-level navigation on grantd's origin, so that the cookie
//! the answer sets is first-party, and the answer's 303 takes the browser
//! on to the provider.
//!
//! CSP: the one nonce-tagged script and stylesheet, no framing, no base.
//! `form-action` is left out on purpose: browsers apply it to the redirect
//! that follows the post, which goes to the provider's origin (unknown to
//! this page, which does not know its flow); the only form is the page's
//! own, posting to grantd.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

pub struct BouncePage;

impl IntoResponse for BouncePage {
    fn into_response(self) -> Response {
        let nonce = crate::secrets::random_token();
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <meta name=\"referrer\" content=\"no-referrer\">\
             <title>Opening the sign-in page…</title><style nonce=\"{nonce}\">\
             body{{font:16px/1.5 system-ui,sans-serif;margin:0;display:grid;place-items:center;min-height:100vh;background:#f6f7f9;color:#1b1f24}}\
             main{{max-width:28rem;margin:1rem;padding:2rem;background:#fff;border-radius:12px;box-shadow:0 1px 4px rgba(0,0,0,.1)}}\
             h1{{font-size:1.25rem;margin:0 0 .5rem}}</style></head>\
             <body><main role=\"status\"><h1 id=\"title\">Opening the sign-in page…</h1>\
             <p id=\"text\">One moment.</p>\
             <form id=\"bounce\" method=\"post\" action=\"{action}\">\
             <input type=\"hidden\" name=\"flow\" id=\"flow\"></form>\
             <noscript><p>This page needs JavaScript to open the sign-in page.</p></noscript>\
             </main><script nonce=\"{nonce}\">(function(){{\
             var flow=new URLSearchParams(window.location.hash.slice(1)).get(\"flow\");\
             if(window.location.hash||window.location.search){{\
             history.replaceState(null,\"\",window.location.pathname);}}\
             if(!flow){{document.getElementById(\"title\").textContent=\"Nothing to open here\";\
             document.getElementById(\"text\").textContent=\"This page opens a sign-in page when the \
             application sends you to it. Close this window, or go back to the application and \
             start again.\";return;}}\
             document.getElementById(\"flow\").value=flow;\
             document.getElementById(\"bounce\").submit();}})();</script></body></html>",
            action = crate::domain::oauth::csrf::BOUNCE_SEGMENT,
        );
        crate::http::routes::connect::page::nonce_page(StatusCode::OK, body, &nonce, "")
    }
}
