//! Building the provider's authorization URL (RFC 6749 §4.1.1, RFC 7636).

use crate::domain::catalog::{PkceSupport, Provider, ProviderInputs};
use crate::domain::error::DomainResult;
use crate::secrets::{sha256_hex, SecretString};
use oauth2::{CsrfToken, PkceCodeChallenge};

/// A fresh flow's secrets: the state (256 random bits) and the PKCE verifier.
#[derive(Debug)]
pub struct FlowSecrets {
    pub state: SecretString,
    pub state_hash: String,
    pub code_verifier: Option<SecretString>,
    code_challenge: Option<String>,
}

impl FlowSecrets {
    pub fn generate(pkce: PkceSupport) -> Self {
        let state = CsrfToken::new_random_len(32).secret().clone();
        let (code_challenge, code_verifier) = match pkce {
            PkceSupport::Unsupported => (None, None),
            _ => {
                let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
                (
                    Some(challenge.as_str().to_owned()),
                    Some(SecretString::new(verifier.secret().clone())),
                )
            }
        };
        Self {
            state_hash: state_hash(&state),
            state: SecretString::new(state),
            code_verifier,
            code_challenge,
        }
    }
}

/// The lookup key of a state: the state itself is never stored.
pub fn state_hash(state: &str) -> String {
    sha256_hex(state.as_bytes())
}

/// The full authorization URL for a provider app and flow.
pub fn authorization_url(
    provider: &Provider,
    inputs: &ProviderInputs<'_>,
    client_id: &str,
    redirect_uri: &str,
    scopes: &[String],
    secrets: &FlowSecrets,
    app_params: &std::collections::BTreeMap<String, Vec<String>>,
) -> DomainResult<String> {
    let oauth2 = provider
        .oauth2
        .as_ref()
        .and_then(|o| o.authorize_url.as_deref().map(|u| (o, u)));
    let (spec, template) =
        oauth2.ok_or_else(|| crate::domain::error::DomainError::CatalogIncomplete {
            provider: provider.name.clone(),
            missing: "authorize URL",
        })?;
    let mut url = provider.build_url(template, inputs)?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri);
        if !scopes.is_empty() {
            query.append_pair("scope", &scopes.join(&spec.scope_separator));
        }
        query.append_pair("state", secrets.state.expose());
        if let Some(challenge) = &secrets.code_challenge {
            query
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
        }
        for (key, value) in &spec.authorize_params {
            query.append_pair(key, value);
        }
        // The provider app's own `authQueryParams` (checked when the app was
        // saved not to name any parameter above it would override).
        for (key, values) in app_params {
            query.append_pair(key, &values.join(" "));
        }
    }
    Ok(url.into())
}
