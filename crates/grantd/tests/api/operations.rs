//! Operating a store for years: rotating the encryption key until the old
//! one can be removed, and backing the store up and restoring it, with
//! real `grantd` processes on one database (SQLite, or the PostgreSQL
//! database of GRANTD_TEST_DATABASE_URL).

use crate::cli::Server;
use crate::crash_recovery::{Deployment, REFRESH_FLAGS};
use crate::mock_provider::Rotation;
use reqwest::StatusCode;
use serde_json::Value;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

impl Deployment {
    /// `grantd <args>` against this deployment's store and keyring.
    fn command(&self, data_dir: &std::path::Path, args: &[&str]) -> Command {
        let mut command = crate::cli::grantd(data_dir, args);
        command.envs(self.env.iter().map(|(k, v)| (*k, v.as_str())));
        command
    }

    fn run_ok(&self, args: &[&str]) -> Output {
        let output = self.command(&self.data_dir, args).output().unwrap();
        assert!(
            output.status.success(),
            "grantd {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Replaces the keyring every later process gets.
    fn set_keyring(&mut self, spec: String) {
        let entry = self
            .env
            .iter_mut()
            .find(|(name, _)| *name == "GRANTD_ENCRYPTION_KEY")
            .unwrap();
        entry.1 = spec;
    }

    /// Connections whose credentials are sealed by `key_id`.
    async fn sealed_by(&self, key_id: &str) -> usize {
        assert!(key_id.chars().all(|c| c.is_ascii_hexdigit()));
        self.count(&format!("credentials_key_id = '{key_id}' AND $1 = $1"), 0)
            .await
    }

    /// Reads one connection with its credentials from `base`.
    async fn read_with_credentials(&self, base: &str, id: &str) -> (StatusCode, Value) {
        let response = self
            .get(
                base,
                &format!("/v1/projects/acme/connections/{id}?includeRefreshToken=true"),
            )
            .await;
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn key_id(spec: &str) -> String {
    spec.split_once(':').unwrap().0.to_owned()
}

/// Reads every connection with its credentials over and over until
/// stopped; returns how many rounds it finished and the first failure.
fn read_continuously(
    deployment: Arc<Deployment>,
    base: String,
    ids: Arc<Vec<String>>,
    stop: Arc<AtomicBool>,
    rounds: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<Option<String>> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            for id in ids.iter() {
                let (status, body) = deployment.read_with_credentials(&base, id).await;
                let token = &body["oauth2AuthorizationCode"]["accessToken"]["token"];
                if status != StatusCode::OK || !token.is_string() {
                    return Some(format!("{id}: {status} {body}"));
                }
            }
            rounds.fetch_add(1, Ordering::Relaxed);
        }
        None
    })
}

#[tokio::test]
async fn keys_rotate_under_reads_refreshes_and_a_kill_leaves_nothing_for_the_old_key() {
    let mut deployment = Deployment::new().await;
    deployment.provider.set_rotation(Rotation::None);
    let old_key = deployment
        .env
        .iter()
        .find(|(name, _)| *name == "GRANTD_ENCRYPTION_KEY")
        .unwrap()
        .1
        .clone();
    let (seeder, base) = deployment
        .serve("seeder", &["--refresh-tick-ms", "3600000"])
        .await;
    let ids = deployment.seed_due(&base, 200).await;
    // A webhook endpoint: a sealed value of another table.
    let webhook = deployment
        .client
        .post(format!("{base}/v1/projects/acme/webhooks"))
        .header("X-Api-Key", &deployment.api_key)
        .json(&serde_json::json!({"url": "https://hooks.example.com/grantd"}))
        .send()
        .await
        .unwrap();
    assert_eq!(webhook.status(), StatusCode::CREATED);
    drop(seeder);
    assert_eq!(deployment.sealed_by(&key_id(&old_key)).await, ids.len());

    // The new key goes first in every keyring; the old one stays to open.
    let new_key = grantd::secrets::Cipher::generate_spec();
    deployment.set_keyring(format!("{new_key},{old_key}"));
    let deployment = Arc::new(deployment);
    deployment.provider.set_delay(Duration::from_millis(20));
    let (server, base) = deployment.serve("server", &REFRESH_FLAGS).await;
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let reader = read_continuously(
        deployment.clone(),
        base.clone(),
        Arc::new(ids.clone()),
        stop.clone(),
        rounds.clone(),
    );

    // One secret per transaction, killed once part of the store is rotated.
    let mut rotation = deployment
        .command(
            &deployment.data_dir,
            &["keys", "rotate", "--batch-size", "1", "--json"],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut killed_midway = false;
    for _ in 0..4000 {
        let left = deployment.sealed_by(&key_id(&old_key)).await;
        if left < ids.len() * 3 / 4 {
            killed_midway = left > 0 && rotation.try_wait().unwrap().is_none();
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let _ = rotation.kill();
    rotation.wait().unwrap();
    let left_by_the_kill = deployment.sealed_by(&key_id(&old_key)).await;
    assert!(
        killed_midway && left_by_the_kill > 0,
        "the kill must land mid-rotation ({left_by_the_kill} left)"
    );

    // Run again: it finishes what the killed one left.
    let output = deployment.run_ok(&["keys", "rotate", "--json"]);
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["remaining"], 0, "{summary}");
    assert_eq!(summary["unreadable"], 0, "{summary}");
    assert_eq!(summary["activeKeyId"], key_id(&new_key), "{summary}");
    assert!(summary["resealed"].as_u64().unwrap() >= 1, "{summary}");
    eprintln!("rotation after the kill: {summary}");

    let status: Value =
        serde_json::from_slice(&deployment.run_ok(&["keys", "status", "--json"]).stdout).unwrap();
    let keys = status.as_array().unwrap();
    assert_eq!(keys.len(), 1, "only the new key seals anything: {status}");
    assert_eq!(keys[0]["keyId"], key_id(&new_key));
    assert_eq!(keys[0]["active"], true);
    assert_eq!(keys[0]["tables"]["connections"], ids.len());
    assert_eq!(keys[0]["tables"]["webhook_endpoints"], 1);
    assert_eq!(keys[0]["tables"]["provider_apps"], 1);

    // The reads never failed while the keys changed under them.
    while rounds.load(Ordering::Relaxed) < 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    assert_eq!(reader.await.unwrap(), None, "{}", server.log());
    deployment.wait_until_refreshed(ids.len(), &server).await;
    drop(server);

    // The old key removed: grantd starts and every secret opens.
    let mut deployment = Arc::into_inner(deployment).unwrap();
    deployment.set_keyring(new_key.clone());
    let (server, base) = deployment.serve("new-key-only", &[]).await;
    for id in &ids {
        let (status, full) = deployment.read_with_credentials(&base, id).await;
        assert_eq!(status, StatusCode::OK, "{full}: {}", server.log());
        let token = full["oauth2AuthorizationCode"]["accessToken"]["token"]
            .as_str()
            .unwrap();
        assert!(token.starts_with("refreshed-access-"), "{full}");
        assert!(full["oauth2AuthorizationCode"]["refreshToken"]["token"]
            .as_str()
            .unwrap()
            .starts_with("rt-"));
    }
    let hooks: Value = deployment
        .get_json(&base, "/v1/projects/acme/webhooks")
        .await;
    assert_eq!(hooks.as_array().map(Vec::len), Some(1), "{hooks}");
}

/// Waits until every connection of `base` holds a refreshed token.
async fn wait_until_all_refreshed(
    deployment: &Deployment,
    base: &str,
    ids: &[String],
    log: &Server,
) {
    for _ in 0..600 {
        let mut refreshed = 0;
        for id in ids {
            let (status, full) = deployment.read_with_credentials(base, id).await;
            assert_eq!(status, StatusCode::OK, "{full}");
            let token = full["oauth2AuthorizationCode"]["accessToken"]["token"]
                .as_str()
                .unwrap_or_default();
            refreshed += usize::from(token.starts_with("refreshed-access-"));
        }
        if refreshed == ids.len() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the restored store never refreshed every connection: {}",
        log.log()
    );
}

#[tokio::test]
async fn a_backup_taken_during_a_refresh_wave_restores_to_a_store_where_every_connection_opens_and_refreshes(
) {
    let deployment = Deployment::new().await;
    if deployment.database_url.is_some() {
        crate::helpers::skip(
            "backup_restore",
            "grantd backup copies SQLite; PostgreSQL uses pg_dump (README)",
        );
        return;
    }
    deployment.provider.set_rotation(Rotation::None);
    let (seeder, base) = deployment
        .serve("seeder", &["--refresh-tick-ms", "3600000"])
        .await;
    let ids = deployment.seed_due(&base, 40).await;
    drop(seeder);

    // The wave runs slowly; the backup is taken in the middle of it.
    deployment.provider.set_delay(Duration::from_millis(100));
    let (server, _) = deployment.serve("server", &REFRESH_FLAGS).await;
    for _ in 0..2000 {
        if deployment.refreshed().await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Taken without the keyring: a backup host need not hold the key.
    let backup = deployment.dir.path().join("backup.db");
    let taken = crate::cli::grantd(&deployment.data_dir, &["backup", backup.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        taken.status.success(),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
    let refreshed_after = deployment.refreshed().await;
    assert!(
        refreshed_after < ids.len(),
        "the backup must be taken mid-wave: {}",
        server.log()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the backup is private: {mode:o}");
    }
    // A second backup to the same file is refused, not appended to.
    let again = deployment
        .command(&deployment.data_dir, &["backup", backup.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!again.status.success());
    drop(server);

    // The README's restore: the copy becomes grantd.db of a fresh data
    // directory, with the same keyring.
    deployment.provider.set_delay(Duration::ZERO);
    let restored = deployment.dir.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::copy(&backup, restored.join("grantd.db")).unwrap();
    let env: Vec<(&str, &str)> = deployment
        .env
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    let (server, base) = crate::cli::serve(
        &restored,
        deployment.dir.path().join("restored.log"),
        &REFRESH_FLAGS,
        &env,
    )
    .await;
    wait_until_all_refreshed(&deployment, &base, &ids, &server).await;
}
