//! Who may call: API keys, bearer JWTs signed by a project's registered key,
//! and the wall between projects (another project's things answer 404).

use crate::helpers::{
    expect_problem, problem, spawn_app, spawn_app_with, spawn_app_with_provider_app, TestApp,
};
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::SigningKey;
use grantd::domain::{JwtAlgorithm, Scope, Scopes};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

/// An Ed25519 keypair as PEM: (private PKCS#8, public SPKI).
fn ed25519_keypair() -> (String, String) {
    let signing = SigningKey::generate(&mut rand::rngs::OsRng);
    let private = signing.to_pkcs8_pem(Default::default()).unwrap();
    let public = signing
        .verifying_key()
        .to_public_key_pem(Default::default())
        .unwrap();
    (private.to_string(), public)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims grantd accepts by default: its public URL as audience, issued
/// now, valid five minutes. `overrides` replace them; a `null` removes one.
pub(crate) fn claims(app: &TestApp, overrides: Value) -> Value {
    let mut claims = json!({
        "aud": format!("{}/", app.address),
        "iat": now(),
        "exp": now() + 300,
        "sub": "backend",
    });
    let map = claims.as_object_mut().unwrap();
    for (name, value) in overrides.as_object().unwrap() {
        if value.is_null() {
            map.remove(name);
        } else {
            map.insert(name.clone(), value.clone());
        }
    }
    claims
}

/// Signs `claims` with EdDSA, naming `kid` in the header.
pub(crate) fn sign(private_pem: &str, kid: Option<&str>, claims: &Value) -> String {
    let header = Header {
        alg: Algorithm::EdDSA,
        kid: kid.map(str::to_owned),
        ..Default::default()
    };
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_ed_pem(private_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// A token signed with the registered `kid-1` key, carrying the default
/// claims changed by `overrides`.
fn signed_token(app: &TestApp, private_pem: &str, overrides: Value) -> String {
    sign(private_pem, Some("kid-1"), &claims(app, overrides))
}

/// Registers a fresh key as `kid-1` for the app's project; returns its private PEM.
pub(crate) async fn register_jwt_key(app: &TestApp) -> String {
    let (private, public) = ed25519_keypair();
    register_public_key(app, &public).await;
    private
}

/// Registers an EdDSA public key as `kid-1` for the app's project.
async fn register_public_key(app: &TestApp, public_pem: &str) {
    app.grantd
        .add_jwt_key(
            &grantd::domain::Actor::cli(),
            &app.project_id,
            JwtAlgorithm::EdDsa,
            public_pem,
            Some("kid-1".into()),
        )
        .await
        .unwrap();
}

async fn get_with_bearer(app: &TestApp, token: &str) -> Response {
    app.client
        .get(app.project_url("/connections"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Asserts a 401 problem that tells the caller how to authenticate.
async fn assert_unauthorized(response: Response) -> Value {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("Bearer"), "{challenge}");
    assert!(challenge.contains("X-Api-Key"), "{challenge}");
    let body = problem(response).await;
    assert_eq!(body["status"], 401);
    body
}

#[tokio::test]
async fn a_request_without_credentials_is_a_401_problem_with_a_challenge() {
    let app = spawn_app().await;
    let response = app.get_without_key(&app.project_url("/connections")).await;
    let body = assert_unauthorized(response).await;
    assert!(body["remedy"].as_str().unwrap().contains("X-Api-Key"));
}

#[tokio::test]
async fn oauth_connect_without_credentials_is_a_401_before_the_body_is_looked_at() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/v1/oauth-connect"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_unauthorized(response).await;
}

#[tokio::test]
async fn a_wrong_api_key_is_a_401() {
    let app = spawn_app().await;
    let response = app
        .get_with_key(&app.project_url("/connections"), "not-a-real-key")
        .await;
    assert_unauthorized(response).await;
}

#[tokio::test]
async fn the_projects_api_key_reads_its_own_project() {
    let app = spawn_app().await;
    let response = app.get_with_key(&app.project_url(""), &app.api_key).await;
    assert_eq!(response.status(), StatusCode::OK);
    let project: Value = response.json().await.unwrap();
    assert_eq!(project["id"], app.project_id.as_str());
    assert_eq!(project["name"], "acme");
}

#[tokio::test]
async fn a_revoked_api_key_is_a_401_while_the_projects_other_keys_still_work() {
    let app = spawn_app().await;
    let second = app
        .grantd
        .create_api_key(
            &grantd::domain::Actor::cli(),
            &app.project_id,
            "second",
            Scopes::all(),
        )
        .await
        .unwrap();
    let second_key = second.key.expose().to_owned();
    let url = app.project_url("/connections");
    assert_eq!(
        app.get_with_key(&url, &second_key).await.status(),
        StatusCode::OK
    );

    app.grantd
        .revoke_api_key(
            &grantd::domain::Actor::cli(),
            &app.project_id,
            &second.info.id,
        )
        .await
        .unwrap();
    assert_unauthorized(app.get_with_key(&url, &second_key).await).await;
    assert_eq!(
        app.get_with_key(&url, &app.api_key).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_unsupported_authorization_scheme_is_a_401() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.project_url("/connections"))
        .basic_auth("acme", Some(&app.api_key))
        .send()
        .await
        .unwrap();
    assert_unauthorized(response).await;
}

#[tokio::test]
async fn a_jwt_signed_by_a_registered_key_authenticates_as_its_project() {
    let app = spawn_app().await;
    let private = register_jwt_key(&app).await;
    let token = signed_token(&app, &private, json!({"scope": "connections:read manage"}));

    let response = get_with_bearer(&app, &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let list: Vec<Value> = response.json().await.unwrap();
    assert!(list.is_empty());

    // The same token may write, too: its scope says so.
    let response = app
        .client
        .post(app.project_url("/connections:generate"))
        .bearer_auth(&token)
        .json(&json!({"provider": "mock", "groupRef": "g", "consumerRef": "c", "apiKey": "k"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(app.connection_count().await, 1);
}

#[tokio::test]
async fn an_expired_jwt_is_a_401() {
    let app = spawn_app().await;
    let private = register_jwt_key(&app).await;
    let token = signed_token(
        &app,
        &private,
        json!({"exp": now() - 600, "iat": now() - 900}),
    );
    assert_unauthorized(get_with_bearer(&app, &token).await).await;
}

#[tokio::test]
async fn a_jwt_naming_an_unknown_kid_is_a_401() {
    let app = spawn_app().await;
    let private = register_jwt_key(&app).await;
    let token = sign(&private, Some("kid-unknown"), &claims(&app, json!({})));
    assert_unauthorized(get_with_bearer(&app, &token).await).await;
}

#[tokio::test]
async fn a_jwt_without_a_kid_is_a_401() {
    let app = spawn_app().await;
    let private = register_jwt_key(&app).await;
    let token = sign(&private, None, &claims(&app, json!({})));
    assert_unauthorized(get_with_bearer(&app, &token).await).await;
}

#[tokio::test]
async fn a_jwt_signed_by_another_key_under_a_registered_kid_is_a_401() {
    let app = spawn_app().await;
    register_jwt_key(&app).await;
    let (impostor, _) = ed25519_keypair();
    let token = sign(&impostor, Some("kid-1"), &claims(&app, json!({})));
    assert_unauthorized(get_with_bearer(&app, &token).await).await;
}

#[tokio::test]
async fn a_jwt_without_exp_is_a_401() {
    let app = spawn_app().await;
    let private = register_jwt_key(&app).await;
    let token = signed_token(&app, &private, json!({"exp": null}));
    assert_unauthorized(get_with_bearer(&app, &token).await).await;
}

#[tokio::test]
async fn a_jwt_claiming_hs256_with_the_public_key_as_secret_is_a_401() {
    // The algorithm-confusion attack: the public key is no secret.
    let app = spawn_app().await;
    let (_, public) = ed25519_keypair();
    register_public_key(&app, &public).await;
    let header = Header {
        alg: Algorithm::HS256,
        kid: Some("kid-1".into()),
        ..Default::default()
    };
    let token = jsonwebtoken::encode(
        &header,
        &claims(&app, json!({})),
        &EncodingKey::from_secret(public.as_bytes()),
    )
    .unwrap();
    assert_unauthorized(get_with_bearer(&app, &token).await).await;
}

#[tokio::test]
async fn a_malformed_bearer_token_is_a_401() {
    let app = spawn_app().await;
    register_jwt_key(&app).await;
    assert_unauthorized(get_with_bearer(&app, "not.a.jwt").await).await;
}

#[tokio::test]
async fn a_jwt_authenticates_only_for_the_project_that_registered_its_key() {
    let app = spawn_app().await;
    let private = register_jwt_key(&app).await;
    app.other_project().await;
    let token = signed_token(&app, &private, json!({}));
    let response = app
        .client
        .get(app.url("/v1/projects/globex/connections"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_projects_connection_is_not_found_under_the_callers_own_project() {
    let app = spawn_app().await;
    let connection = app.api_key_connection("org-a").await;
    let (_, other_key) = app.other_project().await;

    let url = app.url(&format!("/v1/projects/globex/connections/{connection}"));
    let response = app.get_with_key(&url, &other_key).await;
    assert_eq!(
        expect_problem(response, StatusCode::NOT_FOUND).await["status"],
        404
    );
}

#[tokio::test]
async fn every_path_of_another_project_answers_404_not_403() {
    let app = spawn_app().await;
    let connection = app.api_key_connection("org-a").await;
    let app_id = app.create_provider_app("mock").await;
    let (other_id, other_key) = app.other_project().await;
    assert_ne!(other_id, app.project_id);

    for path in [
        String::new(),
        "/connections".to_owned(),
        format!("/connections/{connection}"),
        format!("/connections/{connection}?includeCredentials=true"),
        "/groups".to_owned(),
        "/consumers".to_owned(),
        "/provider-apps".to_owned(),
        format!("/provider-apps/{app_id}"),
    ] {
        for project in [app.project_name.as_str(), app.project_id.as_str()] {
            let url = app.url(&format!("/v1/projects/{project}{path}"));
            let response = app.get_with_key(&url, &other_key).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "GET {url}");
            problem(response).await;
        }
    }

    let response = app
        .send_with_key(
            reqwest::Method::POST,
            &app.project_url("/connections:generate"),
            &other_key,
            Some(&json!({"provider": "mock", "groupRef": "g", "consumerRef": "c", "apiKey": "k"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = app
        .send_with_key(
            reqwest::Method::PATCH,
            &app.project_url(&format!("/connections/{connection}:oauth-update")),
            &other_key,
            Some(&json!({})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.connection_count().await, 1, "nothing was added to A");
}

#[tokio::test]
async fn oauth_connect_naming_another_project_is_a_404() {
    let app = spawn_app_with_provider_app("mock").await;
    let (_, other_key) = app.other_project().await;
    for project in [&app.project_id, &app.project_name] {
        let response = app.send_with_key(reqwest::Method::POST, &app.url("/v1/oauth-connect"), &other_key, Some(&json!({"projectId": project, "provider": "mock", "groupRef": "g", "consumerRef": "c"}))).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{project}");
        assert_eq!(problem(response).await["status"], 404);
    }
}

#[tokio::test]
async fn a_projects_connection_list_never_shows_another_projects_connections() {
    let app = spawn_app().await;
    let connection = app.api_key_connection("org-a").await;
    let (_, other_key) = app.other_project().await;

    let response = app
        .get_with_key(&app.url("/v1/projects/globex/connections"), &other_key)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let list: Vec<Value> = response.json().await.unwrap();
    assert!(
        list.iter().all(|c| c["id"] != connection.as_str()),
        "{list:?}"
    );
    assert!(list.is_empty(), "{list:?}");

    // Even asked for A's group by name.
    let response = app
        .get_with_key(
            &app.url("/v1/projects/globex/connections?groupRef=org-a"),
            &other_key,
        )
        .await;
    let list: Vec<Value> = response.json().await.unwrap();
    assert!(list.is_empty(), "{list:?}");
}

#[tokio::test]
async fn deleting_another_projects_connection_is_a_404_and_leaves_it_in_place() {
    let app = spawn_app().await;
    let connection = app.api_key_connection("org-a").await;
    let (_, other_key) = app.other_project().await;

    for project in ["globex", app.project_name.as_str()] {
        let response = app
            .send_with_key(
                reqwest::Method::DELETE,
                &app.url(&format!("/v1/projects/{project}/connections/{connection}")),
                &other_key,
                None,
            )
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{project}");
        problem(response).await;
    }
    let response = app
        .get(&app.project_url(&format!("/connections/{connection}")))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.connection_count().await, 1);
}

#[tokio::test]
async fn a_connection_made_through_the_oauth_dance_is_invisible_to_another_project() {
    let app = spawn_app_with_provider_app("mock").await;
    let connection = app.connect_mock("org-a", "user-a").await;
    let (_, other_key) = app.other_project().await;

    let response = app
        .get_with_key(
            &app.url(&format!(
                "/v1/projects/globex/connections/{connection}?includeCredentials=true"
            )),
            &other_key,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = app
        .get_with_key(
            &app.project_url(&format!(
                "/connections/{connection}?includeCredentials=true"
            )),
            &other_key,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(!response.text().await.unwrap().contains("access-"));
}

#[tokio::test]
async fn another_projects_provider_app_cannot_be_read_changed_or_deleted() {
    let app = spawn_app().await;
    let app_id = app.create_provider_app("mock").await;
    let (_, other_key) = app.other_project().await;
    let url = app.url(&format!("/v1/projects/globex/provider-apps/{app_id}"));

    assert_eq!(
        app.get_with_key(&url, &other_key).await.status(),
        StatusCode::NOT_FOUND
    );
    let response = app
        .send_with_key(
            reqwest::Method::PATCH,
            &url,
            &other_key,
            Some(&json!({"clientId": "hijacked", "isDefault": true})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = app
        .send_with_key(reqwest::Method::DELETE, &url, &other_key, None)
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let list: Vec<Value> = app
        .get_with_key(&app.url("/v1/projects/globex/provider-apps"), &other_key)
        .await
        .json()
        .await
        .unwrap();
    assert!(list.is_empty(), "{list:?}");

    let mine: Value = app
        .get_json(&app.project_url(&format!("/provider-apps/{app_id}")))
        .await;
    assert_eq!(mine["clientId"], "mock-client");
    assert_eq!(mine["isDefault"], true);
}

/// `GET …/connections` with a token signed by `private` over `claims`.
async fn status_with_claims(app: &TestApp, private: &str, claims: &Value) -> StatusCode {
    get_with_bearer(app, &sign(private, Some("kid-1"), claims))
        .await
        .status()
}

#[tokio::test]
async fn a_jwt_for_another_audience_or_for_none_is_a_401() {
    let app = spawn_app().await;
    let private = register_jwt_key(&app).await;
    for aud in [
        json!("https://elsewhere.example.com/"),
        json!(["https://elsewhere.example.com/"]),
        json!(format!("{}/v1", app.address)),
        Value::Null,
    ] {
        let token = signed_token(&app, &private, json!({"aud": aud}));
        assert_unauthorized(get_with_bearer(&app, &token).await).await;
    }
}

#[tokio::test]
async fn a_jwt_may_name_the_public_url_with_or_without_its_trailing_slash() {
    let app = spawn_app().await;
    let private = register_jwt_key(&app).await;
    for aud in [
        json!(format!("{}/", app.address)),
        json!(app.address),
        json!(["https://elsewhere.example.com/", app.address]),
    ] {
        let status = status_with_claims(&app, &private, &claims(&app, json!({"aud": aud}))).await;
        assert_eq!(status, StatusCode::OK, "aud {aud}");
    }
}

#[tokio::test]
async fn a_configured_jwt_audience_replaces_the_public_url() {
    let app = spawn_app_with(|config| {
        config.jwt.audience = Some("https://api.example.com/grantd".into());
    })
    .await;
    let private = register_jwt_key(&app).await;
    let configured = claims(&app, json!({"aud": "https://api.example.com/grantd"}));
    assert_eq!(
        status_with_claims(&app, &private, &configured).await,
        StatusCode::OK
    );
    let public_url = claims(&app, json!({}));
    assert_eq!(
        status_with_claims(&app, &private, &public_url).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_jwt_not_valid_before_a_future_time_is_a_401() {
    let app = spawn_app().await;
    let private = register_jwt_key(&app).await;
    let token = signed_token(&app, &private, json!({"nbf": now() + 600}));
    assert_unauthorized(get_with_bearer(&app, &token).await).await;
    let started = claims(&app, json!({"nbf": now() - 5}));
    assert_eq!(
        status_with_claims(&app, &private, &started).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_jwt_from_another_or_no_issuer_is_a_401_once_an_issuer_is_configured() {
    let app = spawn_app_with(|config| {
        config.jwt.issuer = Some("https://auth.example.com".into());
    })
    .await;
    let private = register_jwt_key(&app).await;
    for iss in [json!("https://evil.example.com"), Value::Null] {
        let token = signed_token(&app, &private, json!({"iss": iss}));
        assert_unauthorized(get_with_bearer(&app, &token).await).await;
    }
    let ours = claims(&app, json!({"iss": "https://auth.example.com"}));
    assert_eq!(
        status_with_claims(&app, &private, &ours).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_jwt_living_longer_than_the_maximum_or_without_iat_is_a_401() {
    let app = spawn_app().await;
    let private = register_jwt_key(&app).await;
    for overrides in [
        // Two hours, against the default of one.
        json!({"iat": now(), "exp": now() + 7200}),
        // Without iat the lifetime is unknown.
        json!({"iat": null}),
        // Issued "in the future", so that exp - iat looks short.
        json!({"iat": now() + 86_400, "exp": now() + 86_400 + 300}),
    ] {
        let token = signed_token(&app, &private, overrides.clone());
        let response = get_with_bearer(&app, &token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{overrides}");
    }
    let hour = claims(&app, json!({"iat": now(), "exp": now() + 3600}));
    assert_eq!(
        status_with_claims(&app, &private, &hour).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_longer_jwt_lifetime_can_be_configured() {
    let app = spawn_app_with(|config| {
        config.jwt.max_lifetime = std::time::Duration::from_secs(3 * 3600);
    })
    .await;
    let private = register_jwt_key(&app).await;
    let two_hours = claims(&app, json!({"iat": now(), "exp": now() + 7200}));
    assert_eq!(
        status_with_claims(&app, &private, &two_hours).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_jwts_scope_claim_grants_exactly_its_scopes_and_none_means_read_only() {
    let app = spawn_app().await;
    let private = register_jwt_key(&app).await;
    let generate = |token: String| {
        let app = &app;
        async move {
            app.client
                .post(app.project_url("/connections:generate"))
                .bearer_auth(token)
                .json(&json!({"provider": "mock", "groupRef": "g", "consumerRef": "c", "apiKey": "k"}))
                .send()
                .await
                .unwrap()
        }
    };

    for scope in [Value::Null, json!("connections:read")] {
        let token = signed_token(&app, &private, json!({"scope": scope}));
        assert_eq!(
            get_with_bearer(&app, &token).await.status(),
            StatusCode::OK,
            "scope {scope}"
        );
        let response = generate(token).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "scope {scope}");
        let body = problem(response).await;
        assert!(
            body["detail"].as_str().unwrap().contains("manage"),
            "{body}"
        );
    }
    // A token scoped only for other services holds nothing here.
    let elsewhere = signed_token(&app, &private, json!({"scope": "openid profile"}));
    let response = get_with_bearer(&app, &elsewhere).await;
    let body = expect_problem(response, StatusCode::FORBIDDEN).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("connections:read"),
        "{body}"
    );
    assert_eq!(app.connection_count().await, 0);

    // Unknown names (meant for other services) are ignored beside known ones.
    let writer = signed_token(
        &app,
        &private,
        json!({"scope": "openid manage credentials:read"}),
    );
    let response = generate(writer.clone()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["apiKey"], "k", "credentials:read sees the secret");
    let id = created["id"].as_str().unwrap();

    let reader = signed_token(&app, &private, json!({"scope": "connections:read"}));
    let url = app.project_url(&format!("/connections/{id}?includeCredentials=true"));
    let response = app
        .client
        .get(&url)
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = app
        .client
        .get(&url)
        .bearer_auth(&writer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["apiKey"], "k");
}

#[tokio::test]
async fn a_key_made_in_process_with_narrow_scopes_is_held_to_them_through_the_cache() {
    // Authentication is cached by key hash; the cached entry must carry the
    // scopes, not just the project.
    let app = spawn_app().await;
    let created = app
        .grantd
        .create_api_key(
            &grantd::domain::Actor::cli(),
            &app.project_id,
            "reader",
            Scopes::from_iter([Scope::ConnectionsRead]),
        )
        .await
        .unwrap();
    let key = created.key.expose().to_owned();
    for _ in 0..3 {
        let response = app
            .send_with_key(
                reqwest::Method::POST,
                &app.project_url("/provider-apps"),
                &key,
                Some(&json!({"provider": "mock", "clientId": "x", "clientSecret": "y"})),
            )
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let response = app
            .get_with_key(&app.project_url("/connections"), &key)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
}

/// `@amp-labs/react` may authenticate with a JWT (`getToken`): CORS is then
/// decided with the project the token belongs to, as for an API key.
#[tokio::test]
async fn a_bearer_jwt_from_a_browser_gets_cors_headers_for_its_own_projects_origins_only() {
    let app = spawn_app().await;
    let private = register_jwt_key(&app).await;
    let token = signed_token(&app, &private, json!({}));
    let (_, other_key) = app.other_project().await;
    for (url, key, origin) in [
        (
            app.project_url("/allowed-origins"),
            &app.api_key,
            "https://app.acme.example",
        ),
        (
            app.url("/v1/projects/globex/allowed-origins"),
            &other_key,
            "https://app.globex.example",
        ),
    ] {
        let response = app
            .send_with_key(
                reqwest::Method::PUT,
                &url,
                key,
                Some(&json!({"origins": [origin]})),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let from = |origin: &'static str| {
        app.client
            .get(app.project_url("/connections"))
            .header("Origin", origin)
            .bearer_auth(&token)
            .send()
    };
    let own = from("https://app.acme.example").await.unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    assert_eq!(
        own.headers()["access-control-allow-origin"],
        "https://app.acme.example"
    );
    let others = from("https://app.globex.example").await.unwrap();
    assert_eq!(others.status(), StatusCode::OK);
    assert!(others
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}
