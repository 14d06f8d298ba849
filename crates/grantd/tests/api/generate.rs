//! `connections:generate` with each of the five credential schemes.

use crate::helpers::{expect_problem, issue_names, spawn_app, spawn_app_with_provider_app};
use crate::mock_provider::{CLIENT_ID, CLIENT_SECRET, PASSWORD, USERNAME};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn an_api_key_connection_is_created_field_for_field() {
    let app = spawn_app().await;
    let created = app
        .generated(&json!({
            "provider": "mock", "groupRef": "org-1", "groupName": "Org One",
            "consumerRef": "user-1", "consumerName": "Ada", "apiKey": "key-123",
        }))
        .await;
    for field in [
        "id",
        "projectId",
        "provider",
        "group",
        "consumer",
        "createTime",
        "updateTime",
        "authScheme",
        "status",
        "providerMetadata",
    ] {
        assert!(created.get(field).is_some(), "missing {field}: {created}");
    }
    assert_eq!(created["projectId"], app.project_id.as_str());
    assert_eq!(created["authScheme"], "apiKey");
    assert_eq!(created["status"], "working");
    assert_eq!(created["apiKey"], "key-123");
    assert_eq!(created["group"]["groupRef"], "org-1");
    assert_eq!(created["group"]["groupName"], "Org One");
    assert_eq!(created["group"]["projectId"], app.project_id.as_str());
    assert_eq!(created["consumer"]["consumerName"], "Ada");
    assert!(chrono::DateTime::parse_from_rfc3339(created["createTime"].as_str().unwrap()).is_ok());

    let id = created["id"].as_str().unwrap();
    let plain: Value = app
        .get_json(&app.project_url(&format!("/connections/{id}")))
        .await;
    assert!(
        plain.get("apiKey").is_none(),
        "secrets only with includeCredentials"
    );
    assert_eq!(
        app.connection_with_credentials(id).await["apiKey"],
        "key-123"
    );
}

#[tokio::test]
async fn a_basic_auth_connection_keeps_username_and_password() {
    let app = spawn_app().await;
    let created = app
        .generated(
            &json!({"provider": "mock", "groupRef": "g", "consumerRef": "c",
               "basicAuth": {"username": "ada@example.com", "password": "s3cret"}}),
        )
        .await;
    assert_eq!(created["authScheme"], "basic");
    let full = app
        .connection_with_credentials(created["id"].as_str().unwrap())
        .await;
    assert_eq!(
        full["basicAuth"],
        json!({"username": "ada@example.com", "password": "s3cret"})
    );
}

#[tokio::test]
async fn client_credentials_are_exchanged_for_a_token_by_grantd() {
    let app = spawn_app().await;
    let created = app.generated(&json!({"provider": "mock", "groupRef": "g", "consumerRef": "c",
               "oauth2ClientCredentials": {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "scopes": ["a", "b"]}})).await;
    assert_eq!(created["authScheme"], "oauth2/clientCredentials");
    let request = &app.provider.token_requests()[0];
    assert_eq!(request.params["grant_type"], "client_credentials");
    assert_eq!(request.params["scope"], "a b");

    let full = app
        .connection_with_credentials(created["id"].as_str().unwrap())
        .await;
    let cc = &full["oauth2ClientCredentials"];
    assert_eq!(cc["clientId"], CLIENT_ID);
    assert_eq!(cc["accessToken"]["token"], "cc-access-1");
    assert!(
        cc["accessToken"]["expiresAt"].is_string(),
        "string expires_in is understood: {cc}"
    );
}

#[tokio::test]
async fn a_provider_refusing_client_credentials_stores_nothing_and_says_why() {
    let app = spawn_app().await;
    let response = app
        .generate(
            &json!({"provider": "mock", "groupRef": "g", "consumerRef": "c",
               "oauth2ClientCredentials": {"clientId": CLIENT_ID, "clientSecret": "wrong"}}),
        )
        .await;
    let body = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let causes = body["causes"].to_string();
    assert!(causes.contains("invalid_client"), "{body}");
    assert_eq!(body["retryable"], false);
    assert_eq!(app.connection_count().await, 0);
}

#[tokio::test]
async fn password_credentials_are_exchanged_and_a_wrong_password_is_refused() {
    let app = spawn_app().await;
    let good = app.generate(&json!({"provider": "mock", "groupRef": "g", "consumerRef": "c",
               "oauth2PasswordCredentials": {"username": USERNAME, "password": PASSWORD,
                                             "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}}),
    )
    .await;
    assert_eq!(good.status(), StatusCode::CREATED);
    let created: Value = good.json().await.unwrap();
    assert_eq!(created["authScheme"], "oauth2/password");
    let full = app
        .connection_with_credentials(created["id"].as_str().unwrap())
        .await;
    assert_eq!(
        full["oauth2PasswordCredentials"]["accessToken"]["token"],
        "pw-access-1"
    );
    assert_eq!(
        full["oauth2PasswordCredentials"]["refreshToken"]["token"],
        "pw-refresh-1"
    );

    let bad = app.generate(&json!({"provider": "mock", "groupRef": "g2", "consumerRef": "c",
               "oauth2PasswordCredentials": {"username": USERNAME, "password": "nope",
                                             "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}}),
    )
    .await;
    assert!(
        expect_problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await["causes"]
            .to_string()
            .contains("invalid_grant")
    );
    assert_eq!(app.connection_count().await, 1);
}

#[tokio::test]
async fn imported_authorization_code_tokens_are_stored_as_given() {
    let app = spawn_app().await;
    let app_id = app.create_provider_app("mock").await;
    let created = app.generated(&json!({"provider": "mock", "groupRef": "g", "consumerRef": "c",
               "oauth2AuthorizationCode": {
                   "accessToken": {"token": "at-imported", "expiresAt": "2030-01-01T00:00:00Z", "issuedAt": "2029-12-31T23:00:00Z"},
                   "refreshToken": {"token": "rt-imported"},
                   "scopes": ["read"]}})).await;
    assert_eq!(created["authScheme"], "oauth2/authorizationCode");
    assert_eq!(
        created["providerApp"]["id"],
        app_id.as_str(),
        "refreshes will use the default app"
    );
    let tokens = &created["oauth2AuthorizationCode"];
    assert_eq!(tokens["accessToken"]["token"], "at-imported");
    assert_eq!(tokens["accessToken"]["expiresAt"], "2030-01-01T00:00:00Z");
    assert_eq!(tokens["refreshToken"]["token"], "rt-imported");
    assert_eq!(tokens["scopes"], json!(["read"]));
    assert_eq!(app.provider.token_calls(), 0);
}

#[tokio::test]
async fn a_provider_outage_is_a_retryable_502_and_stores_nothing() {
    let app = spawn_app().await;
    app.provider.script_token_response(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"message": "maintenance"}),
    );
    let response = app
        .generate(
            &json!({"provider": "mock", "groupRef": "g", "consumerRef": "c",
               "oauth2ClientCredentials": {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}}),
        )
        .await;
    let body = expect_problem(response, StatusCode::BAD_GATEWAY).await;
    assert_eq!(body["retryable"], true);
    assert_eq!(app.connection_count().await, 0);
}

#[tokio::test]
async fn a_scheme_the_provider_does_not_support_is_a_400_naming_it() {
    let app = spawn_app().await;
    let response = app
        .generate(
            &json!({"provider": "mock-pkce", "groupRef": "g", "consumerRef": "c", "apiKey": "k"}),
        )
        .await;
    assert_eq!(
        issue_names(&expect_problem(response, StatusCode::BAD_REQUEST).await),
        vec!["apiKey"]
    );
}

#[tokio::test]
async fn incomplete_scheme_fields_are_each_named() {
    let app = spawn_app().await;
    let response = app
        .generate(
            &json!({"provider": "mock", "groupRef": "g", "consumerRef": "c",
               "oauth2PasswordCredentials": {"username": "", "clientId": CLIENT_ID}}),
        )
        .await;
    let names = issue_names(&expect_problem(response, StatusCode::BAD_REQUEST).await);
    assert!(
        names.contains(&"oauth2PasswordCredentials.username".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"oauth2PasswordCredentials.password".to_owned()),
        "{names:?}"
    );
    assert_eq!(app.provider.token_calls(), 0);
}

#[tokio::test]
async fn workspace_providers_validate_workspace_and_metadata_on_generate() {
    let app = spawn_app().await;
    let missing = app.generate(&json!({"provider": "mock-workspace", "groupRef": "g", "consumerRef": "c", "apiKey": "k"}),
    )
    .await;
    let names = issue_names(&expect_problem(missing, StatusCode::BAD_REQUEST).await);
    assert!(
        names.contains(&"providerWorkspaceRef".to_owned())
            && names.contains(&"providerMetadata.accountId".to_owned()),
        "{names:?}"
    );

    let ok = app.generate(&json!({"provider": "mock-workspace", "groupRef": "g", "consumerRef": "c", "apiKey": "k",
               "providerWorkspaceRef": "acme", "providerMetadata": {"accountId": {"value": "42"}}}),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    let created: Value = ok.json().await.unwrap();
    assert_eq!(created["providerWorkspaceRef"], "acme");
    assert_eq!(
        created["providerMetadata"]["accountId"],
        json!({"value": "42", "source": "input"})
    );
}

#[tokio::test]
async fn a_group_keeps_its_name_until_a_new_one_is_given() {
    let app = spawn_app().await;
    let named = json!({"provider": "mock", "groupRef": "g", "groupName": "Group One", "consumerRef": "c", "apiKey": "k1"});
    let unnamed = json!({"provider": "mock", "groupRef": "g", "consumerRef": "c", "apiKey": "k2"});
    let renamed = json!({"provider": "mock", "groupRef": "g", "groupName": "Group Uno", "consumerRef": "c", "apiKey": "k3"});
    let mut names = Vec::new();
    for body in [named, unnamed, renamed] {
        let created: Value = app.generate(&body).await.json().await.unwrap();
        names.push(created["group"]["groupName"].as_str().unwrap().to_owned());
    }
    assert_eq!(names, ["Group One", "Group One", "Group Uno"]);
    let groups: Vec<Value> = app.get_json(&app.project_url("/groups")).await;
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["groupName"], "Group Uno");
}

#[tokio::test]
async fn connections_generated_at_once_each_answer_with_their_own_connection() {
    // Concurrent generates share write batches and the read-back of the
    // stored rows; each response must still be its own connection.
    let app = spawn_app().await;
    let requests = (0..30).map(|i| {
        let body = json!({
            "provider": "mock", "groupRef": format!("g-{i}"), "consumerRef": format!("u-{}", i % 4),
            "groupName": if i % 2 == 0 { Value::Null } else { json!(format!("Group {i}")) },
            "apiKey": format!("key-{i}"),
        });
        let app = &app;
        async move { (i, app.generate(&body).await) }
    });
    let mut ids = std::collections::HashSet::new();
    for (i, response) in futures::future::join_all(requests).await {
        assert_eq!(response.status(), StatusCode::CREATED);
        let created: Value = response.json().await.unwrap();
        assert_eq!(created["apiKey"], format!("key-{i}").as_str());
        assert_eq!(created["group"]["groupRef"], format!("g-{i}").as_str());
        let name = if i % 2 == 0 {
            format!("g-{i}")
        } else {
            format!("Group {i}")
        };
        assert_eq!(created["group"]["groupName"], name.as_str());
        assert_eq!(
            created["consumer"]["consumerRef"],
            format!("u-{}", i % 4).as_str()
        );
        ids.insert(created["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 30);
    assert_eq!(app.connection_count().await, 30);
}

#[tokio::test]
async fn importing_only_a_refresh_token_redeems_it_at_once_with_the_default_app() {
    let app = spawn_app_with_provider_app("mock").await;
    app.provider.issue_refresh_token("rt-only");
    let response = app
        .generate(
            &json!({"provider": "mock", "groupRef": "g", "consumerRef": "c",
            "oauth2AuthorizationCode": {"refreshToken": {"token": "rt-only"}, "scopes": ["read"]}}),
        )
        .await;
    let status = response.status();
    let created: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "working");
    assert_eq!(app.provider.refresh_tokens_presented(), ["rt-only"]);
    let full = app
        .connection_with_credentials(created["id"].as_str().unwrap())
        .await;
    let tokens = &full["oauth2AuthorizationCode"];
    assert_eq!(
        tokens["accessToken"]["token"], "refreshed-access-1",
        "{full}"
    );
    assert!(tokens["accessToken"]["expiresAt"].is_string(), "{full}");
    assert_eq!(tokens["refreshToken"]["token"], "rotated-1", "{full}");
}

#[tokio::test]
async fn a_refresh_token_alone_without_a_default_app_or_refused_by_the_provider_stores_nothing() {
    let app = spawn_app().await;
    let body = json!({"provider": "mock", "groupRef": "g", "consumerRef": "c",
        "oauth2AuthorizationCode": {"refreshToken": {"token": "rt-unknown"}}});
    let without_app = app.generate(&body).await;
    assert_eq!(
        issue_names(&expect_problem(without_app, StatusCode::BAD_REQUEST).await),
        ["oauth2AuthorizationCode.refreshToken.token"]
    );

    app.create_provider_app("mock").await;
    let refused = app.generate(&body).await;
    assert!(expect_problem(refused, StatusCode::UNPROCESSABLE_ENTITY)
        .await
        .to_string()
        .contains("invalid_grant"));
    assert_eq!(app.connection_count().await, 0);
}

#[tokio::test]
async fn a_generate_request_without_any_body_names_the_missing_fields() {
    let app = spawn_app().await;
    let response = app
        .send_with_key(
            reqwest::Method::POST,
            &app.project_url("/connections:generate"),
            &app.api_key,
            None,
        )
        .await;
    let names = issue_names(&expect_problem(response, StatusCode::BAD_REQUEST).await);
    assert!(names.contains(&"provider".to_owned()), "{names:?}");
    assert!(names.contains(&"groupRef".to_owned()), "{names:?}");
}

#[tokio::test]
async fn custom_auth_stores_exactly_the_inputs_the_catalog_declares() {
    let app = spawn_app().await;
    let response = app
        .generate(
            &json!({"provider": "mock-custom", "groupRef": "g", "consumerRef": "c",
            "customAuth": {"apiKey": "k-1", "username": "ada"}}),
        )
        .await;
    let status = response.status();
    let created: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["authScheme"], "custom");
    let full = app
        .connection_with_credentials(created["id"].as_str().unwrap())
        .await;
    assert_eq!(
        full["customAuth"],
        json!({"apiKey": "k-1", "username": "ada"})
    );

    let response = app
        .generate(
            &json!({"provider": "mock-custom", "groupRef": "g", "consumerRef": "c",
            "customAuth": {"apiKey": "k-1", "password": "x"}}),
        )
        .await;
    let mut names = issue_names(&expect_problem(response, StatusCode::BAD_REQUEST).await);
    names.sort();
    assert_eq!(names, ["customAuth.password", "customAuth.username"]);

    let info = app.public_json("/v1/providers/mock-custom").await;
    assert_eq!(info["authType"], "custom");
    let headers = &info["customOpts"]["headers"];
    assert_eq!(headers[0]["name"], "Api-Key", "{info}");
    assert_eq!(headers[0]["valueTemplate"], "{{.apiKey}}", "{info}");
    assert_eq!(info["customOpts"]["inputs"][0]["displayName"], "API key");
}

#[tokio::test]
async fn a_provider_without_auth_connects_with_no_credential_and_others_still_need_one() {
    let app = spawn_app().await;
    let response = app
        .generate(&json!({"provider": "mock-open", "groupRef": "g", "consumerRef": "c"}))
        .await;
    let status = response.status();
    let created: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["authScheme"], "none");
    assert_eq!(
        app.public_json("/v1/providers/mock-open").await["authType"],
        "none"
    );

    let response = app
        .generate(&json!({"provider": "mock", "groupRef": "g", "consumerRef": "c"}))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}
