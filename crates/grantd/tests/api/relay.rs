//! A tiny reverse proxy in front of grantd, as a deployment under a path
//! prefix has one: it serves `http://127.0.0.1:PORT/grantd/…`, strips the
//! prefix, forwards to grantd and hands back grantd's answer untouched
//! (status, every header including each `Set-Cookie`, body). It records the
//! request line of everything it forwards, like a proxy's access log.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// The proxy's prefix, as it appears in grantd's public URL.
pub const PREFIX: &str = "/grantd";

pub struct Relay {
    /// `http://127.0.0.1:PORT/grantd/`: grantd's public URL behind it.
    pub public_url: String,
    listener: Option<TcpListener>,
    log: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone)]
struct Upstream {
    base: String,
    client: reqwest::Client,
    log: Arc<Mutex<Vec<String>>>,
}

impl Relay {
    /// Binds the proxy's port, so that grantd can be started with the
    /// public URL before the proxy knows where grantd listens.
    pub async fn bind() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let public_url = format!("http://{}{PREFIX}/", listener.local_addr().unwrap());
        Self {
            public_url,
            listener: Some(listener),
            log: Arc::default(),
        }
    }

    /// Starts forwarding to grantd at `upstream` (`http://127.0.0.1:PORT`).
    pub fn forward_to(&mut self, upstream: &str) {
        let listener = self.listener.take().expect("forwarding starts once");
        let state = Upstream {
            base: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            log: self.log.clone(),
        };
        let router = Router::new().fallback(forward).with_state(state);
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    }

    /// Every request line forwarded so far (`GET /grantd/connect?…`).
    pub fn request_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

/// Headers that belong to one connection, not to the message.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "transfer-encoding" | "upgrade" | "host" | "content-length"
    )
}

async fn forward(State(upstream): State<Upstream>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    upstream
        .log
        .lock()
        .unwrap()
        .push(format!("{} {target}", parts.method));
    let Some(rest) = target.strip_prefix(PREFIX).filter(|r| r.starts_with('/')) else {
        return (StatusCode::NOT_FOUND, "not under the prefix").into_response();
    };
    let body = to_bytes(body, 1 << 20).await.unwrap();
    let mut outgoing = upstream
        .client
        .request(parts.method, format!("{}{rest}", upstream.base))
        .body(body);
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) {
            outgoing = outgoing.header(name, value);
        }
    }
    let answer = match outgoing.send().await {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if !hop_by_hop(name) {
            response = response.header(name, value);
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    response.body(Body::from(bytes)).unwrap()
}
