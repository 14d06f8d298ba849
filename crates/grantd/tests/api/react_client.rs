//! Ampersand's prebuilt UI, `@amp-labs/react` as published on npm, against
//! grantd in Chromium: the page is bundled with esbuild
//! (`tests/e2e/build-react.mjs`), served from another origin than grantd's
//! (the project allows it), and driven by `tests/e2e/react.e2e.mjs`.
//! oauth2-mock-server is the OAuth provider. Same tools, and the same
//! skip-unless-CI rule, as `real_oauth_server.rs`.

use crate::helpers::{add_providers, spawn_app_with, TestApp};
use crate::real_oauth_server::{
    e2e_dir, real_providers, register_real_server_apps, run_browser_ok, screenshots_dir,
    tools_ready_with, RealOAuthServer,
};
use axum::http::header;
use axum::routing::get;
use axum::Router;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::process::Command;

/// Steps of the browser journey that need compat-api's half of issue 12
/// (the coordinator empties this list when both halves are merged):
/// `update-api-key` needs `PATCH …/connections/{id}` (updateConnection),
/// `app-name` needs the project's `appName`.
const PENDING_ON_COMPAT_API: &[&str] = &[];

/// What the success box should name once `app-name` is enabled.
const APP_NAME: &str = "Acme Cloud";

/// Providers for the React journeys besides `real_providers`: OAuth with a
/// workspace and a metadata input, and an API key.
fn react_providers(base: &str) -> String {
    format!(
        r#"
[providers.react-tenant]
displayName = "Tenant OAuth (mock)"
category = "crm"
authSchemes = ["oauth2/authorizationCode"]
[providers.react-tenant.workspace]
label = "Tenant"
pattern = "^[a-z][a-z0-9-]{{1,30}}$"
[providers.react-tenant.metadata.region]
label = "Region"
pattern = "^(eu|us)$"
[providers.react-tenant.oauth2]
authorizeUrl = "{base}/authorize?tenant={{workspace}}&region={{region}}"
tokenUrl = "{base}/token"

[providers.react-apikey]
displayName = "Key Service (mock)"
category = "developer-tools"
authSchemes = ["apiKey"]
[providers.react-apikey.apiKey]
in = "header"
name = "X-Api-Key"
"#
    )
}

/// Bundles the page for a library pointed at `grantd` and serves it on
/// 127.0.0.1 at another port: another origin. Returns that origin.
async fn serve_react_page(grantd: &str) -> String {
    let out = tempfile::tempdir().unwrap();
    let built = Command::new("node")
        .arg("build-react.mjs")
        .arg(grantd)
        .arg(out.path())
        .current_dir(e2e_dir())
        .output()
        .expect("node runs build-react.mjs");
    assert!(
        built.status.success(),
        "esbuild failed: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let script = std::fs::read(out.path().join("app.js")).unwrap();
    let styles = std::fs::read(out.path().join("app.css")).unwrap();
    let index = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
                 <title>Acme Cloud</title><link rel=\"stylesheet\" href=\"/app.css\"></head>\
                 <body><div id=\"root\"></div><script type=\"module\" src=\"/app.js\"></script></body></html>";
    let router = Router::new()
        .route("/", get(move || async move { axum::response::Html(index) }))
        .route(
            "/app.js",
            get(move || async move { ([(header::CONTENT_TYPE, "text/javascript")], script) }),
        )
        .route(
            "/app.css",
            get(move || async move { ([(header::CONTENT_TYPE, "text/css")], styles) }),
        )
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    origin
}

async fn spawn_for_react(server: &RealOAuthServer) -> TestApp {
    let extra = real_providers(&server.base) + &react_providers(&server.base);
    let app = spawn_app_with(move |config| add_providers(config, &extra)).await;
    register_real_server_apps(&app, &["oauth-mock-server", "react-tenant"]).await;
    app
}

/// The one connection of a group, as the browser script read it from grantd.
fn stored<'a>(report: &'a Value, key: &str) -> &'a Value {
    let list = &report["stored"][key];
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{key}: {list}");
    &list[0]
}

#[tokio::test]
async fn ampersands_react_client_connects_reauthorizes_and_removes_in_a_real_browser() {
    let test = "ampersands_react_client_connects_reauthorizes_and_removes_in_a_real_browser";
    if !tools_ready_with(
        test,
        true,
        &["@amp-labs/react", "esbuild", "react", "react-dom"],
    ) {
        return;
    }
    let server = RealOAuthServer::start();
    let app = spawn_for_react(&server).await;
    let page_origin = serve_react_page(&app.address).await;
    assert_ne!(page_origin, app.address, "the page has its own origin");
    app.allow_origins(&[&page_origin]).await;
    if !PENDING_ON_COMPAT_API.contains(&"app-name") {
        let named = app
            .patch_json(
                &app.project_url(""),
                &json!({"updateMask": ["appName"], "project": {"appName": APP_NAME}}),
            )
            .await;
        assert_eq!(named.status(), StatusCode::OK);
    }

    let config = json!({
        "pageOrigin": page_origin,
        "grantd": app.address,
        "apiKey": app.api_key,
        "project": app.project_name,
        "appName": APP_NAME,
        "screenshotsDir": screenshots_dir(),
        "pending": PENDING_ON_COMPAT_API,
    });
    let report = run_browser_ok("react.e2e.mjs", vec![config.to_string()]).await;
    for step in PENDING_ON_COMPAT_API {
        crate::helpers::skip(
            &format!("{test} step {step}"),
            "pending on compat-api's half of issue 12 (updateConnection PATCH, project appName)",
        );
    }
    let mut skipped: Vec<&str> = report["skipped"]
        .as_array()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    skipped.sort_unstable();
    let mut pending = PENDING_ON_COMPAT_API.to_vec();
    pending.sort_unstable();
    assert_eq!(skipped, pending, "exactly the pending steps were skipped");
    assert_eq!(report["consoleErrors"], json!([]), "{report:#}");

    // Each OAuth flow opened one popup, the library closed it on grantd's
    // message, and none was opened again: two connects, two re-authorizations.
    assert_eq!(
        report["popups"].as_array().map(Vec::len),
        Some(4),
        "{report:#}"
    );
    let exchanges = server.events("token");
    assert_eq!(exchanges.len(), 4, "{exchanges:?}");
    assert!(
        exchanges.iter().all(|e| e["status"] == 200),
        "{exchanges:?}"
    );

    let oauth = stored(&report, "oauth-mock-server");
    assert_eq!(oauth["status"], "working");
    assert_eq!(oauth["group"]["groupRef"], "react-oauth");
    // The workspace and the metadata input, typed into the library's form.
    let tenant = stored(&report, "react-tenant");
    assert_eq!(tenant["providerWorkspaceRef"], "acme-eu");
    assert_eq!(tenant["providerMetadata"]["workspace"]["value"], "acme-eu");
    assert_eq!(tenant["providerMetadata"]["region"]["value"], "eu");
    let key = stored(&report, "react-apikey");
    assert_eq!(key["authScheme"], "apiKey");
    assert_eq!(key["apiKey"], Value::Null, "listed without its secret");

    // The page heard of each connection and each removal through the library's callbacks.
    for provider in ["oauth-mock-server", "react-tenant", "react-apikey"] {
        let kinds: Vec<&str> = report["events"][provider]
            .as_array()
            .map(|events| events.iter().filter_map(|e| e["kind"].as_str()).collect())
            .unwrap_or_default();
        assert!(kinds.contains(&"connected"), "{provider}: {kinds:?}");
        // (The library may report the connection again after its removal,
        // from its cache, so only presence is checked.)
        assert!(kinds.contains(&"disconnected"), "{provider}: {kinds:?}");
    }
    // "Remove connection" removed all three.
    assert_eq!(app.connection_count().await, 0);
}
