//! The real `grantd` binary: admin commands on a data directory, and `serve`
//! answering with the keys those commands printed, then stopping on SIGTERM.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// Every `GRANTD_*` variable of the test process: any of them could override
/// the flags these tests pass (a fixed list would miss the next one added).
fn grantd_vars() -> impl Iterator<Item = std::ffi::OsString> {
    std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| name.to_string_lossy().starts_with("GRANTD_"))
}

/// `grantd --data-dir <dir> <args…>` with no GRANTD_* variables.
pub(crate) fn grantd(data_dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_grantd"));
    command.arg("--data-dir").arg(data_dir).args(args);
    for var in grantd_vars() {
        command.env_remove(var);
    }
    command
}

fn run(data_dir: &Path, args: &[&str]) -> Output {
    grantd(data_dir, args).output().expect("grantd runs")
}

/// Runs a command that must succeed and returns its stdout.
fn run_ok(data_dir: &Path, args: &[&str]) -> String {
    let output = run(data_dir, args);
    assert!(
        output.status.success(),
        "grantd {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn run_json(data_dir: &Path, args: &[&str]) -> Value {
    let stdout = run_ok(data_dir, args);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{stdout}: {e}"))
}

fn sorted_keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    keys
}

/// A free port on 127.0.0.1, found by binding port 0 and letting go.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A child process killed if the test ends before it does.
pub(crate) struct Server {
    pub child: Child,
    log: std::path::PathBuf,
}

impl Server {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Starts `grantd serve` on a free port with `extra` flags (and `env`),
/// logging to `log`, and waits for /healthz. Returns the server and its base URL.
pub(crate) async fn serve(
    data_dir: &Path,
    log: std::path::PathBuf,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Server, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let mut args = vec!["serve", "--listen", listen.as_str()];
    args.extend_from_slice(extra);
    let child = grantd(data_dir, &args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut server = Server { child, log };
    let base = format!("http://{listen}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(response) = client.get(format!("{base}/healthz")).send().await {
            if response.status() == StatusCode::OK {
                return (server, base);
            }
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("grantd serve exited early ({status}): {}", server.log());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("grantd never answered /healthz: {}", server.log());
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn project_create_json_prints_exactly_the_project_id_name_and_api_key() {
    let dir = tempfile::tempdir().unwrap();
    let created = run_json(dir.path(), &["project", "create", "widgets", "--json"]);
    assert_eq!(
        sorted_keys(&created),
        ["apiKey", "projectId", "projectName"],
        "{created}"
    );
    assert_eq!(created["projectName"], "widgets");
    let id = created["projectId"].as_str().unwrap();
    uuid::Uuid::parse_str(id).unwrap();
    assert!(
        created["apiKey"].as_str().is_some_and(|k| k.len() >= 32),
        "{created}"
    );

    let projects = run_json(dir.path(), &["project", "list", "--json"]);
    let projects = projects.as_array().unwrap();
    assert_eq!(projects.len(), 1);
    assert_eq!(projects[0]["projectId"], id);
    assert_eq!(projects[0]["projectName"], "widgets");
}

#[test]
fn creating_the_same_project_twice_fails_with_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    run_ok(dir.path(), &["project", "create", "widgets", "--json"]);
    let again = run(dir.path(), &["project", "create", "widgets", "--json"]);
    assert!(!again.status.success());
    assert!(again.stdout.is_empty(), "no key is printed for a failure");
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("widgets"), "{stderr}");
}

#[test]
fn an_invalid_project_name_fails_with_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &["project", "create", "no/slashes", "--json"]);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
}

#[test]
fn api_key_create_prints_a_new_key_for_the_project() {
    let dir = tempfile::tempdir().unwrap();
    let project = run_json(dir.path(), &["project", "create", "widgets", "--json"]);
    let key = run_json(
        dir.path(),
        &["api-key", "create", "--project", "widgets", "--json"],
    );
    assert_eq!(key["projectId"], project["projectId"]);
    let api_key = key["apiKey"].as_str().unwrap();
    assert!(!api_key.is_empty());
    assert_ne!(key["apiKey"], project["apiKey"]);
    assert!(key["id"].as_str().is_some_and(|id| !id.is_empty()));

    // By id as well as by name.
    let by_id = run_json(
        dir.path(),
        &[
            "api-key",
            "create",
            "--project",
            project["projectId"].as_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(by_id["projectId"], project["projectId"]);

    let listing = run_ok(dir.path(), &["api-key", "list", "--project", "widgets"]);
    assert_eq!(listing.lines().count(), 3, "{listing}");
    assert!(
        !listing.contains(api_key),
        "the list never shows whole keys"
    );
}

#[test]
fn api_key_create_for_an_unknown_project_fails() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        dir.path(),
        &["api-key", "create", "--project", "nope", "--json"],
    );
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
}

#[test]
fn keygen_prints_a_key_id_and_a_base64_key_of_32_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let first = run_ok(dir.path(), &["keygen"]);
    let line = first.trim_end();
    assert_eq!(line.lines().count(), 1, "{first}");
    let (id, key) = line.split_once(':').unwrap();
    assert!(!id.is_empty());
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(key)
        .unwrap();
    assert_eq!(raw.len(), 32);

    let second = run_ok(dir.path(), &["keygen"]);
    assert_ne!(first, second, "every key is fresh");
}

#[test]
fn the_data_dir_holds_the_database_and_a_private_key_file_reused_across_runs() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    run_ok(dir.path(), &["project", "create", "widgets", "--json"]);
    assert!(dir.path().join("grantd.db").is_file());
    let key_file = dir.path().join("encryption.key");
    assert!(key_file.is_file());
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    let key = std::fs::read(&key_file).unwrap();

    run_ok(dir.path(), &["project", "create", "gadgets", "--json"]);
    assert_eq!(
        std::fs::read(&key_file).unwrap(),
        key,
        "the key is not replaced"
    );
}

#[tokio::test]
async fn serve_answers_with_cli_made_keys_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let project = run_json(dir.path(), &["project", "create", "widgets", "--json"]);
    let second = run_json(
        dir.path(),
        &["api-key", "create", "--project", "widgets", "--json"],
    );

    let (mut server, base) = serve(dir.path(), logs.path().join("serve.log"), &[], &[]).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    for key in [&project["apiKey"], &second["apiKey"]] {
        let response = client
            .get(format!("{base}/v1/projects/widgets"))
            .header("X-Api-Key", key.as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["id"], project["projectId"]);
        assert_eq!(body["name"], "widgets");
    }
    let response = client
        .get(format!("{base}/v1/projects/widgets"))
        .header("X-Api-Key", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let pid = server.child.id();
    let signalled = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let mut exit = None;
    for _ in 0..200 {
        if let Some(status) = server.child.try_wait().unwrap() {
            exit = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let exit = exit.unwrap_or_else(|| panic!("grantd did not stop on SIGTERM: {}", server.log()));
    assert!(exit.success(), "exit {exit}: {}", server.log());
}

#[tokio::test]
async fn api_key_scopes_are_set_and_listed_by_the_cli_and_enforced_by_serve() {
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let project = run_json(dir.path(), &["project", "create", "widgets", "--json"]);
    let reader = run_json(
        dir.path(),
        &[
            "api-key",
            "create",
            "--project",
            "widgets",
            "--label",
            "reader",
            "--scope",
            "connections:read",
            "--json",
        ],
    );
    assert_eq!(reader["scopes"], serde_json::json!(["connections:read"]));
    // Repeated and comma-separated, listed in a fixed order.
    let combined = run_json(
        dir.path(),
        &[
            "api-key",
            "create",
            "--project",
            "widgets",
            "--scope",
            "manage,credentials:access-token",
            "--scope",
            "api-keys:manage",
            "--json",
        ],
    );
    assert_eq!(
        combined["scopes"],
        serde_json::json!(["credentials:access-token", "manage", "api-keys:manage"])
    );
    let unknown = run(
        dir.path(),
        &[
            "api-key",
            "create",
            "--project",
            "widgets",
            "--scope",
            "everything",
        ],
    );
    assert!(!unknown.status.success());
    assert!(unknown.stdout.is_empty());

    let listing = run_ok(dir.path(), &["api-key", "list", "--project", "widgets"]);
    let line_of = |id: &Value| {
        listing
            .lines()
            .find(|line| line.starts_with(id.as_str().unwrap()))
            .unwrap_or_else(|| panic!("{id} in {listing}"))
            .to_owned()
    };
    assert!(
        line_of(&reader["id"]).ends_with("\tconnections:read"),
        "{listing}"
    );
    assert!(
        line_of(&combined["id"]).ends_with("\tcredentials:access-token,manage,api-keys:manage"),
        "{listing}"
    );
    assert_eq!(listing.lines().count(), 3, "{listing}");
    let default = listing
        .lines()
        .find(|line| line.contains("\tdefault\t"))
        .unwrap();
    assert!(
        default.ends_with(
            "\tconnections:read,credentials:access-token,credentials:read,manage,api-keys:manage,audit:read"
        ),
        "project create makes a full-access key: {default}"
    );

    let (_server, base) = serve(dir.path(), logs.path().join("serve.log"), &[], &[]).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let create_app = |key: &Value| {
        client
            .post(format!("{base}/v1/projects/widgets/provider-apps"))
            .header("X-Api-Key", key.as_str().unwrap())
            .json(&serde_json::json!({"provider": "hubspot", "clientId": "id", "clientSecret": "secret"}))
            .send()
    };
    let refused = create_app(&reader["apiKey"]).await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let read = client
        .get(format!("{base}/v1/projects/widgets/provider-apps"))
        .header("X-Api-Key", reader["apiKey"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let created = create_app(&project["apiKey"]).await.unwrap();
    assert_eq!(created.status(), StatusCode::OK);
}

#[test]
fn project_update_sets_the_app_name_end_users_see() {
    let dir = tempfile::tempdir().unwrap();
    run_json(dir.path(), &["project", "create", "widgets", "--json"]);
    let before = run_json(dir.path(), &["project", "list", "--json"]);
    assert_eq!(
        before[0]["appName"], "widgets",
        "the project's name until one is set"
    );
    run_ok(
        dir.path(),
        &["project", "update", "widgets", "--app-name", "Widgets Inc."],
    );
    let after = run_json(dir.path(), &["project", "list", "--json"]);
    assert_eq!(after[0]["appName"], "Widgets Inc.");
    let output = run(
        dir.path(),
        &["project", "update", "nope", "--app-name", "X"],
    );
    assert!(!output.status.success());
}
