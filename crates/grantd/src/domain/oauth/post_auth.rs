//! The catalog's post-auth lookup: one authenticated GET right after a token
//! is obtained, for ids the token response does not carry (Atlassian's cloud
//! id, Xero's tenant id).

use crate::domain::catalog::Provider;
use crate::domain::handle::Grantd;
use crate::domain::model::{MetadataSource, MetadataValue, ProviderMetadata};
use crate::domain::oauth::token::{lookup, text};
use crate::secrets::SecretString;
use url::Url;

impl Grantd {
    /// Adds what the lookup finds to `metadata`. Best effort: the tokens are
    /// what matters, so a failed lookup is logged and the connection is kept.
    pub(crate) async fn add_post_auth_metadata(
        &self,
        provider: &Provider,
        url: Option<&Url>,
        access_token: &SecretString,
        metadata: &mut ProviderMetadata,
    ) {
        let (Some(url), Some(spec)) = (
            url,
            provider.oauth2.as_ref().and_then(|o| o.post_auth.as_ref()),
        ) else {
            return;
        };
        let document = match self.tokens().get_json(url, access_token).await {
            Ok(document) => document,
            Err(error) => {
                tracing::warn!(provider = %provider.name, %error, "post-auth lookup failed");
                return;
            }
        };
        for (name, path) in &spec.metadata {
            if let Some(value) = lookup(&document, path).and_then(text) {
                metadata.insert(
                    name.clone(),
                    MetadataValue {
                        value,
                        source: MetadataSource::Provider,
                    },
                );
            }
        }
    }
}
