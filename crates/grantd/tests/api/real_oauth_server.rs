//! grantd against a real, independent OAuth server (the npm package
//! `oauth2-mock-server`, run by `tests/e2e/oauth-server.mjs`) and, through
//! the hosted connect page, a real browser (Debian's Chromium driven by
//! `playwright-core`, `tests/e2e/connect.e2e.mjs`).
//!
//! They need `npm ci` in `crates/grantd/tests/e2e` and `/usr/bin/chromium`;
//! `.ci/run` installs both. Without them the tests are skipped with a message,
//! except under `CI=true`, where a missing tool is a failure: CI must run them.

use crate::connect_page::{assert_session_succeeded, bounce_ok, created_session, Browser};
use crate::helpers::{add_providers, query_param, spawn_app_with, TestApp};
use crate::relay::Relay;
use axum::extract::Query;
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use reqwest::header::LOCATION;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The npm project with the servers and the browser script.
pub(crate) fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Where screenshots go: `target/e2e-screenshots` (or under CARGO_TARGET_DIR).
pub(crate) fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("e2e-screenshots")
}

/// Whether the tools a test needs are here. Missing tools skip the test
/// with a message, or fail it under `CI=true`, so that CI never skips.
pub(crate) fn tools_ready(test: &str, browser: bool) -> bool {
    tools_ready_with(test, browser, &[])
}

/// The same, with further npm packages the test needs.
pub(crate) fn tools_ready_with(test: &str, browser: bool, packages: &[&str]) -> bool {
    let dir = e2e_dir();
    let mut missing = Vec::new();
    for package in packages {
        if !dir.join("node_modules").join(package).is_dir() {
            missing.push(format!("{package} (run `npm ci` in tests/e2e)"));
        }
    }
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok {
        missing.push("node (Node.js 20.19 or later)".to_owned());
    }
    if !dir.join("node_modules/oauth2-mock-server").is_dir() {
        missing.push(format!(
            "{}/node_modules (run `npm ci` there)",
            dir.display()
        ));
    }
    if browser {
        if !dir.join("node_modules/playwright-core").is_dir() {
            missing.push("playwright-core (run `npm ci` in tests/e2e)".to_owned());
        }
        if !chromium().exists() {
            missing.push(format!(
                "{} (apt-get install chromium, or set CHROMIUM_PATH)",
                chromium().display()
            ));
        }
    }
    if missing.is_empty() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        !ci,
        "{test} cannot be skipped under CI=true; missing: {}",
        missing.join(", ")
    );
    crate::helpers::skip(
        test,
        &format!(
            "missing {} (CI=true makes this a failure)",
            missing.join(", ")
        ),
    );
    false
}

/// oauth2-mock-server on 127.0.0.1, stopped when dropped.
pub(crate) struct RealOAuthServer {
    pub(crate) base: String,
    child: Child,
    /// The JSON lines it printed after starting: authorize and token requests.
    events: Arc<Mutex<Vec<Value>>>,
}

impl RealOAuthServer {
    pub(crate) fn start() -> Self {
        let mut child = Command::new("node")
            .arg("oauth-server.mjs")
            .current_dir(e2e_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node starts oauth-server.mjs");
        let stdout = child.stdout.take().expect("piped stdout");
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if value.get("port").is_some() {
                    let _ = started_tx.send(value);
                } else {
                    sink.lock().unwrap().push(value);
                }
            }
        });
        let started = started_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("oauth2-mock-server prints its port");
        let port = started["port"].as_u64().expect("a port");
        Self {
            base: format!("http://127.0.0.1:{port}"),
            child,
            events,
        }
    }

    pub(crate) fn events(&self, kind: &str) -> Vec<Value> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e["event"] == kind)
            .cloned()
            .collect()
    }
}

impl Drop for RealOAuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three providers served by oauth2-mock-server: one plain, one asking for
/// a tenant (substituted into its authorize URL, checked with its pattern),
/// and one whose authorization begins on a sign-in page, as real providers'
/// do (`oauth-server.mjs`'s `/signin`).
pub(crate) fn real_providers(base: &str) -> String {
    format!(
        r#"
[providers.oauth-mock-server]
displayName = "Mock OAuth Server"
category = "developer-tools"
authSchemes = ["oauth2/authorizationCode"]
[providers.oauth-mock-server.oauth2]
authorizeUrl = "{base}/authorize"
tokenUrl = "{base}/token"
pkce = "required"
tokenAuth = "basic"

[providers.oauth-mock-workspace]
displayName = "Workspace OAuth (mock)"
category = "crm"
authSchemes = ["oauth2/authorizationCode"]
[providers.oauth-mock-workspace.workspace]
label = "Tenant"
pattern = "^[a-z][a-z0-9-]{{1,30}}$"
[providers.oauth-mock-workspace.oauth2]
authorizeUrl = "{base}/authorize?tenant={{workspace}}"
tokenUrl = "{base}/token"
defaultScopes = ["openid", "profile"]

[providers.oauth-mock-signin]
displayName = "Mock OAuth Server with a sign-in page"
category = "developer-tools"
authSchemes = ["oauth2/authorizationCode"]
[providers.oauth-mock-signin.oauth2]
authorizeUrl = "{base}/signin"
tokenUrl = "{base}/token"
pkce = "required"
"#
    )
}

/// grantd with the in-process mock's providers plus the real server's.
async fn spawn_with_real_server(server: &RealOAuthServer) -> TestApp {
    spawn_with_real_server_at(server, None).await
}

/// The real server and a grantd using it, or `None` when the tools are
/// missing (the test is then skipped, see `tools_ready`).
async fn real_server_and_app(test: &str) -> Option<(RealOAuthServer, TestApp)> {
    if !tools_ready(test, false) {
        return None;
    }
    let server = RealOAuthServer::start();
    let app = spawn_with_real_server(&server).await;
    Some((server, app))
}

/// The same, with a public URL (grantd behind a proxy).
async fn spawn_with_real_server_at(
    server: &RealOAuthServer,
    public_url: Option<String>,
) -> TestApp {
    let extra = real_providers(&server.base);
    let app = spawn_app_with(move |config| {
        add_providers(config, &extra);
        if let Some(url) = public_url {
            config.public_url = Some(url.parse().unwrap());
        }
    })
    .await;
    register_real_server_apps(
        &app,
        &[
            "oauth-mock-server",
            "oauth-mock-workspace",
            "oauth-mock-signin",
        ],
    )
    .await;
    app
}

/// Registers the real server's client (`grantd-e2e`, which `oauth-server.mjs`
/// accepts) as the provider app of each of `providers`.
pub(crate) async fn register_real_server_apps(app: &TestApp, providers: &[&str]) {
    for provider in providers {
        let response = app
            .post_json(
                &app.project_url("/provider-apps"),
                &json!({"provider": provider, "clientId": "grantd-e2e", "clientSecret": "e2e-secret"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{provider}");
    }
}

/// Follows an authorization URL at the real server, which redirects at once
/// (it has no login page); the callback URL it sends the browser to.
pub(crate) async fn authorize_at_real_server(app: &TestApp, authorization_url: &str) -> String {
    let authorize = app.get_without_key(authorization_url).await;
    assert!(
        authorize.status().is_redirection(),
        "{}",
        authorize.status()
    );
    authorize.headers()[LOCATION].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_raw_api_flow_completes_against_oauth2_mock_server() {
    let Some((server, app)) =
        real_server_and_app("the_raw_api_flow_completes_against_oauth2_mock_server").await
    else {
        return;
    };

    // oauth-connect → the provider's authorize endpoint (it answers with a
    // redirect carrying the code) → grantd's callback → stored connection.
    let url = app
        .oauth_connect(json!({
            "projectId": app.project_id, "provider": "oauth-mock-server",
            "groupRef": "org-real", "consumerRef": "user-real",
        }))
        .await;
    assert!(
        url.starts_with(&format!("{}/authorize?", server.base)),
        "{url}"
    );
    assert!(query_param(&url, "code_challenge").is_some());
    let callback = authorize_at_real_server(&app, &url).await;
    assert!(
        callback.starts_with(&format!("{}/callbacks/v1/oauth?", app.address)),
        "{callback}"
    );
    assert!(query_param(&callback, "code").is_some());
    let page = app.get_without_key(&callback).await;
    assert_eq!(page.status(), StatusCode::OK);

    let connection = app.only_connection_for("org-real").await;
    assert_eq!(connection["provider"], "oauth-mock-server");
    assert_eq!(connection["status"], "working");
    let full = app
        .connection_with_credentials(connection["id"].as_str().unwrap())
        .await;
    let tokens = &full["oauth2AuthorizationCode"];
    let access = tokens["accessToken"]["token"].as_str().unwrap();
    assert_eq!(
        access.split('.').count(),
        3,
        "oauth2-mock-server issues JWTs: {access}"
    );
    assert!(tokens["refreshToken"]["token"].is_string());
    assert!(tokens["accessToken"]["expiresAt"].is_string());

    // What the server saw: one code exchange, with the PKCE verifier and
    // HTTP Basic client authentication, answered 200.
    let exchanges = server.events("token");
    assert_eq!(exchanges.len(), 1, "{exchanges:?}");
    assert_eq!(exchanges[0]["grantType"], "authorization_code");
    assert_eq!(exchanges[0]["pkce"], true);
    assert_eq!(exchanges[0]["clientAuth"], "basic");
    assert_eq!(exchanges[0]["status"], 200);
}

#[tokio::test]
async fn a_protected_api_flow_against_oauth2_mock_server_needs_the_starting_browser() {
    let Some((server, app)) = real_server_and_app(
        "a_protected_api_flow_against_oauth2_mock_server_needs_the_starting_browser",
    )
    .await
    else {
        return;
    };
    let url = app
        .oauth_connect(json!({
            "projectId": app.project_id, "provider": "oauth-mock-workspace",
            "groupRef": "org-csrf", "consumerRef": "u", "providerWorkspaceRef": "acme",
            "enableCSRFProtection": true,
        }))
        .await;
    let browser = Browser::new();
    let bounced = bounce_ok(&browser, &url).await;
    let cookie = bounced.cookie;
    let provider_url = bounced.location;
    assert_eq!(
        query_param(&provider_url, "tenant").as_deref(),
        Some("acme")
    );
    let callback = authorize_at_real_server(&app, &provider_url).await;

    // Another browser: the test's plain client, without the cookie jar.
    let elsewhere = app.get_without_key(&callback).await;
    assert_eq!(elsewhere.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.connection_count().await, 0);
    assert!(server.events("token").is_empty(), "no code exchange");

    // A second flow, finished in the browser that started it (its jar
    // holds both flows' cookies; each is named after its flow).
    let url = app
        .oauth_connect(json!({
            "projectId": app.project_id, "provider": "oauth-mock-workspace",
            "groupRef": "org-csrf", "consumerRef": "u", "providerWorkspaceRef": "acme",
            "enableCSRFProtection": true,
        }))
        .await;
    let bounced = bounce_ok(&browser, &url).await;
    assert_ne!(cookie, bounced.cookie);
    let callback = authorize_at_real_server(&app, &bounced.location).await;
    let same = browser.get(&callback).await;
    assert_eq!(same.status(), StatusCode::OK);
    assert_eq!(
        app.only_connection_for("org-csrf").await["providerWorkspaceRef"],
        "acme"
    );
}

/// The customer's application, on its own origin: a page that embeds the
/// connect page in an iframe and lists the messages it receives, and the
/// page return URLs lead to.
async fn start_embedder(grantd_origin: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let embed = move |Query(query): Query<HashMap<String, String>>| {
        let grantd_origin = grantd_origin.clone();
        async move {
            let connect = query.get("connect").cloned().unwrap_or_default();
            Html(format!(
                r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Acme Cloud · Integrations</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;margin:0;background:#eef1f6;color:#1b1f24}}
header{{background:#0f172a;color:#fff;padding:14px 28px;font-weight:700}}
.wrap{{display:flex;gap:28px;padding:24px 28px;flex-wrap:wrap}}
iframe{{width:480px;height:620px;border:1px solid #cfd6e0;border-radius:14px;background:#fff}}
aside{{flex:1;min-width:280px}} li{{font:13px ui-monospace,monospace;background:#fff;border:1px solid #cfd6e0;border-radius:8px;padding:8px;margin:6px 0;word-break:break-all}}</style></head>
<body><header>Acme Cloud — Settings › Integrations</header><div class="wrap">
<iframe id="grantd-connect" title="Connect an account" src="{src}"></iframe>
<aside><h2>Messages from grantd</h2><p>postMessage events whose origin is grantd's ({origin}).</p><ol id="messages"></ol></aside></div>
<script>
const GRANTD = {origin_json};
window.addEventListener("message", (event) => {{
  if (event.origin !== GRANTD) return;
  const item = document.createElement("li");
  item.dataset.message = JSON.stringify(event.data);
  item.textContent = JSON.stringify(event.data);
  document.getElementById("messages").append(item);
}});
</script></body></html>"#,
                src = html_escape::encode_double_quoted_attribute(&connect),
                origin = html_escape::encode_text(&grantd_origin),
                origin_json = serde_json::to_string(&grantd_origin).unwrap(),
            ))
        }
    };
    let returned = |Query(query): Query<HashMap<String, String>>| async move {
        let mut items: Vec<_> = query.into_iter().collect();
        items.sort();
        let list: String = items
            .iter()
            .map(|(k, v)| {
                format!(
                    "<li><b>{}</b> = {}</li>",
                    html_escape::encode_text(k),
                    html_escape::encode_text(v)
                )
            })
            .collect();
        Html(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>Acme Cloud</title>\
             <style>body{{font:16px/1.5 system-ui,sans-serif;margin:24px}}</style></head>\
             <body><h1 id=\"returned\">Back in Acme Cloud</h1><p>The return URL received:</p><ul>{list}</ul></body></html>"
        ))
    };
    let router = Router::new()
        .route("/embed", get(embed))
        .route("/return", get(returned));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    origin
}

/// Runs a browser script, killing it if it hangs.
pub(crate) async fn run_browser(script: &str, args: Vec<String>) -> (bool, Value, String) {
    let mut child = Command::new("node")
        .arg(script)
        .args(&args)
        .current_dir(e2e_dir())
        .env("CHROMIUM_PATH", chromium())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts the browser script");
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let waited = tokio::time::timeout(
        Duration::from_secs(240),
        tokio::task::spawn_blocking(move || {
            let mut out = String::new();
            let mut err = String::new();
            let err_thread = std::thread::spawn(move || {
                let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut err);
                err
            });
            let _ = std::io::Read::read_to_string(&mut BufReader::new(stdout), &mut out);
            let status = child.wait();
            let err = err_thread.join().unwrap_or_default();
            (status, out, err)
        }),
    )
    .await;
    let Ok(joined) = waited else {
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        panic!("the browser test did not finish within 240 s");
    };
    let (status, out, err) = joined.unwrap();
    let success = status.is_ok_and(|s| s.success());
    let report = out
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str::<Value>(line).ok())
        .unwrap_or(Value::Null);
    (success, report, err)
}

/// `run_browser`, which must succeed; the script's report (also printed).
pub(crate) async fn run_browser_ok(script: &str, args: Vec<String>) -> Value {
    let (success, report, stderr) = run_browser(script, args).await;
    assert!(
        success && report["ok"] == true,
        "the browser test failed: {report:#}\n{stderr}"
    );
    eprintln!("browser report: {report}");
    report
}

/// No CSP violation or script error anywhere, and each of `screenshots` saved.
fn assert_clean_browser_run(report: &Value, dir: &Path, screenshots: &[&str]) {
    let errors = report["consoleErrors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    for name in screenshots {
        let path = dir.join(name);
        assert!(
            std::fs::metadata(&path).is_ok_and(|m| m.len() > 1000),
            "screenshot {} saved",
            path.display()
        );
    }
}

#[tokio::test]
async fn the_connect_page_connects_an_account_in_a_real_browser() {
    if !tools_ready(
        "the_connect_page_connects_an_account_in_a_real_browser",
        true,
    ) {
        return;
    }
    let server = RealOAuthServer::start();
    let app = spawn_with_real_server(&server).await;
    let embedder = start_embedder(app.address.clone()).await;
    app.allow_origins(&[&embedder]).await;

    // Desktop: embedded in the customer's page, two providers.
    let embedded = created_session(
        &app,
        json!({
            "providers": ["oauth-mock-server", "oauth-mock-workspace"],
            "groupRef": "org-browser", "groupName": "Acme Cloud", "consumerRef": "ada",
            "parentOrigin": embedder,
        }),
    )
    .await;
    // Phone: the page itself, popups blocked, back to the return URL.
    let phone = created_session(
        &app,
        json!({
            "providers": ["oauth-mock-server"],
            "groupRef": "org-phone", "consumerRef": "grace",
            "returnUrl": format!("{embedder}/return?from=grantd"),
        }),
    )
    .await;

    let embed_url = format!(
        "{embedder}/embed?connect={}",
        url::form_urlencoded::byte_serialize(embedded["url"].as_str().unwrap().as_bytes())
            .collect::<String>()
    );
    let screenshots = screenshots_dir();
    let report = run_browser_ok(
        "connect.e2e.mjs",
        vec![
            embed_url,
            phone["url"].as_str().unwrap().to_owned(),
            screenshots.display().to_string(),
        ],
    )
    .await;

    // 1. The iframe journey: the inline error, then the message to the embedder.
    let iframe = &report["iframe"];
    assert!(
        iframe["inlineError"]
            .as_str()
            .unwrap_or_default()
            .contains("tenant"),
        "{iframe}"
    );
    assert_eq!(iframe["ariaInvalid"], "true");
    assert_token_left_the_address_bar(&iframe["pageUrl"], &embedded);
    assert_eq!(iframe["focusedAfterError"], true);
    let connection = app.only_connection_for("org-browser").await;
    assert_eq!(connection["provider"], "oauth-mock-workspace");
    assert_eq!(connection["providerWorkspaceRef"], "acme");
    assert_eq!(connection["group"]["groupName"], "Acme Cloud");
    let messages = iframe["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 1, "exactly one message: {messages:?}");
    assert_eq!(messages[0]["type"], "grantd:connect");
    assert_eq!(messages[0]["status"], "success");
    assert_eq!(messages[0]["connectionId"], connection["id"]);
    assert_eq!(messages[0]["provider"], "oauth-mock-workspace");
    assert_eq!(messages[0]["sessionId"], embedded["id"]);
    assert!(iframe["successText"]
        .as_str()
        .unwrap_or_default()
        .contains("is connected"));

    // 2. The phone journey: back at the return URL with the result.
    assert_token_left_the_address_bar(&report["redirect"]["pageUrl"], &phone);
    let phone_connection = app.only_connection_for("org-phone").await;
    let returned = report["redirect"]["url"].as_str().expect("returned URL");
    assert!(
        returned.starts_with(&format!("{embedder}/return?from=grantd&")),
        "{returned}"
    );
    assert_eq!(
        query_param(returned, "connectionId").as_deref(),
        phone_connection["id"].as_str()
    );
    assert_eq!(query_param(returned, "status").as_deref(), Some("success"));
    assert!(report["redirect"]["callbackText"]
        .as_str()
        .unwrap_or_default()
        .contains("connected"));

    // Both sessions report their result to the backend too.
    for (session, connection) in [(&embedded, &connection), (&phone, &phone_connection)] {
        assert_session_succeeded(&app, session, &connection["id"]).await;
    }
    // Two code exchanges at the real server, both with PKCE.
    let exchanges = server.events("token");
    assert_eq!(exchanges.len(), 2, "{exchanges:?}");
    assert!(exchanges.iter().all(|e| e["status"] == 200));

    // No CSP violation or script error anywhere.
    assert_clean_browser_run(
        &report,
        &screenshots,
        &[
            "01-providers.png",
            "02-invalid-input.png",
            "04-success-embedded.png",
            "05-phone-providers.png",
            "06-phone-callback.png",
            "07-phone-returned.png",
        ],
    );
}

/// The connect page, once loaded, shows its URL without the fragment that
/// brought the session token.
fn assert_token_left_the_address_bar(page_url: &Value, session: &Value) {
    let page_url = page_url.as_str().expect("the page's URL");
    let sent = session["url"].as_str().unwrap();
    assert!(sent.contains("#token="), "{sent}");
    assert_eq!(page_url, sent.split('#').next().unwrap());
    assert!(!page_url.contains(session["token"].as_str().unwrap()));
}

/// Issue 18, item 8: a person closes the popup on the provider's sign-in
/// page, opens it again with the page's button, and finishes. The browser
/// sends the flow's cookie back to grantd's bounce by itself, since its
/// path covers the bounce. grantd runs behind a proxy under `/grantd/`, so
/// the cookie's path follows the public URL's prefix, and the proxy's log
/// shows which request lines carried the token or the state.
#[tokio::test]
async fn a_closed_popup_opened_again_from_the_page_finishes_the_flow_in_a_real_browser() {
    if !tools_ready(
        "a_closed_popup_opened_again_from_the_page_finishes_the_flow_in_a_real_browser",
        true,
    ) {
        return;
    }
    let server = RealOAuthServer::start();
    let mut relay = Relay::bind().await;
    let app = spawn_with_real_server_at(&server, Some(relay.public_url.clone())).await;
    relay.forward_to(&app.address);
    let session = created_session(
        &app,
        json!({"providers": ["oauth-mock-signin"], "groupRef": "org-reopen", "consumerRef": "ada"}),
    )
    .await;
    let url = session["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&relay.public_url), "{url}");

    let screenshots = screenshots_dir();
    let report = run_browser_ok(
        "reopen.e2e.mjs",
        vec![url, screenshots.display().to_string()],
    )
    .await;
    assert_token_left_the_address_bar(&report["pageUrl"], &session);
    assert!(report["firstPopupUrl"]
        .as_str()
        .unwrap_or_default()
        .starts_with(&format!("{}/signin?", server.base)));

    let connection = app.only_connection_for("org-reopen").await;
    assert_eq!(connection["provider"], "oauth-mock-signin");
    assert_eq!(connection["status"], "working");
    assert_session_succeeded(&app, &session, &connection["id"]).await;
    // The sign-in page twice, one Allow, one code exchange.
    assert_eq!(server.events("authorize").len(), 1, "one Allow");
    let exchanges = server.events("token");
    assert_eq!(exchanges.len(), 1, "{exchanges:?}");
    assert_eq!(exchanges[0]["status"], 200);

    // What the proxy saw: the bounce twice (page and post each time), the
    // token never, the state only where the provider sent it back.
    let lines = relay.request_lines();
    let bounces = lines
        .iter()
        .filter(|l| *l == "POST /grantd/callbacks/v1/oauth/start")
        .count();
    assert_eq!(bounces, 2, "{lines:#?}");
    let token = session["token"].as_str().unwrap();
    assert!(lines.iter().all(|l| !l.contains(token)), "{lines:#?}");
    let callback = lines
        .iter()
        .find(|l| l.starts_with("GET /grantd/callbacks/v1/oauth?"))
        .expect("the callback through the proxy");
    let state = query_param(&format!("http://x{}", &callback[4..]), "state").expect("a state");
    let with_state: Vec<_> = lines.iter().filter(|l| l.contains(&state)).collect();
    assert_eq!(with_state, [callback], "{lines:#?}");

    assert_clean_browser_run(
        &report,
        &screenshots,
        &[
            "11-reopen-provider-page.png",
            "12-reopen-waiting.png",
            "13-reopen-connected.png",
        ],
    );
}
