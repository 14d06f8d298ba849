//! A refresh wave interrupted by `kill -9`: after a restart every connection
//! still refreshes, because a refresh token is only ever replaced by a newer
//! one in the same write as its access token, and leases of a dead process
//! run out.

use crate::cli::serve;
use crate::helpers::TEST_PROVIDERS;
use crate::mock_provider::{MockProvider, CLIENT_ID, CLIENT_SECRET};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const CONNECTIONS: usize = 24;

/// Fast ticks, 4 refreshes at a time per provider, 2-second leases.
const REFRESH_FLAGS: [&str; 6] = [
    "--refresh-tick-ms",
    "50",
    "--refresh-per-provider",
    "4",
    "--refresh-lease-secs",
    "2",
];

async fn refreshed_count(data_dir: &Path) -> i64 {
    let url = format!("sqlite://{}?mode=ro", data_dir.join("grantd.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let horizon = chrono::Utc::now().timestamp_millis() + 30 * 60 * 1000;
    let (count,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM connections WHERE access_token_expires_at > $1")
            .bind(horizon)
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    count
}

#[tokio::test]
async fn killing_grantd_mid_refresh_wave_loses_no_connection() {
    let provider = MockProvider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let providers_file = dir.path().join("providers.toml");
    std::fs::write(
        &providers_file,
        TEST_PROVIDERS.replace("BASE", &provider.base),
    )
    .unwrap();
    let key = grantd::secrets::Cipher::generate_spec();
    let key = key.as_str();
    let providers = providers_file.to_str().unwrap();
    let env = [
        ("GRANTD_ENCRYPTION_KEY", key),
        ("GRANTD_PROVIDERS_FILE", providers),
    ];
    std::fs::create_dir_all(&data_dir).unwrap();
    let project = {
        let mut command = crate::cli::grantd(&data_dir, &["project", "create", "acme", "--json"]);
        command.envs(env);
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    let api_key = project["apiKey"].as_str().unwrap().to_owned();
    let client = reqwest::Client::new();

    // 1. Create connections whose tokens are due (expiring within the
    //    5-minute lead), with the refresher idle.
    let (mut first, base) = serve(
        &data_dir,
        dir.path().join("first.log"),
        &["--refresh-tick-ms", "3600000"],
        &env,
    )
    .await;
    let post = |path: &str, body: Value| {
        client
            .post(format!("{base}/v1/projects/acme{path}"))
            .header("X-Api-Key", &api_key)
            .json(&body)
            .send()
    };
    let created = post(
        "/provider-apps",
        json!({"provider": "mock", "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let expiring = (chrono::Utc::now() + chrono::Duration::minutes(2)).to_rfc3339();
    let issued = (chrono::Utc::now() - chrono::Duration::minutes(58)).to_rfc3339();
    let mut ids = Vec::new();
    for i in 0..CONNECTIONS {
        let response = post(
            "/connections:generate",
            json!({"provider": "mock", "groupRef": format!("g{i}"), "consumerRef": "c",
                "oauth2AuthorizationCode": {
                    "accessToken": {"token": format!("at-{i}"), "expiresAt": expiring, "issuedAt": issued},
                    "refreshToken": {"token": format!("rt-{i}")}}}),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        ids.push(
            response.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(provider.token_calls(), 0);
    first.child.kill().unwrap();
    first.child.wait().unwrap();

    // 2. Refresh them slowly and kill -9 while refreshes are at the provider.
    provider.set_delay(Duration::from_millis(400));
    let (mut second, _) = serve(
        &data_dir,
        dir.path().join("second.log"),
        &REFRESH_FLAGS,
        &env,
    )
    .await;
    for _ in 0..500 {
        if provider.calls_with_grant("refresh_token") >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    second.child.kill().unwrap();
    second.child.wait().unwrap();
    let asked = provider.calls_with_grant("refresh_token") as i64;
    let before_restart = refreshed_count(&data_dir).await;
    assert!(
        before_restart < asked && (before_restart as usize) < CONNECTIONS,
        "the kill must land with refreshes at the provider ({asked} asked, {before_restart} stored)"
    );

    // 3. Restart: leases of the dead process run out and the wave completes.
    provider.set_delay(Duration::ZERO);
    let (third, base) = serve(
        &data_dir,
        dir.path().join("third.log"),
        &REFRESH_FLAGS,
        &env,
    )
    .await;
    let mut done = 0;
    for _ in 0..600 {
        done = refreshed_count(&data_dir).await;
        if done as usize == CONNECTIONS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        done as usize,
        CONNECTIONS,
        "before restart {before_restart}; {}",
        third
            .log()
            .lines()
            .filter(|l| !l.contains("healthz"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    for id in &ids {
        let full: Value = client
            .get(format!(
                "{base}/v1/projects/acme/connections/{id}?includeCredentials=true"
            ))
            .header("X-Api-Key", &api_key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(full["status"], "working", "{full}");
        let tokens = &full["oauth2AuthorizationCode"];
        assert!(
            tokens["accessToken"]["token"]
                .as_str()
                .unwrap()
                .starts_with("refreshed-access-"),
            "{full}"
        );
        assert!(
            tokens["refreshToken"]["token"]
                .as_str()
                .unwrap()
                .starts_with("rotated-"),
            "{full}"
        );
    }
}
