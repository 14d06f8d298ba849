//! Reading and deleting connections, and sealing their credentials.

use crate::domain::error::{DomainError, DomainResult, OrNotFound};
use crate::domain::handle::Grantd;
use crate::domain::lifecycle::events::{connection_event_data, EventKind};
use crate::domain::model::parse_scopes;
use crate::domain::model::{
    from_millis, Connection, ConnectionStatus, Consumer, Credentials, Group, ProviderAppSummary,
    ProviderMetadata,
};
use crate::domain::scopes::CredentialAccess;
use crate::secrets::Sealed;
use crate::storage::{ConnectionFilter, ConnectionRecord};

/// Filters for listing connections.
#[derive(Debug, Default)]
pub struct ConnectionQuery {
    pub provider: Option<String>,
    pub group_ref: Option<String>,
    pub consumer_ref: Option<String>,
}

/// The associated data binding credentials to their connection.
pub(in crate::domain) fn credentials_aad(connection_id: &str) -> String {
    format!("connection:{connection_id}:credentials")
}

impl Grantd {
    pub(in crate::domain) fn seal_credentials(
        &self,
        connection_id: &str,
        credentials: &Credentials,
    ) -> DomainResult<Sealed> {
        let json = serde_json::to_vec(credentials)
            .map_err(|e| DomainError::Internal(format!("credentials do not serialize: {e}")))?;
        Ok(self.cipher().seal(&json, &credentials_aad(connection_id)))
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
        serde_json::from_slice(&json)
            .map_err(|e| DomainError::Internal(format!("stored credentials do not parse: {e}")))
    }

    /// One connection with as much of its credentials as `access` allows
    /// (`CredentialAccess::None`: without any).
    pub async fn get_connection(
        &self,
        project_id: &str,
        id: &str,
        access: CredentialAccess,
    ) -> DomainResult<Connection> {
        let record = self
            .store()
            .find_connection(project_id, id)
            .await
            .or_not_found("connection")?;
        self.connection_from_record(record, access).await
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
    pub async fn delete_connection(&self, project_id: &str, id: &str) -> DomainResult<()> {
        let record = self
            .store()
            .find_connection(project_id, id)
            .await
            .or_not_found("connection")?;
        self.store()
            .delete_connection(project_id, id)
            .await
            .or_not_found("connection")?;
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
    async fn revoke_tokens(&self, record: &ConnectionRecord) -> Result<bool, String> {
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
        let credentials = self.open_credentials(record).map_err(|e| e.to_string())?;
        let Some(tokens) = credentials.tokens() else {
            return Ok(false);
        };
        let (token, hint) = match &tokens.refresh_token {
            Some(refresh) => (&refresh.token, "refresh_token"),
            None => (&tokens.access_token.token, "access_token"),
        };
        let metadata: ProviderMetadata =
            serde_json::from_str(&record.provider_metadata).unwrap_or_default();
        let inputs = crate::domain::catalog::ProviderInputs::new(
            record.provider_workspace_ref.as_deref(),
            &metadata,
        );
        let url = provider
            .build_url(template, &inputs)
            .map_err(|e| e.to_string())?;
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
            .await
            .map_err(|e| e.to_string())?;
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
        let provider_metadata: ProviderMetadata =
            serde_json::from_str(&record.provider_metadata).unwrap_or_default();
        let provider_app = match (&record.provider_app_id, &record.app_client_id) {
            (Some(id), Some(client_id)) => Some(ProviderAppSummary {
                id: id.clone(),
                project_id: record.project_id.clone(),
                provider: record.provider.clone(),
                external_ref: record.app_external_ref.clone(),
                client_id: client_id.clone(),
                scopes: record
                    .app_scopes
                    .as_deref()
                    .map(parse_scopes)
                    .unwrap_or_default(),
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
            status: ConnectionStatus::parse(&record.status),
            provider_metadata,
            scopes: parse_scopes(&record.scopes),
            credentials,
            credential_access: access,
            refresh_error: record
                .last_error
                .as_deref()
                .and_then(|json| serde_json::from_str(json).ok()),
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
