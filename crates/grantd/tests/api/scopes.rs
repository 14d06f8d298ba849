//! Least privilege: API key scopes decide which secrets a caller reads and
//! what it may change; keys are made and revoked through the API without
//! ever exceeding their maker; responses are never cached.

use crate::helpers::{
    expect_problem, issue_names, problem, spawn_app, spawn_app_with, spawn_app_with_provider_app,
    test_database, TestApp,
};
use crate::mock_provider::{CLIENT_ID, CLIENT_SECRET, PASSWORD, USERNAME};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

/// `POST …/api-keys` with `key`; the raw response.
async fn post_api_key(app: &TestApp, key: &str, body: &Value) -> Response {
    app.send_with_key(
        reqwest::Method::POST,
        &app.project_url("/api-keys"),
        key,
        Some(body),
    )
    .await
}

/// A new key of the app's project with `scopes`, made through the API with
/// the project's full key; returns (id, key).
async fn key_with(app: &TestApp, scopes: &[&str]) -> (String, String) {
    let response = post_api_key(
        app,
        &app.api_key,
        &json!({"label": "scoped", "scopes": scopes}),
    )
    .await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (
        body["id"].as_str().unwrap().to_owned(),
        body["apiKey"].as_str().unwrap().to_owned(),
    )
}

async fn get_as(app: &TestApp, key: &str, url: &str) -> Response {
    app.get_with_key(url, key).await
}

async fn post_as(app: &TestApp, key: &str, url: &str, body: &Value) -> Response {
    app.send_with_key(reqwest::Method::POST, url, key, Some(body))
        .await
}

/// Asserts a 403 problem naming `scope`; returns the raw body.
async fn assert_forbidden_for_lack_of(response: Response, scope: &str) -> String {
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["status"], 403);
    assert!(
        body["detail"].as_str().unwrap().contains(scope),
        "the problem names {scope}: {body}"
    );
    text
}

fn connection_url(app: &TestApp, id: &str, credentials: bool) -> String {
    let query = if credentials {
        "?includeCredentials=true"
    } else {
        ""
    };
    app.project_url(&format!("/connections/{id}{query}"))
}

#[tokio::test]
async fn a_read_only_key_reads_connections_but_asking_for_credentials_is_a_403_naming_the_scope() {
    let app = spawn_app_with_provider_app("mock").await;
    let connection = app.connect_mock("org-a", "user-a").await;
    let (_, read_only) = key_with(&app, &["connections:read"]).await;

    let response = get_as(&app, &read_only, &connection_url(&app, &connection, false)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], connection.as_str());
    assert!(body.get("oauth2AuthorizationCode").is_none(), "{body}");

    let response = get_as(&app, &read_only, &connection_url(&app, &connection, true)).await;
    let text = assert_forbidden_for_lack_of(response, "credentials:access-token").await;
    let full = app.connection_with_credentials(&connection).await;
    let tokens = &full["oauth2AuthorizationCode"];
    for token in [
        &tokens["accessToken"]["token"],
        &tokens["refreshToken"]["token"],
    ] {
        let token = token.as_str().unwrap();
        assert!(!text.contains(token), "no token in the refusal: {text}");
    }
}

#[tokio::test]
async fn a_read_only_key_cannot_create_provider_apps_connections_webhooks_or_flows() {
    let app = spawn_app().await;
    let (_, read_only) = key_with(&app, &["connections:read"]).await;

    let response = post_as(
        &app,
        &read_only,
        &app.project_url("/provider-apps"),
        &json!({"provider": "mock", "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}),
    )
    .await;
    assert_forbidden_for_lack_of(response, "manage").await;
    let apps: Vec<Value> = app.get_json(&app.project_url("/provider-apps")).await;
    assert!(apps.is_empty(), "{apps:?}");

    let response = post_as(
        &app,
        &read_only,
        &app.project_url("/connections:generate"),
        &json!({"provider": "mock", "groupRef": "g", "consumerRef": "c", "apiKey": "k"}),
    )
    .await;
    assert_forbidden_for_lack_of(response, "manage").await;
    assert_eq!(app.connection_count().await, 0);

    let response = post_as(
        &app,
        &read_only,
        &app.project_url("/webhooks"),
        &json!({"url": "https://example.com/hook"}),
    )
    .await;
    assert_forbidden_for_lack_of(response, "manage").await;

    let response = post_as(
        &app,
        &read_only,
        &app.url("/v1/oauth-connect"),
        &json!({"projectId": app.project_id, "provider": "mock", "groupRef": "g", "consumerRef": "c"}),
    )
    .await;
    assert_forbidden_for_lack_of(response, "manage").await;
}

#[tokio::test]
async fn a_narrow_key_still_gets_404_not_403_on_another_projects_paths() {
    let app = spawn_app().await;
    let connection = app.api_key_connection("g").await;
    app.other_project().await;
    let (_, read_only) = key_with(&app, &["connections:read"]).await;
    for path in [
        format!("/connections/{connection}?includeCredentials=true"),
        "/api-keys".to_owned(),
    ] {
        let url = app.url(&format!("/v1/projects/globex{path}"));
        let response = get_as(&app, &read_only, &url).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "GET {url}");
    }
}

#[tokio::test]
async fn an_access_token_key_gets_the_access_token_but_not_the_refresh_token_and_a_full_key_gets_both(
) {
    let app = spawn_app_with_provider_app("mock").await;
    let connection = app.connect_mock("org-a", "user-a").await;
    let (_, access_only) = key_with(&app, &["credentials:access-token"]).await;
    let url = connection_url(&app, &connection, true);

    let response = get_as(&app, &access_only, &url).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let tokens = &body["oauth2AuthorizationCode"];
    assert!(
        tokens["accessToken"]["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("access-")),
        "{body}"
    );
    assert!(tokens.get("refreshToken").is_none(), "{body}");

    // Every secret takes includeRefreshToken, as in Ampersand's API, and
    // the scope that allows it.
    let everything = app.project_url(&format!(
        "/connections/{connection}?includeRefreshToken=true"
    ));
    let response = get_as(&app, &access_only, &everything).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (_, full) = key_with(&app, &["credentials:read"]).await;
    let body: Value = get_as(&app, &full, &url).await.json().await.unwrap();
    assert!(
        body["oauth2AuthorizationCode"]
            .get("refreshToken")
            .is_none(),
        "includeCreds alone shows no refresh token, whatever the scope: {body}"
    );
    let body: Value = get_as(&app, &full, &everything).await.json().await.unwrap();
    let tokens = &body["oauth2AuthorizationCode"];
    assert!(tokens["accessToken"]["token"].as_str().is_some(), "{body}");
    assert!(
        tokens["refreshToken"]["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("refresh-")),
        "{body}"
    );
}

#[tokio::test]
async fn an_access_token_key_never_sees_client_secrets_or_grant_passwords_but_sees_api_keys() {
    let app = spawn_app().await;
    let client_credentials = app
        .generated_id(
            &json!({"provider": "mock", "groupRef": "g1", "consumerRef": "c",
               "oauth2ClientCredentials": {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}}),
        )
        .await;
    let api_key = app.generated_id(&json!({"provider": "mock", "groupRef": "g2", "consumerRef": "c", "apiKey": "the-providers-key"})).await;
    let password = app.generated_id(&json!({"provider": "mock", "groupRef": "g3", "consumerRef": "c",
               "oauth2PasswordCredentials": {"username": USERNAME, "password": PASSWORD,
                                             "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}})).await;
    let (_, access_only) = key_with(&app, &["credentials:access-token"]).await;

    let body: Value = get_as(
        &app,
        &access_only,
        &connection_url(&app, &client_credentials, true),
    )
    .await
    .json()
    .await
    .unwrap();
    let cc = &body["oauth2ClientCredentials"];
    assert_eq!(cc["clientId"], CLIENT_ID, "{body}");
    assert!(cc["accessToken"]["token"].as_str().is_some(), "{body}");
    assert!(cc.get("clientSecret").is_none(), "{body}");
    assert!(!body.to_string().contains(CLIENT_SECRET), "{body}");

    let body: Value = get_as(&app, &access_only, &connection_url(&app, &api_key, true))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["apiKey"], "the-providers-key", "{body}");

    let body: Value = get_as(&app, &access_only, &connection_url(&app, &password, true))
        .await
        .json()
        .await
        .unwrap();
    let pw = &body["oauth2PasswordCredentials"];
    assert_eq!(pw["username"], USERNAME, "{body}");
    assert!(
        pw["accessToken"]["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("pw-access-")),
        "{body}"
    );
    for withheld in ["password", "clientSecret", "refreshToken"] {
        assert!(pw.get(withheld).is_none(), "{withheld}: {body}");
    }
    let text = body.to_string();
    assert!(
        !text.contains(PASSWORD) && !text.contains(CLIENT_SECRET),
        "{text}"
    );

    let full = app.connection_with_credentials(&client_credentials).await;
    assert_eq!(
        full["oauth2ClientCredentials"]["clientSecret"],
        CLIENT_SECRET
    );
}

#[tokio::test]
async fn generate_answers_a_manage_only_key_without_the_credentials() {
    let app = spawn_app().await;
    let (_, manager) = key_with(&app, &["manage"]).await;
    let response = post_as(
        &app,
        &manager,
        &app.project_url("/connections:generate"),
        &json!({"provider": "mock", "groupRef": "g", "consumerRef": "c",
                "oauth2ClientCredentials": {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert!(body["id"].as_str().is_some(), "{body}");
    assert!(body.get("oauth2ClientCredentials").is_none(), "{body}");
    assert_eq!(app.connection_count().await, 1);
}

#[tokio::test]
async fn api_keys_are_created_listed_and_revoked_through_the_api_with_their_scopes() {
    let app = spawn_app().await;
    let response = post_api_key(
        &app,
        &app.api_key,
        &json!({"label": "reporting", "scopes": ["connections:read", "credentials:access-token"]}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let key = created["apiKey"].as_str().unwrap().to_owned();
    assert_eq!(created["label"], "reporting");
    assert_eq!(
        created["scopes"],
        json!(["connections:read", "credentials:access-token"])
    );

    let response = app.get(&app.project_url("/api-keys")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(!text.contains(&key), "the list never shows whole keys");
    let list: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    let listed = list.iter().find(|k| k["id"] == id.as_str()).unwrap();
    assert_eq!(listed["scopes"], created["scopes"]);
    assert!(key.starts_with(listed["displayPrefix"].as_str().unwrap()));
    let default = list.iter().find(|k| k["id"] != id.as_str()).unwrap();
    assert_eq!(
        default["scopes"],
        json!([
            "connections:read",
            "credentials:access-token",
            "credentials:read",
            "manage",
            "api-keys:manage",
            "audit:read"
        ]),
        "project creation makes a full-access key"
    );

    // The new key works, within its scopes.
    let response = get_as(&app, &key, &app.project_url("/connections")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = get_as(&app, &key, &app.project_url("/api-keys")).await;
    assert_forbidden_for_lack_of(response, "api-keys:manage").await;

    let response = app
        .delete(&app.project_url(&format!("/api-keys/{id}")))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = get_as(&app, &key, &app.project_url("/connections")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let list: Vec<Value> = app.get_json(&app.project_url("/api-keys")).await;
    let revoked = list.iter().find(|k| k["id"] == id.as_str()).unwrap();
    assert!(revoked["revokeTime"].as_str().is_some(), "{revoked}");

    let response = app
        .delete(&app.project_url(&format!("/api-keys/{id}")))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "already revoked");
}

#[tokio::test]
async fn a_key_cannot_mint_a_broader_key_nor_revoke_one() {
    let app = spawn_app().await;
    let (_, admin) = key_with(&app, &["api-keys:manage", "credentials:access-token"]).await;

    for wider in [["credentials:read"], ["manage"]] {
        let response = post_api_key(&app, &admin, &json!({"scopes": wider})).await;
        assert_forbidden_for_lack_of(response, wider[0]).await;
    }
    let response = post_api_key(
        &app,
        &admin,
        &json!({"scopes": ["credentials:access-token"]}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);

    // The project's full key is broader: it stays.
    let list: Vec<Value> = get_as(&app, &admin, &app.project_url("/api-keys"))
        .await
        .json()
        .await
        .unwrap();
    let full = list.iter().find(|k| k["label"] == "default").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = app
        .send_with_key(
            reqwest::Method::DELETE,
            &app.project_url(&format!("/api-keys/{full}")),
            &admin,
            None,
        )
        .await;
    assert_forbidden_for_lack_of(response, "credentials:read").await;
    let response = app.get(&app.project_url("/connections")).await;
    assert_eq!(response.status(), StatusCode::OK);

    // A key without api-keys:manage mints nothing, not even a narrower key.
    let (_, reader) = key_with(&app, &["credentials:read"]).await;
    let response = post_api_key(&app, &reader, &json!({"scopes": ["connections:read"]})).await;
    assert_forbidden_for_lack_of(response, "api-keys:manage").await;
}

#[tokio::test]
async fn an_unknown_or_missing_scope_is_a_400_naming_the_field() {
    let app = spawn_app().await;
    let response = post_api_key(
        &app,
        &app.api_key,
        &json!({"scopes": ["connections:read", "everything"]}),
    )
    .await;
    let body = expect_problem(response, StatusCode::BAD_REQUEST).await;
    assert!(
        issue_names(&body).iter().any(|n| n.starts_with("scopes")),
        "{body}"
    );

    for body in [json!({"label": "x"}), json!({"scopes": []})] {
        let response = post_api_key(&app, &app.api_key, &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let problem = problem(response).await;
        assert_eq!(issue_names(&problem), vec!["scopes"], "{problem}");
    }
    let list: Vec<Value> = app.get_json(&app.project_url("/api-keys")).await;
    assert_eq!(list.len(), 1, "nothing was created: {list:?}");
}

#[tokio::test]
async fn secret_bearing_and_every_other_project_response_is_no_store_while_the_catalog_is_cacheable(
) {
    let app = spawn_app().await;
    let connection = app.api_key_connection("g").await;
    let responses = [
        app.get(&connection_url(&app, &connection, true)).await,
        app.get(&app.project_url("/connections")).await,
        app.generate(
            &json!({"provider": "mock", "groupRef": "g2", "consumerRef": "c", "apiKey": "k"}),
        )
        .await,
        app.post_json(
            &app.project_url("/webhooks"),
            &json!({"url": "https://example.com/hook"}),
        )
        .await,
        post_api_key(&app, &app.api_key, &json!({"scopes": ["manage"]})).await,
        // Errors too: a refusal says nothing worth caching either.
        get_as(&app, "wrong", &app.project_url("/connections")).await,
    ];
    for response in responses {
        let url = response.url().to_string();
        let headers = response.headers();
        assert_eq!(headers["cache-control"], "no-store", "{url}");
        assert_eq!(headers["pragma"], "no-cache", "{url}");
    }

    let response = app.get_without_key(&app.url("/v1/providers")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("cache-control").is_none());
}

#[tokio::test]
async fn keys_made_before_scopes_existed_keep_full_access_after_the_upgrade() {
    // A database at the schema before scopes (every migration but theirs)
    // holding a project and its key, as an older grantd left it.
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let (url, backend) = match test_database().await {
        Some(url) => (url, "postgres"),
        None => {
            let path = dir.path().join("old.db");
            (format!("sqlite://{}?mode=rwc", path.display()), "sqlite")
        }
    };
    let old_migrations = dir.path().join("old-migrations");
    std::fs::create_dir(&old_migrations).unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    for entry in std::fs::read_dir(source).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if name.as_str() < "20261130000001" {
            std::fs::copy(entry.path(), old_migrations.join(&name)).unwrap();
        }
    }
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::migrate::Migrator::new(old_migrations.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    let legacy_key = "gdk_legacy_key_made_before_scopes";
    sqlx::query(
        "INSERT INTO projects (id, name, create_time, update_time) VALUES ($1, $2, $3, $3)",
    )
    .bind("legacy-project-id")
    .bind("legacy")
    .bind(1_i64)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO api_keys (id, project_id, label, display_prefix, key_hash, create_time) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind("legacy-key-id")
    .bind("legacy-project-id")
    .bind("old")
    .bind("gdk_lega")
    .bind(grantd::secrets::ApiKeyHash::of(legacy_key).0)
    .bind(1_i64)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let app = spawn_app_with(move |config| config.database_url = Some(url)).await;
    let base = app.url("/v1/projects/legacy");
    let keys: Vec<Value> = get_as(&app, legacy_key, &format!("{base}/api-keys"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        keys[0]["scopes"],
        json!([
            "connections:read",
            "credentials:access-token",
            "credentials:read",
            "manage",
            "api-keys:manage",
            "audit:read"
        ]),
        "{keys:?}"
    );
    let response = post_as(
        &app,
        legacy_key,
        &format!("{base}/connections:generate"),
        &json!({"provider": "mock", "groupRef": "g", "consumerRef": "c", "apiKey": "k"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = get_as(
        &app,
        legacy_key,
        &format!("{base}/connections/{id}?includeCredentials=true"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["apiKey"], "k");
}

#[tokio::test]
async fn the_openapi_document_describes_the_api_key_routes_and_the_scopes() {
    let app = spawn_app().await;
    let doc: Value = app.public_json("/v1/openapi.json").await;
    let keys = &doc["paths"]["/v1/projects/{projectIdOrName}/api-keys"];
    assert_eq!(keys["get"]["operationId"], "listApiKeys");
    assert_eq!(keys["post"]["operationId"], "createApiKey");
    assert_eq!(
        doc["paths"]["/v1/projects/{projectIdOrName}/api-keys/{apiKeyId}"]["delete"]["operationId"],
        "revokeApiKey"
    );
    for scheme in ["APIKeyHeader", "Bearer"] {
        let description = doc["components"]["securitySchemes"][scheme]["description"]
            .as_str()
            .unwrap_or_default();
        for scope in [
            "connections:read",
            "credentials:access-token",
            "credentials:read",
            "manage",
            "api-keys:manage",
        ] {
            assert!(description.contains(scope), "{scheme}: {description}");
        }
    }
    let created = &doc["components"]["schemas"]["CreatedApiKey"]["properties"];
    assert!(created.get("apiKey").is_some(), "{created}");
}
