//! Providers answer to Ampersand's identifiers (`constantContact`) and keep
//! answering to grantd's old names (`constant-contact`) in every field and
//! path that takes a provider; what grantd reports is always the canonical
//! name, including for rows stored under an old name before the rename.

use crate::helpers::{spawn_app, TestApp};
use crate::mock_provider::{CLIENT_ID, CLIENT_SECRET};
use reqwest::StatusCode;
use serde_json::{json, Value};

const RENAME_MIGRATION: &str =
    include_str!("../../migrations/sqlite/20261130100001_ampersand_provider_names.sql");
const RENAME_MIGRATION_PG: &str =
    include_str!("../../migrations/postgres/20261130100001_ampersand_provider_names.sql");

async fn json_of(response: reqwest::Response, status: StatusCode) -> Value {
    let got = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(got, status, "{body}");
    serde_json::from_str(&body).unwrap()
}

async fn create_app_for(app: &TestApp, provider: &str) -> Value {
    let response = app
        .post_json(
            &app.project_url("/provider-apps"),
            &json!({"provider": provider, "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}),
        )
        .await;
    json_of(response, StatusCode::OK).await
}

async fn provider_filter(app: &TestApp, name: &str) -> Vec<Value> {
    let url = app.project_url(&format!("/connections?provider={name}"));
    let listed = json_of(app.get(&url).await, StatusCode::OK).await;
    listed.as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn an_old_provider_name_is_accepted_everywhere_and_the_ampersand_name_reported() {
    let app = spawn_app().await;

    let info = app.public_json("/v1/providers/constant-contact").await;
    assert_eq!(info["name"], "constantContact");

    let provider_app = create_app_for(&app, "constant-contact").await;
    assert_eq!(provider_app["provider"], "constantContact");

    let url = app
        .oauth_connect(json!({
            "projectId": app.project_id, "provider": "constant-contact",
            "groupRef": "g", "consumerRef": "c",
        }))
        .await;
    assert!(
        url.starts_with("https://authz.constantcontact.com/oauth2/default/v1/authorize?"),
        "{url}"
    );

    let session = app
        .post_json(
            &app.project_url("/connect-sessions"),
            &json!({"providers": ["constant-contact"], "groupRef": "g", "consumerRef": "c"}),
        )
        .await;
    let session = json_of(session, StatusCode::CREATED).await;
    assert_eq!(
        session["providers"],
        json!(["constantContact"]),
        "{session}"
    );

    let created = app
        .generate(
            &json!({"provider": "sendgrid", "groupRef": "g", "consumerRef": "c", "apiKey": "k"}),
        )
        .await;
    let created = json_of(created, StatusCode::CREATED).await;
    assert_eq!(created["provider"], "sendGrid");
    for filter in ["sendgrid", "sendGrid"] {
        let found = provider_filter(&app, filter).await;
        assert_eq!(found.len(), 1, "?provider={filter}");
        assert_eq!(found[0]["provider"], "sendGrid");
    }
}

#[tokio::test]
async fn unknown_names_are_still_refused_naming_the_field() {
    let app = spawn_app().await;
    let response = app
        .generate(&json!({"provider": "constant_contact", "groupRef": "g", "consumerRef": "c", "apiKey": "k"}))
        .await;
    let problem = json_of(response, StatusCode::BAD_REQUEST).await;
    assert!(
        problem
            .to_string()
            .contains("unknown provider constant_contact"),
        "{problem}"
    );
}

#[test]
fn the_rename_migration_covers_every_alias_of_the_shipped_catalog() {
    assert_eq!(
        RENAME_MIGRATION, RENAME_MIGRATION_PG,
        "one rename list for both backends"
    );
    let catalog = grantd::domain::catalog::builtin().unwrap();
    let mut expected: Vec<String> = catalog
        .values()
        .flat_map(|p| {
            p.aliases
                .iter()
                .map(move |a| format!("('{a}', '{}')", p.name))
        })
        .collect();
    expected.sort();
    let mut listed: Vec<String> = RENAME_MIGRATION
        .lines()
        .map(|line| line.trim().trim_end_matches([',', ';']).to_owned())
        .filter(|line| line.starts_with("('"))
        .collect();
    listed.sort();
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn rows_stored_under_an_old_name_are_renamed_by_the_migration() {
    let app = spawn_app().await;
    let provider_app = create_app_for(&app, "constantContact").await;
    let created = app
        .generate(
            &json!({"provider": "sendGrid", "groupRef": "g", "consumerRef": "c", "apiKey": "k"}),
        )
        .await;
    let created = json_of(created, StatusCode::CREATED).await;
    let session = app
        .post_json(
            &app.project_url("/connect-sessions"),
            &json!({"providers": ["constantContact"], "groupRef": "g", "consumerRef": "c"}),
        )
        .await;
    let session = json_of(session, StatusCode::CREATED).await;

    // Put the rows back as a grantd from before the rename wrote them.
    let db = app.db().await;
    for statement in [
        "UPDATE provider_apps SET provider = 'constant-contact'",
        "UPDATE connections SET provider = 'sendgrid'",
        "UPDATE connect_sessions SET providers = '[\"constant-contact\"]'",
    ] {
        sqlx::query(statement).execute(&db).await.unwrap();
    }
    assert_eq!(
        provider_filter(&app, "sendGrid").await.len(),
        0,
        "the old rows are in place"
    );

    sqlx::raw_sql(RENAME_MIGRATION).execute(&db).await.unwrap();
    // The server caches provider apps; a fresh read goes through the store.
    let id = provider_app["id"].as_str().unwrap();
    let fetched = json_of(
        app.get(&app.project_url(&format!("/provider-apps/{id}")))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(fetched["provider"], "constantContact");
    let found = provider_filter(&app, "sendgrid").await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], created["id"]);
    assert_eq!(found[0]["provider"], "sendGrid");
    let id = session["id"].as_str().unwrap();
    let session = json_of(
        app.get(&app.project_url(&format!("/connect-sessions/{id}")))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        session["providers"],
        json!(["constantContact"]),
        "{session}"
    );
}
