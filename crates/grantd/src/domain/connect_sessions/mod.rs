//! Connect sessions and the hosted connect page's side of the OAuth flow.
//!
//! A customer's backend creates a session for one of its users (which
//! providers, which group and consumer, where to send the browser back) and
//! hands the user the session's URL. The session's token is a bearer secret
//! shown once and stored as a SHA-256 hash; it is short-lived and single
//! use: it is consumed when the page starts a flow. Input mistakes
//! (a workspace that does not match the catalog's pattern) are reported
//! before that and can be corrected with the same link; once a flow has
//! started, a failed provider step (the user refused, the exchange failed)
//! cannot be retried with the same session: the page reports the failure
//! and the application creates a new session. The started flow itself can
//! be re-opened (a closed popup) until it expires, since it is the same flow.
//!
//! Return URLs and the origin of the embedding page must be on the project's
//! allow-list of origins; results are `postMessage`d to that exact origin.
//!
//! Here: the session as read and its status; `allowed_origins` (the
//! project's list) and `origins` (parsing origins and URLs); `create` (the
//! request parsed against the project, then stored); `start` (the page's
//! flow and its result).

mod allowed_origins;
pub mod create;
mod origins;
pub mod start;

pub use origins::normalize_origin;

use crate::domain::error::{DomainError, DomainResult};
use crate::domain::handle::Grantd;
use crate::domain::model::{from_millis, Timestamp};
use crate::secrets::{sha256_hex, SecretString};
use crate::storage::{now_millis, ConnectSessionRow, StoreError};
use crate::vocab::SessionResultStatus;

/// Prefix of session tokens, so that they are recognisable in a leak.
pub const TOKEN_PREFIX: &str = "gcs_";

/// How a session's flow ended.
#[derive(Debug, Clone)]
pub struct SessionOutcome {
    pub status: SessionResultStatus,
    pub connection_id: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub finished_at: Timestamp,
}

/// A connect session, without its token.
#[derive(Debug, Clone)]
pub struct ConnectSession {
    pub id: String,
    pub project_id: String,
    pub providers: Vec<String>,
    pub group_ref: String,
    pub group_name: Option<String>,
    pub consumer_ref: String,
    pub consumer_name: Option<String>,
    pub connection_id: Option<String>,
    pub return_url: Option<String>,
    pub parent_origin: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub consumed_at: Option<Timestamp>,
    /// The provider the flow was started with.
    pub provider: Option<String>,
    pub outcome: Option<SessionOutcome>,
}

/// Where a connect session stands, as its API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// Not used yet.
    Pending,
    /// Its flow was started and has not come back.
    Started,
    Succeeded,
    Failed,
    Expired,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Pending => "pending",
            SessionStatus::Started => "started",
            SessionStatus::Succeeded => "succeeded",
            SessionStatus::Failed => "failed",
            SessionStatus::Expired => "expired",
        }
    }
}

impl ConnectSession {
    pub fn status(&self, now: Timestamp) -> SessionStatus {
        match (&self.outcome, self.consumed_at) {
            (Some(outcome), _) if outcome.status == SessionResultStatus::Success => {
                SessionStatus::Succeeded
            }
            (Some(_), _) => SessionStatus::Failed,
            _ if self.expires_at <= now => SessionStatus::Expired,
            (None, Some(_)) => SessionStatus::Started,
            (None, None) => SessionStatus::Pending,
        }
    }
}

impl From<ConnectSessionRow> for ConnectSession {
    fn from(row: ConnectSessionRow) -> Self {
        let outcome = row.result_status.map(|status| SessionOutcome {
            status,
            connection_id: row.result_connection_id,
            error: row.result_error,
            error_description: row.result_error_description,
            finished_at: from_millis(row.finished_at.unwrap_or(row.created_at)),
        });
        ConnectSession {
            id: row.id,
            project_id: row.project_id,
            providers: row.providers,
            group_ref: row.group_ref,
            group_name: row.group_name,
            consumer_ref: row.consumer_ref,
            consumer_name: row.consumer_name,
            connection_id: row.connection_id,
            return_url: row.return_url,
            parent_origin: row.parent_origin,
            created_at: from_millis(row.created_at),
            expires_at: from_millis(row.expires_at),
            consumed_at: row.consumed_at.map(from_millis),
            provider: row.provider,
            outcome,
        }
    }
}

/// A new session with its token, shown this once only.
/// No `Debug`: it carries the token in clear.
pub struct CreatedConnectSession {
    pub session: ConnectSession,
    pub token: SecretString,
    /// The hosted page: `{public_url}/connect?sessionId={id}#token={token}`.
    pub url: String,
}

/// Two letters for a provider's badge: the initials of its first two words,
/// or its first two letters.
pub fn initials(display_name: &str) -> String {
    let words: Vec<&str> = display_name
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let letters: String = match words.as_slice() {
        [] => "?".into(),
        [one] => one.chars().take(2).collect(),
        [first, second, ..] => first
            .chars()
            .take(1)
            .chain(second.chars().take(1))
            .collect(),
    };
    letters.to_uppercase()
}

impl Grantd {
    /// The origin that may frame a live session's connect page, by the
    /// session's id. Anything that is not a session id names none (and is
    /// never sent to the database).
    pub async fn connect_page_frame_ancestor(&self, id: &str) -> DomainResult<Option<String>> {
        if uuid::Uuid::try_parse(id).is_err() {
            return Ok(None);
        }
        match self.store().find_connect_session_by_id(id).await {
            Ok(row) if row.expires_at > now_millis() => Ok(row.parent_origin),
            Ok(_) | Err(StoreError::NotFound) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    /// A session of the project, by id, for its backend.
    pub async fn get_connect_session(
        &self,
        project_id: &str,
        id: &str,
    ) -> DomainResult<ConnectSession> {
        match self.store().find_connect_session(project_id, id).await {
            Ok(row) => Ok(row.into()),
            Err(StoreError::NotFound) => Err(DomainError::not_found("connect session")),
            Err(other) => Err(other.into()),
        }
    }

    /// The session a page token opens. Unknown and expired tokens are
    /// both "not found"; a used session stays readable while its flow may
    /// still finish, so that the page can show the result.
    pub async fn connect_session_for_token(&self, token: &str) -> DomainResult<ConnectSession> {
        let row = self
            .store()
            .find_connect_session_by_token(&sha256_hex(token.trim().as_bytes()))
            .await?
            .filter(|row| row.expires_at > now_millis())
            .ok_or(DomainError::not_found("connect session"))?;
        Ok(row.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_come_from_the_first_two_words() {
        assert_eq!(initials("Mock CRM"), "MC");
        assert_eq!(initials("Salesforce"), "SA");
        assert_eq!(initials("monday.com"), "MC");
        assert_eq!(initials("X (Twitter)"), "XT");
        assert_eq!(initials(""), "?");
    }
}
