//! What the callback itself must show before any code is sent: the
//! provider still known, no error from it, the right issuer (RFC 9207), a
//! code. Apart because these checks need neither the store nor the network.

use crate::domain::catalog::{OAuth2Spec, Provider, ProviderInputs};
use crate::domain::error::DomainResult;
use crate::domain::handle::Grantd;
use crate::domain::oauth::callback::failure::{FlowFailure, FlowStop};
use crate::domain::oauth::callback::{CallbackInput, ProviderAnswer};
use crate::secrets::SecretString;
use crate::storage::OAuthFlowRow;
use url::Url;

/// A callback that passed its checks: what the code exchange needs.
pub(super) struct CheckedCallback<'a> {
    pub(super) provider: &'a Provider,
    pub(super) spec: &'a OAuth2Spec,
    pub(super) code: &'a SecretString,
    pub(super) token_url: Url,
    pub(super) post_auth_url: Option<Url>,
}

impl Grantd {
    /// What the callback itself must show before any code is sent: the
    /// provider still known, no error from it, the right issuer, a code.
    pub(super) fn check_callback<'a>(
        &'a self,
        flow: &OAuthFlowRow,
        input: &'a CallbackInput,
    ) -> Result<CheckedCallback<'a>, FlowStop> {
        if let ProviderAnswer::Denied { error, description } = &input.answer {
            return Err(FlowFailure::ProviderDenied {
                error: error.clone(),
                description: description.clone(),
            }
            .into());
        }
        let unknown = |in_catalog| FlowFailure::UnknownProvider {
            provider: flow.provider.clone(),
            in_catalog,
        };
        let provider = self
            .catalog()
            .get(&flow.provider)
            .ok_or_else(|| unknown(false))?;
        let spec = provider.oauth2.as_ref().ok_or_else(|| unknown(true))?;
        let inputs = ProviderInputs::new(
            flow.provider_workspace_ref.as_deref(),
            &flow.provider_metadata,
        );
        let token_url = provider.build_url(&spec.token_url, &inputs)?;
        let post_auth_url = provider.post_auth_url(&inputs)?;
        match check_issuer(provider, &inputs, &token_url, input.iss.as_deref())? {
            IssuerCheck::Accepted => {}
            IssuerCheck::Missing(expected) => {
                return Err(FlowFailure::MissingIssuer {
                    provider: provider.name.clone(),
                    expected,
                }
                .into())
            }
            IssuerCheck::Mismatch(iss) => {
                return Err(FlowFailure::IssuerMismatch {
                    provider: provider.name.clone(),
                    iss,
                }
                .into())
            }
        }
        let ProviderAnswer::Code(code) = &input.answer else {
            return Err(FlowFailure::MissingCode.into());
        };
        Ok(CheckedCallback {
            provider,
            spec,
            code,
            token_url,
            post_auth_url,
        })
    }
}

/// What RFC 9207 says of a callback's `iss`.
#[derive(Debug, PartialEq, Eq)]
enum IssuerCheck {
    Accepted,
    /// The catalog names the provider's issuer, so the provider sends `iss`
    /// on every response: one without it did not come from that provider
    /// (or was stripped on the way). Carries the expected issuer.
    Missing(String),
    /// `iss` names another authorization server: a mix-up. Carries `iss`.
    Mismatch(String),
}

/// RFC 9207: the `iss` of an authorization response must be the issuer of
/// the provider the flow was started with. Where the catalog names the
/// issuer, `iss` is required; where it does not, an `iss` that comes anyway
/// must be the origin of the token endpoint this flow would use, with the
/// flow's workspace and metadata filled in (tenant-hosted providers such as
/// Zendesk answer from the tenant's own host).
fn check_issuer(
    provider: &Provider,
    inputs: &ProviderInputs<'_>,
    token_url: &Url,
    iss: Option<&str>,
) -> DomainResult<IssuerCheck> {
    let published = provider.oauth2.as_ref().and_then(|o| o.issuer.as_deref());
    let outcome = match (published, iss) {
        (Some(template), iss) => {
            let expected = provider.fill_placeholders(template, inputs)?;
            match iss {
                None => IssuerCheck::Missing(expected),
                Some(iss) if iss.trim_end_matches('/') == expected.trim_end_matches('/') => {
                    IssuerCheck::Accepted
                }
                Some(iss) => IssuerCheck::Mismatch(iss.to_owned()),
            }
        }
        (None, None) => IssuerCheck::Accepted,
        (None, Some(iss)) => {
            let expected = token_url.origin().ascii_serialization();
            let actual = Url::parse(iss)
                .ok()
                .map(|u| u.origin().ascii_serialization());
            if actual.as_deref() == Some(expected.as_str()) {
                IssuerCheck::Accepted
            } else {
                IssuerCheck::Mismatch(iss.to_owned())
            }
        }
    };
    Ok(outcome)
}
