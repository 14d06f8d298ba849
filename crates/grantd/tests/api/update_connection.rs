//! updateConnection (`PATCH …/connections/{id}` with `updateMask`), as
//! Ampersand defines it: credentials rotated and inputs changed in place.

use crate::helpers::{expect_problem, issue_names, spawn_app, TestApp};
use crate::mock_provider::{CLIENT_ID, CLIENT_SECRET};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Row;

async fn update(app: &TestApp, id: &str, body: Value) -> reqwest::Response {
    app.patch_json(&app.project_url(&format!("/connections/{id}")), &body)
        .await
}

async fn credentials_version(app: &TestApp, id: &str) -> i64 {
    sqlx::query("SELECT credentials_version FROM connections WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db().await)
        .await
        .unwrap()
        .get::<i64, _>(0)
}

#[tokio::test]
async fn rotating_an_api_key_keeps_the_connection_and_records_connection_updated() {
    let app = spawn_app().await;
    let id = app
        .generated_id(
            &json!({"provider": "mock", "groupRef": "g", "consumerRef": "c", "apiKey": "old-key"}),
        )
        .await;
    let version = credentials_version(&app, &id).await;

    let response = update(
        &app,
        &id,
        json!({"updateMask": ["apiKey"], "connection": {"apiKey": "new-key"}}),
    )
    .await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["authScheme"], "apiKey");

    let stored = app.connection_with_credentials(&id).await;
    assert_eq!(stored["apiKey"], "new-key");
    assert_eq!(app.connection_count().await, 1);
    assert!(
        credentials_version(&app, &id).await > version,
        "the update is fenced like a refresh: the credentials version moves"
    );
    let events = app.connection_event_types(&id).await;
    assert_eq!(
        events.last().map(String::as_str),
        Some("connection.updated")
    );
    let logged = app.connection_events(&id).await;
    assert_eq!(logged[0]["data"]["updateMask"], json!(["apiKey"]));
    assert!(
        !logged[0].to_string().contains("new-key"),
        "events never carry secrets"
    );
}

#[tokio::test]
async fn a_basic_auth_password_is_rotated_in_place() {
    let app = spawn_app().await;
    let id = app
        .generated_id(
            &json!({"provider": "mock", "groupRef": "g", "consumerRef": "c",
               "basicAuth": {"username": "ada", "password": "one"}}),
        )
        .await;
    let response = update(
        &app,
        &id,
        json!({"updateMask": ["basicAuth"],
               "connection": {"basicAuth": {"username": "ada", "password": "two"}}}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let stored = app.connection_with_credentials(&id).await;
    assert_eq!(stored["basicAuth"]["password"], "two");
}

#[tokio::test]
async fn rotated_client_credentials_are_exchanged_first_and_refused_ones_change_nothing() {
    let app = spawn_app().await;
    let id = app
        .generated_id(
            &json!({"provider": "mock", "groupRef": "g", "consumerRef": "c",
               "oauth2ClientCredentials": {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}}),
        )
        .await;
    let before = app.connection_with_credentials(&id).await;
    let calls = app.provider.calls_with_grant("client_credentials");

    let refused = update(
        &app,
        &id,
        json!({"updateMask": ["oauth2ClientCredentials"],
               "connection": {"oauth2ClientCredentials": {"clientId": CLIENT_ID, "clientSecret": "wrong"}}}),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let unchanged = app.connection_with_credentials(&id).await;
    assert_eq!(
        unchanged["oauth2ClientCredentials"]["clientSecret"],
        CLIENT_SECRET
    );
    assert_eq!(
        unchanged["oauth2ClientCredentials"]["accessToken"],
        before["oauth2ClientCredentials"]["accessToken"]
    );

    let response = update(
        &app,
        &id,
        json!({"updateMask": ["oauth2ClientCredentials"],
               "connection": {"oauth2ClientCredentials": {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}}}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.provider.calls_with_grant("client_credentials"),
        calls + 2,
        "each rotation asks the provider for a token with the new secrets"
    );
    let rotated = app.connection_with_credentials(&id).await;
    assert_ne!(
        rotated["oauth2ClientCredentials"]["accessToken"]["token"],
        before["oauth2ClientCredentials"]["accessToken"]["token"]
    );
}

#[tokio::test]
async fn the_workspace_and_metadata_change_in_place_and_are_checked_like_at_creation() {
    let app = spawn_app().await;
    let id = app
        .generated_id(
            &json!({"provider": "mock-workspace", "groupRef": "g", "consumerRef": "c",
               "providerWorkspaceRef": "tenant-a",
               "providerMetadata": {"accountId": {"value": "12", "source": "input"}},
               "apiKey": "k"}),
        )
        .await;
    let response = update(
        &app,
        &id,
        json!({"updateMask": ["providerWorkspaceRef", "providerMetadata"],
               "connection": {"providerWorkspaceRef": "tenant-b",
                              "providerMetadata": {"accountId": {"value": "34", "source": "input"}}}}),
    )
    .await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["providerWorkspaceRef"], "tenant-b");
    assert_eq!(body["providerMetadata"]["accountId"]["value"], "34");

    let bad = update(
        &app,
        &id,
        json!({"updateMask": ["providerWorkspaceRef"],
               "connection": {"providerWorkspaceRef": "Not A Tenant"}}),
    )
    .await;
    assert_eq!(
        issue_names(&expect_problem(bad, StatusCode::BAD_REQUEST).await),
        ["connection.providerWorkspaceRef"]
    );
    let kept: Value = app
        .get_json(&app.project_url(&format!("/connections/{id}")))
        .await;
    assert_eq!(kept["providerWorkspaceRef"], "tenant-b");
}

#[tokio::test]
async fn a_mask_naming_another_scheme_or_an_unknown_field_or_a_missing_value_is_a_400() {
    let app = spawn_app().await;
    let id = app.api_key_connection("g").await;
    let other_scheme = update(
        &app,
        &id,
        json!({"updateMask": ["basicAuth"],
               "connection": {"basicAuth": {"username": "u", "password": "p"}}}),
    )
    .await;
    assert_eq!(
        issue_names(&expect_problem(other_scheme, StatusCode::BAD_REQUEST).await),
        ["updateMask[0]"]
    );

    let unknown = update(
        &app,
        &id,
        json!({"updateMask": ["provider"], "connection": {"provider": "github"}}),
    )
    .await;
    let body = expect_problem(unknown, StatusCode::BAD_REQUEST).await;
    assert_eq!(issue_names(&body), ["updateMask[0]"]);
    assert!(
        body.to_string().contains("providerWorkspaceRef"),
        "lists the allowed values: {body}"
    );

    let missing = update(
        &app,
        &id,
        json!({"updateMask": ["apiKey"], "connection": {}}),
    )
    .await;
    assert_eq!(
        issue_names(&expect_problem(missing, StatusCode::BAD_REQUEST).await),
        ["connection.apiKey"]
    );

    assert_eq!(
        app.connection_with_credentials(&id).await["apiKey"],
        "k",
        "nothing changed"
    );
}

#[tokio::test]
async fn the_oauth_update_action_takes_patch_only_and_says_so_in_allow() {
    let app = spawn_app().await;
    let id = app.api_key_connection("g").await;
    let url = app.project_url(&format!("/connections/{id}:oauth-update"));
    for method in [
        reqwest::Method::GET,
        reqwest::Method::DELETE,
        reqwest::Method::OPTIONS,
    ] {
        let response = app
            .client
            .request(method.clone(), &url)
            .header("X-Api-Key", &app.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
        assert_eq!(response.headers()["allow"], "PATCH", "{method}");
    }
    assert_eq!(
        app.connection_count().await,
        1,
        "DELETE of the action deleted nothing"
    );
}
