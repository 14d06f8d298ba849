//! Wire shapes of the project and the groups and consumers connections name.

use crate::domain::model::{Consumer, Group, Project};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Project)]
#[serde(rename_all = "camelCase")]
pub struct ProjectView {
    pub id: String,
    pub name: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

impl From<&Project> for ProjectView {
    fn from(p: &Project) -> Self {
        ProjectView {
            id: p.id.clone(),
            name: p.name.clone(),
            create_time: p.create_time,
            update_time: p.update_time,
        }
    }
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
