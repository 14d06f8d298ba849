//! Reading and deleting connections, and sealing their credentials.

use crate::domain::audit::record::{Actor, AuditAction, AuditEntry};
use crate::domain::error::{DomainError, DomainResult, OrNotFound};
use crate::domain::handle::Grantd;
use crate::domain::lifecycle::events::{connection_event_data, new_event, EventKind};
use crate::domain::model::{
    from_millis, Connection, ConnectionStatus, Consumer, Credentials, Group, ProviderAppSummary,
    ProviderMetadata,
};
use crate::domain::scopes::CredentialAccess;
use crate::secrets::Sealed;
use crate::storage::{
    now_millis, ConnectionFilter, ConnectionOwner, ConnectionRecord, ConnectionSource,
    NewConnection, StoredCredentials,
};
use serde_json::json;

/// Filters for listing connections.
#[derive(Debug, Default)]
pub struct ConnectionQuery {
    pub provider: Option<String>,
    pub group_ref: Option<String>,
    pub consumer_ref: Option<String>,
}

/// Whether reading a connection renews its access token first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefreshOnRead {
    /// When credentials are asked for and the token expires within the
    /// read skew (grantd's behaviour without `refresh`).
    #[default]
    Auto,
    /// `refresh=ifExpired`: when the token has expired or is about to.
    IfExpired,
    /// `refresh=force`: now, whatever its expiry.
    Force,
}

/// The associated data binding credentials to their connection.
pub(in crate::domain) fn credentials_aad(connection_id: &str) -> String {
    format!("connection:{connection_id}:credentials")
}

/// How much of the credentials a read shows, as audit records name it;
/// `None` for a read without credentials (not audited).
pub(in crate::domain) fn access_level(access: CredentialAccess) -> Option<&'static str> {
    match access {
        CredentialAccess::None => None,
        CredentialAccess::AccessToken => Some("access_token"),
        CredentialAccess::All => Some("all"),
    }
}

/// What a new connection is made of, however it was made (supplied
/// credentials or an OAuth flow).
#[derive(Debug)]
pub(in crate::domain) struct ConnectionDraft {
    pub owner: ConnectionOwner,
    pub provider_metadata: ProviderMetadata,
    pub credentials: Credentials,
}

impl Grantd {
    pub(in crate::domain) fn seal_credentials(
        &self,
        connection_id: &str,
        credentials: &Credentials,
    ) -> DomainResult<Sealed> {
        let json = serde_json::to_vec(credentials).map_err(DomainError::CredentialsEncoding)?;
        Ok(self.cipher().seal(&json, &credentials_aad(connection_id)))
    }

    /// Credentials as a connection row stores them: sealed to the
    /// connection, with their scheme, scopes, expiry and refresh time.
    /// Every write of credentials (new, re-authorized, refreshed) goes
    /// through here.
    pub(in crate::domain) fn stored_credentials(
        &self,
        connection_id: &str,
        credentials: &Credentials,
    ) -> DomainResult<StoredCredentials> {
        let sealed = self.seal_credentials(connection_id, credentials)?;
        Ok(StoredCredentials {
            auth_scheme: credentials.auth_scheme(),
            scopes: credentials
                .tokens()
                .map(|t| t.scopes.clone())
                .unwrap_or_default(),
            key_id: sealed.key_id,
            ciphertext: sealed.bytes,
            access_token_expires_at: credentials
                .access_token_expires_at()
                .map(|t| t.timestamp_millis()),
            refresh_due_at: self.refresh_due_at(credentials),
        })
    }

    /// Writes a new, working connection with its `created` event: the one
    /// path `connections:generate` and the OAuth callback share. Returns the
    /// new id and, for a generated connection, the row as stored.
    #[tracing::instrument(skip_all, fields(project_id = %draft.owner.project_id, provider = %draft.owner.provider, connection_id))]
    pub(in crate::domain) async fn store_new_connection(
        &self,
        draft: ConnectionDraft,
        source: ConnectionSource,
    ) -> DomainResult<(String, Option<ConnectionRecord>)> {
        let id = uuid::Uuid::now_v7().to_string();
        tracing::Span::current().record("connection_id", id.as_str());
        let credentials = self.stored_credentials(&id, &draft.credentials)?;
        let owner = &draft.owner;
        let event = new_event(
            &owner.project_id,
            &id,
            EventKind::Created,
            connection_event_data(&id, &owner.provider, &owner.group_ref, &owner.consumer_ref),
        );
        let new = NewConnection {
            id: id.clone(),
            owner: draft.owner,
            provider_consumer_ref: None,
            status: ConnectionStatus::Working,
            provider_metadata: draft.provider_metadata,
            credentials,
            now: now_millis(),
        };
        let (enqueued, record) = self
            .store()
            .insert_connection(new, event.clone(), source)
            .await?;
        // A group may now name one more connection: the proxy's memory of
        // which one it names is out of date.
        self.inner.proxy.connections.forget(&id, true);
        self.event_recorded(&event, enqueued);
        Ok((id, record))
    }

    pub(in crate::domain) fn open_credentials(
        &self,
        record: &ConnectionRecord,
    ) -> DomainResult<Credentials> {
        let sealed = Sealed {
            key_id: record.credentials_key_id.clone(),
            bytes: record.credentials_ciphertext.clone(),
        };
        let json = self.cipher().open(&sealed, &credentials_aad(&record.id))?;
        serde_json::from_slice(&json).map_err(DomainError::CredentialsEncoding)
    }

    /// One connection with as much of its credentials as `access` allows
    /// (`CredentialAccess::None`: without any).
    ///
    /// A read with credentials is audited first: when the audit record
    /// cannot be written, the read fails and no credential leaves.
    pub async fn get_connection(
        &self,
        actor: &Actor,
        project_id: &str,
        id: &str,
        access: CredentialAccess,
    ) -> DomainResult<Connection> {
        self.read_connection(actor, project_id, id, access, RefreshOnRead::Auto)
            .await
    }

    /// [`Self::get_connection`] with getConnection's `refresh` parameter.
    pub async fn read_connection(
        &self,
        actor: &Actor,
        project_id: &str,
        id: &str,
        access: CredentialAccess,
        refresh: RefreshOnRead,
    ) -> DomainResult<Connection> {
        let record = self
            .store()
            .find_connection(project_id, id)
            .await
            .or_not_found("connection")?;
        if let Some(level) = access_level(access) {
            self.audit(
                actor,
                AuditEntry::new(AuditAction::CredentialsRead, project_id)
                    .connection(id)
                    .detail(json!({"provider": record.provider, "access": level})),
            )
            .await?;
        }
        let record = match refresh {
            RefreshOnRead::Auto => return self.connection_from_record(record, access).await,
            RefreshOnRead::IfExpired => self.refresh_for_read(record).await?,
            RefreshOnRead::Force => self.refresh_forced(record).await?,
        };
        self.decode_connection(record, access)
    }

    /// A stored connection as callers see it; with credentials, refreshed
    /// first if its access token is about to expire.
    pub(in crate::domain) async fn connection_from_record(
        &self,
        record: ConnectionRecord,
        access: CredentialAccess,
    ) -> DomainResult<Connection> {
        let record = if access == CredentialAccess::None {
            record
        } else {
            self.refresh_for_read(record).await?
        };
        self.decode_connection(record, access)
    }

    pub async fn list_connections(
        &self,
        project_id: &str,
        query: ConnectionQuery,
    ) -> DomainResult<Vec<Connection>> {
        let filter = ConnectionFilter {
            provider: query.provider.map(|name| self.catalog().canonical(name)),
            group_ref: query.group_ref,
            consumer_ref: query.consumer_ref,
        };
        self.store()
            .list_connections(project_id, &filter)
            .await?
            .into_iter()
            .map(|record| self.decode_connection(record, CredentialAccess::None))
            .collect()
    }

    /// Deletes a connection, records `connection.deleted`, then revokes its
    /// tokens at the provider where the catalog names an RFC 7009 endpoint
    /// (best effort, in the background). The row is read first because the
    /// event names its provider, group and consumer and revocation needs its
    /// tokens; of two racing deletes only the one whose DELETE removes the
    /// row records the event.
    #[tracing::instrument(skip_all, fields(project_id = %project_id, connection_id = %id))]
    pub async fn delete_connection(
        &self,
        actor: &Actor,
        project_id: &str,
        id: &str,
    ) -> DomainResult<()> {
        let record = self
            .store()
            .find_connection(project_id, id)
            .await
            .or_not_found("connection")?;
        self.store()
            .delete_connection(project_id, id)
            .await
            .or_not_found("connection")?;
        self.audit_after_write(
            actor,
            AuditEntry::new(AuditAction::ConnectionDelete, project_id)
                .connection(id)
                .detail(json!({"provider": record.provider})),
        )
        .await;
        let data = connection_event_data(
            &record.id,
            &record.provider,
            &record.group_ref,
            &record.consumer_ref,
        );
        self.record_event_after_write(project_id, id, EventKind::Deleted, data)
            .await;
        let grantd = self.clone();
        tokio::spawn(async move {
            let outcome = grantd.revoke_tokens(&record).await;
            match outcome {
                Ok(false) => {}
                Ok(true) => {
                    tracing::info!(connection = %record.id, "tokens revoked at the provider")
                }
                Err(error) => {
                    tracing::warn!(connection = %record.id, %error, "token revocation failed")
                }
            }
        });
        Ok(())
    }

    /// Revokes the refresh token (or, lacking one, the access token) of a
    /// deleted connection. `Ok(false)`: nothing to revoke or no endpoint.
    async fn revoke_tokens(&self, record: &ConnectionRecord) -> DomainResult<bool> {
        let Some(provider) = self.catalog().get(&record.provider) else {
            return Ok(false);
        };
        let Some((spec, template)) = provider
            .oauth2
            .as_ref()
            .and_then(|o| o.revocation_url.as_deref().map(|url| (o, url)))
        else {
            return Ok(false);
        };
        let credentials = self.open_credentials(record)?;
        let Some(tokens) = credentials.tokens() else {
            return Ok(false);
        };
        let (token, hint) = match &tokens.refresh_token {
            Some(refresh) => (&refresh.token, "refresh_token"),
            None => (&tokens.access_token.token, "access_token"),
        };
        let inputs = crate::domain::catalog::ProviderInputs::new(
            record.provider_workspace_ref.as_deref(),
            &record.provider_metadata,
        );
        let url = provider.build_url(template, &inputs)?;
        let (client_id, client_secret) = self.oauth_client(record, &credentials).await?;
        self.tokens()
            .revoke(
                spec,
                &url,
                &crate::domain::oauth::token::ClientCredentials {
                    client_id: &client_id,
                    client_secret: client_secret.as_ref(),
                },
                token,
                hint,
            )
            .await?;
        Ok(true)
    }

    pub(in crate::domain) fn decode_connection(
        &self,
        record: ConnectionRecord,
        access: CredentialAccess,
    ) -> DomainResult<Connection> {
        let credentials = if access == CredentialAccess::None {
            None
        } else {
            Some(self.open_credentials(&record)?)
        };
        let provider_app = match (&record.provider_app_id, &record.app_client_id) {
            (Some(id), Some(client_id)) => Some(ProviderAppSummary {
                id: id.clone(),
                project_id: record.project_id.clone(),
                provider: record.provider.clone(),
                external_ref: record.app_external_ref.clone(),
                client_id: client_id.clone(),
                scopes: record.app_scopes.clone().unwrap_or_default(),
                create_time: from_millis(record.app_create_time.unwrap_or_default()),
                update_time: from_millis(record.app_update_time.unwrap_or_default()),
            }),
            _ => None,
        };
        Ok(Connection {
            group: Group {
                project_id: record.project_id.clone(),
                group_ref: record.group_ref.clone(),
                group_name: record.group_name.clone(),
                create_time: from_millis(record.group_create_time),
                update_time: from_millis(record.group_update_time),
            },
            consumer: Consumer {
                project_id: record.project_id.clone(),
                consumer_ref: record.consumer_ref.clone(),
                consumer_name: record.consumer_name.clone(),
                create_time: from_millis(record.consumer_create_time),
                update_time: from_millis(record.consumer_update_time),
            },
            id: record.id,
            project_id: record.project_id,
            provider: record.provider,
            provider_app,
            provider_workspace_ref: record.provider_workspace_ref,
            provider_consumer_ref: record.provider_consumer_ref,
            auth_scheme: record.auth_scheme,
            status: record.status,
            provider_metadata: record.provider_metadata,
            scopes: record.scopes,
            credentials,
            credential_access: access,
            refresh_error: record.last_error,
            create_time: from_millis(record.create_time),
            update_time: from_millis(record.update_time),
        })
    }
}

impl Grantd {
    /// Groups of a project, oldest first.
    pub async fn list_groups(&self, project_id: &str) -> DomainResult<Vec<Group>> {
        Ok(self
            .store()
            .list_groups(project_id)
            .await?
            .into_iter()
            .map(|g| Group {
                project_id: g.project_id,
                group_ref: g.group_ref,
                group_name: g.group_name,
                create_time: from_millis(g.create_time),
                update_time: from_millis(g.update_time),
            })
            .collect())
    }

    /// Consumers of a project, oldest first.
    pub async fn list_consumers(&self, project_id: &str) -> DomainResult<Vec<Consumer>> {
        Ok(self
            .store()
            .list_consumers(project_id)
            .await?
            .into_iter()
            .map(|c| Consumer {
                project_id: c.project_id,
                consumer_ref: c.consumer_ref,
                consumer_name: c.consumer_name,
                create_time: from_millis(c.create_time),
                update_time: from_millis(c.update_time),
            })
            .collect())
    }
}
