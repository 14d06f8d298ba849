//! The storage boundary: text and JSON columns decode into their types once,
//! a value that does not decode is an error naming its table and column
//! (never a silent default), and a unique key that refuses a write names
//! the field that collided.

use crate::helpers::{spawn_app, TestApp};
use grantd::domain::DomainError;
use grantd::storage::{Constraint, StoreError};
use reqwest::StatusCode;
use serde_json::json;

/// A generated API-key connection; returns its id.
async fn api_key_connection(app: &TestApp) -> String {
    app.generated_id(&json!({
        "provider": "mock", "groupRef": "g", "consumerRef": "c", "apiKey": "key-1",
    }))
    .await
}

/// Overwrites one column of one connection behind grantd's back.
async fn corrupt(app: &TestApp, column: &str, value: &str, id: &str) {
    sqlx::query(&format!(
        "UPDATE connections SET {column} = $1 WHERE id = $2"
    ))
    .bind(value)
    .bind(id)
    .execute(&app.db().await)
    .await
    .unwrap();
}

/// What the store says of the connection now.
async fn read_back(app: &TestApp, id: &str) -> StoreError {
    app.grantd
        .store()
        .find_connection(&app.project_id, id)
        .await
        .expect_err("a corrupt row does not read")
}

#[tokio::test]
async fn an_unknown_status_is_reported_as_corrupt_not_read_as_working() {
    let app = spawn_app().await;
    let id = api_key_connection(&app).await;
    corrupt(&app, "status", "wroking", &id).await;

    let StoreError::Corrupt(column) = read_back(&app, &id).await else {
        panic!("expected Corrupt");
    };
    assert_eq!((column.table, column.column), ("connections", "status"));
    assert!(column.reason.contains("wroking"), "{column}");

    // The API answers with a 500, not with a `working` connection.
    let response = app
        .get(&app.project_url(&format!("/connections/{id}")))
        .await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn metadata_that_is_not_json_is_reported_as_corrupt_not_read_as_empty() {
    let app = spawn_app().await;
    let id = api_key_connection(&app).await;
    corrupt(&app, "provider_metadata", "{not json", &id).await;

    let StoreError::Corrupt(column) = read_back(&app, &id).await else {
        panic!("expected Corrupt");
    };
    assert_eq!(
        (column.table, column.column),
        ("connections", "provider_metadata")
    );
    let listed = app.get(&app.project_url("/connections")).await;
    assert_eq!(listed.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn an_unknown_auth_scheme_and_unparsable_scopes_are_reported_as_corrupt() {
    let app = spawn_app().await;
    let id = api_key_connection(&app).await;
    corrupt(&app, "auth_scheme", "oauth3", &id).await;
    let StoreError::Corrupt(column) = read_back(&app, &id).await else {
        panic!("expected Corrupt");
    };
    assert_eq!(
        (column.table, column.column),
        ("connections", "auth_scheme")
    );

    corrupt(&app, "auth_scheme", "apiKey", &id).await;
    corrupt(&app, "scopes", "read write", &id).await;
    let StoreError::Corrupt(column) = read_back(&app, &id).await else {
        panic!("expected Corrupt");
    };
    assert_eq!((column.table, column.column), ("connections", "scopes"));

    corrupt(&app, "scopes", "[]", &id).await;
    let response = app
        .get(&app.project_url(&format!("/connections/{id}")))
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "repaired, it reads again"
    );
}

#[tokio::test]
async fn a_second_project_with_a_taken_name_is_a_duplicate_naming_the_name_field() {
    let app = spawn_app().await;
    let Err(error) = app.grantd.create_project(&app.project_name).await else {
        panic!("the name is taken");
    };
    let DomainError::Duplicate {
        field,
        detail,
        source,
    } = &error
    else {
        panic!("expected Duplicate, got {error:?}");
    };
    assert_eq!(*field, "name");
    assert_eq!(
        detail,
        &format!("a project named {} exists", app.project_name)
    );
    assert!(
        matches!(
            source,
            StoreError::Conflict {
                constraint: Constraint::ProjectName,
                ..
            }
        ),
        "the database's refusal is kept as the cause: {source:?}"
    );
}

#[tokio::test]
async fn a_second_default_provider_app_is_told_apart_from_other_conflicts() {
    let app = spawn_app().await;
    let db = app.db().await;
    let insert = |id: &'static str, is_default: i64| {
        sqlx::query(
            "INSERT INTO provider_apps (id, project_id, provider, client_id, \
             client_secret_key_id, client_secret_ciphertext, scopes, is_default, \
             create_time, update_time) VALUES ($1, $2, 'mock', 'c', 'k', $3, '[]', $4, 0, 0)",
        )
        .bind(id)
        .bind(app.project_id.clone())
        .bind(vec![0u8])
        .bind(is_default)
    };
    insert("app-1", 1).execute(&db).await.unwrap();
    let refused = insert("app-2", 1).execute(&db).await.unwrap_err();
    let StoreError::Conflict { constraint, .. } = StoreError::from(refused) else {
        panic!("expected Conflict");
    };
    assert_eq!(constraint, Constraint::DefaultProviderApp);

    let same_id = insert("app-1", 0).execute(&db).await.unwrap_err();
    let StoreError::Conflict { constraint, .. } = StoreError::from(same_id) else {
        panic!("expected Conflict");
    };
    assert_eq!(
        constraint,
        Constraint::Other,
        "a primary key is no field of the caller's"
    );
}
