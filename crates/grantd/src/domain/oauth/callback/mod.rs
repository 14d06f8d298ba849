//! Finishing an authorization flow when the provider sends the browser back.
//!
//! This module holds the words the callback is told and answers in; the
//! steps live in the children, each with one job: `complete` runs a callback
//! from its state to its outcome, `checks` decides what the callback itself
//! shows before any code is sent, `exchange` trades the code for tokens,
//! `store` writes the connection, `record` writes down how the flow ended,
//! and `failure` classifies the ways a flow stops short of a connection.

mod checks;
mod complete;
mod exchange;
pub mod failure;
mod record;
mod store;

use crate::secrets::SecretString;
use failure::FlowFailure;

/// The query of `GET /callbacks/v1/oauth`, parsed: the provider's answer is
/// either a refusal, a code, or neither, never a mix of the three.
#[derive(Debug)]
pub struct CallbackInput {
    pub state: Option<String>,
    pub answer: ProviderAnswer,
    /// RFC 9207 issuer identifier.
    pub iss: Option<String>,
    /// The flow's CSRF cookie (`csrf_cookie_name(state)`), when the browser sent it.
    pub csrf_cookie: Option<SecretString>,
}

/// What the provider answered the authorization request with.
#[derive(Debug)]
pub enum ProviderAnswer {
    /// An `error` (the person declined, or the request was refused).
    Denied {
        error: String,
        description: Option<String>,
    },
    /// A non-empty authorization code.
    Code(SecretString),
    /// Neither an error nor a code.
    NoCode,
}

impl ProviderAnswer {
    /// Reads the answer from the callback's query. An `error` wins over a
    /// code (RFC 6749 §4.1.2.1 sends one or the other), and an empty code is
    /// no code.
    pub fn from_query(
        code: Option<SecretString>,
        error: Option<String>,
        error_description: Option<String>,
    ) -> Self {
        match (error, code) {
            (Some(error), _) => ProviderAnswer::Denied {
                error,
                description: error_description,
            },
            (None, Some(code)) if !code.is_empty() => ProviderAnswer::Code(code),
            (None, _) => ProviderAnswer::NoCode,
        }
    }
}

/// Why a callback was refused before anything was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackRejection {
    MissingState,
    /// Unknown, already used, or expired: deliberately not told apart.
    InvalidState,
    /// A CSRF-protected flow's state arrived without the cookie of the
    /// browser that started it. The flow is spent; nothing was stored.
    CsrfMismatch,
}

/// Where the result of a connect-page flow goes besides the callback page.
#[derive(Debug, Clone)]
pub struct ConnectReturn {
    pub session_id: String,
    /// Allow-listed URL the browser goes back to when the flow ran without a
    /// popup; `connectionId`, `status`, … are added to its query.
    pub return_url: Option<String>,
    /// Allow-listed origin of the page embedding or opening the connect page.
    pub parent_origin: Option<String>,
}

/// How a callback with a valid state ended.
#[derive(Debug, Clone)]
pub enum CallbackOutcome {
    Rejected(CallbackRejection),
    Connected {
        project_id: String,
        connection_id: String,
        provider: String,
        opener_origin: String,
        reauthorized: bool,
        /// Set when the flow was started from the hosted connect page.
        connect: Option<ConnectReturn>,
    },
    Failed {
        provider: String,
        opener_origin: String,
        connection_id: Option<String>,
        failure: FlowFailure,
        /// Set when the flow was started from the hosted connect page.
        connect: Option<ConnectReturn>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: Option<&str>, error: Option<&str>) -> ProviderAnswer {
        ProviderAnswer::from_query(
            code.map(|c| SecretString::new(c.to_owned())),
            error.map(str::to_owned),
            Some("why".into()),
        )
    }

    #[test]
    fn an_error_wins_over_a_code_and_an_empty_code_is_none() {
        assert!(matches!(
            answer(Some("abc"), Some("access_denied")),
            ProviderAnswer::Denied { ref error, ref description }
                if error == "access_denied" && description.as_deref() == Some("why")
        ));
        assert!(
            matches!(answer(Some("abc"), None), ProviderAnswer::Code(ref c) if c.expose() == "abc")
        );
        assert!(matches!(answer(Some(""), None), ProviderAnswer::NoCode));
        assert!(matches!(answer(None, None), ProviderAnswer::NoCode));
    }
}
