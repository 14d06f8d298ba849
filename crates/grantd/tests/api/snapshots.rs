//! Whole responses compared with reviewed snapshots (`tests/api/snapshots/`),
//! ids and times redacted. Field-by-field asserts elsewhere check behaviour;
//! these catch what they cannot: a field added, renamed or dropped from a
//! wire shape Ampersand's clients parse. After an intended change, review
//! the new shape with `cargo insta review` (or run with
//! `INSTA_UPDATE=always` and read the diff) and commit the `.snap` file.

use crate::helpers::{expect_problem, spawn_app, TestApp};
use insta::assert_json_snapshot;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// An API-key connection with a name for its group and consumer; its id.
async fn generated(app: &TestApp) -> String {
    app.generated_id(&json!({
        "provider": "mock", "groupRef": "org-1", "groupName": "Org One",
        "consumerRef": "user-1", "consumerName": "Ada", "apiKey": "key-123",
    }))
    .await
}

#[tokio::test]
async fn a_connection_reads_back_as_this_whole_document() {
    let app = spawn_app().await;
    let id = generated(&app).await;
    let connection: Value = app
        .get_json(&app.project_url(&format!("/connections/{id}")))
        .await;
    assert_eq!(connection["id"], id.as_str());
    assert_json_snapshot!("connection", connection, {
        ".id" => "[connection id]",
        ".projectId" => "[project id]",
        ".createTime" => "[time]",
        ".updateTime" => "[time]",
        ".group.projectId" => "[project id]",
        ".group.createTime" => "[time]",
        ".group.updateTime" => "[time]",
        ".consumer.projectId" => "[project id]",
        ".consumer.createTime" => "[time]",
        ".consumer.updateTime" => "[time]",
    });
}

#[tokio::test]
async fn an_invalid_request_is_this_whole_problem_with_its_issues() {
    let app = spawn_app().await;
    let response = app
        .generate(&json!({"provider": "mock", "groupRef": "", "apiKey": "k"}))
        .await;
    let body = expect_problem(response, StatusCode::BAD_REQUEST).await;
    assert_json_snapshot!("problem_400", body, {
        ".requestId" => "[request id]",
        ".time" => "[time]",
    });
}

#[tokio::test]
async fn a_provider_list_entry_is_this_whole_document() {
    let app = spawn_app().await;
    let providers: Value = app.public_json("/v1/providers").await;
    let mock = providers
        .get("mock")
        .expect("the test catalog's mock provider is listed, keyed by name");
    // The mock provider's URLs carry its port.
    let mock: Value =
        serde_json::from_str(&mock.to_string().replace(&app.provider.base, "http://mock")).unwrap();
    assert_json_snapshot!("provider_list_entry", mock);
}

#[tokio::test]
async fn a_connection_event_is_this_whole_document() {
    let app = spawn_app().await;
    let id = generated(&app).await;
    let events = app.connection_events(&id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["connectionId"], id.as_str());
    assert_json_snapshot!("connection_event", events[0], {
        ".id" => "[event id]",
        ".connectionId" => "[connection id]",
        ".projectId" => "[project id]",
        ".createdAt" => "[time]",
        ".data.connectionId" => "[connection id]",
        ".data.connection.id" => "[connection id]",
    });
}
