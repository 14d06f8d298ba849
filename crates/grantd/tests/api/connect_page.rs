//! The hosted connect page: allowed origins, connect sessions (token once,
//! single use, expiry, validation), the page and its CSP, inputs checked with
//! the catalog's patterns, CSRF cookies on flows, and the callback's
//! cooperation with the page. Flows run against the in-process mock here;
//! `real_oauth_server.rs` runs them against oauth2-mock-server and a real
//! browser.

use crate::helpers::{
    expect_problem, issue_names, problem, query_param, spawn_app, spawn_app_with,
    spawn_app_with_provider_app, TestApp,
};
use crate::relay::Relay;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

pub const EMBEDDER: &str = "https://app.customer.example";

/// Allows the customer's origin and registers apps for the mock providers.
pub async fn prepare(app: &TestApp) {
    app.allow_origins(&[EMBEDDER]).await;
    app.create_provider_app("mock").await;
    app.create_provider_app("mock-workspace").await;
}

/// A grantd ready for connect sessions (see `prepare`).
async fn spawn_prepared() -> TestApp {
    let app = spawn_app().await;
    prepare(&app).await;
    app
}

/// A prepared grantd and a fresh session from `new_session`.
async fn app_with_session() -> (TestApp, Value) {
    let app = spawn_prepared().await;
    let session = new_session(&app).await;
    (app, session)
}

/// The same, with the session's `mock` flow started; its bounce URL last.
async fn app_with_started_flow() -> (TestApp, Value, String) {
    let (app, session) = app_with_session().await;
    let url = start_mock(&app, token(&session)).await;
    (app, session, url)
}

/// `POST …/connect-sessions`.
pub async fn create_session(app: &TestApp, body: Value) -> Response {
    app.post_json(&app.project_url("/connect-sessions"), &body)
        .await
}

/// `POST …/connect-sessions` that must succeed; the new session (with its token).
pub async fn created_session(app: &TestApp, body: Value) -> Value {
    let response = create_session(app, body).await;
    let status = response.status();
    let session: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{session}");
    session
}

/// Asserts what the backend reads of a session that connected `connection_id`.
pub async fn assert_session_succeeded(app: &TestApp, session: &Value, connection_id: &Value) {
    let id = session["id"].as_str().unwrap();
    let read: Value = app
        .get_json(&app.project_url(&format!("/connect-sessions/{id}")))
        .await;
    assert_eq!(read["status"], "succeeded");
    assert_eq!(read["result"]["connectionId"], *connection_id);
}

/// A session for group `g`, consumer `c`, offering `mock` and `mock-workspace`.
async fn new_session(app: &TestApp) -> Value {
    created_session(
        app,
        json!({
            "providers": ["mock", "mock-workspace"],
            "groupRef": "g", "groupName": "Group G", "consumerRef": "c",
            "returnUrl": format!("{EMBEDDER}/integrations/done?tab=crm"),
        }),
    )
    .await
}

fn token(session: &Value) -> &str {
    session["token"].as_str().unwrap()
}

/// `GET /connect/api/session` with a token.
async fn page_session(app: &TestApp, token: &str) -> Response {
    app.client
        .get(app.url("/connect/api/session"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// `POST /connect/api/start` with a token.
async fn start(app: &TestApp, token: &str, body: Value) -> Response {
    app.client
        .post(app.url("/connect/api/start"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Starts the session's flow for `mock`; returns grantd's bounce URL.
async fn start_mock(app: &TestApp, token: &str) -> String {
    let response = start(app, token, json!({"provider": "mock"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["authorizationUrl"].as_str().unwrap().to_owned()
}

/// A browser for the flow's pages: its own cookie jar, which keeps and sends
/// cookies by their `Path`, `Max-Age` and `Secure` as a real browser does
/// (no cookie is ever attached by hand), and no automatic redirects, so that
/// a test sees every hop.
pub struct Browser {
    pub client: reqwest::Client,
    jar: Arc<Jar>,
}

impl Browser {
    pub fn new() -> Self {
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self { client, jar }
    }

    pub async fn get(&self, url: &str) -> Response {
        self.client.get(url).send().await.unwrap()
    }

    /// What the browser does with a bounce URL: it requests the page at the
    /// URL's path (the fragment stays in the browser) and the page's script
    /// posts the flow from the fragment to the same path.
    pub async fn open_bounce(&self, url: &str) -> Response {
        let (page_url, fragment) = url.split_once('#').unwrap_or((url, ""));
        let page = self.get(page_url).await;
        assert_eq!(page.status(), StatusCode::OK, "the bounce page");
        let html = page.text().await.unwrap();
        let action = html
            .split("method=\"post\" action=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the page's form");
        let target = url::Url::parse(page_url).unwrap().join(action).unwrap();
        let flow: Vec<(String, String)> = url::form_urlencoded::parse(fragment.as_bytes())
            .filter(|(k, _)| k == "flow")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        self.client.post(target).form(&flow).send().await.unwrap()
    }

    /// The `Cookie` header this browser would send to `url`.
    pub fn cookies_for(&self, url: &str) -> Option<String> {
        self.jar
            .cookies(&url.parse().unwrap())
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

/// What the bounce endpoint answered: the provider URL and the cookie.
pub struct Bounced {
    pub location: String,
    /// `name=value`, as a browser would send it back.
    pub cookie: String,
    pub set_cookie: String,
}

pub async fn bounce_ok(browser: &Browser, url: &str) -> Bounced {
    let response = browser.open_bounce(url).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    Bounced {
        location: response.headers()[LOCATION].to_str().unwrap().to_owned(),
        cookie: set_cookie.split(';').next().unwrap().to_owned(),
        set_cookie,
    }
}

/// The callback URL the mock sends the browser to, for a bounced flow.
async fn authorize(app: &TestApp, bounced: &Bounced) -> String {
    app.authorize(&bounced.location).await
}

/// The bounce's post as a client other than the page sends it: the flow from
/// the URL's fragment, with a cookie of its choosing (a forged one).
async fn post_flow(app: &TestApp, url: &str, cookie: Option<&str>) -> Response {
    let (page_url, fragment) = url.split_once('#').unwrap();
    let mut request = app.client.post(page_url).body(fragment.to_owned()).header(
        reqwest::header::CONTENT_TYPE,
        "application/x-www-form-urlencoded",
    );
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    request.send().await.unwrap()
}

/// The callback as another browser sends it: without the flow's cookie,
/// or with a value it forged.
async fn callback_elsewhere(app: &TestApp, url: &str, cookie: Option<&str>) -> Response {
    let mut request = app.client.get(url);
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    request.send().await.unwrap()
}

async fn flow_outcomes(app: &TestApp) -> Vec<(Option<String>, Option<String>)> {
    sqlx::query_as("SELECT outcome, outcome_detail FROM oauth_flows")
        .fetch_all(&app.db().await)
        .await
        .unwrap()
}

// ---------- allowed origins ----------

#[tokio::test]
async fn allowed_origins_are_validated_normalized_and_replaced() {
    let app = spawn_app().await;
    let url = app.project_url("/allowed-origins");
    let put = |body: Value| {
        app.client
            .put(&url)
            .header("X-Api-Key", &app.api_key)
            .json(&body)
            .send()
    };
    let empty: Value = app.get_json(&url).await;
    assert_eq!(empty, json!({"origins": []}));

    let bad = put(json!({"origins": ["https://ok.example", "https://x.example/path", "http://plain.example", "*"]}))
        .await
        .unwrap();
    let body = expect_problem(bad, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        issue_names(&body),
        ["origins[1]", "origins[2]", "origins[3]"]
    );
    let missing = problem(put(json!({})).await.unwrap()).await;
    assert_eq!(issue_names(&missing), ["origins"]);

    let good = put(json!({"origins": ["https://B.example:443", "http://localhost:3000", "https://a.example/"]}))
        .await
        .unwrap();
    assert_eq!(good.status(), StatusCode::OK);
    let stored: Value = good.json().await.unwrap();
    assert_eq!(
        stored["origins"],
        json!([
            "http://localhost:3000",
            "https://a.example",
            "https://b.example"
        ])
    );
    let read: Value = app.get_json(&url).await;
    assert_eq!(read, stored);

    let cleared: Value = put(json!({"origins": []}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["origins"], json!([]));

    // Another project's list is not reachable.
    let (_, other_key) = app.other_project().await;
    let response = app.get_with_key(&url, &other_key).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

// ---------- sessions ----------

#[tokio::test]
async fn a_session_shows_its_token_once_and_stores_only_its_hash() {
    let (app, session) = app_with_session().await;
    let token = token(&session);
    assert!(token.starts_with("gcs_") && token.len() > 40, "{token}");
    // The token only after `#`: browsers never send a fragment, so no
    // request line (and no access log) carries it.
    assert_eq!(
        session["url"],
        format!(
            "{}/connect?sessionId={}#token={token}",
            app.address,
            session["id"].as_str().unwrap()
        )
    );
    assert_eq!(session["status"], "pending");
    assert_eq!(session["providers"], json!(["mock", "mock-workspace"]));
    assert_eq!(
        session["parentOrigin"], EMBEDDER,
        "defaults to the return URL's origin"
    );
    let created =
        chrono::DateTime::parse_from_rfc3339(session["createdAt"].as_str().unwrap()).unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(session["expiresAt"].as_str().unwrap()).unwrap();
    assert_eq!(
        (expires - created).num_seconds(),
        600,
        "ten minutes by default"
    );

    let id = session["id"].as_str().unwrap();
    let read: Value = app
        .get_json(&app.project_url(&format!("/connect-sessions/{id}")))
        .await;
    assert_eq!(read["id"], id);
    assert_eq!(read["status"], "pending");
    assert!(read.get("token").is_none(), "the token is shown once");
    assert!(!read.to_string().contains(token));

    let (hash,): (String,) = sqlx::query_as("SELECT token_hash FROM connect_sessions")
        .fetch_one(&app.db().await)
        .await
        .unwrap();
    assert_ne!(hash, token);
    assert_eq!(hash.len(), 64, "a SHA-256");

    let (_, other_key) = app.other_project().await;
    let response = app
        .get_with_key(
            &app.url(&format!("/v1/projects/globex/connect-sessions/{id}")),
            &other_key,
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "sessions are per project"
    );
}

#[tokio::test]
async fn session_requests_are_validated_naming_each_bad_field() {
    let app = spawn_prepared().await;
    let names = |body: Value| {
        let app = &app;
        async move {
            let response = create_session(app, body).await;
            issue_names(&expect_problem(response, StatusCode::BAD_REQUEST).await)
        }
    };
    assert_eq!(
        names(json!({})).await,
        ["groupRef", "consumerRef", "providers"]
    );
    assert_eq!(
        names(json!({"providers": [], "groupRef": "g", "consumerRef": "c"})).await,
        ["providers"]
    );
    // Unknown; no provider app in this project; API-key only.
    assert_eq!(
        names(json!({"providers": ["mock", "nope", "mock-basic", "datadog"], "groupRef": "g", "consumerRef": "c"}))
            .await,
        ["providers[1]", "providers[2]", "providers[3]"]
    );
    let base = json!({"providers": ["mock"], "groupRef": "g", "consumerRef": "c"});
    let with = |extra: Value| {
        let mut body = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    assert_eq!(
        names(with(json!({"returnUrl": "https://evil.example/cb"}))).await,
        ["returnUrl"],
        "an origin not on the allow-list"
    );
    assert_eq!(
        names(with(json!({"returnUrl": "not a url"}))).await,
        ["returnUrl"]
    );
    assert_eq!(
        names(with(json!({"returnUrl": format!("{EMBEDDER}/done#frag")}))).await,
        ["returnUrl"]
    );
    assert_eq!(
        names(with(json!({"parentOrigin": format!("{EMBEDDER}/page")}))).await,
        ["parentOrigin"]
    );
    assert_eq!(
        names(with(json!({"parentOrigin": "https://other.example"}))).await,
        ["parentOrigin"]
    );
    assert_eq!(
        names(with(json!({"expiresInSeconds": 5}))).await,
        ["expiresInSeconds"]
    );
    assert_eq!(
        names(with(json!({"groupName": "x".repeat(300)}))).await,
        ["groupName"]
    );
    assert_eq!(
        names(json!({"connectionId": "nope"})).await,
        ["connectionId"]
    );
    let unknown_field = create_session(&app, with(json!({"colour": "red"}))).await;
    assert_eq!(unknown_field.status(), StatusCode::BAD_REQUEST);

    let ok = create_session(
        &app,
        with(json!({"parentOrigin": EMBEDDER, "expiresInSeconds": 60})),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    assert_eq!(app.connection_count().await, 0);
}

#[tokio::test]
async fn the_page_reads_its_session_with_providers_inputs_and_patterns() {
    let (app, session) = app_with_session().await;

    let response = page_session(&app, token(&session)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let page: Value = response.json().await.unwrap();
    assert_eq!(page["status"], "pending");
    assert_eq!(page["groupName"], "Group G");
    assert_eq!(page["reauthorize"], false);
    assert_eq!(page["parentOrigin"], EMBEDDER);
    let providers = page["providers"].as_array().unwrap();
    assert_eq!(providers.len(), 2);
    assert_eq!(providers[0]["name"], "mock");
    assert_eq!(providers[0]["displayName"], "Mock CRM");
    assert_eq!(providers[0]["initials"], "MC");
    assert!(providers[0]["hue"].as_u64().unwrap() < 12);
    assert_eq!(providers[0]["inputs"], json!([]));
    let inputs = providers[1]["inputs"].as_array().unwrap();
    assert_eq!(inputs[0]["field"], "providerWorkspaceRef");
    assert_eq!(inputs[0]["label"], "Tenant");
    assert_eq!(inputs[0]["pattern"], "^[a-z][a-z0-9-]{0,30}$");
    assert_eq!(inputs[1]["field"], "providerMetadata.accountId");
    assert!(page.get("token").is_none());

    let anonymous = app.get_without_key(&app.url("/connect/api/session")).await;
    assert_eq!(
        expect_problem(anonymous, StatusCode::UNAUTHORIZED).await["status"],
        401
    );
    let unknown = page_session(&app, "gcs_made-up").await;
    assert_eq!(
        expect_problem(unknown, StatusCode::NOT_FOUND).await["status"],
        404
    );
}

#[tokio::test]
async fn inputs_are_checked_with_the_catalog_patterns_before_the_session_is_spent() {
    let (app, session) = app_with_session().await;
    let token = token(&session);

    let bad = start(
        &app,
        token,
        json!({"provider": "mock-workspace", "providerWorkspaceRef": "Not A Tenant!",
               "providerMetadata": {"accountId": {"value": "12ab"}}}),
    )
    .await;
    let body = expect_problem(bad, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        issue_names(&body),
        ["providerWorkspaceRef", "providerMetadata.accountId.value"]
    );
    let missing = problem(start(&app, token, json!({"provider": "mock-workspace"})).await).await;
    assert_eq!(
        issue_names(&missing),
        ["providerWorkspaceRef", "providerMetadata.accountId"]
    );
    let not_offered = problem(start(&app, token, json!({"provider": "mock-basic"})).await).await;
    assert_eq!(issue_names(&not_offered), ["provider"]);
    let none = problem(start(&app, token, json!({})).await).await;
    assert_eq!(issue_names(&none), ["provider"]);
    assert_eq!(
        page_session(&app, token)
            .await
            .json::<Value>()
            .await
            .unwrap()["status"],
        "pending",
        "mistakes do not spend the session"
    );

    let good = start(
        &app,
        token,
        json!({"provider": "mock-workspace", "providerWorkspaceRef": "acme",
               "providerMetadata": {"accountId": {"value": "12345"}}}),
    )
    .await;
    assert_eq!(good.status(), StatusCode::OK);
    let url: Value = good.json().await.unwrap();
    let url = url["authorizationUrl"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/callbacks/v1/oauth/start#flow=", app.address)),
        "{url}"
    );
    let browser = Browser::new();
    let bounced = bounce_ok(&browser, url).await;
    assert_eq!(
        query_param(&bounced.location, "tenant").as_deref(),
        Some("acme")
    );
    let done = browser.get(&authorize(&app, &bounced).await).await;
    assert_eq!(done.status(), StatusCode::OK);
    let connection = app.only_connection_for("g").await;
    assert_eq!(connection["providerWorkspaceRef"], "acme");
    assert_eq!(connection["group"]["groupName"], "Group G");
}

#[tokio::test]
async fn a_session_starts_one_flow_only() {
    let (app, session) = app_with_session().await;
    let token = token(&session).to_owned();

    let racers: Vec<_> = (0..6)
        .map(|_| {
            let client = app.client.clone();
            let url = app.url("/connect/api/start");
            let token = token.clone();
            tokio::spawn(async move {
                client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"provider": "mock"}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for racer in racers {
        statuses.push(racer.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT));
    let again = start(&app, &token, json!({"provider": "mock"})).await;
    assert_eq!(
        expect_problem(again, StatusCode::CONFLICT).await["status"],
        409
    );

    let page: Value = page_session(&app, &token).await.json().await.unwrap();
    assert_eq!(
        page["status"], "started",
        "still readable while its flow runs"
    );
    assert_eq!(page["provider"], "mock");
    let (flows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM oauth_flows")
        .fetch_one(&app.db().await)
        .await
        .unwrap();
    assert_eq!(flows, 1);
}

#[tokio::test]
async fn an_expired_session_is_refused() {
    let (app, session) = app_with_session().await;
    sqlx::query("UPDATE connect_sessions SET expires_at = $1")
        .bind(grantd::storage::now_millis() - 1)
        .execute(&app.db().await)
        .await
        .unwrap();
    assert_eq!(
        page_session(&app, token(&session)).await.status(),
        StatusCode::NOT_FOUND
    );
    let response = start(&app, token(&session), json!({"provider": "mock"})).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let id = session["id"].as_str().unwrap();
    let read: Value = app
        .get_json(&app.project_url(&format!("/connect-sessions/{id}")))
        .await;
    assert_eq!(read["status"], "expired");
}

// ---------- the page ----------

#[tokio::test]
async fn the_page_is_served_with_a_strict_csp_and_no_inline_handlers() {
    let (app, session) = app_with_session().await;
    let response = app.get_without_key(session["url"].as_str().unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let csp = headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let html = response.text().await.unwrap();

    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce in the CSP");
    assert!(nonce.len() >= 22);
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(
        csp.contains(&format!("script-src 'nonce-{nonce}'")),
        "{csp}"
    );
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
    assert!(
        csp.contains(&format!("frame-ancestors {EMBEDDER}")),
        "only the session's parent may frame it: {csp}"
    );
    // Every script and stylesheet carries the nonce; none is inline.
    assert_eq!(html.matches("<script").count(), 1);
    assert!(html.contains(&format!(
        "<script type=\"module\" src=\"connect/assets/connect.js?v={}\" nonce=\"{nonce}\"></script>",
        env!("CARGO_PKG_VERSION")
    )));
    assert!(html.contains(&format!("nonce=\"{nonce}\">")));
    assert!(!html.contains("<style"), "no inline styles");
    let lowered = html.to_lowercase();
    for handler in [
        " onclick=",
        " onload=",
        " onsubmit=",
        " onerror=",
        "javascript:",
    ] {
        assert!(!lowered.contains(handler), "inline handler {handler}");
    }
    // Labels and a live region for assistive technology.
    assert!(html.contains("aria-live=\"polite\""));
    assert!(html.contains("lang=\"en\""));

    // A fresh nonce each time.
    let again = app.get_without_key(session["url"].as_str().unwrap()).await;
    assert_ne!(
        again.headers()["content-security-policy"],
        headers["content-security-policy"]
    );

    // Without a live session nobody may frame it: an unknown id, something
    // that is not an id, and the token in the query (the old form of the
    // URL: the server no longer reads a token from a request line).
    let unknown_id = uuid::Uuid::now_v7().to_string();
    for query in [
        format!("sessionId={unknown_id}"),
        "sessionId=gcs_nope".to_owned(),
        format!("session={}", token(&session)),
    ] {
        let unknown = app
            .get_without_key(&app.url(&format!("/connect?{query}")))
            .await;
        assert_eq!(unknown.status(), StatusCode::OK, "the script reports it");
        assert!(
            unknown.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'"),
            "{query}"
        );
    }

    // A NUL is refused before anything reads the query, as everywhere.
    let nul = app
        .get_without_key(&app.url("/connect?sessionId=gcs_nope%00"))
        .await;
    assert_eq!(nul.status(), StatusCode::BAD_REQUEST);

    let js = app
        .get_without_key(&app.url("/connect/assets/connect.js"))
        .await;
    assert_eq!(js.status(), StatusCode::OK);
    assert!(js.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    let js = js.text().await.unwrap();
    assert!(!js.contains("innerHTML") && !js.contains("eval("));
    assert!(
        !js.contains("postMessage(message, \"*\")") && !js.contains("'*'"),
        "postMessage never to *"
    );
    assert!(js.contains("target.postMessage(message, session.parentOrigin)"));
    let css = app
        .get_without_key(&app.url("/connect/assets/connect.css"))
        .await;
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    let missing = app
        .get_without_key(&app.url("/connect/assets/secrets.txt"))
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

// ---------- CSRF and the callback ----------

#[tokio::test]
async fn a_connect_flow_binds_a_csrf_cookie_and_completes_in_the_same_browser() {
    let (app, session, url) = app_with_started_flow().await;
    let browser = Browser::new();
    let bounced = bounce_ok(&browser, &url).await;
    assert!(
        bounced
            .location
            .starts_with(&format!("{}/authorize?", app.provider.base)),
        "{}",
        bounced.location
    );
    let attributes: Vec<&str> = bounced.set_cookie.split("; ").collect();
    assert!(attributes[0].starts_with("grantd_csrf_"), "{attributes:?}");
    for wanted in ["HttpOnly", "SameSite=Lax", "Path=/callbacks/v1/oauth"] {
        assert!(attributes.contains(&wanted), "{attributes:?}");
    }
    // The browser sends it back to the bounce (a popup opened again) and to
    // the callback, and to nothing else of grantd's.
    for path in ["/callbacks/v1/oauth/start", "/callbacks/v1/oauth?state=x"] {
        assert_eq!(
            browser.cookies_for(&app.url(path)).as_deref(),
            Some(bounced.cookie.as_str()),
            "{path}"
        );
    }
    for path in [
        "/connect?sessionId=x",
        "/connect/api/session",
        "/v1/projects/acme/connections",
        "/callbacks/v1/oauthx",
        "/",
    ] {
        assert_eq!(browser.cookies_for(&app.url(path)), None, "{path}");
    }
    assert!(
        !attributes.contains(&"Secure"),
        "plain http public URL: no Secure"
    );
    let (hash,): (Option<String>,) = sqlx::query_as("SELECT csrf_hash FROM oauth_flows")
        .fetch_one(&app.db().await)
        .await
        .unwrap();
    let value = bounced.cookie.split_once('=').unwrap().1;
    assert_eq!(
        hash.as_deref(),
        Some(grantd::secrets::sha256_hex(value.as_bytes()).as_str()),
        "only the cookie's hash is stored"
    );

    let callback_url = authorize(&app, &bounced).await;
    let response = browser.get(&callback_url).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cleared = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(
        browser.cookies_for(&callback_url),
        None,
        "the browser dropped the spent flow's cookie"
    );
    let page = response.text().await.unwrap();
    let connection = app.only_connection_for("g").await;
    let id = connection["id"].as_str().unwrap();
    // Popup: to the connect page (grantd's own origin) and to the embedder.
    assert!(page.contains(&format!("\"{}\"", app.address)), "{page}");
    assert!(page.contains(&format!("\"{EMBEDDER}\"")), "{page}");
    assert!(page.contains("\"grantd:connect\""));
    assert!(page.contains(&format!(
        "\"sessionId\":\"{}\"",
        session["id"].as_str().unwrap()
    )));
    assert!(!page.contains("\"*\""));
    // Redirect fallback: back to the return URL with the result.
    assert!(
        page.contains(&format!(
            "{EMBEDDER}/integrations/done?tab=crm\\u0026connectionId={id}\\u0026status=success\\u0026provider=mock"
        )),
        "{page}"
    );
    assert!(page.contains(&format!(
        "href=\"{EMBEDDER}/integrations/done?tab=crm&amp;connectionId={id}&amp;status=success&amp;provider=mock\""
    )));

    let read: Value = page_session(&app, token(&session))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["status"], "succeeded");
    assert_eq!(read["result"]["status"], "success");
    assert_eq!(read["result"]["connectionId"], id);
    assert_session_succeeded(&app, &session, &json!(id)).await;
}

#[tokio::test]
async fn a_state_arriving_from_another_browser_is_refused_and_nothing_is_stored() {
    let app = spawn_prepared().await;
    for cookie in [None, Some("grantd_csrf_0000000000000000=forged")] {
        let session = new_session(&app).await;
        let browser = Browser::new();
        let bounced = bounce_ok(&browser, &start_mock(&app, token(&session)).await).await;
        let callback_url = authorize(&app, &bounced).await;
        let forged = cookie.map(|c| {
            // Right name, wrong value.
            format!(
                "{}={}",
                bounced.cookie.split_once('=').unwrap().0,
                c.split_once('=').unwrap().1
            )
        });
        let response = callback_elsewhere(&app, &callback_url, forged.as_deref()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("did not start in this browser"));
        let read: Value = page_session(&app, token(&session))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(read["result"]["status"], "failure");
        assert_eq!(read["result"]["error"], "csrf_rejected");
        // The flow is spent: the starting browser, with the right cookie,
        // now comes too late.
        assert!(browser.cookies_for(&callback_url).is_some());
        let late = browser.get(&callback_url).await;
        assert_eq!(late.status(), StatusCode::BAD_REQUEST);
    }
    app.assert_no_code_exchanged().await;
    let outcomes = flow_outcomes(&app).await;
    assert_eq!(outcomes.len(), 2);
    for (outcome, detail) in outcomes {
        assert_eq!(outcome.as_deref(), Some("csrf_rejected"));
        assert!(detail.unwrap().contains("cookie"));
    }
}

#[tokio::test]
async fn the_bounce_binds_the_first_browser_and_lets_only_it_come_back() {
    let (app, _session, url) = app_with_started_flow().await;
    let browser = Browser::new();
    let first = bounce_ok(&browser, &url).await;
    // Another browser (no cookie, or a forged one) gets nothing.
    let other = Browser::new().open_bounce(&url).await;
    assert_eq!(other.status(), StatusCode::BAD_REQUEST);
    assert!(other.headers().get(SET_COOKIE).is_none());
    let name = first.cookie.split_once('=').unwrap().0;
    let forged = post_flow(&app, &url, Some(&format!("{name}=forged"))).await;
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    // The same browser (a closed popup opened again) gets the same
    // redirect: its jar sends the cookie to the bounce by itself.
    let again = browser.open_bounce(&url).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(again.headers()[LOCATION], first.location.as_str());
    // And finishes the flow.
    let done = browser.get(&authorize(&app, &first).await).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(app.only_connection_for("g").await["provider"], "mock");

    let bounce_page = app.url("/callbacks/v1/oauth/start");
    let unknown = Browser::new()
        .open_bounce(&format!("{bounce_page}#flow=made-up"))
        .await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let none = Browser::new().open_bounce(&bounce_page).await;
    assert_eq!(none.status(), StatusCode::BAD_REQUEST);
    let not_a_form = app
        .client
        .post(&bounce_page)
        .json(&json!({"flow": "made-up"}))
        .send()
        .await
        .unwrap();
    assert_eq!(not_a_form.status(), StatusCode::BAD_REQUEST);
}

/// Where a flow's state would travel in a request line (the bounce URL's
/// old form, or the flow in the query instead of the body), grantd does
/// not read it: the flow stays unbound and the browser goes nowhere.
#[tokio::test]
async fn a_flow_named_in_a_query_string_is_not_started() {
    let (app, _session, url) = app_with_started_flow().await;
    let state = url.split_once("#flow=").unwrap().1.to_owned();
    let browser = Browser::new();
    let old_form = browser
        .get(&app.url(&format!("/connect/start?flow={state}")))
        .await;
    assert_eq!(old_form.status(), StatusCode::BAD_REQUEST);
    assert!(old_form.headers().get(LOCATION).is_none());
    assert!(old_form.headers().get(SET_COOKIE).is_none());
    assert!(old_form
        .text()
        .await
        .unwrap()
        .contains("This link is no longer valid"));
    let in_query = browser
        .client
        .post(app.url(&format!("/callbacks/v1/oauth/start?flow={state}")))
        .form(&[("other", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(in_query.status(), StatusCode::BAD_REQUEST);
    assert!(in_query.headers().get(SET_COOKIE).is_none());
    let (bound,): (Option<String>,) = sqlx::query_as("SELECT csrf_hash FROM oauth_flows")
        .fetch_one(&app.db().await)
        .await
        .unwrap();
    assert_eq!(bound, None, "no browser owns the flow yet");
    // The bounce page itself ignores a query: it works from the fragment
    // only. Locked down like the other pages of the flow.
    let page = browser
        .get(&app.url(&format!("/callbacks/v1/oauth/start?flow={state}")))
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    assert_eq!(page.headers()["cache-control"], "no-store");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    for wanted in [
        "default-src 'none'",
        "script-src 'nonce-",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(wanted), "{csp}");
    }
    assert!(!csp.contains("unsafe-"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(!html.contains(&state), "the page does not echo the query");
    assert!(html.contains("window.location.hash"));
    // The real URL still works, for the first browser that opens it.
    bounce_ok(&browser, &url).await;
}

/// Behind a proxy that serves grantd under `/grantd/`, a connect-page flow
/// runs from the page to the stored connection in a browser with a real
/// cookie jar: the cookie's path follows the prefix, a closed popup can be
/// opened again, and the proxy's log never holds the session token, nor the
/// flow's state before the provider sends it back to the callback.
#[tokio::test]
async fn a_public_url_with_a_path_prefix_works_end_to_end_behind_a_proxy() {
    let mut relay = Relay::bind().await;
    let public_url = relay.public_url.clone();
    let configured = public_url.clone();
    let app = spawn_app_with(move |config| {
        config.public_url = Some(configured.parse().unwrap());
    })
    .await;
    relay.forward_to(&app.address);
    prepare(&app).await;
    let session = new_session(&app).await;
    let token = token(&session).to_owned();
    let page_url = session["url"].as_str().unwrap();
    assert!(
        page_url.starts_with(&format!("{public_url}connect?sessionId=")),
        "{page_url}"
    );

    // The page, and what its script fetches, relative to the page.
    let browser = Browser::new();
    let page = browser.get(page_url).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains(&format!("frame-ancestors {EMBEDDER}")));
    let base = url::Url::parse(page_url).unwrap();
    let script = browser
        .get(base.join("connect/assets/connect.js").unwrap().as_str())
        .await;
    assert_eq!(script.status(), StatusCode::OK);
    let read = browser
        .client
        .get(base.join("connect/api/session").unwrap())
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let started = browser
        .client
        .post(base.join("connect/api/start").unwrap())
        .bearer_auth(&token)
        .json(&json!({"provider": "mock"}))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::OK);
    let started: Value = started.json().await.unwrap();
    let url = started["authorizationUrl"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{public_url}callbacks/v1/oauth/start#flow=")),
        "{url}"
    );
    let state = url.split_once("#flow=").unwrap().1.to_owned();

    let first = bounce_ok(&browser, url).await;
    assert!(
        first
            .set_cookie
            .split("; ")
            .any(|a| a == "Path=/grantd/callbacks/v1/oauth"),
        "{}",
        first.set_cookie
    );
    assert_eq!(browser.cookies_for(&format!("{public_url}connect")), None);
    // The popup closed before the provider's page was used; the page opens
    // the same URL again and this browser's cookie comes along.
    let again = browser.open_bounce(url).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(again.headers()[LOCATION], first.location.as_str());

    let callback_url = app.authorize(&first.location).await;
    assert!(
        callback_url.starts_with(&format!("{public_url}callbacks/v1/oauth?")),
        "{callback_url}"
    );
    let done = browser.get(&callback_url).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(app.only_connection_for("g").await["provider"], "mock");
    let result: Value = browser
        .client
        .get(base.join("connect/api/session").unwrap())
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(result["status"], "succeeded");

    let lines = relay.request_lines();
    assert!(lines.len() >= 8, "{lines:#?}");
    assert!(
        lines.iter().all(|line| !line.contains(&token)),
        "the session token in a request line: {lines:#?}"
    );
    let with_state: Vec<_> = lines.iter().filter(|l| l.contains(&state)).collect();
    assert_eq!(with_state.len(), 1, "{lines:#?}");
    assert!(
        with_state[0].starts_with("GET /grantd/callbacks/v1/oauth?"),
        "only the provider's redirect to the callback carries it: {with_state:?}"
    );
}

#[tokio::test]
async fn the_csrf_cookie_is_secure_when_grantd_is_served_over_https() {
    let app = spawn_app_with(|config| {
        config.public_url = Some("https://grantd.example/".parse().unwrap());
    })
    .await;
    prepare(&app).await;
    let session = new_session(&app).await;
    let page_url = session["url"].as_str().unwrap();
    assert!(
        page_url.starts_with("https://grantd.example/connect?sessionId=")
            && page_url.contains("#token=gcs_"),
        "{page_url}"
    );
    let url = start_mock(&app, token(&session)).await;
    assert!(
        url.starts_with("https://grantd.example/callbacks/v1/oauth/start#flow="),
        "{url}"
    );
    // A browser keeps a Secure cookie only from https, which this test
    // server does not speak: the attributes are read off the headers.
    let local = url.replace("https://grantd.example", &app.address);
    assert_ne!(local, url);
    let response = post_flow(&app, &local, None).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        set_cookie.split("; ").any(|a| a == "Secure"),
        "{set_cookie}"
    );
    // The callback clears it with the same attributes, Secure included
    // (a browser may ignore a clearing cookie that lacks them).
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    let callback_url = app
        .authorize(&location)
        .await
        .replace("https://grantd.example", &app.address);
    let cookie = set_cookie.split(';').next().unwrap();
    let done = callback_elsewhere(&app, &callback_url, Some(cookie)).await;
    assert_eq!(done.status(), StatusCode::OK);
    let cleared: Vec<&str> = done.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split("; ")
        .collect();
    for wanted in [
        "Max-Age=0",
        "Path=/callbacks/v1/oauth",
        "Secure",
        "HttpOnly",
    ] {
        assert!(cleared.contains(&wanted), "{cleared:?}");
    }
}

#[tokio::test]
async fn oauth_connect_with_enable_csrf_protection_goes_through_the_bounce() {
    let app = spawn_app_with_provider_app("mock").await;
    let url = app
        .oauth_connect(json!({
            "projectId": app.project_id, "provider": "mock", "groupRef": "g", "consumerRef": "c",
            "enableCSRFProtection": true,
        }))
        .await;
    assert!(
        url.starts_with(&format!("{}/callbacks/v1/oauth/start#flow=", app.address)),
        "{url}"
    );
    let browser = Browser::new();
    let bounced = bounce_ok(&browser, &url).await;
    // The cookie lives as long as the flow has left (600 s by default).
    let max_age: i64 = bounced
        .set_cookie
        .split(';')
        .find_map(|part| part.trim().strip_prefix("Max-Age="))
        .expect("the cookie has a Max-Age")
        .parse()
        .unwrap();
    assert!((590..=600).contains(&max_age), "{}", bounced.set_cookie);
    let callback_url = authorize(&app, &bounced).await;
    assert_eq!(browser.get(&callback_url).await.status(), StatusCode::OK);
    assert_eq!(app.connection_count().await, 1);

    // Finished elsewhere: refused.
    let url = app
        .oauth_connect(json!({
            "projectId": app.project_id, "provider": "mock", "groupRef": "g2", "consumerRef": "c",
            "enableCSRFProtection": true,
        }))
        .await;
    let bounced = bounce_ok(&Browser::new(), &url).await;
    let callback_url = authorize(&app, &bounced).await;
    assert_eq!(
        callback_elsewhere(&app, &callback_url, None).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(app.connection_count().await, 1);

    // Without the flag nothing changes: the provider's URL, no cookie needed.
    let plain = app.start_flow("mock").await;
    assert!(plain.starts_with(&app.provider.base));
    assert_eq!(app.finish_flow(&plain).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_provider_error_ends_the_session_and_it_cannot_be_retried() {
    let (app, session, url) = app_with_started_flow().await;
    let browser = Browser::new();
    let bounced = bounce_ok(&browser, &url).await;
    let state = query_param(&bounced.location, "state").unwrap();
    let response = browser
        .get(&app.url(&format!(
            "/callbacks/v1/oauth?state={state}&error=access_denied&error_description=User+said+no"
        )))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let page = response.text().await.unwrap();
    assert!(page.contains("status=failure") && page.contains("error=access_denied"));
    let read: Value = page_session(&app, token(&session))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["status"], "failed");
    assert_eq!(read["result"]["error"], "access_denied");
    assert_eq!(read["result"]["errorDescription"], "User said no");
    let retry = start(&app, token(&session), json!({"provider": "mock"})).await;
    assert_eq!(
        retry.status(),
        StatusCode::CONFLICT,
        "one flow per session: the application makes a new one"
    );
    assert_eq!(app.connection_count().await, 0);
}

#[tokio::test]
async fn a_reauthorization_session_updates_the_connection_in_place() {
    let app = spawn_prepared().await;
    let id = app.connect_mock("org-1", "user-1").await;
    let before = app.connection_with_credentials(&id).await;

    let mismatched = create_session(
        &app,
        json!({"connectionId": id, "providers": ["mock-workspace"], "groupRef": "other",
            "consumerRef": "someone-else"}),
    )
    .await;
    assert_eq!(
        issue_names(&problem(mismatched).await),
        ["providers", "groupRef", "consumerRef"]
    );
    // Naming the connection's own group and consumer is fine; naming none
    // takes them from the connection.
    let matching = create_session(
        &app,
        json!({"connectionId": id, "groupRef": "org-1", "consumerRef": "user-1"}),
    )
    .await;
    assert_eq!(matching.status(), StatusCode::CREATED);
    let response = create_session(&app, json!({"connectionId": id})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let session: Value = response.json().await.unwrap();
    assert_eq!(session["providers"], json!(["mock"]));
    assert_eq!(session["groupRef"], "org-1");
    assert_eq!(session["consumerRef"], "user-1", "{session}");
    assert_eq!(session["connectionId"], id.as_str());

    let page: Value = page_session(&app, token(&session))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["reauthorize"], true);
    assert_eq!(page["providers"][0]["inputs"], json!([]));

    let browser = Browser::new();
    let bounced = bounce_ok(&browser, &start_mock(&app, token(&session)).await).await;
    let callback_url = authorize(&app, &bounced).await;
    assert_eq!(browser.get(&callback_url).await.status(), StatusCode::OK);
    let after = app.connection_with_credentials(&id).await;
    assert_eq!(app.only_connection_for("org-1").await["id"], id.as_str());
    assert_ne!(
        after["oauth2AuthorizationCode"]["accessToken"]["token"],
        before["oauth2AuthorizationCode"]["accessToken"]["token"]
    );
    let read: Value = page_session(&app, token(&session))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["result"]["connectionId"], id.as_str());
}

#[tokio::test]
async fn the_openapi_document_describes_the_connect_routes() {
    let app = spawn_app().await;
    let doc: Value = app.public_json("/v1/openapi.json").await;
    for path in [
        "/v1/projects/{projectIdOrName}/connect-sessions",
        "/v1/projects/{projectIdOrName}/connect-sessions/{sessionId}",
        "/v1/projects/{projectIdOrName}/allowed-origins",
        "/connect",
        "/connect/api/session",
        "/connect/api/start",
        "/callbacks/v1/oauth/start",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    assert!(doc["components"]["securitySchemes"]
        .get("ConnectSession")
        .is_some());
}

#[tokio::test]
async fn a_sealed_authorization_url_copied_to_another_flow_sends_no_browser_there() {
    let app = spawn_app_with_provider_app("mock").await;
    let mut flows = Vec::new();
    for group in ["victim", "target"] {
        let url = app
            .oauth_connect(json!({
                "projectId": app.project_id, "provider": "mock", "groupRef": group,
                "consumerRef": "c", "enableCSRFProtection": true,
            }))
            .await;
        let state_hash = app.flow_state_hash(group).await;
        flows.push((url, state_hash));
    }
    // Sealed at rest, bound to the flow: a copy in another flow's row does not open.
    let copied = sqlx::query(
        "UPDATE oauth_flows SET \
         authorize_url_ciphertext = (SELECT authorize_url_ciphertext FROM oauth_flows WHERE state_hash = $1), \
         authorize_url_key_id = (SELECT authorize_url_key_id FROM oauth_flows WHERE state_hash = $1) \
         WHERE state_hash = $2",
    )
    .bind(&flows[0].1)
    .bind(&flows[1].1)
    .execute(&app.db().await)
    .await
    .unwrap();
    assert_eq!(copied.rows_affected(), 1);

    let response = Browser::new().open_bounce(&flows[1].0).await;
    assert_ne!(response.status(), StatusCode::SEE_OTHER);
    assert!(response.headers().get(LOCATION).is_none());
    // The victim's own flow still goes to the provider.
    let bounced = bounce_ok(&Browser::new(), &flows[0].0).await;
    assert!(bounced.location.starts_with(&app.provider.base));
}
