//! Ampersand's published OpenAPI document (`tests/data/ampersand/api.bundled.json`)
//! is the judge of every operation grantd shares with Ampersand: schemathesis
//! sends it schema-valid and schema-invalid requests and checks every answer
//! against it (status codes, content types, response schemas, that valid
//! requests are accepted and invalid ones refused).
//!
//! Which operations run, and every place where grantd deliberately differs,
//! are in ONE file with the reasons: `tests/data/ampersand/conformance.toml`.
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

#[tokio::test]
async fn ampersands_published_openapi_document_accepts_every_shared_operation_of_grantd() {
    let test = "conformance::ampersands_published_openapi_document_accepts_every_shared_operation_of_grantd";
    let Some(st) = schemathesis() else {
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
        return;
    };
    let app = spawn_app().await;
    // Data for the operations to reach: a connection and a provider app to
    // read and change, and another of each for the delete operations (which
    // would otherwise leave the others nothing to find).
    let connection = seed_connection(&app, "conformance").await;
    let deletable_connection = seed_connection(&app, "conformance-delete").await;
    let provider_app = app.create_provider_app("mock").await;
    let deletable_provider_app = app.create_provider_app("mock-basic").await;

    let report_dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(&st);
    command
        .arg("--config-file")
        .arg(data_dir().join("conformance.toml"))
        .arg("run")
        .arg(data_dir().join("api.bundled.json"))
        // Ampersand's server URL ends in /v1; its paths start after it.
        .arg("--url")
        .arg(app.url("/v1"))
        .arg("--no-color")
        .arg("--report-dir")
        .arg(report_dir.path())
        .env("GRANTD_CONFORMANCE_API_KEY", &app.api_key)
        .env("GRANTD_CONFORMANCE_PROJECT", &app.project_name)
        .env("GRANTD_CONFORMANCE_CONNECTION", &connection)
        .env(
            "GRANTD_CONFORMANCE_DELETABLE_CONNECTION",
            &deletable_connection,
        )
        .env("GRANTD_CONFORMANCE_PROVIDER_APP", &provider_app)
        .env(
            "GRANTD_CONFORMANCE_DELETABLE_PROVIDER_APP",
            &deletable_provider_app,
        )
        // Hypothesis keeps examples in .hypothesis/ of the working directory.
        .current_dir(report_dir.path());
    // On the blocking pool: the server answering it runs on this runtime.
    let shown = st.display().to_string();
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{shown} does not run: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found failures against Ampersand's OpenAPI document \
         (exit {:?}):\n{stdout}\n{stderr}",
        output.status.code()
    );
    // A run that tested nothing would also exit 0.
    assert!(
        stdout.contains("Tested:") && !stdout.contains("Tested: 0"),
        "schemathesis tested no operation:\n{stdout}\n{stderr}"
    );
}
