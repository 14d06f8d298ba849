//! grantd refuses to start with a keyring that cannot open what the store
//! holds, never makes a new key for a store that already has sealed
//! secrets, keeps its key and database files private, and leaves a
//! mistyped data directory alone.

use crate::cli::grantd;
use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use grantd::app::Application;
use grantd::config::Config;
use grantd::secrets::{Cipher, SecretString};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Seals four secrets in three tables: the `mock` app's client secret, the
/// PKCE verifier of a flow left unfinished, and the credentials of two
/// API-key connections. Returns the flow's authorization URL and the
/// connections' ids.
async fn seal_four_secrets(app: &TestApp) -> (String, Vec<String>) {
    app.create_provider_app("mock").await;
    let flow = app.start_flow("mock").await;
    let mut connections = Vec::new();
    for group in ["g1", "g2"] {
        let created = app
            .generated(
                &json!({"provider": "mock", "groupRef": group, "consumerRef": "c",
                              "apiKey": format!("api-key-of-{group}")}),
            )
            .await;
        connections.push(created["id"].as_str().unwrap().to_owned());
    }
    (flow, connections)
}

/// The id of the key that seals under this config's GRANTD_ENCRYPTION_KEY.
fn sealing_key_id(config: &Config) -> String {
    let spec = config.encryption_key.as_ref().unwrap().expose();
    Cipher::from_spec(spec).unwrap().active_key_id().to_owned()
}

async fn start_error(config: Config) -> String {
    match Application::build(config).await {
        Ok(_) => panic!("grantd started with a keyring that cannot open the store"),
        Err(error) => format!("{error:#}"),
    }
}

fn assert_names_the_four_secrets(error: &str, key_id: &str) {
    assert!(
        error.contains(&format!(
            "key {key_id:?} seals 4 secrets (connections: 2, oauth_flows: 1, provider_apps: 1)"
        )),
        "{error}"
    );
}

/// Reads a connection's API key through an instance at `base`.
async fn api_key_of(app: &TestApp, base: &str, connection: &str) -> Value {
    let response = app
        .get_with_key(
            &format!(
                "{base}/v1/projects/{}/connections/{connection}?includeCredentials=true",
                app.project_name
            ),
            &app.api_key,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["apiKey"].clone()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn a_keyring_without_the_key_that_sealed_the_store_refuses_to_start_naming_it_and_its_secrets(
) {
    let app = spawn_app().await;
    let (flow, connections) = seal_four_secrets(&app).await;
    let key_id = sealing_key_id(&app.config);

    // A GRANTD_ENCRYPTION_KEY that is not the one the store was sealed with.
    let mut wrong = app.config.clone();
    wrong.encryption_key = Some(SecretString::new(Cipher::generate_spec()));
    let error = start_error(wrong).await;
    assert_names_the_four_secrets(&error, &key_id);
    assert!(error.contains("GRANTD_ENCRYPTION_KEY"), "{error}");

    // The original key restored, behind a new key that now seals: grantd
    // starts, reads the stored credentials and finishes the pending flow
    // with its sealed PKCE verifier.
    let rotated = format!(
        "{},{}",
        Cipher::generate_spec(),
        app.config.encryption_key.as_ref().unwrap().expose()
    );
    let restored = app
        .spawn_sibling(|config| config.encryption_key = Some(SecretString::new(rotated)))
        .await;
    assert_eq!(
        api_key_of(&app, &restored.address, &connections[0]).await,
        "api-key-of-g1"
    );
    let callback = app.authorize(&flow).await;
    let on_restored = callback.replacen(&app.address, &restored.address, 1);
    let response = app.get_without_key(&on_restored).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.only_connection_for("g").await["status"], "working");
}

#[tokio::test]
async fn a_store_with_sealed_secrets_and_no_key_file_refuses_to_start_and_makes_no_new_key() {
    // The key file exists on SQLite only (PostgreSQL needs GRANTD_ENCRYPTION_KEY).
    let app = spawn_app_with(|config| {
        config.encryption_key = None;
        config.database_url = None;
    })
    .await;
    let (_, connections) = seal_four_secrets(&app).await;
    let key_file = app.config.data_dir.join("encryption.key");
    let key_id = Cipher::load_key_file(&key_file)
        .unwrap()
        .active_key_id()
        .to_owned();
    let saved = app.data_dir.path().join("encryption.key.saved");
    std::fs::rename(&key_file, &saved).unwrap();

    let error = start_error(app.config.clone()).await;
    assert_names_the_four_secrets(&error, &key_id);
    assert!(error.contains(&key_file.display().to_string()), "{error}");
    assert!(!key_file.exists(), "a new key file was created");

    // Another key in the key file is refused too, naming the missing key.
    std::fs::write(&key_file, format!("{}\n", Cipher::generate_spec())).unwrap();
    let error = start_error(app.config.clone()).await;
    assert_names_the_four_secrets(&error, &key_id);

    std::fs::rename(&saved, &key_file).unwrap();
    let restored = app.spawn_sibling(|_| {}).await;
    assert_eq!(
        api_key_of(&app, &restored.address, &connections[1]).await,
        "api-key-of-g2"
    );
}

#[tokio::test]
async fn a_fresh_store_keeps_its_directory_key_file_and_database_files_private() {
    let app = spawn_app_with(|config| {
        config.encryption_key = None;
        config.database_url = None;
    })
    .await;
    seal_four_secrets(&app).await;
    let dir = &app.config.data_dir;
    assert_eq!(mode(dir), 0o700, "data directory");
    // The server holds the database open, so the WAL files exist.
    for file in [
        "encryption.key",
        "grantd.db",
        "grantd.db-wal",
        "grantd.db-shm",
    ] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
}

#[tokio::test]
async fn the_startup_key_check_counts_every_sealed_column_of_the_schema() {
    let app = spawn_app().await;
    let db = app.db().await;
    let query = if app.database_url.is_some() {
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND column_name LIKE '%key_id'"
    } else {
        "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND p.name LIKE '%key_id'"
    };
    let in_schema: BTreeSet<(String, String)> = sqlx::query_as(query)
        .fetch_all(&db)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let checked: BTreeSet<(String, String)> = grantd::storage::SEALED_COLUMNS
        .iter()
        .map(|(table, column)| (table.to_string(), column.to_string()))
        .collect();
    assert_eq!(in_schema, checked);
}

#[test]
fn commands_that_need_a_store_fail_on_a_missing_data_dir_and_create_nothing() {
    let parent = tempfile::tempdir().unwrap();
    let mistyped = parent.path().join("grantd-dta");
    let commands: [&[&str]; 5] = [
        &["project", "list"],
        &["project", "list", "--json"],
        &["api-key", "list", "--project", "acme"],
        &["api-key", "create", "--project", "acme"],
        &["jwt-key", "list", "--project", "acme"],
    ];
    for args in commands {
        let output = grantd(&mistyped, args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(
            stderr.contains(&mistyped.display().to_string())
                && stderr.contains("does not exist")
                && stderr.contains("--data-dir"),
            "{args:?}: {stderr}"
        );
        assert!(
            !mistyped.exists(),
            "{args:?} created {}",
            mistyped.display()
        );
    }
    // An existing directory that holds no store is left as it was.
    std::fs::create_dir(&mistyped).unwrap();
    let output = grantd(&mistyped, &["project", "list"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("holds no grantd.db"), "{stderr}");
    assert_eq!(std::fs::read_dir(&mistyped).unwrap().count(), 0);
}

#[test]
fn commands_warn_when_the_key_file_or_the_database_is_open_to_other_users() {
    let dir = tempfile::tempdir().unwrap();
    let created = grantd(dir.path(), &["project", "create", "widgets", "--json"])
        .output()
        .unwrap();
    assert!(created.status.success());
    let listed = grantd(dir.path(), &["project", "list"]).output().unwrap();
    let quiet = String::from_utf8_lossy(&listed.stderr);
    assert!(!quiet.contains("readable by other users"), "{quiet}");

    for file in ["encryption.key", "grantd.db"] {
        let path = dir.path().join(file);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let listed = grantd(dir.path(), &["project", "list"]).output().unwrap();
    assert!(listed.status.success());
    let stderr = String::from_utf8_lossy(&listed.stderr);
    for (what, file) in [
        ("encryption key file", "encryption.key"),
        ("SQLite database file", "grantd.db"),
    ] {
        assert!(
            stderr.lines().any(|line| line.contains("WARN")
                && line.contains(&format!("{what} is readable by other users"))
                && line.contains(&dir.path().join(file).display().to_string())),
            "no warning for {file}: {stderr}"
        );
    }
}

/// Runs `grantd serve` with `flags` until it logs that it listens; returns its log.
async fn serve_log(flags: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("serve.log");
    let mut args = vec!["serve"];
    args.extend_from_slice(flags);
    let mut child = grantd(&dir.path().join("data"), &args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let mut log = String::new();
    for _ in 0..400 {
        log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.contains("grantd listening") || child.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(log.contains("grantd listening"), "{log}");
    log
}

#[tokio::test]
async fn serving_plain_http_beyond_loopback_warns_at_start_and_behind_https_does_not() {
    const WARNING: &str = "listens beyond loopback and its public URL is http";
    let exposed = serve_log(&["--listen", "0.0.0.0:0"]).await;
    assert!(
        exposed
            .lines()
            .any(|line| line.contains("WARN") && line.contains(WARNING)),
        "{exposed}"
    );
    let behind_tls = serve_log(&[
        "--listen",
        "0.0.0.0:0",
        "--public-url",
        "https://connect.example.com",
    ])
    .await;
    assert!(!behind_tls.contains(WARNING), "{behind_tls}");
    let loopback = serve_log(&["--listen", "127.0.0.1:0"]).await;
    assert!(!loopback.contains(WARNING), "{loopback}");
    // The open files limit is raised and said.
    assert!(loopback.contains("open files limit"), "{loopback}");
}
