//! A project's allow-list of web origins: the pages that may embed the
//! connect page, receive browsers back and call the API from a browser.

use super::origins::normalize_origin;
use crate::domain::audit::record::{Actor, AuditAction, AuditEntry};
use crate::domain::error::{DomainError, DomainResult, FieldIssue};
use crate::domain::handle::Grantd;
use crate::storage::now_millis;
use serde_json::Value;
use std::collections::BTreeSet;

/// Most origins on a project's allow-list.
pub const MAX_ALLOWED_ORIGINS: usize = 100;

impl Grantd {
    /// A project's allowed origins.
    pub async fn allowed_origins(&self, project_id: &str) -> DomainResult<Vec<String>> {
        Ok(self.store().list_allowed_origins(project_id).await?)
    }

    /// Whether a project allows `origin` (exact, as a browser sends it in
    /// `Origin`): CORS for its callers, and where the callback page may post.
    pub async fn project_allows_origin(
        &self,
        project_id: &str,
        origin: &str,
    ) -> DomainResult<bool> {
        Ok(self
            .store()
            .project_allows_origin(project_id, origin)
            .await?)
    }

    /// Whether any project allows `origin`: a CORS preflight carries no
    /// credential, so it cannot be decided by one project.
    pub async fn any_project_allows_origin(&self, origin: &str) -> DomainResult<bool> {
        Ok(self.store().any_project_allows_origin(origin).await?)
    }

    /// Replaces a project's allowed origins; every entry must be an origin.
    pub async fn set_allowed_origins(
        &self,
        actor: &Actor,
        project_id: &str,
        origins: Option<Vec<String>>,
    ) -> DomainResult<Vec<String>> {
        let Some(origins) = origins else {
            return Err(DomainError::invalid(FieldIssue::body(
                "origins",
                Value::Null,
                "origins is required (an empty array clears the list)",
            )));
        };
        let mut issues = Vec::new();
        if origins.len() > MAX_ALLOWED_ORIGINS {
            issues.push(FieldIssue::body(
                "origins",
                Value::Null,
                format!("at most {MAX_ALLOWED_ORIGINS} origins"),
            ));
        }
        let mut normalized = BTreeSet::new();
        for (i, origin) in origins.iter().enumerate() {
            match normalize_origin(origin) {
                Ok(o) => {
                    normalized.insert(o);
                }
                Err(detail) => issues.push(FieldIssue::body(
                    format!("origins[{i}]"),
                    origin.as_str(),
                    format!("origins[{i}] {detail}"),
                )),
            }
        }
        if !issues.is_empty() {
            return Err(DomainError::Validation(issues));
        }
        let normalized: Vec<String> = normalized.into_iter().collect();
        self.store()
            .replace_allowed_origins(project_id, &normalized, now_millis())
            .await?;
        self.audit_after_write(
            actor,
            AuditEntry::new(AuditAction::AllowedOriginsUpdate, project_id)
                .detail(serde_json::json!({"origins": normalized})),
        )
        .await;
        Ok(normalized)
    }
}
