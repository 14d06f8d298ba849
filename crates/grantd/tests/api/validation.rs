//! Every way `POST /v1/oauth-connect` (and `connections:generate`) turns
//! bad input into a 400 problem whose `issues[]` name the offending field.

use crate::helpers::{
    expect_problem, issue_names, spawn_app, spawn_app_with_provider_app, TestApp,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Posts to oauth-connect, asserting a 400 problem, and returns its body.
async fn rejected_connect(app: &TestApp, body: Value) -> Value {
    let response = app.post_json(&app.url("/v1/oauth-connect"), &body).await;
    let body = expect_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["status"], 400);
    body
}

/// The issue named `name`, checking it was found in the body.
fn issue<'a>(problem: &'a Value, name: &str) -> &'a Value {
    let found = problem["issues"]
        .as_array()
        .and_then(|issues| issues.iter().find(|i| i["name"] == name))
        .unwrap_or_else(|| panic!("no issue named {name}: {problem}"));
    assert_eq!(found["in"], "body", "{found}");
    assert!(
        found["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{found}"
    );
    found
}

/// A valid oauth-connect body for `mock-workspace`, to spoil one field at a time.
fn workspace_body(app: &TestApp) -> Value {
    json!({
        "projectId": app.project_id,
        "provider": "mock-workspace",
        "groupRef": "g",
        "consumerRef": "c",
        "providerWorkspaceRef": "tenant-1",
        "providerMetadata": {"accountId": {"value": "12345"}},
    })
}

/// An app with a `mock-workspace` provider app, and a valid body to spoil.
async fn workspace_app() -> (TestApp, Value) {
    let app = spawn_app_with_provider_app("mock-workspace").await;
    let body = workspace_body(&app);
    (app, body)
}

#[tokio::test]
async fn all_missing_required_fields_are_reported_together_in_one_problem() {
    let app = spawn_app().await;
    let body = rejected_connect(&app, json!({})).await;
    let mut names = issue_names(&body);
    names.sort();
    assert_eq!(
        names,
        ["consumerRef", "groupRef", "projectIdOrName", "provider"],
        "{body}"
    );
    for name in ["projectIdOrName", "provider", "groupRef", "consumerRef"] {
        assert_eq!(issue(&body, name)["value"], Value::Null);
    }
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("projectId") && detail.contains("consumerRef"),
        "{detail}"
    );
}

#[tokio::test]
async fn empty_refs_are_reported_with_their_empty_value() {
    let app = spawn_app_with_provider_app("mock").await;
    let body = rejected_connect(
        &app,
        json!({"projectId": app.project_id, "provider": "mock", "groupRef": "", "consumerRef": ""}),
    )
    .await;
    assert_eq!(issue(&body, "groupRef")["value"], "");
    assert_eq!(issue(&body, "consumerRef")["value"], "");
}

#[tokio::test]
async fn an_unknown_provider_is_named_with_its_value() {
    let app = spawn_app().await;
    let body = rejected_connect(
        &app,
        json!({"projectId": app.project_id, "provider": "nope", "groupRef": "g", "consumerRef": "c"}),
    )
    .await;
    assert_eq!(issue_names(&body), ["provider"]);
    assert_eq!(issue(&body, "provider")["value"], "nope");
}

#[tokio::test]
async fn a_provider_needing_a_workspace_refuses_a_request_without_one() {
    let (app, mut request) = workspace_app().await;
    request
        .as_object_mut()
        .unwrap()
        .remove("providerWorkspaceRef");
    let body = rejected_connect(&app, request).await;
    assert_eq!(issue_names(&body), ["providerWorkspaceRef"]);
    assert_eq!(issue(&body, "providerWorkspaceRef")["value"], Value::Null);
}

#[tokio::test]
async fn a_workspace_that_fails_the_pattern_is_refused_before_it_reaches_a_url() {
    let (app, mut request) = workspace_app().await;
    request["providerWorkspaceRef"] = json!("evil.com/x");
    let body = rejected_connect(&app, request).await;
    assert_eq!(issue_names(&body), ["providerWorkspaceRef"]);
    assert_eq!(issue(&body, "providerWorkspaceRef")["value"], "evil.com/x");
}

#[tokio::test]
async fn missing_required_metadata_is_named_by_its_path() {
    let (app, mut request) = workspace_app().await;
    request.as_object_mut().unwrap().remove("providerMetadata");
    let body = rejected_connect(&app, request).await;
    assert_eq!(issue_names(&body), ["providerMetadata.accountId"]);
    assert_eq!(
        issue(&body, "providerMetadata.accountId")["value"],
        Value::Null
    );
}

#[tokio::test]
async fn metadata_that_fails_its_pattern_is_named_with_its_value() {
    let (app, mut request) = workspace_app().await;
    request["providerMetadata"]["accountId"]["value"] = json!("12&x=1");
    let body = rejected_connect(&app, request).await;
    assert_eq!(issue_names(&body), ["providerMetadata.accountId.value"]);
    assert_eq!(
        issue(&body, "providerMetadata.accountId.value")["value"],
        "12&x=1"
    );
}

#[tokio::test]
async fn an_unknown_metadata_key_is_refused() {
    let (app, mut request) = workspace_app().await;
    request["providerMetadata"]["region"] = json!({"value": "eu"});
    let body = rejected_connect(&app, request).await;
    assert_eq!(issue_names(&body), ["providerMetadata.region"]);
    assert_eq!(issue(&body, "providerMetadata.region")["value"], "region");
}

#[tokio::test]
async fn workspace_and_metadata_problems_are_reported_together() {
    let app = spawn_app().await;
    let mut request = workspace_body(&app);
    request["providerWorkspaceRef"] = json!("Bad Tenant");
    request["providerMetadata"] = json!({"accountId": {"value": "abc"}, "extra": {"value": "1"}});
    let body = rejected_connect(&app, request).await;
    let mut names = issue_names(&body);
    names.sort();
    assert_eq!(
        names,
        [
            "providerMetadata.accountId.value",
            "providerMetadata.extra",
            "providerWorkspaceRef"
        ],
        "{body}"
    );
}

/// oauth-connect for `mock` naming `provider_app_id`: refused on that field
/// alone, with the value echoed.
async fn assert_refused_on_provider_app_id(app: &TestApp, provider_app_id: &str) {
    let body = rejected_connect(
        app,
        json!({
            "projectId": app.project_id,
            "provider": "mock",
            "groupRef": "g",
            "consumerRef": "c",
            "providerAppId": provider_app_id,
        }),
    )
    .await;
    assert_eq!(issue_names(&body), ["providerAppId"]);
    assert_eq!(issue(&body, "providerAppId")["value"], provider_app_id);
}

#[tokio::test]
async fn an_unknown_provider_app_id_is_refused() {
    let app = spawn_app_with_provider_app("mock").await;
    assert_refused_on_provider_app_id(&app, "no-such-app").await;
}

#[tokio::test]
async fn without_any_provider_app_the_missing_default_is_reported_on_provider_app_id() {
    let app = spawn_app().await;
    let body = rejected_connect(
        &app,
        json!({"projectId": app.project_id, "provider": "mock", "groupRef": "g", "consumerRef": "c"}),
    )
    .await;
    assert_eq!(issue_names(&body), ["providerAppId"]);
    assert_eq!(issue(&body, "providerAppId")["value"], Value::Null);
    assert_eq!(app.provider.token_calls(), 0);
}

#[tokio::test]
async fn a_provider_app_of_another_provider_is_refused() {
    let app = spawn_app_with_provider_app("mock").await;
    let basic_app = app.create_provider_app("mock-basic").await;
    assert_refused_on_provider_app_id(&app, &basic_app).await;
}

#[tokio::test]
async fn a_provider_app_of_another_project_is_as_unknown_as_a_made_up_one() {
    let app = spawn_app_with_provider_app("mock").await;
    let (other_id, _) = app.other_project().await;
    let request: grantd::http::routes::provider_apps::wire::CreateProviderAppRequest =
        serde_json::from_value(
            json!({"provider": "mock", "clientId": "globex-client", "clientSecret": "s"}),
        )
        .unwrap();
    let foreign = app
        .grantd
        .create_provider_app(
            &grantd::domain::Actor::cli(),
            &other_id,
            request.parse(app.grantd.catalog()).unwrap(),
        )
        .await
        .unwrap();
    assert_refused_on_provider_app_id(&app, &foreign.id).await;
}

#[tokio::test]
async fn a_wrongly_typed_field_is_named_in_the_problem() {
    let app = spawn_app().await;
    let body = rejected_connect(
        &app,
        json!({"projectId": app.project_id, "provider": 5, "groupRef": "g", "consumerRef": "c"}),
    )
    .await;
    assert_eq!(issue_names(&body), ["provider"]);
    let provider = issue(&body, "provider");
    assert!(
        provider["detail"]
            .as_str()
            .unwrap()
            .contains("invalid type"),
        "{provider}"
    );
}

#[tokio::test]
async fn a_wrongly_typed_nested_field_is_named_by_its_path() {
    let app = spawn_app().await;
    let mut request = workspace_body(&app);
    request["providerMetadata"]["accountId"]["value"] = json!(12345);
    let body = rejected_connect(&app, request).await;
    assert_eq!(issue_names(&body), ["providerMetadata.accountId.value"]);
}

#[tokio::test]
async fn a_valid_request_passes_the_same_checks() {
    // The baseline the tests above spoil: it must succeed as is.
    let app = spawn_app_with_provider_app("mock-workspace").await;
    let url = app.oauth_connect(workspace_body(&app)).await;
    assert!(url.contains("tenant=tenant-1"), "{url}");
}

#[tokio::test]
async fn generate_without_any_credential_scheme_is_a_400() {
    let app = spawn_app().await;
    let response = app
        .generate(&json!({"provider": "mock", "groupRef": "g", "consumerRef": "c"}))
        .await;
    let body = expect_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(issue_names(&body), ["apiKey"]);
    assert!(
        issue(&body, "apiKey")["detail"]
            .as_str()
            .unwrap()
            .contains("exactly one"),
        "{body}"
    );
    assert_eq!(app.connection_count().await, 0);
}

#[tokio::test]
async fn generate_with_two_credential_schemes_is_a_400() {
    let app = spawn_app().await;
    let response = app
        .generate(&json!({
            "provider": "mock",
            "groupRef": "g",
            "consumerRef": "c",
            "apiKey": "k",
            "basicAuth": {"username": "u", "password": "p"},
        }))
        .await;
    let body = expect_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(issue_names(&body), ["basicAuth"]);
    let detail = issue(&body, "basicAuth")["detail"].as_str().unwrap();
    assert!(
        detail.contains("apiKey") && detail.contains("basicAuth"),
        "{detail}"
    );
    assert_eq!(app.connection_count().await, 0);
}

/// Characters no name or ref may hold: NUL (which PostgreSQL cannot store),
/// a right-to-left override and a zero-width space.
const UNPRINTABLE: [&str; 3] = ["\u{0}", "\u{202E}", "\u{200B}"];

/// Posts `body` to `url`, asserting a 400 whose one issue is `field`.
async fn refused_naming(app: &TestApp, url: &str, body: &Value, field: &str) {
    let response = app.post_json(url, body).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {text}");
    let problem: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(issue_names(&problem), [field], "{problem}");
}

#[tokio::test]
async fn refs_names_and_workspace_inputs_refuse_nul_bidi_and_invisible_characters() {
    let app = spawn_app_with_provider_app("mock-workspace").await;
    let connect = app.url("/v1/oauth-connect");
    for bad in UNPRINTABLE {
        for field in [
            "groupRef",
            "consumerRef",
            "groupName",
            "consumerName",
            "providerWorkspaceRef",
        ] {
            let mut body = workspace_body(&app);
            body[field] = json!(format!("tenant{bad}1"));
            refused_naming(&app, &connect, &body, field).await;
        }
        let mut body = workspace_body(&app);
        body["providerMetadata"]["accountId"]["value"] = json!(format!("123{bad}"));
        refused_naming(&app, &connect, &body, "providerMetadata.accountId.value").await;
    }
    // A workspace ref for a provider that declares no workspace is stored
    // unchecked by any pattern; it is refused all the same.
    let body = json!({
        "provider": "mock", "groupRef": "g", "consumerRef": "c", "apiKey": "k",
        "providerWorkspaceRef": "acme\u{0}", "groupName": "Acme",
    });
    refused_naming(
        &app,
        &app.project_url("/connections:generate"),
        &body,
        "providerWorkspaceRef",
    )
    .await;
    let body = json!({
        "provider": "mock", "groupRef": "g", "consumerRef": "c", "apiKey": "k",
        "groupName": "Acme\u{202E}moc.evil",
    });
    refused_naming(
        &app,
        &app.project_url("/connections:generate"),
        &body,
        "groupName",
    )
    .await;
    assert_eq!(app.connection_count().await, 0);
}

#[tokio::test]
async fn provider_apps_sessions_and_webhooks_refuse_unprintable_text_naming_the_field() {
    let app = spawn_app().await;
    let id = app.create_provider_app("mock").await;
    let apps = app.project_url("/provider-apps");
    for bad in UNPRINTABLE {
        let app_body = |field: &str| {
            let mut body = json!({"provider": "mock", "clientId": "id", "clientSecret": "s", "externalRef": "x", "scopes": ["a"]});
            body[field] = json!(format!("v{bad}"));
            body
        };
        refused_naming(&app, &apps, &app_body("clientId"), "clientId").await;
        refused_naming(&app, &apps, &app_body("externalRef"), "externalRef").await;
        let mut body = app_body("clientId");
        body["clientId"] = json!("id");
        body["scopes"] = json!(["read", format!("write{bad}")]);
        refused_naming(&app, &apps, &body, "scopes[1]").await;

        let body = json!({"groupRef": "g", "consumerRef": "c", "providers": ["mock"], "consumerName": format!("Ada{bad}")});
        refused_naming(
            &app,
            &app.project_url("/connect-sessions"),
            &body,
            "consumerName",
        )
        .await;

        let body =
            json!({"url": "https://hooks.example.com/grantd", "description": format!("ops{bad}")});
        refused_naming(&app, &app.project_url("/webhooks"), &body, "description").await;
    }
    let response = app
        .patch_json(
            &app.project_url(&format!("/provider-apps/{id}")),
            &json!({"externalRef": "ext\u{0}"}),
        )
        .await;
    assert_eq!(
        issue_names(&expect_problem(response, StatusCode::BAD_REQUEST).await),
        ["externalRef"]
    );
}

#[tokio::test]
async fn a_nul_in_a_field_only_looked_up_is_a_400_not_a_database_error() {
    let app = spawn_app_with_provider_app("mock").await;
    let body = json!({
        "projectId": app.project_id, "provider": "mock", "groupRef": "g", "consumerRef": "c",
        "providerAppId": "app\u{0}",
    });
    refused_naming(&app, &app.url("/v1/oauth-connect"), &body, "providerAppId").await;

    let response = app
        .get(&app.project_url("/connections?groupRef=g%00"))
        .await;
    let body = expect_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(issue_names(&body), ["groupRef"]);
    assert_eq!(body["issues"][0]["in"], "query");

    let response = app.get(&app.project_url("/connections/c%00")).await;
    assert_eq!(
        expect_problem(response, StatusCode::BAD_REQUEST).await["issues"][0]["in"],
        "path"
    );
}

#[tokio::test]
async fn a_large_bad_request_gets_a_bounded_problem() {
    let app = spawn_app_with_provider_app("mock").await;
    // 240 unknown metadata keys of 150 characters and a long ref: 241
    // issues from ~47 KB asked.
    let metadata: serde_json::Map<String, Value> = (0..240)
        .map(|i| (format!("{i:03}{}", "k".repeat(147)), json!({"value": "v"})))
        .collect();
    let request = json!({
        "projectId": app.project_id, "provider": "mock", "consumerRef": "c",
        "groupRef": "g".repeat(5_000),
        "providerMetadata": metadata,
    });
    let response = app.post_json(&app.url("/v1/oauth-connect"), &request).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let text = response.text().await.unwrap();
    assert!(text.len() < 40 * 1024, "{} bytes answered", text.len());
    let body: Value = serde_json::from_str(&text).unwrap();
    let issues = body["issues"].as_array().unwrap();
    assert_eq!(issues.len(), 51, "50 issues, then one counting the rest");
    let last = issues.last().unwrap();
    assert!(
        last["detail"].as_str().unwrap().contains("191 more"),
        "{last}"
    );
    assert!(
        body["detail"].as_str().unwrap().ends_with("and 191 more"),
        "{body}"
    );

    let group_ref = issue(&body, "groupRef")["value"].as_str().unwrap();
    assert_eq!(
        group_ref.chars().count(),
        257,
        "256 characters and an ellipsis"
    );
    assert!(group_ref.ends_with('…'));
    for issue in issues {
        assert!(
            issue["name"].as_str().unwrap().chars().count() <= 257,
            "{issue}"
        );
    }
}
