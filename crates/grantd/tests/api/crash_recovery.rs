//! Real `grantd serve` processes on one database (the SQLite file, or the
//! PostgreSQL database of GRANTD_TEST_DATABASE_URL): a refresh wave cut by
//! `kill -9` completes after a restart, and two processes share a wave and a
//! flow without doing anything twice.

use crate::cli::{serve, Server};
use crate::helpers::{due_import, test_database, TEST_PROVIDERS};
use crate::mock_provider::{MockProvider, Rotation, CLIENT_ID, CLIENT_SECRET};
use reqwest::header::LOCATION;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

/// Fast ticks, 4 refreshes at a time per provider, 2-second leases.
pub(crate) const REFRESH_FLAGS: [&str; 6] = [
    "--refresh-tick-ms",
    "50",
    "--refresh-per-provider",
    "4",
    "--refresh-lease-secs",
    "2",
];

/// A mock provider, a data directory, a keyring, a project, and the
/// database every process of the test shares.
pub(crate) struct Deployment {
    pub provider: MockProvider,
    pub dir: tempfile::TempDir,
    pub data_dir: PathBuf,
    pub env: Vec<(&'static str, String)>,
    pub database_url: Option<String>,
    pub api_key: String,
    pub client: reqwest::Client,
}

impl Deployment {
    pub(crate) async fn new() -> Self {
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
    pub(crate) async fn serve(&self, name: &str, flags: &[&str]) -> (Server, String) {
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

    /// `GET {base}{path}` with the project's key.
    pub(crate) async fn get(&self, base: &str, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{base}{path}"))
            .header("X-Api-Key", &self.api_key)
            .send()
            .await
            .unwrap()
    }

    /// `GET {base}{path}` expecting 200; the JSON body.
    pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        base: &str,
        path: &str,
    ) -> T {
        let response = self.get(base, path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    /// The mock's OAuth client as the project's app for `mock`, then `count`
    /// connections whose tokens are due (2 minutes left of an hour).
    pub(crate) async fn seed_due(&self, base: &str, count: usize) -> Vec<String> {
        let created = self
            .post(
                base,
                "/v1/projects/acme/provider-apps",
                json!({"provider": "mock", "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}),
            )
            .await;
        assert_eq!(created.status(), StatusCode::OK);
        let mut ids = Vec::new();
        for i in 0..count {
            self.provider.issue_refresh_token(&format!("rt-{i}"));
            let response = self
                .post(
                    base,
                    "/v1/projects/acme/connections:generate",
                    due_import(i),
                )
                .await;
            assert_eq!(response.status(), StatusCode::CREATED);
            let created: Value = response.json().await.unwrap();
            ids.push(created["id"].as_str().unwrap().to_owned());
        }
        ids
    }

    /// Connections whose token now runs for more than half an hour.
    pub(crate) async fn refreshed(&self) -> usize {
        let horizon = chrono::Utc::now().timestamp_millis() + 30 * 60 * 1000;
        self.count("access_token_expires_at > $1", horizon).await
    }

    /// Connections waiting to be re-authorized.
    async fn parked(&self) -> usize {
        self.count("status = 'bad_credentials' AND $1 = $1", 0)
            .await
    }

    pub(crate) async fn count(&self, condition: &str, bound: i64) -> usize {
        sqlx::any::install_default_drivers();
        let url = self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=ro",
                self.data_dir.join("grantd.db").display()
            )
        });
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        let (count,): (i64,) = sqlx::query_as(&format!(
            "SELECT COUNT(*) FROM connections WHERE {condition}"
        ))
        .bind(bound)
        .fetch_one(&pool)
        .await
        .unwrap();
        pool.close().await;
        count as usize
    }

    pub(crate) async fn wait_until_refreshed(&self, expected: usize, log: &Server) {
        self.wait_for(|seen| seen == (expected, 0), "all refreshed", log)
            .await;
    }

    /// Waits until each of `total` connections either holds new tokens or
    /// waits for re-authorization.
    async fn wait_until_all_settled(&self, total: usize, log: &Server) {
        self.wait_for(
            |(refreshed, parked)| refreshed + parked == total,
            "all refreshed or parked",
            log,
        )
        .await;
    }

    /// Polls (refreshed, parked) until `done` holds.
    async fn wait_for(&self, done: impl Fn((usize, usize)) -> bool, want: &str, log: &Server) {
        let mut seen = (0, 0);
        for _ in 0..600 {
            seen = (self.refreshed().await, self.parked().await);
            if done(seen) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "{} refreshed and {} parked, not {want}: {}",
            seen.0,
            seen.1,
            log.log()
        );
    }
}

/// How the wave below is interrupted.
#[derive(Clone, Copy, PartialEq)]
enum Interruption {
    /// `kill -9`: answers at the provider are lost with the process.
    Kill,
    /// SIGTERM: grantd stops taking work and stores the answers in flight.
    Stop,
}

/// Seeds 24 due connections, lets a slow provider take some refreshes and
/// interrupts the process while they are there, then restarts and waits for
/// the wave to settle: a connection whose rotated token was lost with the
/// process waits for re-authorization. Returns each connection as read with
/// its credentials, and how many answers the interruption lost.
///
/// The lost answers are counted once everything has settled, from the
/// provider's side: a grant whose live refresh token no connection holds.
/// Counting them at the kill would race the provider, which may still be
/// reading a request the dead process wrote just before it died.
async fn interrupt_a_refresh_wave(
    deployment: &Deployment,
    interruption: Interruption,
) -> (Vec<Value>, usize) {
    let provider = &deployment.provider;

    // 1. Seed due connections with the refresher idle.
    let (mut first, base) = deployment
        .serve("first", &["--refresh-tick-ms", "3600000"])
        .await;
    let ids = deployment.seed_due(&base, 24).await;
    assert_eq!(provider.token_calls(), 0);
    first.child.kill().unwrap();
    first.child.wait().unwrap();

    // 2. Refresh them slowly and interrupt while refreshes are at the provider.
    provider.set_delay(Duration::from_millis(400));
    let (mut second, _) = deployment.serve("second", &REFRESH_FLAGS).await;
    for _ in 0..500 {
        if provider.calls_with_grant("refresh_token") >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    match interruption {
        Interruption::Kill => second.child.kill().unwrap(),
        Interruption::Stop => {
            let pid = second.child.id().to_string();
            let sent = std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap();
            assert!(sent.success());
        }
    }
    // Waited for without blocking: the mock provider answering the
    // draining process runs on this test's runtime.
    for _ in 0..2400 {
        if second.child.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        second.child.try_wait().unwrap().is_some(),
        "grantd did not exit"
    );
    let before_restart = deployment.refreshed().await;
    match interruption {
        Interruption::Kill => assert!(
            before_restart < ids.len(),
            "the kill must land mid-wave ({before_restart} of {} stored)",
            ids.len()
        ),
        // A draining process waits for every answer it asked for, so the
        // provider has handled each of its requests by now.
        Interruption::Stop => assert_eq!(
            before_restart,
            provider.calls_with_grant("refresh_token"),
            "every answer asked for before the stop is stored: {}",
            second.log()
        ),
    }

    // 3. Restart: leases of the dead process run out and the wave settles.
    provider.set_delay(Duration::ZERO);
    let (third, base) = deployment.serve("third", &REFRESH_FLAGS).await;
    deployment.wait_until_all_settled(ids.len(), &third).await;
    let mut connections = Vec::new();
    for id in &ids {
        let full: Value = deployment
            .get_json(
                &base,
                &format!("/v1/projects/acme/connections/{id}?includeRefreshToken=true"),
            )
            .await;
        connections.push(full);
    }
    let held: HashSet<&str> = connections
        .iter()
        .filter_map(|c| c["oauth2AuthorizationCode"]["refreshToken"]["token"].as_str())
        .collect();
    let lost = provider
        .live_refresh_tokens()
        .iter()
        .filter(|token| !held.contains(token.as_str()))
        .count();
    (connections, lost)
}

/// A working connection holds a refreshed access token and a refresh
/// token the provider still honours.
fn assert_working_with_a_live_grant(full: &Value, provider: &MockProvider) {
    assert_eq!(full["status"], "working", "{full}");
    let tokens = &full["oauth2AuthorizationCode"];
    assert!(
        tokens["accessToken"]["token"]
            .as_str()
            .unwrap()
            .starts_with("refreshed-access-"),
        "{full}"
    );
    let refresh_token = tokens["refreshToken"]["token"].as_str().unwrap();
    assert!(
        provider.refresh_token_is_live(refresh_token),
        "{refresh_token} is no longer honoured: {full}"
    );
}

#[tokio::test]
async fn killing_grantd_mid_refresh_wave_loses_no_connection_of_a_provider_that_keeps_refresh_tokens(
) {
    let deployment = Deployment::new().await;
    deployment.provider.set_rotation(Rotation::None);
    let (connections, _) = interrupt_a_refresh_wave(&deployment, Interruption::Kill).await;
    for full in &connections {
        assert_working_with_a_live_grant(full, &deployment.provider);
        let refresh_token = &full["oauth2AuthorizationCode"]["refreshToken"]["token"];
        assert!(
            refresh_token.as_str().unwrap().starts_with("rt-"),
            "the refresh token is kept when the provider sends none: {full}"
        );
    }
}

/// A strictly rotating provider retires the old refresh token the moment it
/// answers, so an answer lost with a killed process cannot be recovered by
/// any client. grantd must then say so (the connection needs
/// re-authorization) rather than keep a dead grant as working, and lose no
/// connection whose answer it did receive.
#[tokio::test]
async fn killing_grantd_mid_refresh_wave_under_strict_rotation_parks_exactly_the_lost_answers() {
    let deployment = Deployment::new().await;
    deployment.provider.set_rotation(Rotation::Strict);
    let (connections, lost) = interrupt_a_refresh_wave(&deployment, Interruption::Kill).await;
    assert!(
        lost > 0,
        "the kill landed with answers on the way: {connections:?}"
    );
    let parked: Vec<&Value> = connections
        .iter()
        .filter(|c| c["status"] != "working")
        .collect();
    assert_eq!(parked.len(), lost, "{connections:?}");
    for full in &connections {
        if full["status"] == "working" {
            assert_working_with_a_live_grant(full, &deployment.provider);
            assert!(full["oauth2AuthorizationCode"]["refreshToken"]["token"]
                .as_str()
                .unwrap()
                .starts_with("rotated-"));
        } else {
            assert_eq!(full["status"], "bad_credentials", "{full}");
            assert_eq!(full["refreshError"]["class"], "grant_rejected", "{full}");
        }
    }
}

#[tokio::test]
async fn stopping_grantd_mid_refresh_wave_stores_every_rotated_token_it_was_sent() {
    let deployment = Deployment::new().await;
    deployment.provider.set_rotation(Rotation::Strict);
    let (connections, lost) = interrupt_a_refresh_wave(&deployment, Interruption::Stop).await;
    assert_eq!(lost, 0);
    for full in &connections {
        assert_working_with_a_live_grant(full, &deployment.provider);
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
        .get_json(&base_a, "/v1/projects/acme/connections?groupRef=flow")
        .await;
    assert_eq!(listed.len(), 1);
}
