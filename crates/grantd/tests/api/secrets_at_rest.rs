//! Secrets never sit in the database in clear, and a ciphertext only opens
//! in the row it was sealed for.

use crate::helpers::{
    expect_problem, spawn_app, spawn_app_with, spawn_app_with_provider_app, TestApp,
};
use crate::mock_provider::{CLIENT_ID, CLIENT_SECRET};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// On SQLite, every byte of the database, its WAL and shared-memory files;
/// on PostgreSQL, every text and binary value of every grantd table.
async fn database_bytes(app: &TestApp) -> Vec<u8> {
    if app.database_url.is_none() {
        let dir = app.data_dir.path().join("data");
        return ["grantd.db", "grantd.db-wal", "grantd.db-shm"]
            .iter()
            .filter_map(|name| std::fs::read(dir.join(name)).ok())
            .flatten()
            .collect();
    }
    use sqlx::{Column, Row};
    let db = app.db().await;
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_name NOT LIKE '_sqlx%'",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let mut bytes = Vec::new();
    for (table,) in tables {
        let rows = sqlx::query(&format!("SELECT * FROM {table}"))
            .fetch_all(&db)
            .await
            .unwrap();
        for row in rows {
            for column in row.columns() {
                let i = column.ordinal();
                if let Ok(Some(text)) = row.try_get::<Option<String>, _>(i) {
                    bytes.extend_from_slice(text.as_bytes());
                } else if let Ok(Some(blob)) = row.try_get::<Option<Vec<u8>>, _>(i) {
                    bytes.extend_from_slice(&blob);
                }
            }
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn no_secret_is_readable_in_clear_in_the_database() {
    let app = spawn_app_with_provider_app("mock").await;
    let connection = app.connect_mock("org-1", "user-1").await;
    let api_key = "ak-6b1f0c1e9d2a4f7f8e3c";
    let password = "pw-0d9e8c7b6a5f4e3d2c1b";
    for body in [
        json!({"provider": "mock", "groupRef": "g1", "consumerRef": "c", "apiKey": api_key}),
        json!({"provider": "mock", "groupRef": "g2", "consumerRef": "c", "basicAuth": {"username": "u", "password": password}}),
        json!({"provider": "mock", "groupRef": "g3", "consumerRef": "c",
               "oauth2ClientCredentials": {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}}),
    ] {
        let response = app.generate(&body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    // The tokens really exist and are readable through the API...
    let full: Value = app.connection_with_credentials(&connection).await;
    assert_eq!(
        full["oauth2AuthorizationCode"]["accessToken"]["token"],
        "access-1"
    );

    // ...but not in the files.
    let bytes = database_bytes(&app).await;
    assert!(
        bytes.len() > 1024,
        "the database was read ({} bytes)",
        bytes.len()
    );
    for secret in [
        api_key,
        password,
        CLIENT_SECRET,
        "access-1",
        "refresh-1",
        "cc-access-",
        app.api_key.as_str(),
    ] {
        assert!(!contains(&bytes, secret), "{secret} is stored in clear");
    }
    assert!(
        contains(&bytes, CLIENT_ID),
        "non-secret fields are stored as they are (sanity check)"
    );
}

#[tokio::test]
async fn a_ciphertext_copied_to_another_row_does_not_decrypt() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for (group, key) in [
        ("victim", "victim-key-123"),
        ("attacker", "attacker-key-456"),
    ] {
        let created: Value = app
            .generate(
                &json!({"provider": "mock", "groupRef": group, "consumerRef": "c", "apiKey": key}),
            )
            .await
            .json()
            .await
            .unwrap();
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let db = app.db().await;
    sqlx::query(
        "UPDATE connections SET credentials_ciphertext = (SELECT credentials_ciphertext FROM connections WHERE id = $1), \
         credentials_key_id = (SELECT credentials_key_id FROM connections WHERE id = $1) WHERE id = $2",
    )
    .bind(&ids[0])
    .bind(&ids[1])
    .execute(&db)
    .await
    .unwrap();

    let response = app
        .get(&app.project_url(&format!("/connections/{}?includeCredentials=true", ids[1])))
        .await;
    let body = expect_problem(response, StatusCode::INTERNAL_SERVER_ERROR).await;
    assert!(!body.to_string().contains("victim-key-123"));
    // Without credentials the row still reads.
    let plain = app
        .get(&app.project_url(&format!("/connections/{}", ids[1])))
        .await;
    assert_eq!(plain.status(), StatusCode::OK);
}

#[tokio::test]
async fn debug_output_of_loaded_credentials_hides_the_secrets() {
    let app = spawn_app().await;
    let created: Value = app
        .generate(&json!({"provider": "mock", "groupRef": "g", "consumerRef": "c", "basicAuth": {"username": "u", "password": "hunter2-hunter2"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let connection = app
        .grantd
        .get_connection(
            &grantd::domain::Actor::cli(),
            &app.project_id,
            created["id"].as_str().unwrap(),
            grantd::domain::CredentialAccess::All,
        )
        .await
        .unwrap();
    let debug = format!("{connection:?}");
    assert!(connection.credentials.is_some());
    assert!(!debug.contains("hunter2-hunter2"), "{debug}");
}

/// Copies `column` (and its key id) of the row `from` into the row `to`.
async fn copy_sealed(app: &TestApp, table: &str, key: &str, column: &str, from: &str, to: &str) {
    let sql = format!(
        "UPDATE {table} SET {column}_ciphertext = (SELECT {column}_ciphertext FROM {table} WHERE {key} = $1), \
         {column}_key_id = (SELECT {column}_key_id FROM {table} WHERE {key} = $1) WHERE {key} = $2"
    );
    let done = sqlx::query(&sql)
        .bind(from)
        .bind(to)
        .execute(&app.db().await)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
}

#[tokio::test]
async fn a_client_secret_copied_to_another_provider_app_is_never_sent() {
    // Read from the store on every use, so the copy is what grantd sees.
    let app = spawn_app_with(|config| config.cache_ttl = Duration::ZERO).await;
    let victim = app.create_provider_app("mock-basic").await;
    let target = app.create_provider_app("mock").await;
    copy_sealed(
        &app,
        "provider_apps",
        "id",
        "client_secret",
        &victim,
        &target,
    )
    .await;

    // The app's secret does not open: no flow starts with it.
    let response = app
        .post_json(
            &app.url("/v1/oauth-connect"),
            &json!({"projectId": app.project_id, "provider": "mock", "groupRef": "g", "consumerRef": "c"}),
        )
        .await;
    let body = expect_problem(response, StatusCode::INTERNAL_SERVER_ERROR).await;
    assert!(!body.to_string().contains(CLIENT_SECRET), "{body}");
    assert_eq!(app.provider.token_calls(), 0, "no secret was sent");
    assert_eq!(app.connection_count().await, 0);
}

#[tokio::test]
async fn a_pkce_verifier_copied_to_another_flow_is_never_sent() {
    let app = spawn_app_with_provider_app("mock-pkce").await;
    let mut flows = Vec::new();
    for group in ["victim", "target"] {
        let url = app
            .oauth_connect(json!({"projectId": app.project_id, "provider": "mock-pkce",
                "groupRef": group, "consumerRef": "c"}))
            .await;
        let state_hash = app.flow_state_hash(group).await;
        flows.push((url, state_hash));
    }
    copy_sealed(
        &app,
        "oauth_flows",
        "state_hash",
        "code_verifier",
        &flows[0].1,
        &flows[1].1,
    )
    .await;

    let callback = app.finish_flow(&flows[1].0).await;
    assert_ne!(callback.status(), StatusCode::OK);
    assert_eq!(app.provider.token_calls(), 0, "no verifier was sent");
    assert_eq!(app.connection_count().await, 0);
}
