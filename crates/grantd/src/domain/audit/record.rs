//! The audit trail's vocabulary: who acted ([`Actor`]), what they did
//! ([`AuditAction`]) and the record read back ([`AuditRecord`]). No
//! operations here, so every capability can name these without a cycle.

use crate::domain::identity::callers::CallerIdentity;
use crate::domain::model::Timestamp;

/// Longest JWT `sub` kept: the claim is the caller's to choose.
const MAX_SUBJECT_CHARS: usize = 256;

/// Who did something, from where, in which request. Built by the HTTP
/// layer from the authenticated caller and the connection; by the CLI for
/// its commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub caller: ActorCaller,
    /// The client's address as grantd saw it (the proxy's, behind one).
    pub client_address: Option<String>,
    /// The request's `x-request-id`.
    pub request_id: Option<String>,
}

/// The kinds of actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorCaller {
    /// An API caller, by the credential it used.
    Credential(CallerIdentity),
    /// The admin CLI, on the machine that holds the store.
    Cli,
    /// A browser without a credential: the end user finishing an OAuth
    /// flow at the callback.
    EndUser,
}

impl Actor {
    /// An API caller's request.
    pub fn caller(
        identity: CallerIdentity,
        client_address: Option<String>,
        request_id: Option<String>,
    ) -> Self {
        Actor {
            caller: ActorCaller::Credential(identity),
            client_address,
            request_id,
        }
    }

    /// The admin CLI.
    pub fn cli() -> Self {
        Actor {
            caller: ActorCaller::Cli,
            client_address: None,
            request_id: None,
        }
    }

    /// A browser at the OAuth callback.
    pub fn end_user(client_address: Option<String>, request_id: Option<String>) -> Self {
        Actor {
            caller: ActorCaller::EndUser,
            client_address,
            request_id,
        }
    }

    /// `(kind, id, subject)` as stored.
    pub(in crate::domain) fn parts(&self) -> (&'static str, Option<String>, Option<String>) {
        match &self.caller {
            ActorCaller::Credential(CallerIdentity::ApiKey { id }) => {
                ("api_key", Some(id.clone()), None)
            }
            ActorCaller::Credential(CallerIdentity::Jwt { kid, subject }) => (
                "jwt",
                Some(kid.clone()),
                subject
                    .as_ref()
                    .map(|s| s.chars().take(MAX_SUBJECT_CHARS).collect()),
            ),
            ActorCaller::Cli => ("cli", None, None),
            ActorCaller::EndUser => ("end_user", None, None),
        }
    }
}

/// What is audited. The names are the API's `action` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    /// A connection read with its credentials (`includeCredentials`).
    CredentialsRead,
    ConnectionCreate,
    ConnectionUpdate,
    ConnectionDelete,
    /// An `:oauth-update` flow was started for a connection.
    ConnectionReauthorizeStart,
    /// An `:oauth-update` flow replaced a connection's credentials.
    ConnectionReauthorize,
    ProviderAppCreate,
    ProviderAppUpdate,
    ProviderAppDelete,
    AllowedOriginsUpdate,
    ApiKeyCreate,
    ApiKeyRevoke,
    JwtKeyCreate,
    JwtKeyRevoke,
    /// Secrets re-sealed under a new encryption key (instance-wide).
    EncryptionKeyRotate,
}

impl AuditAction {
    pub const ALL: [AuditAction; 15] = [
        AuditAction::CredentialsRead,
        AuditAction::ConnectionCreate,
        AuditAction::ConnectionUpdate,
        AuditAction::ConnectionDelete,
        AuditAction::ConnectionReauthorizeStart,
        AuditAction::ConnectionReauthorize,
        AuditAction::ProviderAppCreate,
        AuditAction::ProviderAppUpdate,
        AuditAction::ProviderAppDelete,
        AuditAction::AllowedOriginsUpdate,
        AuditAction::ApiKeyCreate,
        AuditAction::ApiKeyRevoke,
        AuditAction::JwtKeyCreate,
        AuditAction::JwtKeyRevoke,
        AuditAction::EncryptionKeyRotate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::CredentialsRead => "credentials.read",
            AuditAction::ConnectionCreate => "connection.create",
            AuditAction::ConnectionUpdate => "connection.update",
            AuditAction::ConnectionDelete => "connection.delete",
            AuditAction::ConnectionReauthorizeStart => "connection.reauthorize_start",
            AuditAction::ConnectionReauthorize => "connection.reauthorize",
            AuditAction::ProviderAppCreate => "provider_app.create",
            AuditAction::ProviderAppUpdate => "provider_app.update",
            AuditAction::ProviderAppDelete => "provider_app.delete",
            AuditAction::AllowedOriginsUpdate => "allowed_origins.update",
            AuditAction::ApiKeyCreate => "api_key.create",
            AuditAction::ApiKeyRevoke => "api_key.revoke",
            AuditAction::JwtKeyCreate => "jwt_key.create",
            AuditAction::JwtKeyRevoke => "jwt_key.revoke",
            AuditAction::EncryptionKeyRotate => "encryption_key.rotate",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// One action to record: what, on what, and anything else that tells it
/// apart (never a secret).
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub action: AuditAction,
    /// `None` only for instance-wide actions.
    pub project_id: Option<&'a str>,
    pub connection_id: Option<&'a str>,
    /// The provider app, API key or JWT key acted on.
    pub target_id: Option<&'a str>,
    pub detail: serde_json::Value,
}

impl<'a> AuditEntry<'a> {
    /// An action in a project with nothing else to name.
    pub fn new(action: AuditAction, project_id: &'a str) -> Self {
        AuditEntry {
            action,
            project_id: Some(project_id),
            connection_id: None,
            target_id: None,
            detail: serde_json::json!({}),
        }
    }

    pub fn connection(mut self, connection_id: &'a str) -> Self {
        self.connection_id = Some(connection_id);
        self
    }

    pub fn target(mut self, target_id: &'a str) -> Self {
        self.target_id = Some(target_id);
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}

/// A stored record, read back.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub id: String,
    pub project_id: Option<String>,
    pub time: Timestamp,
    pub action: String,
    pub connection_id: Option<String>,
    pub target_id: Option<String>,
    /// `api_key`, `jwt`, `cli` or `end_user`.
    pub caller_kind: String,
    /// The API key id or JWT kid.
    pub caller_id: Option<String>,
    /// The JWT `sub`.
    pub caller_subject: Option<String>,
    pub client_address: Option<String>,
    pub request_id: Option<String>,
    pub detail: serde_json::Value,
}

impl AuditRecord {
    /// The caller's kind as the API and the CLI show it: `apiKey`, `jwt`,
    /// `cli` or `endUser`.
    pub fn caller_type(&self) -> &'static str {
        match self.caller_kind.as_str() {
            "api_key" => "apiKey",
            "jwt" => "jwt",
            "cli" => "cli",
            _ => "endUser",
        }
    }
}

/// Filters of an audit read; all optional.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub connection_id: Option<String>,
    /// An API key id or a JWT kid.
    pub caller_id: Option<String>,
    pub action: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// 1–500, default 100.
    pub page_size: Option<i64>,
    /// The previous page's `next_page_token`.
    pub page_token: Option<String>,
}

/// One page of records, newest first.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    /// Present when more records follow.
    pub next_page_token: Option<String>,
}
