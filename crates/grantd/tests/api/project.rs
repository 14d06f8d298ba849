//! The project as Ampersand's Project: `appName`, `orgId`, `entitlements`
//! on request, and updateProject.

use crate::helpers::{issue_names, problem, spawn_app};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn the_project_carries_app_name_and_org_id_and_entitlements_only_when_asked() {
    let app = spawn_app().await;
    let project: Value = app.get_json(&app.project_url("")).await;
    assert_eq!(
        project["appName"], "acme",
        "the project's name until one is set"
    );
    assert_eq!(project["orgId"], "", "grantd has no organizations");
    assert!(project.get("entitlements").is_none(), "{project}");

    let response = app.get(&app.project_url("?includeEntitlements=true")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let project: Value = response.json().await.unwrap();
    assert_eq!(project["entitlements"]["brandingRemoval"]["value"], true);
}

#[tokio::test]
async fn update_project_sets_the_app_name_at_once_and_ignores_what_the_mask_leaves_out() {
    let app = spawn_app().await;
    let response = app
        .patch_json(
            &app.project_url(""),
            &json!({"updateMask": ["appName"],
                    "project": {"appName": "Acme Widgets", "name": "ignored-not-in-mask"}}),
        )
        .await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["appName"], "Acme Widgets");
    assert_eq!(body["name"], "acme");
    let read: Value = app.get_json(&app.project_url("")).await;
    assert_eq!(read["appName"], "Acme Widgets");
}

#[tokio::test]
async fn update_project_refuses_an_unknown_mask_a_missing_value_and_a_blank_app_name() {
    let app = spawn_app().await;
    for (body, issue) in [
        (
            json!({"updateMask": ["orgId"], "project": {}}),
            "updateMask[0]",
        ),
        (
            json!({"updateMask": ["appName"], "project": {}}),
            "project.appName",
        ),
        (
            json!({"updateMask": ["appName"], "project": {"appName": "  "}}),
            "project.appName",
        ),
    ] {
        let response = app.patch_json(&app.project_url(""), &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(issue_names(&problem(response).await), [issue], "{body}");
    }
}
