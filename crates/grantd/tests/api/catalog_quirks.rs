//! Provider quirks that the catalog describes as data, each driven through a
//! real flow against the mock provider.

use crate::helpers::{query_param, spawn_app, spawn_app_with_provider_app};
use crate::mock_provider::{CLIENT_ID, CLIENT_SECRET};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A Slack v2-style answer: the user's token is nested under `authed_user`.
fn slack_style_answer() -> Value {
    json!({
        "ok": true,
        "access_token": "xoxb-bot-token",
        "token_type": "bot",
        "scope": "chat:write",
        "team": {"id": "T123", "name": "Acme"},
        "authed_user": {
            "id": "U1",
            "scope": "chat:write,users:read",
            "access_token": "xoxp-user-token",
            "refresh_token": "xoxe-refresh",
            "expires_in": 43200,
            "token_type": "user"
        }
    })
}

#[tokio::test]
async fn nested_tokens_are_read_from_the_paths_the_catalog_names() {
    let app = spawn_app_with_provider_app("mock-nested").await;
    let url = app.start_flow("mock-nested").await;
    assert_eq!(query_param(&url, "scope").as_deref(), Some("write"));
    app.provider
        .script_token_response(StatusCode::OK, slack_style_answer());
    assert_eq!(app.finish_flow(&url).await.status(), StatusCode::OK);

    let connection = app.only_connection_for("g").await;
    let full = app
        .connection_with_credentials(connection["id"].as_str().unwrap())
        .await;
    let tokens = &full["oauth2AuthorizationCode"];
    assert_eq!(tokens["accessToken"]["token"], "xoxp-user-token");
    assert_eq!(tokens["refreshToken"]["token"], "xoxe-refresh");
    assert_eq!(
        tokens["scopes"],
        json!(["chat:write", "users:read"]),
        "comma-separated scopes from the nested path"
    );
    assert!(
        tokens["accessToken"].get("expiresAt").is_none()
            || tokens["accessToken"]["expiresAt"].is_null(),
        "tokensExpire = false ignores expires_in: {tokens}"
    );
    let metadata = &connection["providerMetadata"];
    assert_eq!(metadata["teamId"]["value"], "T123");
    assert_eq!(metadata["teamName"]["value"], "Acme");
    assert_eq!(metadata["teamId"]["source"], "token");
}

#[tokio::test]
async fn the_post_auth_lookup_keeps_ids_the_token_response_lacks() {
    let app = spawn_app_with_provider_app("mock-nested").await;
    let url = app.start_flow("mock-nested").await;
    app.provider
        .script_token_response(StatusCode::OK, slack_style_answer());
    assert_eq!(app.finish_flow(&url).await.status(), StatusCode::OK);

    assert_eq!(app.provider.me_tokens(), ["xoxp-user-token"]);
    let connection = app.only_connection_for("g").await;
    let metadata = &connection["providerMetadata"];
    assert_eq!(metadata["cloudId"]["value"], "cloud-for-xoxp-user-token");
    assert_eq!(metadata["cloudId"]["source"], "provider");
    assert_eq!(metadata["siteUrl"]["value"], "https://site.example");
}

#[tokio::test]
async fn default_scopes_fill_in_for_an_app_without_scopes() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            &app.project_url("/provider-apps"),
            &json!({"provider": "mock-nested", "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let url = app.start_flow("mock-nested").await;
    assert_eq!(query_param(&url, "scope").as_deref(), Some("chat:write"));
}

#[tokio::test]
async fn required_scopes_are_always_asked_for() {
    let app = spawn_app_with_provider_app("mock").await;
    let url = app.start_flow("mock").await;
    // The mock requires `read`; the app asks for `write`.
    assert_eq!(query_param(&url, "scope").as_deref(), Some("read write"));
}

#[tokio::test]
async fn a_providers_file_entry_overrides_the_shipped_one_of_that_name() {
    let app = crate::helpers::spawn_app_with(|config| {
        // Point the shipped `hubspot` entry at the mock provider.
        let base = crate::helpers::mock_oauth_base(config);
        let hubspot = format!(
            "\n[providers.hubspot]\ndisplayName = \"HubSpot (local double)\"\ncategory = \"crm\"\n\
             authSchemes = [\"oauth2/authorizationCode\"]\n[providers.hubspot.oauth2]\n\
             authorizeUrl = \"{base}/authorize\"\ntokenUrl = \"{base}/token\"\n"
        );
        crate::helpers::add_providers(config, &hubspot);
    })
    .await;
    let info: Value = app.get_json(&app.url("/v1/providers/hubspot")).await;
    assert_eq!(info["displayName"], "HubSpot (local double)");
    app.create_provider_app("hubspot").await;
    let url = app.start_flow("hubspot").await;
    assert!(url.starts_with(&app.provider.base), "{url}");
    assert_eq!(app.finish_flow(&url).await.status(), StatusCode::OK);
    assert_eq!(app.only_connection_for("g").await["provider"], "hubspot");
}
