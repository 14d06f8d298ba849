//! Requests with many faults at once, each answered with one problem whose
//! `issues[]` is compared whole (names, values, details, locations, order)
//! with a reviewed snapshot. The request bodies are parsed into the
//! domain's commands in one step; these snapshots hold that step to the
//! problems the API has always answered, fault for fault.

use crate::connect_page::{create_session, prepare, EMBEDDER};
use crate::helpers::{expect_problem, spawn_app};
use insta::assert_json_snapshot;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

/// The problem of a refused request, with its per-request fields redacted.
async fn refused(response: Response) -> Value {
    let mut body = expect_problem(response, StatusCode::BAD_REQUEST).await;
    body["requestId"] = json!("[request id]");
    body["time"] = json!("[time]");
    body
}

#[tokio::test]
async fn a_generate_body_wrong_everywhere_names_every_fault_in_order() {
    let app = spawn_app().await;
    let body = json!({
        "provider": "mock-workspace", "groupRef": " ", "consumerName": "a\u{1}b",
        "providerWorkspaceRef": "x\u{202e}",
        "providerMetadata": {"workspace": {"value": "other"}, "accountId": {"value": "bad\u{7}"}},
        "apiKey": "", "basicAuth": {"username": ""}, "oauth2AuthorizationCode": {},
        "oauth2PasswordCredentials": {"clientId": " "},
    });
    assert_json_snapshot!("generate_faults", refused(app.generate(&body).await).await);
    let custom = json!({"provider": "mock-custom", "groupRef": "g", "consumerRef": "c",
                        "customAuth": {"password": "x", "apiKey": ""}});
    assert_json_snapshot!(
        "generate_custom_faults",
        refused(app.generate(&custom).await).await
    );
    let unknown = json!({"provider": "nope", "consumerRef": "c", "groupName": " ",
                         "oauth2ClientCredentials": {"clientSecret": ""}});
    assert_json_snapshot!(
        "generate_unknown_provider_faults",
        refused(app.generate(&unknown).await).await
    );
    let two = json!({"provider": "mock-custom", "groupRef": "g", "consumerRef": "c",
                     "apiKey": "k", "customAuth": {"nope": "x"}, "providerWorkspaceRef": "w"});
    assert_json_snapshot!(
        "generate_two_schemes",
        refused(app.generate(&two).await).await
    );
    let none = json!({"provider": "mock-open", "groupRef": "g", "consumerRef": "c",
                      "providerMetadata": {"workspace": {"value": "w"}}});
    let response = app.generate(&none).await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "a provider without auth"
    );
    let unsupported = json!({"provider": "mock-basic", "groupRef": "g", "consumerRef": "c",
                             "basicAuth": {"username": "u", "password": ""}});
    assert_json_snapshot!(
        "generate_unsupported_scheme",
        refused(app.generate(&unsupported).await).await
    );
}

#[tokio::test]
async fn an_update_body_wrong_everywhere_names_every_fault_in_order() {
    let app = spawn_app().await;
    let id = app.api_key_connection("g").await;
    let url = app.project_url(&format!("/connections/{id}"));
    let body = json!({
        "updateMask": ["basicAuth", "nope", "providerWorkspaceRef", "providerMetadata", "apiKey"],
        "connection": {"basicAuth": {"username": ""}, "apiKey": "",
                       "providerMetadata": {"x": {"value": "a\u{1}"}}},
    });
    assert_json_snapshot!(
        "update_faults",
        refused(app.patch_json(&url, &body).await).await
    );
    let other = json!({
        "updateMask": ["oauth2ClientCredentials", "providerWorkspaceRef"],
        "connection": {"oauth2ClientCredentials": {"clientId": "i"}, "providerWorkspaceRef": "w\u{7}"},
    });
    assert_json_snapshot!(
        "update_other_scheme",
        refused(app.patch_json(&url, &other).await).await
    );
    let inputs = json!({
        "updateMask": ["providerMetadata"],
        "connection": {"providerMetadata": {"region": {"value": "eu"}}},
    });
    assert_json_snapshot!(
        "update_unknown_metadata",
        refused(app.patch_json(&url, &inputs).await).await
    );
    let empty = json!({"updateMask": [], "connection": {}});
    assert_json_snapshot!(
        "update_empty_mask",
        refused(app.patch_json(&url, &empty).await).await
    );
}

#[tokio::test]
async fn an_oauth_connect_body_wrong_everywhere_names_every_fault_in_order() {
    let app = spawn_app().await;
    let body = json!({
        "provider": "mock-custom", "groupRef": "x".repeat(300), "consumerRef": "",
        "groupName": "\u{200b}", "providerMetadata": {"workspace": {"value": " "}},
    });
    let response = app.post_json(&app.url("/v1/oauth-connect"), &body).await;
    assert_json_snapshot!("oauth_connect_faults", refused(response).await);
    let workspace = json!({
        "projectIdOrName": app.project_id, "provider": "mock-workspace",
        "groupRef": "g", "consumerRef": "c", "providerWorkspaceRef": "Not A Tenant",
        "providerMetadata": {"accountId": {"value": "12ab"}, "region": {"value": "eu"}},
    });
    let response = app
        .post_json(&app.url("/v1/oauth-connect"), &workspace)
        .await;
    assert_json_snapshot!("oauth_connect_input_faults", refused(response).await);
}

#[tokio::test]
async fn a_connect_session_body_wrong_everywhere_names_every_fault_in_order() {
    let app = spawn_app().await;
    prepare(&app).await;
    let body = json!({
        "providers": ["nope", "mock-custom", "mock-basic", "mock"], "groupRef": "",
        "groupName": "x\u{200b}", "returnUrl": "https://evil.example/x",
        "parentOrigin": "ftp://x", "expiresInSeconds": 5,
    });
    assert_json_snapshot!(
        "connect_session_faults",
        refused(create_session(&app, body).await).await
    );
    let id = app.api_key_connection("g").await;
    let reauthorize = json!({
        "connectionId": id, "groupRef": "other", "providers": ["mock"],
        "returnUrl": format!("{EMBEDDER}/done#frag"),
    });
    assert_json_snapshot!(
        "connect_session_reauthorize_faults",
        refused(create_session(&app, reauthorize).await).await
    );
    let mismatched = json!({"connectionId": id, "providers": ["mock-basic", "mock"],
                            "consumerRef": "someone-else", "groupName": "\u{202e}"});
    assert_json_snapshot!(
        "connect_session_reauthorize_mismatch",
        refused(create_session(&app, mismatched).await).await
    );
    let too_many: Vec<String> = (0..51).map(|i| format!("p{i}")).collect();
    let many = json!({"providers": too_many, "groupRef": "g", "consumerRef": "c"});
    assert_json_snapshot!(
        "connect_session_too_many_providers",
        refused(create_session(&app, many).await).await
    );
    let unknown = json!({"connectionId": "no-such-connection", "consumerRef": "c",
                         "expiresInSeconds": 99999});
    assert_json_snapshot!(
        "connect_session_unknown_connection",
        refused(create_session(&app, unknown).await).await
    );
}

#[tokio::test]
async fn a_connect_page_start_wrong_everywhere_names_every_fault_in_order() {
    let app = spawn_app().await;
    prepare(&app).await;
    let response = create_session(
        &app,
        json!({"providers": ["mock", "mock-workspace"], "groupRef": "g", "consumerRef": "c"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let session: Value = response.json().await.unwrap();
    let token = session["token"].as_str().unwrap();
    let start = |body: Value| {
        app.client
            .post(app.url("/connect/api/start"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let body = json!({
        "provider": "mock-workspace", "providerWorkspaceRef": "Not A Tenant!",
        "providerMetadata": {"workspace": {"value": "zzz"}, "accountId": {"value": "12ab"},
                             "blank": {"value": " "}},
    });
    assert_json_snapshot!(
        "connect_start_faults",
        refused(start(body).await.unwrap()).await
    );
    let not_offered = json!({"provider": "mock-basic"});
    assert_json_snapshot!(
        "connect_start_not_offered",
        refused(start(not_offered).await.unwrap()).await
    );
}

#[tokio::test]
async fn provider_app_bodies_wrong_everywhere_name_every_fault_in_order() {
    let app = spawn_app().await;
    let url = app.project_url("/provider-apps");
    let body = json!({
        "provider": "mock-custom", "clientId": " ", "scopes": ["ok", "a\u{1}"],
        "externalRef": "\u{202e}x",
        "metadata": {"authQueryParams": {"state": ["x"], "prompt": ["a\u{7}"]},
                     "providerParams": {"p": "\u{200b}"}},
    });
    assert_json_snapshot!(
        "provider_app_create_faults",
        refused(app.post_json(&url, &body).await).await
    );
    let id = app.create_provider_app("mock").await;
    let patch = json!({
        "clientId": "", "clientSecret": "", "isDefault": false, "externalRef": "\u{7}",
        "metadata": {"authQueryParams": {"client_id": ["x"]}},
    });
    let response = app
        .patch_json(&app.project_url(&format!("/provider-apps/{id}")), &patch)
        .await;
    assert_json_snapshot!("provider_app_update_faults", refused(response).await);
    let masked = json!({"updateMask": ["clientId", "nope", "provider", "scopes"],
                        "providerApp": {"scopes": ["\u{1}"]}});
    let response = app
        .patch_json(&app.project_url(&format!("/provider-apps/{id}")), &masked)
        .await;
    assert_json_snapshot!("provider_app_mask_faults", refused(response).await);
    let other_provider = json!({"updateMask": ["provider", "clientSecret"],
                                "providerApp": {"provider": "mock-basic", "clientSecret": ""}});
    let response = app
        .patch_json(
            &app.project_url(&format!("/provider-apps/{id}")),
            &other_provider,
        )
        .await;
    assert_json_snapshot!("provider_app_other_provider", refused(response).await);
}

#[tokio::test]
async fn a_webhook_body_wrong_everywhere_names_every_fault_in_order() {
    let app = spawn_app().await;
    let body = json!({
        "url": "ftp://hooks.example/x", "events": ["connection.created", "nope", ""],
        "description": "d".repeat(600),
    });
    let response = app.post_json(&app.project_url("/webhooks"), &body).await;
    assert_json_snapshot!("webhook_faults", refused(response).await);
    let missing = app
        .post_json(&app.project_url("/webhooks"), &json!({"events": []}))
        .await;
    assert_json_snapshot!("webhook_missing_url", refused(missing).await);
}
