//! Which OAuth client a connection talks to its provider as: its provider
//! app's id and secret, for token calls and revocation.

use crate::domain::error::OAuthClientError;
use crate::domain::handle::Grantd;
use crate::domain::model::Credentials;
use crate::secrets::SecretString;
use crate::storage::ConnectionRecord;

impl Grantd {
    /// The OAuth client that renews (or revokes) these credentials: the
    /// provider app for code-flow connections, the stored client otherwise.
    pub(in crate::domain) async fn oauth_client(
        &self,
        record: &ConnectionRecord,
        credentials: &Credentials,
    ) -> Result<(String, Option<SecretString>), OAuthClientError> {
        match credentials {
            Credentials::OAuth2ClientCredentials {
                client_id,
                client_secret,
                ..
            } => Ok((client_id.clone(), Some(client_secret.clone()))),
            Credentials::OAuth2Password {
                client_id,
                client_secret,
                ..
            } => Ok((client_id.clone(), client_secret.clone())),
            _ => {
                let app_id = record
                    .provider_app_id
                    .as_deref()
                    .ok_or(OAuthClientError::NoProviderApp)?;
                let app = self
                    .get_provider_app(&record.project_id, app_id)
                    .await
                    .map_err(|e| OAuthClientError::AppUnavailable(Box::new(e)))?;
                Ok((app.client_id, Some(app.client_secret)))
            }
        }
    }
}
