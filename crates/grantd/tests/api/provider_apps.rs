//! Provider apps: a project's OAuth clients. CRUD, the per-provider default
//! that oauth-connect falls back to, and the client secret never coming back.

use crate::helpers::{
    expect_problem, issue_names, query_param, spawn_app, spawn_app_with, TestApp,
};
use crate::mock_provider::CLIENT_ID;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

async fn create(app: &TestApp, body: Value) -> Value {
    let response = post_app(app, body).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A `mock` app with `client_id` (and the secret `s3cret`), left to the
/// server to decide whether it is the default.
async fn create_mock_app(app: &TestApp, client_id: &str) -> Value {
    create(
        app,
        json!({"provider": "mock", "clientId": client_id, "clientSecret": "s3cret"}),
    )
    .await
}

/// A `mock` app with `client_id`, created as the provider's default.
async fn create_default_mock_app(app: &TestApp, client_id: &str) -> Value {
    create(
        app,
        json!({"provider": "mock", "clientId": client_id, "clientSecret": "s3cret", "isDefault": true}),
    )
    .await
}

/// `POST /provider-apps` with `body`, whatever the answer.
async fn post_app(app: &TestApp, body: Value) -> reqwest::Response {
    app.post_json(&app.project_url("/provider-apps"), &body)
        .await
}

/// The project's provider apps.
async fn list_apps(app: &TestApp) -> Vec<Value> {
    let response = app.get(&app.project_url("/provider-apps")).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn get_app(app: &TestApp, id: &str) -> Value {
    let response = app
        .get(&app.project_url(&format!("/provider-apps/{id}")))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn patch(app: &TestApp, id: &str, body: Value) -> reqwest::Response {
    app.patch_json(&app.project_url(&format!("/provider-apps/{id}")), &body)
        .await
}

fn assert_no_secret(view: &Value) {
    assert!(view.get("clientSecret").is_none(), "{view}");
    assert!(!view.to_string().contains("s3cret"), "{view}");
}

/// The `client_id` oauth-connect puts in the authorization URL for `mock`.
async fn client_id_used_by_oauth_connect(app: &TestApp) -> String {
    let url = app.start_flow("mock").await;
    query_param(&url, "client_id").unwrap()
}

#[tokio::test]
async fn creating_an_app_answers_with_everything_but_the_secret() {
    let app = spawn_app().await;
    let created = create(
        &app,
        json!({"provider": "mock", "clientId": "client-1", "clientSecret": "s3cret", "scopes": ["write", "admin"]}),
    )
    .await;
    assert!(created["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(created["projectId"], app.project_id.as_str());
    assert_eq!(created["provider"], "mock");
    assert_eq!(created["clientId"], "client-1");
    assert_eq!(created["scopes"], json!(["write", "admin"]));
    assert_eq!(
        created["isDefault"], true,
        "a provider's first app is its default"
    );
    for field in ["createTime", "updateTime"] {
        let time = created[field].as_str().unwrap();
        chrono::DateTime::parse_from_rfc3339(time).unwrap();
    }
    assert!(created.get("externalRef").is_none());
    assert_no_secret(&created);
}

#[tokio::test]
async fn apps_can_be_listed_and_read_back_without_their_secrets() {
    let app = spawn_app().await;
    let first = create(
        &app,
        json!({"provider": "mock", "clientId": "one", "clientSecret": "s3cret", "externalRef": "ext-1"}),
    )
    .await;
    let second = create(
        &app,
        json!({"provider": "mock-basic", "clientId": "two", "clientSecret": "s3cret"}),
    )
    .await;

    let response = app.get(&app.project_url("/provider-apps")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let list: Vec<Value> = response.json().await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], first["id"]);
    assert_eq!(list[1]["id"], second["id"]);
    list.iter().for_each(assert_no_secret);

    let read = get_app(&app, first["id"].as_str().unwrap()).await;
    assert_eq!(read, first);
    assert_eq!(read["externalRef"], "ext-1");
    assert_eq!(read["scopes"], json!([]), "scopes default to none");
    assert_no_secret(&read);
}

#[tokio::test]
async fn patch_changes_scopes_client_id_and_secret() {
    let app = spawn_app().await;
    let id = app.create_provider_app("mock").await;

    let response = patch(
        &app,
        &id,
        json!({"scopes": ["read", "admin"], "clientId": "renamed-client", "clientSecret": "rotated"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let patched: Value = response.json().await.unwrap();
    assert_eq!(patched["id"], id.as_str());
    assert_eq!(patched["scopes"], json!(["read", "admin"]));
    assert_eq!(patched["clientId"], "renamed-client");
    assert_eq!(patched["provider"], "mock");
    assert!(patched.get("clientSecret").is_none());
    assert!(!patched.to_string().contains("rotated"));
    assert_eq!(get_app(&app, &id).await, patched);

    // The new client id and scopes are what the next flow uses.
    let url = app.start_flow("mock").await;
    assert_eq!(
        query_param(&url, "client_id").as_deref(),
        Some("renamed-client")
    );
    let scope = query_param(&url, "scope").unwrap();
    assert!(scope.split(' ').any(|s| s == "admin"), "{scope}");
}

#[tokio::test]
async fn a_rotated_secret_is_the_one_sent_to_the_token_endpoint() {
    let app = spawn_app().await;
    let id = app.create_provider_app("mock").await;
    let response = patch(&app, &id, json!({"clientSecret": "rotated"})).await;
    assert_eq!(response.status(), StatusCode::OK);

    let url = app.start_flow("mock").await;
    let callback = app.authorize(&url).await;
    app.get_without_key(&callback).await;
    let exchange = &app.provider.token_requests()[0];
    assert_eq!(exchange.params["client_secret"], "rotated");
}

#[tokio::test]
async fn a_patch_takes_effect_on_this_instance_at_once_however_long_the_cache_lives() {
    let app = spawn_app_with(|config| config.cache_ttl = Duration::from_secs(3600)).await;
    let id = app.create_provider_app("mock").await;
    // A whole flow fills the cache for the default app and for the app by id.
    let url = app.start_flow("mock").await;
    assert_eq!(app.finish_flow(&url).await.status(), StatusCode::OK);
    assert_eq!(
        app.provider.token_requests()[0].params["client_id"],
        CLIENT_ID
    );

    let response = patch(
        &app,
        &id,
        json!({"clientId": "renamed-client", "clientSecret": "rotated"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);

    let url = app.start_flow("mock").await;
    assert_eq!(
        query_param(&url, "client_id").as_deref(),
        Some("renamed-client")
    );
    app.finish_flow(&url).await;
    let exchange = &app.provider.token_requests()[1];
    assert_eq!(exchange.params["client_id"], "renamed-client");
    assert_eq!(exchange.params["client_secret"], "rotated");
}

#[tokio::test]
async fn patch_sets_and_clears_the_external_ref() {
    let app = spawn_app().await;
    let id = app.create_provider_app("mock").await;

    let response = patch(&app, &id, json!({"externalRef": "crm-app-7"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap()["externalRef"],
        "crm-app-7"
    );

    // Absent leaves it alone.
    let response = patch(&app, &id, json!({"scopes": ["x"]})).await;
    assert_eq!(
        response.json::<Value>().await.unwrap()["externalRef"],
        "crm-app-7"
    );

    // An explicit null clears it.
    let response = patch(&app, &id, json!({"externalRef": null})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cleared: Value = response.json().await.unwrap();
    assert!(cleared.get("externalRef").is_none(), "{cleared}");
    assert!(get_app(&app, &id).await.get("externalRef").is_none());
}

#[tokio::test]
async fn patch_cannot_change_the_provider_of_an_app() {
    let app = spawn_app().await;
    let id = app.create_provider_app("mock").await;
    let response = patch(&app, &id, json!({"provider": "mock-basic"})).await;
    let body = expect_problem(response, StatusCode::BAD_REQUEST).await;
    let detail = body["issues"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("provider"), "{body}");
    assert_eq!(body["issues"][0]["in"], "body");
    assert_eq!(get_app(&app, &id).await["provider"], "mock");
}

#[tokio::test]
async fn patch_with_an_empty_client_id_is_refused() {
    let app = spawn_app().await;
    let id = app.create_provider_app("mock").await;
    let response = patch(&app, &id, json!({"clientId": " ", "clientSecret": ""})).await;
    let body = expect_problem(response, StatusCode::BAD_REQUEST).await;
    let mut names = issue_names(&body);
    names.sort();
    assert_eq!(names, ["clientId", "clientSecret"]);
    assert_eq!(get_app(&app, &id).await["clientId"], "mock-client");
}

#[tokio::test]
async fn patching_an_unknown_app_is_a_404() {
    let app = spawn_app().await;
    let response = patch(&app, "no-such-app", json!({"scopes": []})).await;
    expect_problem(response, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_deleted_app_is_gone() {
    let app = spawn_app().await;
    let id = app.create_provider_app("mock").await;
    let url = app.project_url(&format!("/provider-apps/{id}"));

    let response = app.delete(&url).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.text().await.unwrap().is_empty());

    let response = app.get(&url).await;
    assert_eq!(
        expect_problem(response, StatusCode::NOT_FOUND).await["status"],
        404
    );
    let list = list_apps(&app).await;
    assert!(list.is_empty());

    let response = app.delete(&url).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "deleting twice");
}

#[tokio::test]
async fn the_first_app_of_a_provider_is_its_default_and_a_new_default_takes_over() {
    let app = spawn_app().await;
    let first = create_mock_app(&app, "first-client").await;
    assert_eq!(first["isDefault"], true);
    let other_provider = create(
        &app,
        json!({"provider": "mock-basic", "clientId": "basic-client", "clientSecret": "s3cret"}),
    )
    .await;
    assert_eq!(
        other_provider["isDefault"], true,
        "defaults are per provider"
    );

    let second = create_default_mock_app(&app, "second-client").await;
    assert_eq!(second["isDefault"], true);
    let first_id = first["id"].as_str().unwrap();
    assert_eq!(get_app(&app, first_id).await["isDefault"], false);
    let basic_id = other_provider["id"].as_str().unwrap();
    assert_eq!(
        get_app(&app, basic_id).await["isDefault"],
        true,
        "another provider's default is untouched"
    );
}

#[tokio::test]
async fn a_second_app_without_is_default_does_not_take_over() {
    let app = spawn_app().await;
    create_mock_app(&app, "first-client").await;
    let second = create_mock_app(&app, "second-client").await;
    assert_eq!(second["isDefault"], false);
    assert_eq!(client_id_used_by_oauth_connect(&app).await, "first-client");
}

#[tokio::test]
async fn oauth_connect_without_provider_app_id_uses_the_default_app() {
    let app = spawn_app().await;
    let first = create_mock_app(&app, "first-client").await;
    assert_eq!(client_id_used_by_oauth_connect(&app).await, "first-client");

    create_default_mock_app(&app, "second-client").await;
    assert_eq!(client_id_used_by_oauth_connect(&app).await, "second-client");

    // Naming the old app still picks it.
    let url = app
        .oauth_connect(json!({
            "projectId": app.project_id,
            "provider": "mock",
            "groupRef": "g",
            "consumerRef": "c",
            "providerAppId": first["id"],
        }))
        .await;
    assert_eq!(
        query_param(&url, "client_id").as_deref(),
        Some("first-client")
    );
}

#[tokio::test]
async fn patch_is_default_moves_the_default_back_to_an_older_app() {
    let app = spawn_app().await;
    let first = create_mock_app(&app, "first-client").await;
    let second = create_default_mock_app(&app, "second-client").await;
    let first_id = first["id"].as_str().unwrap();
    let second_id = second["id"].as_str().unwrap();

    let response = patch(&app, first_id, json!({"isDefault": true})).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["isDefault"], true);
    assert_eq!(get_app(&app, second_id).await["isDefault"], false);
    assert_eq!(client_id_used_by_oauth_connect(&app).await, "first-client");
}

#[tokio::test]
async fn patch_is_default_moves_the_default_to_a_newer_app() {
    let app = spawn_app().await;
    let first = create_mock_app(&app, "first-client").await;
    let second = create_mock_app(&app, "second-client").await;
    let second_id = second["id"].as_str().unwrap();

    let response = patch(&app, second_id, json!({"isDefault": true})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["isDefault"], true);
    assert_eq!(
        get_app(&app, first["id"].as_str().unwrap()).await["isDefault"],
        false
    );
    assert_eq!(client_id_used_by_oauth_connect(&app).await, "second-client");
}

#[tokio::test]
async fn unsetting_is_default_by_patch_is_refused() {
    let app = spawn_app().await;
    let id = app.create_provider_app("mock").await;
    let response = patch(&app, &id, json!({"isDefault": false})).await;
    let body = expect_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(issue_names(&body), ["isDefault"]);
    assert_eq!(get_app(&app, &id).await["isDefault"], true);
}

#[tokio::test]
async fn creating_an_app_for_an_unknown_provider_names_the_provider() {
    let app = spawn_app().await;
    let response = post_app(
        &app,
        json!({"provider": "nope", "clientId": "c", "clientSecret": "s"}),
    )
    .await;
    let body = expect_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(issue_names(&body), ["provider"]);
    assert_eq!(body["issues"][0]["in"], "body");
    assert_eq!(body["issues"][0]["value"], "nope");
}

#[tokio::test]
async fn creating_an_app_without_a_client_secret_names_the_field() {
    let app = spawn_app().await;
    let response = post_app(&app, json!({"provider": "mock", "clientId": "c"})).await;
    let body = expect_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(issue_names(&body), ["clientSecret"]);
    assert_eq!(body["issues"][0]["in"], "body");
    let list = list_apps(&app).await;
    assert!(list.is_empty(), "nothing was stored");
}

#[tokio::test]
async fn creating_an_app_with_nothing_reports_every_missing_field() {
    let app = spawn_app().await;
    let response = post_app(&app, json!({})).await;
    let body = expect_problem(response, StatusCode::BAD_REQUEST).await;
    let mut names = issue_names(&body);
    names.sort();
    assert_eq!(names, ["clientId", "clientSecret", "provider"]);
}

#[tokio::test]
async fn creating_an_app_with_an_unknown_field_is_refused() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            &app.project_url("/provider-apps"),
            &json!({"provider": "mock", "clientId": "c", "clientSecret": "s", "redirectUri": "https://evil.example"})).await;
    let body = expect_problem(response, StatusCode::BAD_REQUEST).await;
    assert!(
        body["issues"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("redirectUri"),
        "{body}"
    );
}

#[tokio::test]
async fn creating_an_app_answers_200_as_ampersands_api_does() {
    let app = spawn_app().await;
    let response = post_app(
        &app,
        json!({"provider": "mock", "clientId": "c", "clientSecret": "s3cret"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_ampersand_shaped_update_changes_only_the_masked_fields() {
    let app = spawn_app().await;
    let created = create(
        &app,
        json!({"provider": "mock", "clientId": "before", "clientSecret": "s3cret",
               "scopes": ["read"], "externalRef": "ext-1"}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let response = patch(
        &app,
        id,
        json!({"updateMask": ["clientId", "scopes"],
               "providerApp": {"clientId": "after", "scopes": ["read", "write"],
                               "externalRef": "ignored: not in the mask"}}),
    )
    .await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["clientId"], "after");
    assert_eq!(body["scopes"], json!(["read", "write"]));
    assert_eq!(body["externalRef"], "ext-1");
    assert_no_secret(&body);

    // A field in the mask but not in providerApp is cleared.
    let cleared: Value = patch(
        &app,
        id,
        json!({"updateMask": ["externalRef"], "providerApp": {}}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(cleared.get("externalRef").is_none(), "{cleared}");
}

#[tokio::test]
async fn an_ampersand_shaped_update_refuses_an_unknown_mask_and_another_provider() {
    let app = spawn_app().await;
    let created = create(
        &app,
        json!({"provider": "mock", "clientId": "c", "clientSecret": "s3cret"}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let unknown = patch(
        &app,
        id,
        json!({"updateMask": ["isDefault"], "providerApp": {}}),
    )
    .await;
    assert_eq!(
        issue_names(&expect_problem(unknown, StatusCode::BAD_REQUEST).await),
        ["updateMask[0]"]
    );

    let other = patch(
        &app,
        id,
        json!({"updateMask": ["provider"], "providerApp": {"provider": "mock-basic"}}),
    )
    .await;
    assert_eq!(
        issue_names(&expect_problem(other, StatusCode::BAD_REQUEST).await),
        ["providerApp.provider"]
    );
    let same = patch(
        &app,
        id,
        json!({"updateMask": ["provider"], "providerApp": {"provider": "mock"}}),
    )
    .await;
    assert_eq!(same.status(), StatusCode::OK);
}

#[tokio::test]
async fn app_metadata_is_stored_returned_and_its_auth_query_params_reach_the_authorization_url() {
    let app = spawn_app().await;
    let created = create(
        &app,
        json!({"provider": "mock", "clientId": CLIENT_ID, "clientSecret": "s3cret",
               "metadata": {"authQueryParams": {"optional_scope": ["a.read", "b.write"]},
                            "providerParams": {"packageInstallURL": "https://example.com/p"}}}),
    )
    .await;
    assert_eq!(
        created["metadata"]["authQueryParams"]["optional_scope"],
        json!(["a.read", "b.write"])
    );
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        get_app(&app, id).await["metadata"]["providerParams"]["packageInstallURL"],
        "https://example.com/p"
    );
    let url = app.start_flow("mock").await;
    assert_eq!(
        query_param(&url, "optional_scope").as_deref(),
        Some("a.read b.write")
    );

    // Replaced through an Ampersand-shaped update; used from the next flow.
    let response = patch(
        &app,
        id,
        json!({"updateMask": ["metadata"],
               "providerApp": {"metadata": {"authQueryParams": {"prompt_extra": ["x"]}}}}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let url = app.start_flow("mock").await;
    assert_eq!(query_param(&url, "optional_scope"), None);
    assert_eq!(query_param(&url, "prompt_extra").as_deref(), Some("x"));
}

#[tokio::test]
async fn auth_query_params_may_not_override_the_flows_own_parameters() {
    let app = spawn_app().await;
    let response = post_app(
        &app,
        json!({"provider": "mock", "clientId": "c", "clientSecret": "s3cret",
                    "metadata": {"authQueryParams": {"redirect_uri": ["https://evil.example"]}}}),
    )
    .await;
    assert_eq!(
        issue_names(&expect_problem(response, StatusCode::BAD_REQUEST).await),
        ["metadata.authQueryParams.redirect_uri"]
    );
}
