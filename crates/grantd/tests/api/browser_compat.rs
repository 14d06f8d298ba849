//! What Ampersand's browser client (`@amp-labs/react`) needs of the API,
//! over HTTP: CORS for the origins a project allows, the integrations list,
//! `projectIdOrName`, the callback page's messages and workspaces. The
//! client itself runs against grantd in Chromium in `react_client.rs`.

use crate::helpers::{
    expect_problem, issue_names, problem, spawn_app, spawn_app_with_provider_app, TestApp,
};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

const APP_ORIGIN: &str = "https://app.customer.example";
const OTHER_ORIGIN: &str = "https://elsewhere.example";

/// The headers `@amp-labs/react` sends with every call.
const REACT_HEADERS: &str = "x-api-key,content-type,x-amp-client,x-amp-client-version";

async fn allow_origins(app: &TestApp, api_key: &str, origins: &[&str]) {
    let response = app
        .send_with_key(
            reqwest::Method::PUT,
            &app.project_url("/allowed-origins"),
            api_key,
            Some(&json!({ "origins": origins })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> Response {
    app.client
        .request(reqwest::Method::OPTIONS, app.url(path))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header("Access-Control-Request-Headers", REACT_HEADERS)
        .send()
        .await
        .unwrap()
}

async fn get_from(app: &TestApp, url: &str, origin: &str, api_key: Option<&str>) -> Response {
    let mut request = app.client.get(url).header("Origin", origin);
    if let Some(key) = api_key {
        request = request.header("X-Api-Key", key);
    }
    request.send().await.unwrap()
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Every `Access-Control-*` header of a response, by name.
fn cors_header_names(response: &Response) -> Vec<String> {
    response
        .headers()
        .keys()
        .map(|name| name.as_str().to_owned())
        .filter(|name| name.starts_with("access-control-"))
        .collect()
}

/// A comma-separated header as lower-case items.
fn header_items(response: &Response, name: &str) -> Vec<String> {
    header(response, name)
        .unwrap_or_default()
        .split(',')
        .map(|item| item.trim().to_ascii_lowercase())
        .filter(|item| !item.is_empty())
        .collect()
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_permits_the_react_clients_methods_and_headers() {
    let app = spawn_app().await;
    allow_origins(&app, &app.api_key, &[APP_ORIGIN]).await;
    for (path, method) in [
        ("/v1/oauth-connect".to_owned(), "POST"),
        (app.project_url("/connections/c1"), "PATCH"),
        (app.project_url("/connections/c1"), "DELETE"),
        (app.project_url("/integrations"), "GET"),
    ] {
        let path = path.trim_start_matches(&app.address).to_owned();
        let response = preflight(&app, &path, APP_ORIGIN, method).await;
        assert!(
            response.status().is_success(),
            "{method} {path}: {}",
            response.status()
        );
        assert_eq!(
            header(&response, "access-control-allow-origin"),
            Some(APP_ORIGIN)
        );
        assert!(
            header_items(&response, "access-control-allow-methods")
                .contains(&method.to_ascii_lowercase()),
            "{method} {path}: {:?}",
            response.headers()
        );
        let allowed = header_items(&response, "access-control-allow-headers");
        for wanted in REACT_HEADERS.split(',') {
            assert!(
                allowed.iter().any(|h| h == wanted),
                "{wanted} in {allowed:?}"
            );
        }
        assert_eq!(
            header(&response, "access-control-allow-credentials"),
            None,
            "callers authenticate with headers, never cookies"
        );
    }
}

#[tokio::test]
async fn a_preflight_from_an_origin_no_project_allows_gets_no_cors_headers() {
    let app = spawn_app().await;
    allow_origins(&app, &app.api_key, &[APP_ORIGIN]).await;
    let response = preflight(&app, "/v1/oauth-connect", OTHER_ORIGIN, "POST").await;
    assert_eq!(cors_header_names(&response), Vec::<String>::new());
    assert!(!response.status().is_success(), "{}", response.status());
    // Nor does a look-alike of an allowed origin pass: origins are exact.
    let response = preflight(
        &app,
        "/v1/oauth-connect",
        "https://app.customer.example:444",
        "POST",
    )
    .await;
    assert_eq!(cors_header_names(&response), Vec::<String>::new());
}

#[tokio::test]
async fn responses_to_an_allowed_origin_name_it_exactly_and_expose_the_headers_clients_read() {
    let app = spawn_app().await;
    allow_origins(&app, &app.api_key, &[APP_ORIGIN]).await;
    let response = get_from(&app, &app.project_url(""), APP_ORIGIN, Some(&app.api_key)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some(APP_ORIGIN)
    );
    let exposed = header_items(&response, "access-control-expose-headers");
    for wanted in ["x-request-id", "retry-after"] {
        assert!(
            exposed.iter().any(|h| h == wanted),
            "{wanted} in {exposed:?}"
        );
    }
    assert!(header_items(&response, "vary").contains(&"origin".to_owned()));
}

#[tokio::test]
async fn error_responses_to_an_allowed_origin_carry_the_cors_headers_too() {
    let app = spawn_app().await;
    allow_origins(&app, &app.api_key, &[APP_ORIGIN]).await;
    let not_found = get_from(
        &app,
        &app.project_url("/connections/nope"),
        APP_ORIGIN,
        Some(&app.api_key),
    )
    .await;
    let no_key = get_from(&app, &app.project_url(""), APP_ORIGIN, None).await;
    let bad_key = get_from(&app, &app.project_url(""), APP_ORIGIN, Some("gdk_wrong")).await;
    let bad_input = app
        .client
        .post(app.url("/v1/oauth-connect"))
        .header("Origin", APP_ORIGIN)
        .header("X-Api-Key", &app.api_key)
        .json(&json!({"projectIdOrName": app.project_name}))
        .send()
        .await
        .unwrap();
    for (response, status) in [
        (not_found, StatusCode::NOT_FOUND),
        (no_key, StatusCode::UNAUTHORIZED),
        (bad_key, StatusCode::UNAUTHORIZED),
        (bad_input, StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(response.status(), status);
        assert_eq!(
            header(&response, "access-control-allow-origin"),
            Some(APP_ORIGIN),
            "{status}"
        );
        assert!(
            header_items(&response, "access-control-expose-headers")
                .contains(&"x-request-id".to_owned()),
            "{status}"
        );
        let body = problem(response).await;
        assert_eq!(body["status"], status.as_u16());
    }
}

#[tokio::test]
async fn requests_from_other_origins_get_no_cors_headers_whatever_their_outcome() {
    let app = spawn_app().await;
    allow_origins(&app, &app.api_key, &[APP_ORIGIN]).await;
    for response in [
        get_from(&app, &app.project_url(""), OTHER_ORIGIN, Some(&app.api_key)).await,
        get_from(&app, &app.project_url(""), OTHER_ORIGIN, None).await,
        get_from(&app, &app.url("/v1/providers"), OTHER_ORIGIN, None).await,
    ] {
        assert_eq!(
            cors_header_names(&response),
            Vec::<String>::new(),
            "{}",
            response.url()
        );
        // The answer depends on Origin, so caches must keep them apart.
        assert!(header_items(&response, "vary").contains(&"origin".to_owned()));
    }
}

#[tokio::test]
async fn an_origin_only_another_project_allows_gets_its_preflight_but_no_headers_on_the_callers_answers(
) {
    let app = spawn_app().await;
    let (_, other_key) = app.other_project().await;
    let other = app
        .send_with_key(
            reqwest::Method::PUT,
            &app.url("/v1/projects/globex/allowed-origins"),
            &other_key,
            Some(&json!({ "origins": [OTHER_ORIGIN] })),
        )
        .await;
    assert_eq!(other.status(), StatusCode::OK);
    // The preflight carries no key: the origin is allowed somewhere.
    let response = preflight(&app, "/v1/oauth-connect", OTHER_ORIGIN, "POST").await;
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some(OTHER_ORIGIN)
    );
    // The request itself is decided with the caller's project, which does not allow it.
    let response = get_from(&app, &app.project_url(""), OTHER_ORIGIN, Some(&app.api_key)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(cors_header_names(&response), Vec::<String>::new());
    // The other project's own key gets its headers.
    let response = get_from(
        &app,
        &app.url("/v1/projects/globex"),
        OTHER_ORIGIN,
        Some(&other_key),
    )
    .await;
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some(OTHER_ORIGIN)
    );
}

#[tokio::test]
async fn routes_outside_the_api_get_no_cors_headers() {
    let app = spawn_app().await;
    allow_origins(&app, &app.api_key, &[APP_ORIGIN]).await;
    for path in ["/healthz", "/callbacks/v1/oauth?state=x&code=y"] {
        let response = get_from(&app, &app.url(path), APP_ORIGIN, None).await;
        assert_eq!(cors_header_names(&response), Vec::<String>::new(), "{path}");
    }
}

#[tokio::test]
async fn the_integrations_list_is_empty_and_scoped_like_other_reads() {
    let app = spawn_app().await;
    let response = app.get(&app.project_url("/integrations")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), json!([]));

    let (_, other_key) = app.other_project().await;
    let response = app
        .get_with_key(&app.project_url("/integrations"), &other_key)
        .await;
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "another project's list"
    );
    let response = app.get_without_key(&app.project_url("/integrations")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let document = app.public_json("/v1/openapi.json").await;
    let operation = &document["paths"]["/v1/projects/{projectIdOrName}/integrations"]["get"];
    assert_eq!(operation["operationId"], "listIntegrations");
}

#[tokio::test]
async fn oauth_connect_takes_project_id_or_name_and_still_accepts_project_id() {
    let app = spawn_app_with_provider_app("mock").await;
    for body in [
        json!({"projectIdOrName": app.project_name, "provider": "mock", "groupRef": "g", "consumerRef": "c"}),
        json!({"projectIdOrName": app.project_id, "provider": "mock", "groupRef": "g", "consumerRef": "c"}),
        json!({"projectId": app.project_name, "provider": "mock", "groupRef": "g", "consumerRef": "c"}),
    ] {
        let url = app.oauth_connect(body).await;
        assert!(url.starts_with(&app.provider.base), "{url}");
    }
    let response = app
        .post_json(
            &app.url("/v1/oauth-connect"),
            &json!({"provider": "mock", "groupRef": "g", "consumerRef": "c"}),
        )
        .await;
    assert_eq!(
        issue_names(&expect_problem(response, StatusCode::BAD_REQUEST).await),
        ["projectIdOrName"]
    );
    let response = app
        .post_json(
            &app.url("/v1/oauth-connect"),
            &json!({"projectIdOrName": "globex", "provider": "mock", "groupRef": "g", "consumerRef": "c"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "another project");
}

/// The message for `@amp-labs/react` a callback page posts, and the origin
/// it posts to (`None` when the page posts nothing for it).
fn ampersand_message(page: &str) -> (Option<Value>, String) {
    let between = |start: &str, end: &str| -> String {
        let from = page
            .find(start)
            .unwrap_or_else(|| panic!("{start} in {page}"))
            + start.len();
        let to = from + page[from..].find(end).unwrap();
        page[from..to].to_owned()
    };
    let origin: String = serde_json::from_str(&between("var o=", ";var p=")).unwrap();
    let message: Value = serde_json::from_str(&between("var a=", ";var w=")).unwrap();
    ((!message.is_null()).then_some(message), origin)
}

/// Starts a flow for `mock` (group `g`, consumer `c`) from a browser page at `origin`.
async fn connect_from(app: &TestApp, origin: &str) -> String {
    let body = json!({"projectIdOrName": app.project_name, "provider": "mock", "groupRef": "g", "consumerRef": "c"});
    let response = app
        .client
        .post(app.url("/v1/oauth-connect"))
        .header("X-Api-Key", &app.api_key)
        .header("Origin", origin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

/// An app whose project allows `APP_ORIGIN`, and a `mock` flow started from a page there.
async fn flow_from_the_allowed_app_origin() -> (TestApp, String) {
    let app = spawn_app_with_provider_app("mock").await;
    allow_origins(&app, &app.api_key, &[APP_ORIGIN]).await;
    let url = connect_from(&app, APP_ORIGIN).await;
    (app, url)
}

#[tokio::test]
async fn the_callback_page_tells_the_react_client_of_the_new_connection_at_the_allowed_opener() {
    let (app, url) = flow_from_the_allowed_app_origin().await;
    let page = app.finish_flow(&url).await.text().await.unwrap();
    let (message, origin) = ampersand_message(&page);
    assert_eq!(origin, APP_ORIGIN);
    let message = message.expect("a message for the React client");
    assert_eq!(message["eventType"], "AUTHORIZATION_SUCCEEDED");
    // The connection as the API lists it, which the library puts in its list.
    let listed = app.only_connection_for("g").await;
    assert_eq!(message["data"]["connection"], listed);
    assert_eq!(
        message["data"]["connection"]["oauth2AuthorizationCode"],
        Value::Null,
        "no secrets"
    );

    // Re-authorizing tells it again, with the same connection.
    let id = listed["id"].as_str().unwrap();
    let response = app
        .client
        .patch(app.project_url(&format!("/connections/{id}:oauth-update")))
        .header("X-Api-Key", &app.api_key)
        .header("Origin", APP_ORIGIN)
        .send()
        .await
        .unwrap();
    let url = response.text().await.unwrap();
    let page = app.finish_flow(&url).await.text().await.unwrap();
    let (message, origin) = ampersand_message(&page);
    assert_eq!(origin, APP_ORIGIN);
    assert_eq!(message.unwrap()["data"]["connection"]["id"], id);
}

#[tokio::test]
async fn a_refused_authorization_is_reported_to_the_react_client_as_failed() {
    let (app, url) = flow_from_the_allowed_app_origin().await;
    let state = crate::helpers::query_param(&url, "state").unwrap();
    let callback = app.url(&format!(
        "/callbacks/v1/oauth?state={state}&error=access_denied"
    ));
    let page = app.get_without_key(&callback).await.text().await.unwrap();
    let (message, origin) = ampersand_message(&page);
    assert_eq!(origin, APP_ORIGIN);
    let message = message.expect("a message for the React client");
    assert_eq!(message["eventType"], "AUTHORIZATION_FAILED");
    let error = message["data"]["error"].as_str().unwrap();
    assert!(error.contains("access_denied"), "{error}");
    assert_eq!(
        message["message"], error,
        "the re-authorization screen reads `message`"
    );
}

#[tokio::test]
async fn the_callback_page_posts_nothing_to_an_origin_the_project_does_not_allow() {
    let app = spawn_app_with_provider_app("mock").await;
    let url = connect_from(&app, OTHER_ORIGIN).await;
    let page = app.finish_flow(&url).await.text().await.unwrap();
    assert!(!page.contains(OTHER_ORIGIN), "{page}");
    let (_, origin) = ampersand_message(&page);
    assert_eq!(origin, app.address, "grantd's own origin");
}

#[tokio::test]
async fn the_workspace_sent_as_react_sends_it_is_stored_and_echoed_in_provider_metadata() {
    let app = spawn_app_with_provider_app("mock-workspace").await;
    // `@amp-labs/react`'s shape: the workspace twice, every entry with a source.
    let url = app
        .oauth_connect(json!({
            "projectIdOrName": app.project_name, "provider": "mock-workspace",
            "groupRef": "g", "consumerRef": "c",
            "providerWorkspaceRef": "tenant-1",
            "providerMetadata": {
                "workspace": {"value": "tenant-1", "source": "input", "displayName": "Tenant"},
                "accountId": {"value": "42", "source": "input"},
            },
        }))
        .await;
    assert!(url.contains("tenant=tenant-1"), "{url}");
    assert_eq!(app.finish_flow(&url).await.status(), StatusCode::OK);
    let connection = app.only_connection_for("g").await;
    assert_eq!(connection["providerWorkspaceRef"], "tenant-1");
    assert_eq!(
        connection["providerMetadata"]["workspace"],
        json!({"value": "tenant-1", "source": "input"})
    );
    assert_eq!(connection["providerMetadata"]["accountId"]["value"], "42");

    // Only in providerMetadata: it is the workspace all the same.
    let created = app
        .generated(&json!({
            "provider": "mock-workspace", "groupRef": "g2", "consumerRef": "c",
            "apiKey": "k-1",
            "providerMetadata": {
                "workspace": {"value": "tenant-2", "source": "input"},
                "accountId": {"value": "7", "source": "input", "displayName": "Account id"},
            },
        }))
        .await;
    assert_eq!(created["providerWorkspaceRef"], "tenant-2");
    assert_eq!(
        created["providerMetadata"]["workspace"]["value"],
        "tenant-2"
    );
}

#[tokio::test]
async fn a_workspace_in_provider_metadata_must_agree_with_provider_workspace_ref() {
    let app = spawn_app().await;
    let response = app
        .generate(&json!({
            "provider": "mock-workspace", "groupRef": "g", "consumerRef": "c", "apiKey": "k",
            "providerWorkspaceRef": "tenant-1",
            "providerMetadata": {
                "workspace": {"value": "tenant-2", "source": "input"},
                "accountId": {"value": "7", "source": "input"},
            },
        }))
        .await;
    assert_eq!(
        issue_names(&expect_problem(response, StatusCode::BAD_REQUEST).await),
        ["providerMetadata.workspace.value"]
    );
    // And it is checked like the workspace.
    let response = app
        .generate(&json!({
            "provider": "mock-workspace", "groupRef": "g", "consumerRef": "c", "apiKey": "k",
            "providerMetadata": {
                "workspace": {"value": "Evil.com/x", "source": "input"},
                "accountId": {"value": "7", "source": "input"},
            },
        }))
        .await;
    assert_eq!(
        issue_names(&expect_problem(response, StatusCode::BAD_REQUEST).await),
        ["providerWorkspaceRef"]
    );
}

#[tokio::test]
async fn salesforce_without_a_workspace_signs_in_at_login_salesforce_com() {
    let app = spawn_app_with_provider_app("salesforce").await;
    let url = app
        .oauth_connect(json!({
            "projectIdOrName": app.project_name, "provider": "salesforce",
            "groupRef": "g", "consumerRef": "c",
        }))
        .await;
    assert!(
        url.starts_with("https://login.salesforce.com/services/oauth2/authorize?"),
        "{url}"
    );
    let url = app
        .oauth_connect(json!({
            "projectIdOrName": app.project_name, "provider": "salesforce",
            "groupRef": "g", "consumerRef": "c", "providerWorkspaceRef": "acme",
        }))
        .await;
    assert!(
        url.starts_with("https://acme.my.salesforce.com/services/oauth2/authorize?"),
        "{url}"
    );
}
