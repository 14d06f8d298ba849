//! The audit trail: a record after each audited action, with the caller,
//! its address and the request id; nothing for a neighbour project; no
//! secret in any record; no credential read without its record.

use crate::helpers::{expect_problem, issue_names, problem, spawn_app, spawn_app_with, TestApp};
use crate::mock_provider::CLIENT_SECRET;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

async fn get_as(app: &TestApp, key: &str, url: &str) -> Response {
    app.get_with_key(url, key).await
}

/// One page of the app's own audit trail, with `query` (`pageSize=…&…`).
async fn audit_page(app: &TestApp, query: &str) -> Value {
    let response = app.get(&app.project_url(&format!("/audit?{query}"))).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Every record of the app's project, newest first.
async fn audit_records(app: &TestApp) -> Vec<Value> {
    audit_page(app, "pageSize=500").await["records"]
        .as_array()
        .unwrap()
        .clone()
}

fn request_id(response: &Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// The id of the key `project create` made (label `default`).
async fn default_key_id(app: &TestApp) -> String {
    let keys: Vec<Value> = app.get_json(&app.project_url("/api-keys")).await;
    keys.iter().find(|k| k["label"] == "default").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn import_tokens(app: &TestApp, group: &str) -> String {
    app.generated_id(
        &json!({"provider": "mock", "groupRef": group, "consumerRef": "c",
            "oauth2AuthorizationCode": {
                "accessToken": {"token": "at-imported-secret"},
                "refreshToken": {"token": "rt-imported-secret"},
                "scopes": ["read"]}}),
    )
    .await
}

#[tokio::test]
async fn every_audited_action_leaves_a_record_naming_the_caller_its_address_and_the_request() {
    let app = spawn_app().await;
    let key_id = default_key_id(&app).await;
    let app_id = app.create_provider_app("mock").await;
    let patched = app
        .patch_json(
            &app.project_url(&format!("/provider-apps/{app_id}")),
            &json!({"externalRef": "crm-app-1", "scopes": ["read"]}),
        )
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    let imported = import_tokens(&app, "g-imported").await;

    let read = app
        .get(&app.project_url(&format!("/connections/{imported}?includeRefreshToken=true")))
        .await;
    assert_eq!(read.status(), StatusCode::OK);
    let read_request = request_id(&read);
    // A read without credentials is not a credential read.
    let plain = app
        .get(&app.project_url(&format!("/connections/{imported}")))
        .await;
    assert_eq!(plain.status(), StatusCode::OK);

    let connected = app.connect_mock("g-oauth", "c").await;
    app.reauthorize(&connected).await;

    app.allow_origins(&["https://app.example.com"]).await;
    let minted = app
        .post_json(
            &app.project_url("/api-keys"),
            &json!({"label": "worker", "scopes": ["credentials:access-token"]}),
        )
        .await;
    assert_eq!(minted.status(), StatusCode::CREATED);
    let minted: Value = minted.json().await.unwrap();
    let minted_id = minted["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&app.project_url(&format!("/api-keys/{minted_id}")))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&app.project_url(&format!("/connections/{imported}")))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&app.project_url(&format!("/provider-apps/{app_id}")))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );

    let records = audit_records(&app).await;
    let actions: Vec<&str> = records
        .iter()
        .rev()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "api_key.create", // project create's key, by the CLI path
            "provider_app.create",
            "provider_app.update",
            "connection.create",
            "credentials.read",
            "connection.create", // the OAuth callback
            "connection.reauthorize_start",
            "connection.reauthorize",
            "allowed_origins.update",
            "api_key.create",
            "api_key.revoke",
            "connection.delete",
            "provider_app.delete",
        ]
    );
    let by_action = |action: &str| -> Vec<&Value> {
        records.iter().filter(|r| r["action"] == action).collect()
    };
    let credential_read = by_action("credentials.read")[0];
    assert_eq!(credential_read["connectionId"], imported.as_str());
    assert_eq!(credential_read["projectId"], app.project_id.as_str());
    assert_eq!(
        credential_read["caller"],
        json!({"type": "apiKey", "id": key_id})
    );
    assert_eq!(credential_read["clientAddress"], "127.0.0.1");
    assert_eq!(credential_read["requestId"], read_request.as_str());
    assert_eq!(
        credential_read["detail"],
        json!({"provider": "mock", "access": "all"})
    );
    let callback = by_action("connection.create")[0];
    assert_eq!(callback["connectionId"], connected.as_str());
    assert_eq!(callback["caller"], json!({"type": "endUser"}));
    assert_eq!(callback["clientAddress"], "127.0.0.1");
    assert!(callback["requestId"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));
    assert_eq!(
        by_action("connection.reauthorize")[0]["connectionId"],
        connected.as_str()
    );
    assert_eq!(by_action("api_key.revoke")[0]["targetId"], minted_id);
    assert_eq!(
        by_action("api_key.create")[0]["detail"]["scopes"],
        json!(["credentials:access-token"])
    );
    assert_eq!(
        by_action("provider_app.update")[0]["detail"]["changed"],
        json!(["externalRef", "scopes"])
    );
    assert_eq!(
        by_action("api_key.create")[1]["caller"],
        json!({"type": "cli"})
    );

    let text = serde_json::to_string(&records).unwrap();
    for secret in [
        CLIENT_SECRET,
        "at-imported-secret",
        "rt-imported-secret",
        minted["apiKey"].as_str().unwrap(),
        app.api_key.as_str(),
    ] {
        assert!(
            !text.contains(secret),
            "a secret is in the audit trail: {text}"
        );
    }
}

#[tokio::test]
async fn a_bearer_jwt_caller_is_recorded_by_its_key_id_and_subject() {
    use crate::auth::{claims, register_jwt_key, sign};
    let app = spawn_app().await;
    let id = import_tokens(&app, "g").await;
    let private = register_jwt_key(&app).await;
    let token = sign(
        &private,
        Some("kid-1"),
        &claims(
            &app,
            json!({"sub": "billing-worker", "scope": "credentials:access-token"}),
        ),
    );
    let read = app
        .client
        .get(app.project_url(&format!("/connections/{id}?includeCredentials=true")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);

    let page = audit_page(&app, "caller=kid-1").await;
    let records = page["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{page}");
    assert_eq!(records[0]["action"], "credentials.read");
    assert_eq!(
        records[0]["caller"],
        json!({"type": "jwt", "id": "kid-1", "subject": "billing-worker"})
    );
    assert!(!page.to_string().contains(&token));
}

#[tokio::test]
async fn a_neighbour_project_sees_none_of_the_records_and_cannot_read_the_trail() {
    let app = spawn_app().await;
    let id = import_tokens(&app, "g").await;
    app.connection_with_credentials(&id).await;
    let (other_id, other_key) = app.other_project().await;

    let own = get_as(&app, &other_key, &app.url("/v1/projects/globex/audit")).await;
    assert_eq!(own.status(), StatusCode::OK);
    let own: Value = own.json().await.unwrap();
    let records = own["records"].as_array().unwrap();
    assert!(
        records.iter().all(|r| r["projectId"] == other_id.as_str()),
        "{own}"
    );
    assert!(!own.to_string().contains(&id), "{own}");
    assert!(!own.to_string().contains(&app.project_id), "{own}");

    let theirs = get_as(&app, &other_key, &app.project_url("/audit")).await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    let filtered = get_as(
        &app,
        &other_key,
        &app.url(&format!("/v1/projects/globex/audit?connectionId={id}")),
    )
    .await;
    let filtered: Value = filtered.json().await.unwrap();
    assert_eq!(filtered["records"], json!([]));
}

#[tokio::test]
async fn the_trail_is_append_only_in_the_database() {
    let app = spawn_app().await;
    let id = import_tokens(&app, "g").await;
    app.connection_with_credentials(&id).await;
    let db = app.db().await;
    let update = sqlx::query("UPDATE audit_records SET caller_id = 'someone-else'")
        .execute(&db)
        .await;
    let error = update
        .expect_err("an audit record was rewritten")
        .to_string();
    assert!(error.contains("append-only"), "{error}");
    db.close().await;
    let records = audit_records(&app).await;
    assert!(records.iter().all(|r| r["caller"]["id"] != "someone-else"));
}

#[tokio::test]
async fn a_credential_read_fails_when_its_audit_record_cannot_be_written() {
    let app = spawn_app_with(|config| {
        config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let id = import_tokens(&app, "g").await;
    let db = app.db().await;
    sqlx::query("DROP TABLE audit_records")
        .execute(&db)
        .await
        .unwrap();
    db.close().await;

    let read = app
        .get(&app.project_url(&format!("/connections/{id}?includeCredentials=true")))
        .await;
    assert_eq!(read.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = read.text().await.unwrap();
    assert!(!body.contains("at-imported-secret"), "{body}");

    // Reads without credentials need no record and still work.
    let plain = app
        .get(&app.project_url(&format!("/connections/{id}")))
        .await;
    assert_eq!(plain.status(), StatusCode::OK);
    let metrics = reqwest::get(app.metrics_url.as_ref().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("grantd_audit_write_failures_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn filters_and_page_tokens_walk_the_trail_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let a = import_tokens(&app, "a").await;
    let b = import_tokens(&app, "b").await;
    for _ in 0..5 {
        app.connection_with_credentials(&a).await;
    }
    app.connection_with_credentials(&b).await;
    let minted: Value = app
        .post_json(
            &app.project_url("/api-keys"),
            &json!({"label": "worker", "scopes": ["credentials:access-token"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let worker = minted["apiKey"].as_str().unwrap();
    let read = get_as(
        &app,
        worker,
        &app.project_url(&format!("/connections/{b}?includeCredentials=true")),
    )
    .await;
    assert_eq!(read.status(), StatusCode::OK);

    let mut seen = Vec::new();
    let mut query = format!("connectionId={a}&action=credentials.read&pageSize=2");
    let mut pages = 0;
    loop {
        let page = audit_page(&app, &query).await;
        pages += 1;
        for record in page["records"].as_array().unwrap() {
            assert_eq!(record["connectionId"], a.as_str());
            seen.push(record["id"].as_str().unwrap().to_owned());
        }
        match page["nextPageToken"].as_str() {
            Some(token) => {
                query =
                    format!("connectionId={a}&action=credentials.read&pageSize=2&pageToken={token}")
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (5, 5), "{seen:?}");

    let by_worker = audit_page(&app, &format!("caller={}", minted["id"].as_str().unwrap())).await;
    let records = by_worker["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{by_worker}");
    assert_eq!(records[0]["connectionId"], b.as_str());
    assert_eq!(records[0]["detail"]["access"], "access_token");

    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let none = audit_page(&app, &format!("since={}", urlencode(&later))).await;
    assert_eq!(none["records"], json!([]));
    let earlier = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let none = audit_page(&app, &format!("until={}", urlencode(&earlier))).await;
    assert_eq!(none["records"], json!([]));
    let all = audit_page(&app, &format!("since={}", urlencode(&earlier))).await;
    assert!(all["records"].as_array().unwrap().len() >= 7, "{all}");

    for (query, field) in [
        ("action=credentials.write", "action"),
        ("pageToken=not-a-token", "pageToken"),
        ("pageSize=0", "pageSize"),
        ("since=yesterday", "since"),
    ] {
        let response = app.get(&app.project_url(&format!("/audit?{query}"))).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(issue_names(&problem(response).await), [field], "{query}");
    }
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn reading_the_trail_needs_the_audit_read_scope() {
    let app = spawn_app().await;
    let minted: Value = app
        .post_json(
            &app.project_url("/api-keys"),
            &json!({"label": "reader", "scopes": ["connections:read", "credentials:read", "manage"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let response = get_as(
        &app,
        minted["apiKey"].as_str().unwrap(),
        &app.project_url("/audit"),
    )
    .await;
    let body = expect_problem(response, StatusCode::FORBIDDEN).await;
    assert!(body.to_string().contains("audit:read"), "{body}");
}

#[test]
fn the_cli_prints_the_trail_of_its_own_key_changes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        let output = crate::cli::grantd(&data, args).output().unwrap();
        assert!(
            output.status.success(),
            "grantd {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    run(&["project", "create", "acme", "--json"]);
    let created: Value = serde_json::from_str(
        run(&[
            "api-key",
            "create",
            "--project",
            "acme",
            "--label",
            "worker",
            "--json",
        ])
        .trim(),
    )
    .unwrap();
    let id = created["id"].as_str().unwrap();
    run(&["api-key", "revoke", "--project", "acme", id]);

    let lines: Vec<Value> = run(&["audit", "--project", "acme", "--json"])
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let actions: Vec<&str> = lines
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["api_key.revoke", "api_key.create", "api_key.create"]
    );
    assert_eq!(lines[0]["targetId"], id);
    assert_eq!(lines[0]["caller"]["type"], "cli");

    let text = run(&["audit", "--action", "api_key.revoke"]);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("\tapi_key.revoke\tcli\t"), "{text}");
    assert!(text.contains(id), "{text}");
    assert!(!text.contains(created["apiKey"].as_str().unwrap()));
}
