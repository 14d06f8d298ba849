//! Real `grantd serve` processes on one database (the SQLite file, or the
//! PostgreSQL database of GRANTD_TEST_DATABASE_URL): a refresh wave cut by
//! `kill -9` completes after a restart, and two processes share a wave and a
//! flow without doing anything twice.

use crate::cli::{serve, Server};
use crate::helpers::{test_database, TEST_PROVIDERS};
use crate::mock_provider::{MockProvider, CLIENT_ID, CLIENT_SECRET};
use reqwest::header::LOCATION;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

/// Fast ticks, 4 refreshes at a time per provider, 2-second leases.
const REFRESH_FLAGS: [&str; 6] = [
    "--refresh-tick-ms",
    "50",
    "--refresh-per-provider",
    "4",
    "--refresh-lease-secs",
    "2",
];

/// A mock provider, a data directory, a keyring, a project, and the
/// database every process of the test shares.
struct Deployment {
    provider: MockProvider,
    dir: tempfile::TempDir,
    data_dir: PathBuf,
    env: Vec<(&'static str, String)>,
    database_url: Option<String>,
    api_key: String,
    client: reqwest::Client,
}

impl Deployment {
    async fn new() -> Self {
        let provider = MockProvider::start().await;
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&data_dir).unwrap();
        let providers_file = dir.path().join("providers.toml");
        std::fs::write(
            &providers_file,
            TEST_PROVIDERS.replace("BASE", &provider.base),
        )
        .unwrap();
        let database_url = test_database().await;
        let mut env = vec![
            (
                "GRANTD_ENCRYPTION_KEY",
                grantd::secrets::Cipher::generate_spec(),
            ),
            (
                "GRANTD_PROVIDERS_FILE",
                providers_file.to_str().unwrap().to_owned(),
            ),
        ];
        if let Some(url) = &database_url {
            env.push(("GRANTD_DATABASE_URL", url.clone()));
        }
        let mut command = crate::cli::grantd(&data_dir, &["project", "create", "acme", "--json"]);
        command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let project: Value = serde_json::from_slice(&output.stdout).unwrap();
        Deployment {
            provider,
            api_key: project["apiKey"].as_str().unwrap().to_owned(),
            dir,
            data_dir,
            env,
            database_url,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// Starts one `grantd serve` process with `flags`.
    async fn serve(&self, name: &str, flags: &[&str]) -> (Server, String) {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        serve(
            &self.data_dir,
            self.dir.path().join(format!("{name}.log")),
            flags,
            &env,
        )
        .await
    }

    async fn post(&self, base: &str, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{base}{path}"))
            .header("X-Api-Key", &self.api_key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// The mock's OAuth client as the project's app for `mock`, then `count`
    /// connections whose tokens are due (2 minutes left of an hour).
    async fn seed_due(&self, base: &str, count: usize) -> Vec<String> {
        let created = self
            .post(
                base,
                "/v1/projects/acme/provider-apps",
                json!({"provider": "mock", "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}),
            )
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let expiring = (chrono::Utc::now() + chrono::Duration::minutes(2)).to_rfc3339();
        let issued = (chrono::Utc::now() - chrono::Duration::minutes(58)).to_rfc3339();
        let mut ids = Vec::new();
        for i in 0..count {
            let response = self
                .post(
                    base,
                    "/v1/projects/acme/connections:generate",
                    json!({"provider": "mock", "groupRef": format!("g{i}"), "consumerRef": "c",
                        "oauth2AuthorizationCode": {
                            "accessToken": {"token": format!("at-{i}"), "expiresAt": expiring, "issuedAt": issued},
                            "refreshToken": {"token": format!("rt-{i}")}}}),
                )
                .await;
            assert_eq!(response.status(), StatusCode::CREATED);
            ids.push(
                response.json::<Value>().await.unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        ids
    }

    /// Connections whose token now runs for more than half an hour.
    async fn refreshed(&self) -> usize {
        sqlx::any::install_default_drivers();
        let url = self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=ro",
                self.data_dir.join("grantd.db").display()
            )
        });
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        let horizon = chrono::Utc::now().timestamp_millis() + 30 * 60 * 1000;
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM connections WHERE access_token_expires_at > $1")
                .bind(horizon)
                .fetch_one(&pool)
                .await
                .unwrap();
        pool.close().await;
        count as usize
    }

    async fn wait_until_refreshed(&self, expected: usize, log: &Server) {
        let mut done = 0;
        for _ in 0..600 {
            done = self.refreshed().await;
            if done == expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{done} of {expected} refreshed: {}", log.log());
    }
}

#[tokio::test]
async fn killing_grantd_mid_refresh_wave_loses_no_connection() {
    let deployment = Deployment::new().await;
    let provider = &deployment.provider;

    // 1. Seed due connections with the refresher idle.
    let (mut first, base) = deployment
        .serve("first", &["--refresh-tick-ms", "3600000"])
        .await;
    let ids = deployment.seed_due(&base, 24).await;
    assert_eq!(provider.token_calls(), 0);
    first.child.kill().unwrap();
    first.child.wait().unwrap();

    // 2. Refresh them slowly and kill -9 while refreshes are at the provider.
    provider.set_delay(Duration::from_millis(400));
    let (mut second, _) = deployment.serve("second", &REFRESH_FLAGS).await;
    for _ in 0..500 {
        if provider.calls_with_grant("refresh_token") >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    second.child.kill().unwrap();
    second.child.wait().unwrap();
    let asked = provider.calls_with_grant("refresh_token");
    let before_restart = deployment.refreshed().await;
    assert!(
        before_restart < asked && before_restart < ids.len(),
        "the kill must land with refreshes at the provider ({asked} asked, {before_restart} stored)"
    );

    // 3. Restart: leases of the dead process run out and the wave completes.
    provider.set_delay(Duration::ZERO);
    let (third, base) = deployment.serve("third", &REFRESH_FLAGS).await;
    deployment.wait_until_refreshed(ids.len(), &third).await;
    for id in &ids {
        let full: Value = deployment
            .client
            .get(format!(
                "{base}/v1/projects/acme/connections/{id}?includeCredentials=true"
            ))
            .header("X-Api-Key", &deployment.api_key)
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

#[tokio::test]
async fn two_grantd_processes_share_one_database_without_doing_anything_twice() {
    let deployment = Deployment::new().await;
    let provider = &deployment.provider;
    let (seeder, base) = deployment
        .serve("seeder", &["--refresh-tick-ms", "3600000"])
        .await;
    let ids = deployment.seed_due(&base, 30).await;
    drop(seeder);

    provider.set_delay(Duration::from_millis(50));
    let (a, base_a) = deployment.serve("a", &REFRESH_FLAGS).await;
    let (_b, base_b) = deployment.serve("b", &REFRESH_FLAGS).await;
    deployment.wait_until_refreshed(ids.len(), &a).await;
    let presented = provider.refresh_tokens_presented();
    let distinct: HashSet<&String> = presented.iter().collect();
    assert_eq!(distinct.len(), presented.len(), "{presented:?}");
    assert_eq!(presented.len(), ids.len());

    // A flow started on process A finishes its callback on process B.
    let url = deployment
        .post(
            &base_a,
            "/v1/oauth-connect",
            json!({"projectId": "acme", "provider": "mock", "groupRef": "flow", "consumerRef": "c"}),
        )
        .await
        .text()
        .await
        .unwrap();
    let at_provider = deployment.client.get(&url).send().await.unwrap();
    let callback = at_provider.headers()[LOCATION].to_str().unwrap().to_owned();
    let on_b = callback.replacen(&base_a, &base_b, 1);
    assert_ne!(on_b, callback);
    let page = deployment.client.get(&on_b).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let listed: Vec<Value> = deployment
        .client
        .get(format!(
            "{base_a}/v1/projects/acme/connections?groupRef=flow"
        ))
        .header("X-Api-Key", &deployment.api_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
}
