//! Wire shape of the OAuth callback: the provider's query.

use crate::secrets::SecretString;
use serde::Deserialize;

/// The authorization response (RFC 6749 §4.1.2, RFC 9207).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    pub state: Option<String>,
    #[param(value_type = Option<String>)]
    pub code: Option<SecretString>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub iss: Option<String>,
}
