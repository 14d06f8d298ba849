//! How a flow stops short of a connection: the failures the callback page
//! and the connect session report, told apart from grantd's own errors.
//! Apart so that each step of the callback returns the same two kinds of
//! stop, and one place names their codes.

use crate::domain::error::DomainError;
use crate::storage::FlowOutcome;

/// Why a flow with a valid state ended without a connection. Its
/// [`code`](FlowFailure::code) and [`description`](FlowFailure::description)
/// are what the callback page, the opener's message and the connect session
/// report as `error` and `errorDescription`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowFailure {
    /// The provider answered the authorization request with an error
    /// (the person declined, or the request was refused).
    ProviderDenied {
        error: String,
        description: Option<String>,
    },
    /// The flow's provider left the catalog (or lost its OAuth section)
    /// while the person was at the provider.
    UnknownProvider {
        provider: String,
        in_catalog: bool,
    },
    /// The catalog names the provider's issuer, and the response carries no
    /// `iss` (RFC 9207).
    MissingIssuer {
        provider: String,
        expected: String,
    },
    /// `iss` names another authorization server: a mix-up.
    IssuerMismatch {
        provider: String,
        iss: String,
    },
    MissingCode,
    ProviderAppDeleted,
    /// The connection being re-authorized was deleted meanwhile.
    ConnectionDeleted,
    /// The token endpoint refused the code.
    ExchangeRejected {
        error: String,
        description: Option<String>,
    },
    /// The token endpoint could not be reached or failed: trying again may work.
    ProviderUnavailable {
        detail: String,
    },
}

impl FlowFailure {
    /// The OAuth-style error code.
    pub fn code(&self) -> &str {
        match self {
            FlowFailure::ProviderDenied { error, .. }
            | FlowFailure::ExchangeRejected { error, .. } => error,
            FlowFailure::UnknownProvider { .. } => "unknown_provider",
            FlowFailure::MissingIssuer { .. } | FlowFailure::MissingCode => "invalid_request",
            FlowFailure::IssuerMismatch { .. } => "issuer_mismatch",
            FlowFailure::ProviderAppDeleted => "provider_app_deleted",
            FlowFailure::ConnectionDeleted => "connection_deleted",
            FlowFailure::ProviderUnavailable { .. } => "provider_unavailable",
        }
    }

    /// What went wrong, for a person.
    pub fn description(&self) -> Option<String> {
        match self {
            FlowFailure::ProviderDenied { description, .. }
            | FlowFailure::ExchangeRejected { description, .. } => description.clone(),
            FlowFailure::UnknownProvider {
                provider,
                in_catalog: false,
            } => Some(format!("{provider} left the catalog")),
            FlowFailure::UnknownProvider { .. } => None,
            FlowFailure::MissingIssuer { provider, expected } => Some(format!(
                "the response carries no iss, but {provider} always sends {expected} (RFC 9207)"
            )),
            FlowFailure::IssuerMismatch { provider, iss } => {
                Some(format!("the response came from {iss}, not from {provider}"))
            }
            FlowFailure::MissingCode => Some("the provider sent no code".into()),
            FlowFailure::ProviderAppDeleted => Some("the provider app was deleted".into()),
            FlowFailure::ConnectionDeleted => {
                Some("the connection was deleted during authorization".into())
            }
            FlowFailure::ProviderUnavailable { detail } => Some(detail.clone()),
        }
    }

    /// The provider could not be reached or failed; trying again may work.
    pub fn is_retryable(&self) -> bool {
        matches!(self, FlowFailure::ProviderUnavailable { .. })
    }

    /// How the flow's row records it: the provider's own refusal, or a
    /// failure on the way to a connection.
    pub(super) fn flow_outcome(&self) -> FlowOutcome {
        match self {
            FlowFailure::ProviderDenied { .. } => FlowOutcome::ProviderError,
            _ => FlowOutcome::ExchangeFailed,
        }
    }

    /// `code: description`, as the flow's row keeps it.
    pub(super) fn detail(&self) -> String {
        match self.description() {
            Some(d) => format!("{}: {d}", self.code()),
            None => self.code().to_owned(),
        }
    }
}

/// Why a flow stopped short of a connection: a failure to report on the
/// callback page, or an error of grantd's own.
pub(super) enum FlowStop {
    Failed(FlowFailure),
    Error(DomainError),
}

impl From<FlowFailure> for FlowStop {
    fn from(failure: FlowFailure) -> Self {
        FlowStop::Failed(failure)
    }
}

impl<E: Into<DomainError>> From<E> for FlowStop {
    fn from(error: E) -> Self {
        FlowStop::Error(error.into())
    }
}
