//! The token lifecycle: refresh on read, the background refresher, rotation,
//! classified failures and revocation, against the counting mock provider.

use crate::helpers::{spawn_app_with, spawn_app_with_provider_app, TestApp};
use crate::mock_provider::{Rotation, CLIENT_ID, CLIENT_SECRET, PASSWORD, USERNAME};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// Imports authorization-code tokens for group `g` whose access token
/// expires `expires_in_secs` from now (negative: already expired).
pub(crate) async fn import_expiring(app: &TestApp, group: &str, expires_in_secs: i64) -> String {
    app.provider.issue_refresh_token("rt-original");
    let expires_at = chrono::Utc::now() + chrono::Duration::seconds(expires_in_secs);
    let issued_at = chrono::Utc::now() - chrono::Duration::seconds(3600);
    app.generated_id(
        &json!({"provider": "mock", "groupRef": group, "consumerRef": "c",
            "oauth2AuthorizationCode": {
                "accessToken": {"token": "at-old", "expiresAt": expires_at.to_rfc3339(),
                                "issuedAt": issued_at.to_rfc3339()},
                "refreshToken": {"token": "rt-original"},
                "scopes": ["read"]}}),
    )
    .await
}

/// Waits up to 10 s for `check` to hold.
async fn eventually(mut check: impl FnMut() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("condition not reached within 10 s");
}

/// Event types of a connection, oldest first.
async fn event_types(app: &TestApp, id: &str) -> Vec<String> {
    let mut types = app.connection_event_types(id).await;
    types.dedup();
    types
}

async fn connection(app: &TestApp, id: &str) -> Value {
    app.get(&app.project_url(&format!("/connections/{id}")))
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn fifty_parallel_reads_of_an_expired_token_make_one_token_call() {
    let app = spawn_app_with_provider_app("mock").await;
    app.provider.set_delay(Duration::from_millis(200));
    let id = import_expiring(&app, "g", -60).await;

    let reads = (0..50).map(|_| app.connection_with_credentials(&id));
    let results = futures::future::join_all(reads).await;

    assert_eq!(app.provider.calls_with_grant("refresh_token"), 1);
    for full in &results {
        let tokens = &full["oauth2AuthorizationCode"];
        assert_eq!(tokens["accessToken"]["token"], "refreshed-access-1");
        assert_eq!(tokens["refreshToken"]["token"], "rotated-1");
    }
    assert_eq!(app.provider.refresh_tokens_presented(), ["rt-original"]);
    assert_eq!(
        event_types(&app, &id).await,
        ["connection.created", "connection.refreshed"]
    );
}

#[tokio::test]
async fn a_rotated_refresh_token_is_stored_and_used_for_the_next_refresh() {
    let app = spawn_app_with_provider_app("mock").await;
    // Two-second tokens: the refresher renews each one a second in.
    app.provider.set_expires_in(2);
    let id = import_expiring(&app, "g", -60).await;

    let first = app.connection_with_credentials(&id).await;
    let rotated = first["oauth2AuthorizationCode"]["refreshToken"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(rotated.starts_with("rotated-"), "{first}");
    let provider = app.provider.clone();
    eventually(|| provider.refresh_tokens_presented().len() >= 2).await;
    let presented = app.provider.refresh_tokens_presented();
    assert_eq!(presented[0], "rt-original");
    assert_eq!(
        presented[1], rotated,
        "the stored successor is what comes next"
    );
    let later = connection(&app, &id).await;
    assert_eq!(later["status"], "working");
    assert!(later.get("refreshError").is_none(), "{later}");
}

#[tokio::test]
async fn the_refresher_renews_tokens_before_they_expire() {
    let app = spawn_app_with(|config| {
        config.refresh.read_skew = Duration::ZERO;
    })
    .await;
    app.create_provider_app("mock").await;
    // Expires in 10 minutes; the 5-minute default lead makes it due now.
    let id = import_expiring(&app, "g", 240).await;
    let provider = app.provider.clone();
    eventually(|| provider.calls_with_grant("refresh_token") == 1).await;
    // The mock counts the call when it arrives; the new token is stored
    // once its answer is back.
    let mut token = Value::Null;
    for _ in 0..500 {
        let full = app.connection_with_credentials(&id).await;
        token = full["oauth2AuthorizationCode"]["accessToken"]["token"].clone();
        if token == "refreshed-access-1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(token, "refreshed-access-1");
    // An hour-long token is not due again for a long while.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.provider.calls_with_grant("refresh_token"), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn a_token_far_from_expiry_is_left_alone() {
    let app = spawn_app_with_provider_app("mock").await;
    let id = import_expiring(&app, "g", 7200).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let full = app.connection_with_credentials(&id).await;
    assert_eq!(
        full["oauth2AuthorizationCode"]["accessToken"]["token"],
        "at-old"
    );
    assert_eq!(app.provider.token_calls(), 0);
}

#[tokio::test]
async fn invalid_grant_parks_the_connection_until_oauth_update_reauthorizes_it() {
    let app = spawn_app_with_provider_app("mock").await;
    app.provider.script_token_response(
        StatusCode::BAD_REQUEST,
        json!({"error": "invalid_grant", "error_description": "token revoked by user"}),
    );
    let id = import_expiring(&app, "g", -60).await;

    let read = app.connection_with_credentials(&id).await;
    assert_eq!(read["status"], "bad_credentials");
    let error = &read["refreshError"];
    assert_eq!(error["class"], "grant_rejected");
    assert_eq!(error["error"], "invalid_grant");
    assert_eq!(error["description"], "token revoked by user");
    assert!(error.get("retryAt").is_none(), "{error}");

    // Neither the refresher nor further reads call the provider again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.connection_with_credentials(&id).await;
    assert_eq!(app.provider.calls_with_grant("refresh_token"), 1);

    app.reauthorize(&id).await;
    let healed = connection(&app, &id).await;
    assert_eq!(healed["status"], "working");
    assert!(healed.get("refreshError").is_none(), "{healed}");
    assert_eq!(
        event_types(&app, &id).await,
        [
            "connection.created",
            "connection.refresh_failed",
            "connection.status_changed",
            "connection.reauthorized",
            "connection.status_changed",
        ]
    );
}

#[tokio::test]
async fn provider_outages_back_off_keep_the_connection_working_and_then_refresh() {
    // Backoffs of 125-250, 250-500 and 500-1000 ms: after the second
    // failure the error stays readable for at least 750 ms, two retries away.
    let app = spawn_app_with(|config| {
        config.refresh.read_skew = Duration::ZERO;
        config.refresh.backoff_base = Duration::from_millis(250);
    })
    .await;
    app.create_provider_app("mock").await;
    for _ in 0..3 {
        app.provider
            .script_token_response(StatusCode::INTERNAL_SERVER_ERROR, json!({"detail": "down"}));
    }
    let id = import_expiring(&app, "g", 240).await;
    let provider = app.provider.clone();
    eventually(|| provider.calls_with_grant("refresh_token") >= 2).await;
    let during = connection(&app, &id).await;
    assert_eq!(during["status"], "working");
    assert_eq!(during["refreshError"]["class"], "provider_unavailable");
    assert_eq!(during["refreshError"]["error"], "http_500");
    assert!(during["refreshError"]["retryAt"].is_string());

    eventually(|| provider.calls_with_grant("refresh_token") == 4).await;
    // The backoff doubles with each failure: the third waits 500-1000 ms
    // where the first waited 125-250 ms.
    let calls = app.provider.token_requests();
    let third_wait = calls[3].at - calls[2].at;
    assert!(
        third_wait >= Duration::from_millis(500),
        "waited {third_wait:?} after the third failure"
    );
    let app_ref = &app;
    let mut after = Value::Null;
    for _ in 0..100 {
        after = connection(app_ref, &id).await;
        if after.get("refreshError").is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(after["status"], "working");
    assert!(after.get("refreshError").is_none(), "{after}");
    let full = app.connection_with_credentials(&id).await;
    assert_eq!(
        full["oauth2AuthorizationCode"]["accessToken"]["token"],
        "refreshed-access-4"
    );
}

#[tokio::test]
async fn a_rate_limit_is_classified_and_honoured_by_reads() {
    let app = spawn_app_with(|config| {
        config.refresh.backoff_base = Duration::from_secs(10);
    })
    .await;
    app.create_provider_app("mock").await;
    app.provider
        .script_token_response(StatusCode::TOO_MANY_REQUESTS, json!({"error": "slow_down"}));
    let id = import_expiring(&app, "g", -60).await;
    let read = app.connection_with_credentials(&id).await;
    assert_eq!(read["status"], "working");
    assert_eq!(read["refreshError"]["class"], "rate_limited");
    // Backing off: further reads hand out what is stored without calling.
    app.connection_with_credentials(&id).await;
    assert_eq!(app.provider.calls_with_grant("refresh_token"), 1);
}

#[tokio::test]
async fn client_credentials_connections_get_a_new_token_when_theirs_expires() {
    let app = spawn_app_with(|config| {
        config.refresh.read_skew = Duration::ZERO;
    })
    .await;
    app.provider.set_expires_in(2);
    let id = app
        .generated_id(
            &json!({"provider": "mock", "groupRef": "g", "consumerRef": "c",
            "oauth2ClientCredentials": {"clientId": "mock-client", "clientSecret": "mock-secret"}}),
        )
        .await;
    // Wait for the renewed token to be stored, not just asked for.
    let db = app.db().await;
    let mut version = 0;
    for _ in 0..500 {
        (version,) = sqlx::query_as("SELECT credentials_version FROM connections WHERE id = $1")
            .bind(&id)
            .fetch_one(&db)
            .await
            .unwrap();
        if version > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(version > 0, "no renewed token was stored");
    assert!(app.provider.calls_with_grant("client_credentials") >= 2);
    let full = app.connection_with_credentials(&id).await;
    assert_ne!(
        full["oauth2ClientCredentials"]["accessToken"]["token"],
        "cc-access-1"
    );
}

#[tokio::test]
async fn deleting_a_connection_revokes_its_tokens_at_the_provider() {
    let app = spawn_app_with_provider_app("mock").await;
    let id = app.connect_mock("g", "c").await;
    let response = app
        .delete(&app.project_url(&format!("/connections/{id}")))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let provider = app.provider.clone();
    eventually(|| provider.revoked() == ["refresh-1"]).await;
}

#[tokio::test]
async fn a_provider_that_sends_no_new_refresh_token_leaves_the_old_one_in_use() {
    let app = spawn_app_with_provider_app("mock").await;
    app.provider.set_rotation(Rotation::None);
    // Two-second tokens: the refresher renews again a second in.
    app.provider.set_expires_in(2);
    let id = import_expiring(&app, "g", -60).await;

    let first = app.connection_with_credentials(&id).await;
    let tokens = &first["oauth2AuthorizationCode"];
    assert_eq!(tokens["accessToken"]["token"], "refreshed-access-1");
    assert_eq!(tokens["refreshToken"]["token"], "rt-original", "{first}");
    let provider = app.provider.clone();
    eventually(|| provider.refresh_tokens_presented().len() >= 2).await;
    assert_eq!(
        app.provider.refresh_tokens_presented()[..2],
        ["rt-original", "rt-original"]
    );
    let later = connection(&app, &id).await;
    assert_eq!(later["status"], "working");
    assert!(later.get("refreshError").is_none(), "{later}");
}

#[tokio::test]
async fn a_provider_that_revokes_a_grant_on_reuse_never_sees_a_retired_token() {
    let app = spawn_app_with_provider_app("mock").await;
    app.provider.set_rotation(Rotation::ReuseRevokesGrant);
    app.provider.set_expires_in(1);
    let id = import_expiring(&app, "g", -60).await;
    // Reads racing the refresher through several rotations.
    for _ in 0..4 {
        let reads = (0..8).map(|_| app.connection_with_credentials(&id));
        futures::future::join_all(reads).await;
        let provider = app.provider.clone();
        let before = provider.calls_with_grant("refresh_token");
        eventually(|| provider.calls_with_grant("refresh_token") > before).await;
    }
    let presented = app.provider.refresh_tokens_presented();
    let distinct: std::collections::HashSet<&String> = presented.iter().collect();
    assert_eq!(distinct.len(), presented.len(), "{presented:?}");
    let full = app.connection_with_credentials(&id).await;
    assert_eq!(full["status"], "working", "{full}");
    let stored = full["oauth2AuthorizationCode"]["refreshToken"]["token"]
        .as_str()
        .unwrap();
    assert!(app.provider.refresh_token_is_live(stored), "{full}");
}

#[tokio::test]
async fn retry_after_from_the_provider_holds_the_next_attempt_back() {
    // A 20 ms backoff would retry at once; the provider asks for 2 s.
    let app = spawn_app_with(|config| {
        config.refresh.read_skew = Duration::ZERO;
    })
    .await;
    app.create_provider_app("mock").await;
    app.provider.script_token_response_with_headers(
        StatusCode::SERVICE_UNAVAILABLE,
        &[("retry-after", "2")],
        json!({"detail": "maintenance"}),
    );
    let id = import_expiring(&app, "g", 240).await;
    let provider = app.provider.clone();
    eventually(|| provider.calls_with_grant("refresh_token") == 1).await;
    // The provider has answered; grantd stores the failure a moment later.
    let mut during = Value::Null;
    for _ in 0..500 {
        during = connection(&app, &id).await;
        if !during["refreshError"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(during["refreshError"]["error"], "http_503", "{during}");
    let failed_at: chrono::DateTime<chrono::Utc> = during["refreshError"]["at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let retry_at: chrono::DateTime<chrono::Utc> = during["refreshError"]["retryAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        retry_at - failed_at >= chrono::Duration::milliseconds(1990),
        "retry at {retry_at}, failed at {failed_at}"
    );

    eventually(|| provider.calls_with_grant("refresh_token") == 2).await;
    let calls = app.provider.token_requests();
    let gap = calls[1].at - calls[0].at;
    assert!(gap >= Duration::from_secs(2), "retried after {gap:?}");
    // The provider has answered; grantd stores the answer a moment later
    // (under load, after this test could look).
    let mut stored = Value::Null;
    for _ in 0..500 {
        let full = app.connection_with_credentials(&id).await;
        stored = full["oauth2AuthorizationCode"]["accessToken"]["token"].clone();
        if stored == "refreshed-access-2" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stored, "refreshed-access-2");
}

#[tokio::test]
async fn a_reauthorization_during_a_refresh_wins_over_the_refreshed_tokens() {
    let app = spawn_app_with_provider_app("mock").await;
    // The scheduled refresh stays at the provider while the user re-authorizes.
    app.provider
        .set_grant_delay("refresh_token", Duration::from_millis(1500));
    let id = import_expiring(&app, "g", 240).await;
    let provider = app.provider.clone();
    eventually(|| provider.calls_with_grant("refresh_token") == 1).await;
    app.reauthorize(&id).await;
    assert_eq!(
        event_types(&app, &id).await,
        ["connection.created", "connection.reauthorized"]
    );

    // The refresh answers after the re-authorization was stored: its write
    // is fenced off by the credentials version, and it lets go of the lease.
    let db = app.db().await;
    let mut lease: Option<i64> = Some(0);
    for _ in 0..250 {
        (lease,) = sqlx::query_as("SELECT refresh_lease_until FROM connections WHERE id = $1")
            .bind(&id)
            .fetch_one(&db)
            .await
            .unwrap();
        if lease.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(lease, None, "the refresh did not finish");
    let full = app.connection_with_credentials(&id).await;
    let tokens = &full["oauth2AuthorizationCode"];
    assert_eq!(tokens["accessToken"]["token"], "access-2", "{full}");
    assert_eq!(tokens["refreshToken"]["token"], "refresh-2", "{full}");
    assert_eq!(full["status"], "working");
    assert_eq!(
        event_types(&app, &id).await,
        ["connection.created", "connection.reauthorized"]
    );
}

#[tokio::test]
async fn a_read_refreshes_a_token_that_expires_within_the_read_skew_and_leaves_a_later_one() {
    // The refresher stays idle: only reads refresh here.
    let app = spawn_app_with(|config| {
        config.refresh.tick = Duration::from_secs(3600);
    })
    .await;
    app.create_provider_app("mock").await;
    // Ten seconds left, within the 30 s skew: the reader would get a token
    // that dies in its hands, so the read refreshes first.
    let soon = import_expiring(&app, "soon", 10).await;
    let full = app.connection_with_credentials(&soon).await;
    assert_eq!(
        full["oauth2AuthorizationCode"]["accessToken"]["token"], "refreshed-access-1",
        "{full}"
    );
    // Ninety seconds left: handed out as it is.
    let later = import_expiring(&app, "later", 90).await;
    let full = app.connection_with_credentials(&later).await;
    assert_eq!(
        full["oauth2AuthorizationCode"]["accessToken"]["token"],
        "at-old"
    );
    assert_eq!(app.provider.calls_with_grant("refresh_token"), 1);
}

#[tokio::test]
async fn a_password_connection_without_a_refresh_token_is_renewed_by_logging_in_again() {
    let app = spawn_app_with(|config| {
        config.refresh.read_skew = Duration::ZERO;
    })
    .await;
    // The first login hands out no refresh token, and a token that lives
    // a second (due for renewal halfway through).
    app.provider.script_token_response(
        StatusCode::OK,
        json!({"access_token": "pw-first", "expires_in": 1}),
    );
    let created = app
        .generate(
            &json!({"provider": "mock", "groupRef": "g", "consumerRef": "c",
            "oauth2PasswordCredentials": {"username": USERNAME, "password": PASSWORD,
                                          "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let provider = app.provider.clone();
    eventually(|| provider.calls_with_grant("password") == 2).await;
    let mut token = Value::Null;
    for _ in 0..500 {
        let full = app.connection_with_credentials(&id).await;
        token = full["oauth2PasswordCredentials"]["accessToken"]["token"].clone();
        if token != "pw-first" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(token, "pw-access-2", "renewed by the password grant");
    let relogin = app.provider.token_requests().pop().unwrap();
    assert_eq!(
        relogin.params.get("username").map(String::as_str),
        Some(USERNAME)
    );
    assert_eq!(app.provider.calls_with_grant("refresh_token"), 0);
    app.shutdown().await;
}
