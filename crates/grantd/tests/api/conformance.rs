//! Ampersand's published OpenAPI document (`tests/data/ampersand/api.bundled.json`)
//! is the judge of every operation grantd shares with Ampersand: schemathesis
//! sends it schema-valid and schema-invalid requests and checks every answer
//! against it (status codes, content types, response schemas, that valid
//! requests are accepted and invalid ones refused).
//!
//! Which operations run, and every place where grantd deliberately differs,
//! are in ONE file with the reasons: `tests/data/ampersand/conformance.toml`.
//! A second run holds grantd's own `/v1/openapi.json` to its answers.
//!
//! schemathesis is a Python tool; `.ci/run` installs the pinned version in
//! `target/schemathesis-venv`. Without it this test is skipped with a message,
//! except under `CI=true`, where that is a failure.

use crate::helpers::{spawn_app, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ampersand")
}

/// `GRANTD_SCHEMATHESIS`, else the venv `.ci/run` makes, else `st` on the PATH.
fn schemathesis() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("GRANTD_SCHEMATHESIS") {
        return Some(PathBuf::from(path));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let venv = target.join("schemathesis-venv/bin/st");
    if venv.is_file() {
        return Some(venv);
    }
    let on_path = std::process::Command::new("st")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    on_path.then(|| PathBuf::from("st"))
}

/// A connection made with `connections:generate` (an API key for `mock`).
async fn seed_connection(app: &TestApp, group_ref: &str) -> String {
    let response = app
        .generate(&json!({
            "provider": "mock", "groupRef": group_ref, "consumerRef": "conformance",
            "apiKey": "conformance-key",
        }))
        .await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// The schemathesis to run, or `None` after saying why the test is skipped
/// (a failure under `CI=true`).
fn schemathesis_or_skip(test: &str) -> Option<PathBuf> {
    let found = schemathesis();
    if found.is_none() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !ci,
            "{test} cannot be skipped under CI=true: schemathesis is missing (.ci/run installs it)"
        );
        crate::helpers::skip(
            test,
            "schemathesis is missing: .ci/run installs it in target/schemathesis-venv \
             (CI=true makes this a failure)",
        );
    }
    found
}

/// A project with a connection and a provider app to read and change, and
/// another of each for the delete operations (which would otherwise leave
/// the others nothing to find); the values the run's configuration names.
async fn seeded_app() -> (TestApp, Vec<(&'static str, String)>) {
    let app = spawn_app().await;
    let connection = seed_connection(&app, "conformance").await;
    let deletable_connection = seed_connection(&app, "conformance-delete").await;
    let provider_app = app.create_provider_app("mock").await;
    let deletable_provider_app = app.create_provider_app("mock-basic").await;
    let values = vec![
        ("GRANTD_CONFORMANCE_API_KEY", app.api_key.clone()),
        ("GRANTD_CONFORMANCE_PROJECT", app.project_name.clone()),
        ("GRANTD_CONFORMANCE_CONNECTION", connection),
        (
            "GRANTD_CONFORMANCE_DELETABLE_CONNECTION",
            deletable_connection,
        ),
        ("GRANTD_CONFORMANCE_PROVIDER_APP", provider_app),
        (
            "GRANTD_CONFORMANCE_DELETABLE_PROVIDER_APP",
            deletable_provider_app,
        ),
    ];
    (app, values)
}

/// Runs `st <args>` with `env`, in a scratch directory, and fails the test
/// with schemathesis' report unless it passes having tested something.
async fn run_schemathesis(
    st: PathBuf,
    args: Vec<std::ffi::OsString>,
    env: Vec<(&'static str, String)>,
) {
    let scratch = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(&st);
    command
        .args(&args)
        .arg("--no-color")
        .envs(env)
        // Hypothesis keeps examples in .hypothesis/ of the working directory.
        .current_dir(scratch.path());
    let shown = st.display().to_string();
    // On the blocking pool: the server answering it runs on this runtime.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{shown} does not run: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found failures (exit {:?}):\n{stdout}\n{stderr}",
        output.status.code()
    );
    // A run that tested nothing would also exit 0.
    assert!(
        stdout.contains("Tested:") && !stdout.contains("Tested: 0"),
        "schemathesis tested no operation:\n{stdout}\n{stderr}"
    );
}

#[tokio::test]
async fn ampersands_published_openapi_document_accepts_every_shared_operation_of_grantd() {
    let test = "conformance::ampersands_published_openapi_document_accepts_every_shared_operation_of_grantd";
    let Some(st) = schemathesis_or_skip(test) else {
        return;
    };
    let (app, env) = seeded_app().await;
    let args = vec![
        "--config-file".into(),
        data_dir().join("conformance.toml").into_os_string(),
        "run".into(),
        data_dir().join("api.bundled.json").into_os_string(),
        // Ampersand's server URL ends in /v1; its paths start after it.
        "--url".into(),
        app.url("/v1").into(),
    ];
    run_schemathesis(st, args, env).await;
}

/// grantd's own document (`/v1/openapi.json`) declares every status, content
/// type and body its operations answer with: a client generated from it
/// meets nothing undeclared. (Which requests grantd accepts is the other
/// test's business: this one checks answers only.)
#[tokio::test]
async fn grantds_own_openapi_document_declares_every_answer_its_operations_give() {
    let test =
        "conformance::grantds_own_openapi_document_declares_every_answer_its_operations_give";
    let Some(st) = schemathesis_or_skip(test) else {
        return;
    };
    let (app, env) = seeded_app().await;
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        r#"
workers = 1
seed = 12
[generation]
max-examples = 8
database = "none"
[output.sanitization]
enabled = false
[headers]
X-Api-Key = "${GRANTD_CONFORMANCE_API_KEY}"
[parameters]
projectIdOrName = "${GRANTD_CONFORMANCE_PROJECT}"
connectionId = "${GRANTD_CONFORMANCE_CONNECTION}"
providerAppId = "${GRANTD_CONFORMANCE_PROVIDER_APP}"
"#,
    )
    .unwrap();
    let args = vec![
        "--config-file".into(),
        config.path().as_os_str().to_owned(),
        "run".into(),
        app.url("/v1/openapi.json").into(),
        "--url".into(),
        app.url("").into(),
        "--checks".into(),
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance".into(),
        "--phases".into(),
        "examples,coverage,fuzzing".into(),
        // The browser's pages and the provider callback answer HTML, not API bodies.
        "--exclude-path-regex".into(),
        "^/(connect|callbacks)".into(),
    ];
    run_schemathesis(st, args, env).await;
}
