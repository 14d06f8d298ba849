//! Trading the authorization code (with the flow's PKCE verifier) for
//! tokens. Apart because it is the one step that talks to the provider, and
//! the place where its answers become failures the page can show.

use crate::domain::error::ProviderError;
use crate::domain::handle::Grantd;
use crate::domain::model::ProviderApp;
use crate::domain::oauth::callback::checks::CheckedCallback;
use crate::domain::oauth::callback::failure::{FlowFailure, FlowStop};
use crate::domain::oauth::connect::verifier_aad;
use crate::domain::oauth::token::{ClientCredentials, Grant, TokenResponse};
use crate::secrets::{Sealed, SecretString};
use crate::storage::OAuthFlowRow;

impl Grantd {
    /// Trades the code (with the flow's PKCE verifier) for tokens.
    pub(super) async fn exchange_code(
        &self,
        flow: &OAuthFlowRow,
        checked: &CheckedCallback<'_>,
        app: &ProviderApp,
    ) -> Result<TokenResponse, FlowStop> {
        let code_verifier = match (&flow.code_verifier_key_id, &flow.code_verifier_ciphertext) {
            (Some(key_id), Some(bytes)) => {
                let sealed = Sealed {
                    key_id: key_id.clone(),
                    bytes: bytes.clone(),
                };
                let raw = self
                    .cipher()
                    .open(&sealed, &verifier_aad(&flow.state_hash))?;
                Some(SecretString::new(
                    String::from_utf8_lossy(&raw).into_owned(),
                ))
            }
            _ => None,
        };
        let response = self
            .tokens()
            .request(
                checked.spec,
                &checked.token_url,
                &ClientCredentials {
                    client_id: &app.client_id,
                    client_secret: Some(&app.client_secret),
                },
                &Grant::AuthorizationCode {
                    code: checked.code,
                    redirect_uri: &flow.redirect_uri,
                    code_verifier: code_verifier.as_ref(),
                },
                &checked.spec.scope_separator,
            )
            .await;
        response.map_err(|error| {
            match error {
                ProviderError::Rejected {
                    error, description, ..
                } => FlowFailure::ExchangeRejected { error, description },
                other => FlowFailure::ProviderUnavailable {
                    detail: other.to_string(),
                },
            }
            .into()
        })
    }
}
