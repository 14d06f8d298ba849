//! The HTTP surface outside the OAuth dance: health, the problem envelope of
//! every error, body limits, the OpenAPI document, the provider catalog, and
//! reading connections, groups and consumers.

use crate::helpers::{problem, spawn_app, TestApp};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

/// Asserts `status` and the problem envelope every error carries; returns the body.
async fn assert_problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!request_id.is_empty());
    let body = problem(response).await;
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert_eq!(body["type"], "about:blank");
    assert_eq!(body["title"], status.canonical_reason().unwrap(), "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    assert!(
        body["subsystem"].as_str().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    let time = body["time"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(time).unwrap_or_else(|e| panic!("{time}: {e}"));
    assert_eq!(body["requestId"], request_id.as_str(), "{body}");
    body
}

/// `POST /v1/oauth-connect` with `body` sent as it is, declared as
/// `content_type` (or without a content type).
async fn post_raw_connect(
    app: &TestApp,
    content_type: Option<&str>,
    body: &'static str,
) -> Response {
    let mut request = app
        .client
        .post(app.url("/v1/oauth-connect"))
        .header("X-Api-Key", &app.api_key)
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.send().await.unwrap()
}

async fn list(app: &TestApp, path: &str) -> Vec<Value> {
    let response = app.get(&app.project_url(path)).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.json().await.unwrap()
}

fn field_set(items: &[Value], field: &str) -> Vec<String> {
    let mut values: Vec<String> = items
        .iter()
        .map(|i| i[field].as_str().unwrap().to_owned())
        .collect();
    values.sort();
    values
}

/// Four connections over two providers, two groups and two consumers.
async fn seed_connections(app: &TestApp) -> Vec<Value> {
    vec![
        app.generated(&json!({"provider": "mock", "groupRef": "g1", "groupName": "Group One", "consumerRef": "c1", "apiKey": "k"})).await,
        app.generated(&json!({"provider": "mock", "groupRef": "g1", "groupName": "Group One", "consumerRef": "c2", "consumerName": "Consumer Two", "apiKey": "k"})).await,
        app.generated(&json!({"provider": "mock", "groupRef": "g2", "consumerRef": "c1", "apiKey": "k"})).await,
        app.generated(&json!({
                "provider": "mock-workspace",
                "groupRef": "g2",
                "consumerRef": "c2",
                "consumerName": "Consumer Two",
                "providerWorkspaceRef": "tenant-1",
                "providerMetadata": {"accountId": {"value": "42"}},
                "apiKey": "k",
            })).await,
    ]
}

#[tokio::test]
async fn healthz_answers_ok_without_credentials() {
    let app = spawn_app().await;
    let response = app.get_without_key(&app.url("/healthz")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["x-request-id"].to_str().is_ok());
    assert_eq!(response.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn readyz_answers_200_when_the_database_does() {
    let app = spawn_app().await;
    let response = app.get_without_key(&app.url("/readyz")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "ready");
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = spawn_app().await;
    for path in ["/nope", "/v1/nope", "/v1/projects/acme/nope"] {
        let response = app.get(&app.url(path)).await;
        assert_problem(response, StatusCode::NOT_FOUND).await;
    }
}

#[tokio::test]
async fn an_unknown_connection_action_is_a_404_problem() {
    let app = spawn_app().await;
    let response = app
        .patch_json(&app.project_url("/connections/abc:explode"), &json!({}))
        .await;
    assert_problem(response, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem() {
    let app = spawn_app().await;
    let response = app.client.put(app.url("/healthz")).send().await.unwrap();
    assert_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
    let response = app.get(&app.url("/v1/oauth-connect")).await;
    assert_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415_problem() {
    let app = spawn_app().await;
    let response = post_raw_connect(&app, Some("text/plain"), r#"{"provider": "mock"}"#).await;
    let body = assert_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert!(
        body["detail"].as_str().unwrap().contains("text/plain"),
        "{body}"
    );
}

#[tokio::test]
async fn a_body_without_content_type_is_a_415_problem() {
    let app = spawn_app().await;
    let response = post_raw_connect(&app, None, "{}").await;
    assert_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
}

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let app = spawn_app().await;
    let response =
        post_raw_connect(&app, Some("application/json"), r#"{"provider": "mock","#).await;
    let body = assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["issues"][0]["in"], "body");
    assert!(
        body["issues"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{body}"
    );
}

#[tokio::test]
async fn a_body_over_64_kib_is_a_413_problem() {
    let app = spawn_app().await;
    let padding = "x".repeat(70 * 1024);
    let body = json!({"projectId": app.project_id, "provider": "mock", "groupRef": padding, "consumerRef": "c"});
    let response = app.post_json(&app.url("/v1/oauth-connect"), &body).await;
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
}

#[tokio::test]
async fn a_body_just_under_the_limit_is_read() {
    let app = spawn_app().await;
    // Fits in 64 KiB; fails validation (ref too long), which proves it was read.
    let padding = "x".repeat(60 * 1024);
    let body = json!({"projectId": app.project_id, "provider": "mock", "groupRef": padding, "consumerRef": "c"});
    let response = app.post_json(&app.url("/v1/oauth-connect"), &body).await;
    let body = assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["issues"][0]["name"], "groupRef");
}

#[tokio::test]
async fn a_401_carries_the_problem_envelope_too() {
    let app = spawn_app().await;
    let response = app.get_without_key(&app.project_url("/connections")).await;
    assert_problem(response, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn a_caller_supplied_request_id_is_kept_and_echoed_in_problems() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/nope"))
        .header("x-request-id", "trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-123");
    let body = assert_problem(response, StatusCode::NOT_FOUND).await;
    assert_eq!(body["requestId"], "trace-123");
}

#[tokio::test]
async fn each_request_gets_its_own_request_id() {
    let app = spawn_app().await;
    let first = app.get_without_key(&app.url("/healthz")).await;
    let second = app.get_without_key(&app.url("/healthz")).await;
    assert_ne!(
        first.headers()["x-request-id"],
        second.headers()["x-request-id"]
    );
}

#[tokio::test]
async fn the_openapi_document_describes_the_ampersand_routes_and_both_security_schemes() {
    let app = spawn_app().await;
    let response = app.get_without_key(&app.url("/v1/openapi.json")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let doc: Value = response.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/oauth-connect",
        "/v1/projects/{projectIdOrName}/connections/{connectionId}:oauth-update",
        "/v1/projects/{projectIdOrName}/connections:generate",
        "/callbacks/v1/oauth",
    ] {
        assert!(
            paths.contains_key(path),
            "missing {path}: {:?}",
            paths.keys().collect::<Vec<_>>()
        );
    }
    assert!(paths["/v1/oauth-connect"].get("post").is_some());
    assert!(
        paths["/v1/projects/{projectIdOrName}/connections/{connectionId}:oauth-update"]
            .get("patch")
            .is_some()
    );
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert!(schemes.contains_key("APIKeyHeader"), "{schemes:?}");
    assert!(schemes.contains_key("Bearer"), "{schemes:?}");
    assert_eq!(schemes["APIKeyHeader"]["name"], "X-Api-Key");
    assert_eq!(schemes["Bearer"]["scheme"], "bearer");
}

#[tokio::test]
async fn the_provider_catalog_lists_the_built_in_and_configured_providers_by_name() {
    let app = spawn_app().await;
    let response = app.get_without_key(&app.url("/v1/providers")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let providers: serde_json::Map<String, Value> = response.json().await.unwrap();
    let builtin = grantd::domain::catalog::builtin().unwrap();
    let mut expected: Vec<String> = builtin.keys().cloned().collect();
    expected.extend(
        [
            "mock",
            "mock-basic",
            "mock-workspace",
            "mock-nested",
            "mock-pkce",
            "mock-custom",
            "mock-open",
        ]
        .map(String::from),
    );
    expected.sort();
    let names: Vec<String> = providers.keys().cloned().collect();
    assert_eq!(names, expected);
    for (name, provider) in &providers {
        assert_eq!(provider["name"], name.as_str());
        assert!(
            provider["displayName"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{provider}"
        );
        let auth_type = provider["authType"].as_str().unwrap();
        assert!(
            ["oauth2", "apiKey", "basic", "custom", "none"].contains(&auth_type),
            "{provider}"
        );
        let opts = match auth_type {
            "oauth2" => "oauth2Opts",
            "apiKey" => "apiKeyOpts",
            "custom" => "customOpts",
            _ => "support",
        };
        assert!(provider[opts].is_object(), "{name} lacks {opts}");
        assert!(provider["support"]["proxy"].is_boolean(), "{name}");
    }
}

#[tokio::test]
async fn one_provider_reads_in_ampersands_provider_info_shape() {
    let app = spawn_app().await;
    let response = app
        .get_without_key(&app.url("/v1/providers/salesforce"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let provider: Value = response.json().await.unwrap();
    assert_eq!(provider["name"], "salesforce");
    assert_eq!(provider["authType"], "oauth2");
    assert_eq!(
        provider["baseURL"],
        "https://{{.workspace}}.my.salesforce.com"
    );
    let oauth = &provider["oauth2Opts"];
    assert_eq!(oauth["grantType"], "authorizationCode");
    assert_eq!(
        oauth["authURL"],
        "https://{{.workspace}}.my.salesforce.com/services/oauth2/authorize"
    );
    assert_eq!(
        oauth["tokenURL"],
        "https://{{.workspace}}.my.salesforce.com/services/oauth2/token"
    );
    // Optional: without My Domain, sign-in goes through login.salesforce.com.
    assert_eq!(oauth["explicitWorkspaceRequired"], false);
    assert_eq!(oauth["tokenMetadataFields"]["scopesField"], "scope");
    let other = oauth["tokenMetadataFields"]["otherFields"]
        .as_array()
        .unwrap();
    assert!(
        other
            .iter()
            .any(|f| f["name"] == "instanceUrl" && f["path"] == "instance_url"),
        "{other:?}"
    );
    assert_eq!(provider["metadata"]["input"][0]["name"], "workspace");
    assert_eq!(provider["labels"]["category"], "crm");
    assert_eq!(provider["authSchemes"], json!(["oauth2/authorizationCode"]));
}

#[tokio::test]
async fn api_key_providers_say_where_the_key_goes() {
    let app = spawn_app().await;
    let provider: Value = app.public_json("/v1/providers/mock-workspace").await;
    assert_eq!(provider["apiKeyOpts"]["attachmentType"], "query");
    assert_eq!(provider["apiKeyOpts"]["query"]["name"], "key");
    assert!(provider["apiKeyOpts"].get("header").is_none());
    assert_eq!(
        provider["oauth2Opts"]["tokenURL"],
        format!(
            "{}/token?tenant={{{{.workspace}}}}&account={{{{.accountId}}}}",
            app.provider.base
        )
    );
}

#[tokio::test]
async fn an_unknown_provider_is_a_404_problem() {
    let app = spawn_app().await;
    let response = app.get_without_key(&app.url("/v1/providers/nope")).await;
    let body = assert_problem(response, StatusCode::NOT_FOUND).await;
    assert!(
        body["detail"].as_str().unwrap().contains("provider"),
        "{body}"
    );
}

#[tokio::test]
async fn generate_creates_an_api_key_connection_whose_key_shows_only_on_request() {
    let app = spawn_app().await;
    let created = app.generated(&json!({"provider": "mock", "groupRef": "g1", "consumerRef": "c1", "apiKey": "the-key"})).await;
    assert_eq!(created["provider"], "mock");
    assert_eq!(created["authScheme"], "apiKey");
    assert_eq!(created["status"], "working");
    assert_eq!(created["projectId"], app.project_id.as_str());
    assert_eq!(created["group"]["groupRef"], "g1");
    assert_eq!(created["consumer"]["consumerRef"], "c1");
    let id = created["id"].as_str().unwrap();

    let plain: Value = app
        .get_json(&app.project_url(&format!("/connections/{id}")))
        .await;
    assert!(plain.get("apiKey").is_none(), "{plain}");
    let full: Value = app.connection_with_credentials(id).await;
    assert_eq!(full["apiKey"], "the-key");
}

#[tokio::test]
async fn the_connection_list_filters_by_provider_group_and_consumer() {
    let app = spawn_app().await;
    let seeded = seed_connections(&app).await;
    let ids = |items: &[Value]| field_set(items, "id");
    let seeded_ids = |indices: &[usize]| {
        let mut v: Vec<String> = indices
            .iter()
            .map(|&i| seeded[i]["id"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };

    assert_eq!(
        ids(&list(&app, "/connections").await),
        seeded_ids(&[0, 1, 2, 3])
    );
    assert_eq!(
        ids(&list(&app, "/connections?provider=mock").await),
        seeded_ids(&[0, 1, 2])
    );
    assert_eq!(
        ids(&list(&app, "/connections?provider=mock-workspace").await),
        seeded_ids(&[3])
    );
    assert_eq!(
        ids(&list(&app, "/connections?groupRef=g1").await),
        seeded_ids(&[0, 1])
    );
    assert_eq!(
        ids(&list(&app, "/connections?consumerRef=c1").await),
        seeded_ids(&[0, 2])
    );
    assert_eq!(
        ids(&list(&app, "/connections?groupRef=g2&consumerRef=c2").await),
        seeded_ids(&[3])
    );
    assert_eq!(
        ids(&list(
            &app,
            "/connections?provider=mock&groupRef=g2&consumerRef=c2"
        )
        .await),
        seeded_ids(&[])
    );
    assert!(list(&app, "/connections?provider=salesforce")
        .await
        .is_empty());

    let workspace = &list(&app, "/connections?provider=mock-workspace").await[0];
    assert_eq!(workspace["providerWorkspaceRef"], "tenant-1");
    assert_eq!(workspace["providerMetadata"]["accountId"]["value"], "42");
    assert_eq!(
        workspace["providerMetadata"]["accountId"]["source"],
        "input"
    );
}

#[tokio::test]
async fn an_unknown_list_filter_is_a_400_naming_the_query_parameter() {
    let app = spawn_app().await;
    let response = app.get(&app.project_url("/connections?color=blue")).await;
    let body = assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["issues"][0]["in"], "query");
    assert!(
        body["issues"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("color"),
        "{body}"
    );
}

#[tokio::test]
async fn a_deleted_connection_is_gone() {
    let app = spawn_app().await;
    let seeded = seed_connections(&app).await;
    let id = seeded[0]["id"].as_str().unwrap();
    let url = app.project_url(&format!("/connections/{id}"));

    let response = app.delete(&url).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.text().await.unwrap().is_empty());

    assert_problem(app.get(&url).await, StatusCode::NOT_FOUND).await;
    assert_problem(app.delete(&url).await, StatusCode::NOT_FOUND).await;
    assert_eq!(app.connection_count().await, 3, "the others remain");
}

#[tokio::test]
async fn an_unknown_connection_is_a_404_problem() {
    let app = spawn_app().await;
    let response = app.get(&app.project_url("/connections/no-such-id")).await;
    let body = assert_problem(response, StatusCode::NOT_FOUND).await;
    assert!(
        body["detail"].as_str().unwrap().contains("connection"),
        "{body}"
    );
}

#[tokio::test]
async fn groups_and_consumers_list_what_connections_created() {
    let app = spawn_app().await;
    assert!(list(&app, "/groups").await.is_empty());
    assert!(list(&app, "/consumers").await.is_empty());
    seed_connections(&app).await;

    let groups = list(&app, "/groups").await;
    assert_eq!(field_set(&groups, "groupRef"), ["g1", "g2"]);
    let g1 = groups.iter().find(|g| g["groupRef"] == "g1").unwrap();
    assert_eq!(g1["groupName"], "Group One");
    assert_eq!(g1["projectId"], app.project_id.as_str());
    let g2 = groups.iter().find(|g| g["groupRef"] == "g2").unwrap();
    assert_eq!(g2["groupName"], "g2", "names default to refs");

    let consumers = list(&app, "/consumers").await;
    assert_eq!(field_set(&consumers, "consumerRef"), ["c1", "c2"]);
    let c2 = consumers.iter().find(|c| c["consumerRef"] == "c2").unwrap();
    assert_eq!(c2["consumerName"], "Consumer Two");
    assert_eq!(c2["projectId"], app.project_id.as_str());
}

#[tokio::test]
async fn the_project_is_readable_by_name_and_by_id() {
    let app = spawn_app().await;
    for key in [app.project_name.clone(), app.project_id.clone()] {
        let response = app.get(&app.url(&format!("/v1/projects/{key}"))).await;
        assert_eq!(response.status(), StatusCode::OK);
        let project: Value = response.json().await.unwrap();
        assert_eq!(project["id"], app.project_id.as_str());
        assert_eq!(project["name"], "acme");
        assert!(project["createTime"].is_string());
    }
}
