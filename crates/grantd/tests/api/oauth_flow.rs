//! The authorization code flow end to end: oauth-connect → provider →
//! callback → stored connection, plus re-authorization and state handling.

use crate::helpers::{
    add_providers, expect_problem, mock_oauth_base, query_param, spawn_app, spawn_app_with,
    spawn_app_with_provider_app, TestApp,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn the_whole_dance_stores_a_working_connection_with_readable_credentials() {
    let app = spawn_app().await;
    let app_id = app.create_provider_app("mock").await;

    let url = app
        .oauth_connect(json!({
            "projectId": app.project_id,
            "provider": "mock",
            "groupRef": "org-1",
            "groupName": "Org One",
            "consumerRef": "user-1",
        }))
        .await;
    assert!(
        url.starts_with(&format!("{}/authorize?", app.provider.base)),
        "{url}"
    );
    assert_eq!(query_param(&url, "response_type").as_deref(), Some("code"));
    assert_eq!(
        query_param(&url, "client_id").as_deref(),
        Some("mock-client")
    );
    assert_eq!(
        query_param(&url, "redirect_uri"),
        Some(format!("{}/callbacks/v1/oauth", app.address))
    );
    assert_eq!(query_param(&url, "scope").as_deref(), Some("read write"));
    assert_eq!(
        query_param(&url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    let state = query_param(&url, "state").unwrap();
    assert!(state.len() >= 43, "state must carry 256 bits: {state}");

    let callback = app.authorize(&url).await;
    let response = app.get_without_key(&callback).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    let page = response.text().await.unwrap();
    assert!(page.contains("postMessage"), "{page}");
    assert!(
        !page.contains("\"*\""),
        "postMessage must name an exact origin"
    );
    assert!(
        page.contains(&format!("\"{}\"", app.address)),
        "opener origin defaults to grantd's own"
    );

    // The mock checked client authentication and the PKCE verifier.
    let exchange = &app.provider.token_requests()[0];
    assert_eq!(exchange.params["grant_type"], "authorization_code");
    assert!(exchange.params.contains_key("code_verifier"));

    let connection = app.only_connection_for("org-1").await;
    assert_eq!(connection["status"], "working");
    assert_eq!(connection["provider"], "mock");
    assert_eq!(connection["authScheme"], "oauth2/authorizationCode");
    assert_eq!(connection["group"]["groupName"], "Org One");
    assert_eq!(
        connection["consumer"]["consumerName"], "user-1",
        "names default to refs"
    );
    assert_eq!(connection["providerApp"]["id"], app_id.as_str());
    assert_eq!(
        connection["providerMetadata"]["instanceUrl"]["value"],
        "https://acme.example.com"
    );
    assert_eq!(
        connection["providerMetadata"]["instanceUrl"]["source"],
        "token"
    );
    assert!(
        connection.get("oauth2AuthorizationCode").is_none(),
        "no secrets without includeCredentials"
    );

    let id = connection["id"].as_str().unwrap();
    let full: Value = app.connection_with_credentials(id).await;
    let tokens = &full["oauth2AuthorizationCode"];
    assert_eq!(tokens["accessToken"]["token"], "access-1");
    assert_eq!(tokens["refreshToken"]["token"], "refresh-1");
    assert!(tokens["accessToken"]["expiresAt"].is_string());
    assert_eq!(tokens["scopes"], json!(["read", "write"]));
}

#[tokio::test]
async fn oauth_update_reauthorizes_the_same_connection_in_place() {
    let app = spawn_app_with_provider_app("mock").await;
    let id = app.connect_mock("org-1", "user-1").await;

    let response = app
        .patch_json(
            &app.project_url(&format!("/connections/{id}:oauth-update")),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let url = response.text().await.unwrap();
    assert_eq!(app.finish_flow(&url).await.status(), StatusCode::OK);

    let connection = app.only_connection_for("org-1").await;
    assert_eq!(connection["id"], id.as_str(), "same id, no duplicate");
    let full: Value = app.connection_with_credentials(&id).await;
    assert_eq!(
        full["oauth2AuthorizationCode"]["accessToken"]["token"],
        "access-2"
    );
}

#[tokio::test]
async fn oauth_update_of_an_unknown_connection_is_a_404_problem() {
    let app = spawn_app_with_provider_app("mock").await;
    let response = app
        .patch_json(
            &app.project_url("/connections/nope:oauth-update"),
            &json!({}),
        )
        .await;
    let body = expect_problem(response, StatusCode::NOT_FOUND).await;
    assert_eq!(body["status"], 404);
}

#[tokio::test]
async fn a_replayed_state_is_refused_and_stores_nothing() {
    let app = spawn_app().await;
    let callback = app.mock_flow_at_callback().await;
    assert_eq!(
        app.get_without_key(&callback).await.status(),
        StatusCode::OK
    );
    let replay = app.get_without_key(&callback).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(replay.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(app.connection_count().await, 1);
    assert_eq!(
        app.provider.token_calls(),
        1,
        "a replay never reaches the provider"
    );
}

#[tokio::test]
async fn an_expired_state_is_refused_and_stores_nothing() {
    let app = spawn_app_with(|config| config.oauth_state_ttl = Duration::ZERO).await;
    let callback = app.mock_flow_at_callback().await;
    let response = app.get_without_key(&callback).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    app.assert_no_code_exchanged().await;
}

#[tokio::test]
async fn an_unknown_state_is_refused() {
    let app = spawn_app().await;
    let response = app
        .get_without_key(&app.url("/callbacks/v1/oauth?state=made-up&code=abc"))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    let missing = app
        .get_without_key(&app.url("/callbacks/v1/oauth?code=abc"))
        .await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn two_callbacks_racing_with_one_state_make_exactly_one_connection() {
    let app = spawn_app().await;
    let callback = app.mock_flow_at_callback().await;
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let client = app.client.clone();
            let callback = callback.clone();
            tokio::spawn(async move { client.get(&callback).send().await.unwrap().status() })
        })
        .collect();
    let mut statuses = Vec::new();
    for racer in racers {
        statuses.push(racer.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(app.connection_count().await, 1);
    assert_eq!(app.provider.token_calls(), 1);
}

#[tokio::test]
async fn a_provider_error_is_shown_recorded_and_stores_nothing() {
    let app = spawn_app_with_provider_app("mock").await;
    let url = app.start_flow("mock").await;
    let state = query_param(&url, "state").unwrap();
    let response = app
        .get_without_key(&app.url(&format!(
            "/callbacks/v1/oauth?state={state}&error=access_denied&error_description=User+said+no"
        )))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("access_denied") && page.contains("User said no"),
        "{page}"
    );
    assert!(page.contains("\"failure\""));
    app.assert_no_code_exchanged().await;

    let (outcome, detail): (String, String) =
        sqlx::query_as("SELECT outcome, outcome_detail FROM oauth_flows")
            .fetch_one(&app.db().await)
            .await
            .unwrap();
    assert_eq!(outcome, "provider_error");
    assert!(detail.contains("access_denied"));
}

/// The callback at `url` (its `iss` changed) is refused as a mix-up, before
/// the code goes anywhere.
async fn assert_refused_as_an_issuer_mismatch(app: &TestApp, url: &str) {
    let response = app.get_without_key(url).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("issuer_mismatch"));
    app.assert_no_code_exchanged().await;
}

#[tokio::test]
async fn a_callback_from_another_issuer_is_refused_as_a_mix_up() {
    let app = spawn_app().await;
    let callback = app.mock_flow_at_callback().await;
    let tampered = callback.replace(
        &format!("iss={}", urlencode(&app.provider.base)),
        "iss=https%3A%2F%2Fevil.example",
    );
    assert_ne!(tampered, callback);
    assert_refused_as_an_issuer_mismatch(&app, &tampered).await;
}

#[tokio::test]
async fn a_callback_without_iss_is_refused_where_the_catalog_names_the_issuer() {
    let app = spawn_app().await;
    let callback = app.mock_flow_at_callback().await;
    let stripped = callback.replace(&format!("&iss={}", urlencode(&app.provider.base)), "");
    assert_ne!(stripped, callback);
    let response = app.get_without_key(&stripped).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("invalid_request") && page.contains("no iss"),
        "{page}"
    );
    app.assert_no_code_exchanged().await;
}

/// A provider hosted per tenant: the workspace is the whole host (limited by
/// its pattern to the loopback addresses the mock answers on), and the
/// catalog names no issuer.
fn add_tenant_hosted_provider(config: &mut grantd::config::Config) {
    let base = mock_oauth_base(config);
    let port = base.rsplit(':').next().unwrap();
    let entry = format!(
        r#"
[providers.mock-tenant]
displayName = "Mock hosted per tenant"
category = "support"
authSchemes = ["oauth2/authorizationCode"]
[providers.mock-tenant.workspace]
pattern = "^(127\\.0\\.0\\.1|localhost)$"
[providers.mock-tenant.oauth2]
authorizeUrl = "http://{{workspace}}:{port}/authorize"
tokenUrl = "http://{{workspace}}:{port}/token"
"#
    );
    add_providers(config, &entry);
}

/// A flow of the tenant-hosted provider (tenant `127.0.0.1`) authorized at
/// the mock; the callback URL the browser is sent back with.
async fn tenant_flow_at_callback() -> (TestApp, String) {
    let app = spawn_app_with(add_tenant_hosted_provider).await;
    app.create_provider_app("mock-tenant").await;
    let url = app
        .oauth_connect(json!({
            "projectId": app.project_id, "provider": "mock-tenant", "groupRef": "g", "consumerRef": "c",
            "providerWorkspaceRef": "127.0.0.1",
        }))
        .await;
    let callback = app.authorize(&url).await;
    (app, callback)
}

#[tokio::test]
async fn a_tenant_hosted_provider_may_send_iss_naming_the_tenants_own_host() {
    let (app, callback) = tenant_flow_at_callback().await;
    assert_eq!(
        query_param(&callback, "iss").as_deref(),
        Some(app.provider.base.as_str()),
        "the mock names its own origin, http://127.0.0.1:PORT"
    );
    let response = app.get_without_key(&callback).await;
    let status = response.status();
    assert_eq!(status, StatusCode::OK, "{}", response.text().await.unwrap());
    assert_eq!(
        app.only_connection_for("g").await["provider"],
        "mock-tenant"
    );
}

#[tokio::test]
async fn a_tenant_hosted_provider_is_refused_when_iss_names_another_tenant() {
    let (app, callback) = tenant_flow_at_callback().await;
    let other_tenant = app.provider.base.replace("127.0.0.1", "localhost");
    let tampered = callback.replace(
        &format!("iss={}", urlencode(&app.provider.base)),
        &format!("iss={}", urlencode(&other_tenant)),
    );
    assert_ne!(tampered, callback);
    assert_refused_as_an_issuer_mismatch(&app, &tampered).await;
}

#[tokio::test]
async fn a_token_answer_over_the_size_cap_fails_the_flow_and_stores_nothing() {
    let app = spawn_app_with_provider_app("mock").await;
    // A well-formed answer, only too large: 2 MiB of access token.
    app.provider.script_token_response(
        StatusCode::OK,
        json!({"access_token": "a".repeat(2 * 1024 * 1024), "token_type": "Bearer"}),
    );
    let url = app.start_flow("mock").await;
    let response = app.finish_flow(&url).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let page = response.text().await.unwrap();
    assert!(page.contains("larger than 1048576 bytes"), "{page}");
    assert_eq!(app.connection_count().await, 0);
}

/// A token answer of exactly `len` bytes of JSON.
fn token_answer_of(len: usize) -> serde_json::Value {
    let mut answer = json!({"access_token": "at-exact", "token_type": "Bearer", "pad": ""});
    let padding = len - answer.to_string().len();
    answer["pad"] = json!("p".repeat(padding));
    assert_eq!(answer.to_string().len(), len);
    answer
}

#[tokio::test]
async fn a_token_answer_of_exactly_the_cap_is_read_and_one_byte_more_is_not() {
    use grantd::domain::oauth::token::MAX_PROVIDER_ANSWER_BYTES as CAP;
    let app = spawn_app_with_provider_app("mock").await;
    app.provider
        .script_token_response(StatusCode::OK, token_answer_of(CAP));
    let url = app.start_flow("mock").await;
    assert_eq!(app.finish_flow(&url).await.status(), StatusCode::OK);
    assert_eq!(app.connection_count().await, 1);

    app.provider
        .script_token_response(StatusCode::OK, token_answer_of(CAP + 1));
    let url = app.start_flow("mock").await;
    assert_eq!(
        app.finish_flow(&url).await.status(),
        StatusCode::BAD_GATEWAY
    );
    assert_eq!(app.connection_count().await, 1);
}

#[tokio::test]
async fn an_endless_token_answer_without_a_length_is_cut_off_at_the_cap() {
    let app = spawn_app_with_provider_app("mock").await;
    let total = 64 * 1024 * 1024;
    app.provider.script_token_stream(total);
    let url = app.start_flow("mock").await;
    let response = app.finish_flow(&url).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let page = response.text().await.unwrap();
    assert!(page.contains("larger than 1048576 bytes"), "{page}");
    assert_eq!(app.connection_count().await, 0);
    // grantd stopped reading after the first MiB; what else was produced
    // only filled socket buffers.
    let produced = app.provider.streamed_bytes();
    assert!(
        produced < total / 2,
        "{produced} of {total} bytes were produced"
    );
}

#[tokio::test]
async fn a_refused_code_exchange_is_shown_and_stores_nothing() {
    let app = spawn_app_with_provider_app("mock").await;
    app.provider.script_token_response(
        StatusCode::BAD_REQUEST,
        json!({"error": "invalid_grant", "error_description": "code expired"}),
    );
    let url = app.start_flow("mock").await;
    let callback = app.authorize(&url).await;
    let response = app.get_without_key(&callback).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("invalid_grant"));
    assert_eq!(app.connection_count().await, 0);
}

/// Sends `start` (a request answered with an authorization URL) with the
/// app's key from a page at `origin`, and runs that flow through the mock;
/// the callback page.
async fn callback_page_for(app: &TestApp, start: reqwest::RequestBuilder, origin: &str) -> String {
    let response = start
        .header("X-Api-Key", &app.api_key)
        .header("Origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let url = response.text().await.unwrap();
    let page = app.finish_flow(&url).await;
    assert_eq!(page.status(), StatusCode::OK);
    page.text().await.unwrap()
}

#[tokio::test]
async fn the_opener_origin_is_the_browser_origin_that_asked() {
    let app = spawn_app_with_provider_app("mock").await;
    app.allow_origins(&[
        "https://app.customer.example",
        "https://admin.customer.example",
    ])
    .await;
    let start = app
        .client
        .post(app.url("/v1/oauth-connect"))
        .json(&json!({"projectId": app.project_id, "provider": "mock", "groupRef": "g", "consumerRef": "c"}));
    let page = callback_page_for(&app, start, "https://app.customer.example").await;
    assert!(page.contains("\"https://app.customer.example\""), "{page}");
    assert_eq!(
        app.connection_count().await,
        1,
        "the page is a success page"
    );

    // Re-authorizing reports to the browser origin that asked for it.
    let id = app.only_connection_for("g").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reauthorize = app
        .client
        .patch(app.project_url(&format!("/connections/{id}:oauth-update")))
        .json(&json!({}));
    let page = callback_page_for(&app, reauthorize, "https://admin.customer.example").await;
    assert!(
        page.contains("\"https://admin.customer.example\""),
        "{page}"
    );
}

#[tokio::test]
async fn providers_with_basic_client_auth_get_basic_auth_and_no_pkce() {
    let app = spawn_app_with_provider_app("mock-basic").await;
    let url = app.start_flow("mock-basic").await;
    assert!(
        query_param(&url, "code_challenge").is_none(),
        "PKCE unsupported: {url}"
    );
    assert_eq!(query_param(&url, "scope").as_deref(), Some("write"));
    assert_eq!(app.finish_flow(&url).await.status(), StatusCode::OK);
    let request = &app.provider.token_requests()[0];
    assert!(request
        .authorization
        .as_deref()
        .unwrap_or("")
        .starts_with("Basic "));
    assert!(
        !request.params.contains_key("client_secret"),
        "secret only in the header"
    );
}

#[tokio::test]
async fn pkce_required_providers_exchange_with_a_json_body_and_verifier() {
    let app = spawn_app_with_provider_app("mock-pkce").await;
    let url = app.start_flow("mock-pkce").await;
    assert!(query_param(&url, "code_challenge").is_some());
    assert_eq!(app.finish_flow(&url).await.status(), StatusCode::OK);
    let request = &app.provider.token_requests()[0];
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
    assert!(request.params.contains_key("code_verifier"));
}

#[tokio::test]
async fn workspace_and_metadata_are_substituted_into_provider_urls() {
    let app = spawn_app_with_provider_app("mock-workspace").await;
    let url = app
        .oauth_connect(json!({
            "projectId": app.project_id, "provider": "mock-workspace", "groupRef": "g", "consumerRef": "c",
            "providerWorkspaceRef": "acme",
            "providerMetadata": {"accountId": {"value": "12345", "source": "input"}},
        }))
        .await;
    assert_eq!(query_param(&url, "tenant").as_deref(), Some("acme"));
    assert_eq!(app.finish_flow(&url).await.status(), StatusCode::OK);
    let connection = app.only_connection_for("g").await;
    assert_eq!(connection["providerWorkspaceRef"], "acme");
    assert_eq!(
        connection["providerMetadata"]["accountId"]["value"],
        "12345"
    );
    assert_eq!(
        connection["providerMetadata"]["accountId"]["source"],
        "input"
    );
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn reauthorizing_a_password_connection_switches_it_to_the_code_flow_scheme() {
    let app = spawn_app_with_provider_app("mock").await;
    let created: Value = app
        .generate(
            &json!({"provider": "mock", "groupRef": "g", "consumerRef": "c",
                    "oauth2PasswordCredentials": {"username": crate::mock_provider::USERNAME,
                        "password": crate::mock_provider::PASSWORD,
                        "clientId": crate::mock_provider::CLIENT_ID,
                        "clientSecret": crate::mock_provider::CLIENT_SECRET}}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["authScheme"], "oauth2/password");
    let id = created["id"].as_str().unwrap();

    app.reauthorize(id).await;

    let full: Value = app.connection_with_credentials(id).await;
    assert_eq!(full["id"], id);
    assert_eq!(full["authScheme"], "oauth2/authorizationCode");
    assert!(full["oauth2AuthorizationCode"]["accessToken"]["token"].is_string());
    assert!(full.get("oauth2PasswordCredentials").is_none());
}

#[tokio::test]
async fn flows_started_and_finished_at_once_each_store_their_own_connection() {
    // Concurrent starts and callbacks are committed together in batches;
    // each must still land as its own flow and its own connection.
    let app = spawn_app_with_provider_app("mock").await;
    let starts = (0..40).map(|i| {
        let mut body = json!({
            "projectId": app.project_id,
            "provider": "mock",
            "groupRef": format!("batch-{i}"),
            "consumerRef": format!("user-{}", i % 3),
        });
        if i % 2 == 1 {
            body["groupName"] = json!(format!("Batch {i}"));
        }
        app.oauth_connect(body)
    });
    let urls = futures::future::join_all(starts).await;
    let states: std::collections::HashSet<_> =
        urls.iter().map(|u| query_param(u, "state")).collect();
    assert_eq!(states.len(), 40, "every flow has its own state");

    let finishes = urls.iter().map(|url| app.finish_flow(url));
    for response in futures::future::join_all(finishes).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(app.connection_count().await, 40);
    for i in [0, 17, 38, 39] {
        let connection = app.only_connection_for(&format!("batch-{i}")).await;
        assert_eq!(connection["status"], "working");
        let name = if i % 2 == 1 {
            format!("Batch {i}")
        } else {
            format!("batch-{i}")
        };
        assert_eq!(connection["group"]["groupName"], name.as_str());
    }
    let consumers: Vec<Value> = app.get_json(&app.project_url("/consumers")).await;
    assert_eq!(consumers.len(), 3, "{consumers:?}");
    let (succeeded,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM oauth_flows f JOIN connections c ON c.id = f.result_connection_id \
         WHERE f.outcome = 'success' AND c.group_ref LIKE 'batch-%'",
    )
    .fetch_one(&app.db().await)
    .await
    .unwrap();
    assert_eq!(succeeded, 40, "every flow records the connection it made");
}

#[tokio::test]
async fn replayed_callbacks_racing_the_first_ones_spend_each_state_once() {
    // First and replayed callbacks arrive together and are committed in
    // the same batches: each state still yields exactly one connection.
    let app = spawn_app_with_provider_app("mock").await;
    let mut urls = Vec::new();
    for i in 0..10 {
        urls.push(
            app.oauth_connect(json!({
                "projectId": app.project_id,
                "provider": "mock",
                "groupRef": format!("mixed-{i}"),
                "consumerRef": "user",
            }))
            .await,
        );
    }
    let callbacks = futures::future::join_all(urls.iter().map(|u| app.authorize(u))).await;
    // Every callback twice, all at once: each state is spent exactly once.
    let sends = callbacks
        .iter()
        .chain(callbacks.iter())
        .map(|c| app.client.get(c).send());
    let statuses: Vec<StatusCode> = futures::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.unwrap().status())
        .collect();
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 10, "{statuses:?}");
    assert_eq!(app.connection_count().await, 10);
}
