//! getConnection's query as Ampersand defines it: `includeCreds`,
//! `includeRefreshToken` and `refresh=force|ifExpired` (grantd's
//! `includeCredentials` stays as another name of `includeCreds`).

use crate::helpers::{
    expect_problem, issue_names, spawn_app, spawn_app_with, spawn_app_with_provider_app, TestApp,
};
use crate::refresh::import_expiring;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

async fn read(app: &TestApp, id: &str, query: &str) -> Value {
    let response = app
        .get(&app.project_url(&format!("/connections/{id}?{query}")))
        .await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body
}

#[tokio::test]
async fn include_creds_shows_the_access_token_and_only_include_refresh_token_adds_the_refresh_token(
) {
    let app = spawn_app_with_provider_app("mock").await;
    let id = import_expiring(&app, "g", 3600).await;

    for query in ["includeCreds=true", "includeCredentials=true"] {
        let tokens = read(&app, &id, query).await["oauth2AuthorizationCode"].clone();
        assert_eq!(tokens["accessToken"]["token"], "at-old", "{query}");
        assert_eq!(tokens["scopes"], json!(["read"]), "{query}");
        assert!(tokens.get("refreshToken").is_none(), "{query}: {tokens}");
    }
    let full = read(&app, &id, "includeRefreshToken=true").await;
    assert_eq!(
        full["oauth2AuthorizationCode"]["refreshToken"]["token"],
        "rt-original"
    );
    let none = read(&app, &id, "includeCreds=false").await;
    assert!(none.get("oauth2AuthorizationCode").is_none(), "{none}");
}

#[tokio::test]
async fn refresh_force_renews_a_fresh_token_and_concurrent_forced_reads_share_one_provider_call() {
    let app = spawn_app_with_provider_app("mock").await;
    let id = import_expiring(&app, "g", 3600).await;
    // Hold the provider's answer so that every read below finds the old
    // token and joins the one refresh in flight.
    app.provider
        .set_grant_delay("refresh_token", Duration::from_millis(500));

    let reads = (0..5).map(|_| read(&app, &id, "refresh=force&includeCreds=true"));
    let results = futures::future::join_all(reads).await;

    assert_eq!(app.provider.calls_with_grant("refresh_token"), 1);
    for body in &results {
        assert_eq!(
            body["oauth2AuthorizationCode"]["accessToken"]["token"],
            "refreshed-access-1"
        );
    }
    // A later forced read renews again: force means now.
    app.provider
        .set_grant_delay("refresh_token", Duration::from_millis(0));
    read(&app, &id, "refresh=force").await;
    assert_eq!(app.provider.calls_with_grant("refresh_token"), 2);
}

#[tokio::test]
async fn refresh_if_expired_renews_only_an_expired_token() {
    // The background refresher stays out of the way: only the reads refresh.
    let app = spawn_app_with(|config| config.refresh.tick = Duration::from_secs(3600)).await;
    app.create_provider_app("mock").await;
    let fresh = import_expiring(&app, "g", 3600).await;
    let body = read(&app, &fresh, "refresh=ifExpired&includeCreds=true").await;
    assert_eq!(
        body["oauth2AuthorizationCode"]["accessToken"]["token"],
        "at-old"
    );
    assert_eq!(app.provider.calls_with_grant("refresh_token"), 0);

    let expired = import_expiring(&app, "g", -60).await;
    // Without credentials asked for: the refresh still happens.
    read(&app, &expired, "refresh=ifExpired").await;
    assert_eq!(app.provider.calls_with_grant("refresh_token"), 1);
}

#[tokio::test]
async fn an_unknown_refresh_mode_is_a_400_naming_refresh() {
    let app = spawn_app().await;
    let id = import_expiring(&app, "g", 3600).await;
    let response = app
        .get(&app.project_url(&format!("/connections/{id}?refresh=always")))
        .await;
    assert_eq!(
        issue_names(&expect_problem(response, StatusCode::BAD_REQUEST).await),
        ["refresh"]
    );
}
