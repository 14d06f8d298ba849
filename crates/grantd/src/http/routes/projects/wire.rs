//! Wire shapes of the project and the groups and consumers connections name.

use crate::domain::model::{Consumer, Group, Project};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Project)]
#[serde(rename_all = "camelCase")]
pub struct ProjectView {
    pub id: String,
    pub name: String,
    /// The name end users see; the project's name until one is set.
    pub app_name: String,
    /// Always empty: grantd has no organizations above its projects.
    pub org_id: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    /// With `includeEntitlements=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entitlements: Option<Entitlements>,
}

impl From<&Project> for ProjectView {
    fn from(p: &Project) -> Self {
        ProjectView {
            id: p.id.clone(),
            name: p.name.clone(),
            app_name: p.app_name.clone(),
            org_id: String::new(),
            create_time: p.create_time,
            update_time: p.update_time,
            entitlements: None,
        }
    }
}

/// Ampersand's plan-based feature flags, as they stand for a self-hosted
/// grantd: no plans, so no branding to remove (grantd's pages carry none).
/// `logRetentionDays` is left out: grantd keeps its event log without a
/// time limit, which the field (a number of days) cannot say.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Entitlements {
    pub branding_removal: BooleanEntitlement,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BooleanEntitlement {
    pub value: bool,
}

impl Entitlements {
    pub fn self_hosted() -> Self {
        Entitlements {
            branding_removal: BooleanEntitlement { value: true },
        }
    }
}

/// Query of `GET /v1/projects/{projectIdOrName}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GetProjectQuery {
    /// Add `entitlements` to the answer.
    #[serde(default)]
    pub include_entitlements: bool,
}

/// Body of `PATCH /v1/projects/{projectIdOrName}` (Ampersand's
/// updateProject): the fields named in `updateMask` take their values from
/// `project`; the others are ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateProjectRequest {
    /// `appName` or `name`.
    pub update_mask: Vec<String>,
    pub project: ProjectFields,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectFields {
    pub app_name: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Group)]
#[serde(rename_all = "camelCase")]
pub struct GroupView {
    pub group_ref: String,
    pub group_name: String,
    pub project_id: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

impl From<Group> for GroupView {
    fn from(g: Group) -> Self {
        GroupView {
            group_ref: g.group_ref,
            group_name: g.group_name,
            project_id: g.project_id,
            create_time: g.create_time,
            update_time: g.update_time,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Consumer)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerView {
    pub consumer_ref: String,
    pub consumer_name: String,
    pub project_id: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

impl From<Consumer> for ConsumerView {
    fn from(c: Consumer) -> Self {
        ConsumerView {
            consumer_ref: c.consumer_ref,
            consumer_name: c.consumer_name,
            project_id: c.project_id,
            create_time: c.create_time,
            update_time: c.update_time,
        }
    }
}
