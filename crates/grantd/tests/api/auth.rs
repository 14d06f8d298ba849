//! Who may call: API keys, bearer JWTs signed by a project's registered key,
//! and the wall between projects (another project's things answer 404).

use crate::helpers::{problem, spawn_app, TestApp};
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::SigningKey;
use grantd::domain::JwtAlgorithm;
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

/// Signs `claims` with EdDSA, naming `kid` in the header.
fn sign(private_pem: &str, kid: Option<&str>, claims: &Value) -> String {
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

/// Registers a fresh key as `kid-1` for the app's project; returns its private PEM.
async fn register_jwt_key(app: &TestApp) -> String {
    let (private, public) = ed25519_keypair();
    app.grantd
        .add_jwt_key(
            &app.project_id,
            JwtAlgorithm::EdDsa,
            &public,
            Some("kid-1".into()),
        )
        .await
        .unwrap();
    private
}

async fn get_with_bearer(app: &TestApp, token: &str) -> Response {
    app.client
        .get(app.project_url("/connections"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn get_with_key(app: &TestApp, url: &str, key: &str) -> Response {
    app.client
        .get(url)
        .header("X-Api-Key", key)
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

/// An apiKey connection in the app's own project; returns its id.
async fn generate_connection(app: &TestApp, group_ref: &str) -> String {
    let response = app
        .generate(
            &json!({"provider": "mock", "groupRef": group_ref, "consumerRef": "c", "apiKey": "k"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_request_without_credentials_is_a_401_problem_with_a_challenge() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.project_url("/connections"))
        .send()
        .await
        .unwrap();
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
    let response = get_with_key(&app, &app.project_url("/connections"), "not-a-real-key").await;
    assert_unauthorized(response).await;
}

#[tokio::test]
async fn the_projects_api_key_reads_its_own_project() {
    let app = spawn_app().await;
    let response = get_with_key(&app, &app.project_url(""), &app.api_key).await;
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
        .create_api_key(&app.project_id, "second")
        .await
        .unwrap();
    let second_key = second.key.expose().to_owned();
    let url = app.project_url("/connections");
    assert_eq!(
        get_with_key(&app, &url, &second_key).await.status(),
        StatusCode::OK
    );

    app.grantd
        .revoke_api_key(&app.project_id, &second.id)
        .await
        .unwrap();
    assert_unauthorized(get_with_key(&app, &url, &second_key).await).await;
    assert_eq!(
        get_with_key(&app, &url, &app.api_key).await.status(),
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
    let token = sign(
        &private,
        Some("kid-1"),
        &json!({"exp": now() + 300, "sub": "backend"}),
    );

    let response = get_with_bearer(&app, &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let list: Vec<Value> = response.json().await.unwrap();
    assert!(list.is_empty());

    // The same token may write, too.
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
    let token = sign(
        &private,
        Some("kid-1"),
        &json!({"exp": now() - 600, "sub": "backend"}),
    );
    assert_unauthorized(get_with_bearer(&app, &token).await).await;
}

#[tokio::test]
async fn a_jwt_naming_an_unknown_kid_is_a_401() {
    let app = spawn_app().await;
    let private = register_jwt_key(&app).await;
    let token = sign(
        &private,
        Some("kid-unknown"),
        &json!({"exp": now() + 300, "sub": "backend"}),
    );
    assert_unauthorized(get_with_bearer(&app, &token).await).await;
}

#[tokio::test]
async fn a_jwt_without_a_kid_is_a_401() {
    let app = spawn_app().await;
    let private = register_jwt_key(&app).await;
    let token = sign(
        &private,
        None,
        &json!({"exp": now() + 300, "sub": "backend"}),
    );
    assert_unauthorized(get_with_bearer(&app, &token).await).await;
}

#[tokio::test]
async fn a_jwt_signed_by_another_key_under_a_registered_kid_is_a_401() {
    let app = spawn_app().await;
    register_jwt_key(&app).await;
    let (impostor, _) = ed25519_keypair();
    let token = sign(
        &impostor,
        Some("kid-1"),
        &json!({"exp": now() + 300, "sub": "backend"}),
    );
    assert_unauthorized(get_with_bearer(&app, &token).await).await;
}

#[tokio::test]
async fn a_jwt_without_exp_is_a_401() {
    let app = spawn_app().await;
    let private = register_jwt_key(&app).await;
    let token = sign(&private, Some("kid-1"), &json!({"sub": "backend"}));
    assert_unauthorized(get_with_bearer(&app, &token).await).await;
}

#[tokio::test]
async fn a_jwt_claiming_hs256_with_the_public_key_as_secret_is_a_401() {
    // The algorithm-confusion attack: the public key is no secret.
    let app = spawn_app().await;
    let (_, public) = ed25519_keypair();
    app.grantd
        .add_jwt_key(
            &app.project_id,
            JwtAlgorithm::EdDsa,
            &public,
            Some("kid-1".into()),
        )
        .await
        .unwrap();
    let header = Header {
        alg: Algorithm::HS256,
        kid: Some("kid-1".into()),
        ..Default::default()
    };
    let token = jsonwebtoken::encode(
        &header,
        &json!({"exp": now() + 300, "sub": "backend"}),
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
    let token = sign(
        &private,
        Some("kid-1"),
        &json!({"exp": now() + 300, "sub": "backend"}),
    );
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
    let connection = generate_connection(&app, "org-a").await;
    let (_, other_key) = app.other_project().await;

    let url = app.url(&format!("/v1/projects/globex/connections/{connection}"));
    let response = get_with_key(&app, &url, &other_key).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(problem(response).await["status"], 404);
}

#[tokio::test]
async fn every_path_of_another_project_answers_404_not_403() {
    let app = spawn_app().await;
    let connection = generate_connection(&app, "org-a").await;
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
            let response = get_with_key(&app, &url, &other_key).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "GET {url}");
            problem(response).await;
        }
    }

    let response = app
        .client
        .post(app.project_url("/connections:generate"))
        .header("X-Api-Key", &other_key)
        .json(&json!({"provider": "mock", "groupRef": "g", "consumerRef": "c", "apiKey": "k"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = app
        .client
        .patch(app.project_url(&format!("/connections/{connection}:oauth-update")))
        .header("X-Api-Key", &other_key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.connection_count().await, 1, "nothing was added to A");
}

#[tokio::test]
async fn oauth_connect_naming_another_project_is_a_404() {
    let app = spawn_app().await;
    app.create_provider_app("mock").await;
    let (_, other_key) = app.other_project().await;
    for project in [&app.project_id, &app.project_name] {
        let response = app
            .client
            .post(app.url("/v1/oauth-connect"))
            .header("X-Api-Key", &other_key)
            .json(&json!({"projectId": project, "provider": "mock", "groupRef": "g", "consumerRef": "c"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{project}");
        assert_eq!(problem(response).await["status"], 404);
    }
}

#[tokio::test]
async fn a_projects_connection_list_never_shows_another_projects_connections() {
    let app = spawn_app().await;
    let connection = generate_connection(&app, "org-a").await;
    let (_, other_key) = app.other_project().await;

    let response = get_with_key(
        &app,
        &app.url("/v1/projects/globex/connections"),
        &other_key,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let list: Vec<Value> = response.json().await.unwrap();
    assert!(
        list.iter().all(|c| c["id"] != connection.as_str()),
        "{list:?}"
    );
    assert!(list.is_empty(), "{list:?}");

    // Even asked for A's group by name.
    let response = get_with_key(
        &app,
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
    let connection = generate_connection(&app, "org-a").await;
    let (_, other_key) = app.other_project().await;

    for project in ["globex", app.project_name.as_str()] {
        let response = app
            .client
            .delete(app.url(&format!("/v1/projects/{project}/connections/{connection}")))
            .header("X-Api-Key", &other_key)
            .send()
            .await
            .unwrap();
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
    let app = spawn_app().await;
    app.create_provider_app("mock").await;
    let connection = app.connect_mock("org-a", "user-a").await;
    let (_, other_key) = app.other_project().await;

    let response = get_with_key(
        &app,
        &app.url(&format!(
            "/v1/projects/globex/connections/{connection}?includeCredentials=true"
        )),
        &other_key,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = get_with_key(
        &app,
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
        get_with_key(&app, &url, &other_key).await.status(),
        StatusCode::NOT_FOUND
    );
    let response = app
        .client
        .patch(&url)
        .header("X-Api-Key", &other_key)
        .json(&json!({"clientId": "hijacked", "isDefault": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = app
        .client
        .delete(&url)
        .header("X-Api-Key", &other_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let list: Vec<Value> = get_with_key(
        &app,
        &app.url("/v1/projects/globex/provider-apps"),
        &other_key,
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(list.is_empty(), "{list:?}");

    let mine: Value = app
        .get(&app.project_url(&format!("/provider-apps/{app_id}")))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["clientId"], "mock-client");
    assert_eq!(mine["isDefault"], true);
}
