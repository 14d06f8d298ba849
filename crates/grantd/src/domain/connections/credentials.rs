//! Credentials a caller supplies (connections:generate, updateConnection),
//! parsed once into one variant per scheme whose fields are known to be
//! present and filled. The operations that store or exchange them never
//! check presence again.

use crate::domain::catalog::{AuthScheme, Provider};
use crate::domain::error::FieldIssue;
use crate::domain::fields::{required, Filled, Secret};
use crate::domain::model::{Timestamp, Token};
use crate::secrets::SecretString;
use std::collections::BTreeMap;

/// Tokens a caller imports from an authorization-code grant made elsewhere.
#[derive(Debug, Clone)]
pub enum ImportedTokens {
    /// A working access token, maybe with the refresh token that renews it.
    Access {
        access: Token,
        refresh: Option<Token>,
    },
    /// Only a refresh token: grantd redeems it before storing anything.
    RefreshOnly(Token),
}

/// A caller's credentials for one scheme, every required field present.
#[derive(Debug, Clone)]
pub enum SuppliedCredentials {
    /// A provider without auth; nothing was sent.
    None,
    ApiKey(Secret),
    Basic {
        username: Filled,
        /// May be empty (some APIs take a key as the username alone), but sent.
        password: SecretString,
    },
    ClientCredentials {
        client_id: Filled,
        client_secret: Secret,
        scopes: Vec<String>,
    },
    Password {
        username: Filled,
        password: Secret,
        client_id: Filled,
        /// Public clients have none.
        client_secret: Option<SecretString>,
        scopes: Vec<String>,
    },
    AuthorizationCode {
        tokens: ImportedTokens,
        scopes: Vec<String>,
    },
    /// The provider's custom-auth inputs, exactly those it declares.
    Custom(BTreeMap<String, SecretString>),
}

/// A token as a caller imports it; a blank one counts as absent.
pub fn imported_token(
    token: Option<SecretString>,
    issued_at: Option<Timestamp>,
    expires_at: Option<Timestamp>,
) -> Option<Token> {
    let token = token.filter(|t| !t.is_empty())?;
    Some(Token {
        token,
        issued_at,
        expires_at,
    })
}

impl SuppliedCredentials {
    /// `apiKey`.
    pub fn api_key(key: SecretString, issues: &mut Vec<FieldIssue>) -> Option<Self> {
        Secret::parse("apiKey", Some(key), issues).map(Self::ApiKey)
    }

    /// `basicAuth`.
    pub fn basic(
        username: Option<String>,
        password: Option<SecretString>,
        issues: &mut Vec<FieldIssue>,
    ) -> Option<Self> {
        let username = Filled::parse("basicAuth.username", username, issues);
        if password.is_none() {
            issues.push(required("basicAuth.password"));
        }
        Some(Self::Basic {
            username: username?,
            password: password?,
        })
    }

    /// `oauth2ClientCredentials`.
    pub fn client_credentials(
        client_id: Option<String>,
        client_secret: Option<SecretString>,
        scopes: Option<Vec<String>>,
        issues: &mut Vec<FieldIssue>,
    ) -> Option<Self> {
        let client_id = Filled::parse("oauth2ClientCredentials.clientId", client_id, issues);
        let client_secret = Secret::parse(
            "oauth2ClientCredentials.clientSecret",
            client_secret,
            issues,
        );
        Some(Self::ClientCredentials {
            client_id: client_id?,
            client_secret: client_secret?,
            scopes: scopes.unwrap_or_default(),
        })
    }

    /// `oauth2PasswordCredentials`.
    pub fn password(
        username: Option<String>,
        password: Option<SecretString>,
        client_id: Option<String>,
        client_secret: Option<SecretString>,
        scopes: Option<Vec<String>>,
        issues: &mut Vec<FieldIssue>,
    ) -> Option<Self> {
        let username = Filled::parse("oauth2PasswordCredentials.username", username, issues);
        let password = Secret::parse("oauth2PasswordCredentials.password", password, issues);
        let client_id = Filled::parse("oauth2PasswordCredentials.clientId", client_id, issues);
        Some(Self::Password {
            username: username?,
            password: password?,
            client_id: client_id?,
            client_secret,
            scopes: scopes.unwrap_or_default(),
        })
    }

    /// `oauth2AuthorizationCode`: an access token, a refresh token or both
    /// (a refresh token alone is enough: grantd redeems it at once).
    pub fn authorization_code(
        access: Option<Token>,
        refresh: Option<Token>,
        scopes: Option<Vec<String>>,
        issues: &mut Vec<FieldIssue>,
    ) -> Option<Self> {
        let tokens = match (access, refresh) {
            (Some(access), refresh) => ImportedTokens::Access { access, refresh },
            (None, Some(refresh)) => ImportedTokens::RefreshOnly(refresh),
            (None, None) => {
                issues.push(FieldIssue::body(
                    "oauth2AuthorizationCode.accessToken.token",
                    serde_json::Value::Null,
                    "oauth2AuthorizationCode needs accessToken.token, refreshToken.token or both",
                ));
                return None;
            }
        };
        Some(Self::AuthorizationCode {
            tokens,
            scopes: scopes.unwrap_or_default(),
        })
    }

    /// `customAuth`: exactly the inputs the provider's catalog entry
    /// declares, none blank. Without a known provider with custom auth
    /// there is nothing to check them against (the provider and scheme
    /// checks say why).
    pub fn custom(
        provider: Option<&Provider>,
        values: BTreeMap<String, SecretString>,
        issues: &mut Vec<FieldIssue>,
    ) -> Option<Self> {
        let spec = provider.and_then(|p| Some((p, p.custom_auth.as_ref()?)));
        let Some((provider, spec)) = spec else {
            return Some(Self::Custom(values));
        };
        let before = issues.len();
        for input in &spec.inputs {
            if values.get(&input.name).is_none_or(|v| v.is_empty()) {
                issues.push(required(&format!("customAuth.{}", input.name)));
            }
        }
        for name in values.keys() {
            if !spec.inputs.iter().any(|i| &i.name == name) {
                issues.push(FieldIssue::body(
                    format!("customAuth.{name}"),
                    serde_json::Value::Null,
                    format!(
                        "provider {} has no custom-auth input named {name}",
                        provider.name
                    ),
                ));
            }
        }
        (issues.len() == before).then_some(Self::Custom(values))
    }

    pub fn scheme(&self) -> AuthScheme {
        match self {
            Self::None => AuthScheme::None,
            Self::ApiKey(_) => AuthScheme::ApiKey,
            Self::Basic { .. } => AuthScheme::Basic,
            Self::ClientCredentials { .. } => AuthScheme::OAuth2ClientCredentials,
            Self::Password { .. } => AuthScheme::OAuth2Password,
            Self::AuthorizationCode { .. } => AuthScheme::OAuth2AuthorizationCode,
            Self::Custom(_) => AuthScheme::Custom,
        }
    }
}

/// The body field that carries a scheme's credentials.
pub fn scheme_field(scheme: AuthScheme) -> &'static str {
    match scheme {
        AuthScheme::ApiKey => "apiKey",
        AuthScheme::Basic => "basicAuth",
        AuthScheme::OAuth2ClientCredentials => "oauth2ClientCredentials",
        AuthScheme::OAuth2Password => "oauth2PasswordCredentials",
        AuthScheme::OAuth2AuthorizationCode | AuthScheme::OAuth2AuthorizationCodePkce => {
            "oauth2AuthorizationCode"
        }
        AuthScheme::Custom => "customAuth",
        AuthScheme::None => "provider",
    }
}

/// Which scheme a body's credential blocks are for: exactly one of them,
/// or none for a provider without auth, and one the provider supports.
/// `given` lists the blocks present, in the body's order.
pub fn choose_scheme(
    given: &[AuthScheme],
    provider: Option<&Provider>,
    issues: &mut Vec<FieldIssue>,
) -> Option<AuthScheme> {
    let no_auth = provider.is_some_and(|p| p.supports(AuthScheme::None));
    let scheme = match given {
        [one] => *one,
        [] if no_auth => AuthScheme::None,
        [] => {
            issues.push(FieldIssue::body(
                "apiKey",
                serde_json::Value::Null,
                "exactly one of apiKey, basicAuth, oauth2ClientCredentials, oauth2PasswordCredentials, \
                 oauth2AuthorizationCode, customAuth is required; none was given",
            ));
            return None;
        }
        many => {
            let fields: Vec<&str> = many.iter().map(|s| scheme_field(*s)).collect();
            issues.push(FieldIssue::body(
                fields[1],
                serde_json::Value::Null,
                format!(
                    "exactly one credential scheme may be given; got {}",
                    fields.join(", ")
                ),
            ));
            return None;
        }
    };
    if let Some(provider) = provider.filter(|p| !p.supports(scheme)) {
        issues.push(FieldIssue::body(
            scheme_field(scheme),
            serde_json::Value::Null,
            format!(
                "provider {} does not support {}",
                provider.name,
                scheme.as_str()
            ),
        ));
        return None;
    }
    Some(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(issues: &[FieldIssue]) -> Vec<&str> {
        issues.iter().map(|i| i.name.as_str()).collect()
    }

    #[test]
    fn a_scheme_missing_its_required_fields_names_each_and_builds_nothing() {
        let mut issues = Vec::new();
        let parsed = SuppliedCredentials::password(
            Some(" ".into()),
            None,
            Some("client".into()),
            None,
            None,
            &mut issues,
        );
        assert!(parsed.is_none());
        assert_eq!(
            names(&issues),
            [
                "oauth2PasswordCredentials.username",
                "oauth2PasswordCredentials.password"
            ]
        );
    }

    #[test]
    fn basic_auth_takes_an_empty_password_but_not_a_missing_one() {
        let mut issues = Vec::new();
        let empty = SuppliedCredentials::basic(
            Some("user".into()),
            Some(SecretString::default()),
            &mut issues,
        );
        assert!(matches!(empty, Some(SuppliedCredentials::Basic { .. })));
        assert!(issues.is_empty());
        assert!(SuppliedCredentials::basic(Some("user".into()), None, &mut issues).is_none());
        assert_eq!(names(&issues), ["basicAuth.password"]);
    }

    #[test]
    fn imported_tokens_need_one_filled_token_and_a_refresh_token_alone_is_enough() {
        let mut issues = Vec::new();
        let blank = imported_token(Some(SecretString::default()), None, None);
        assert!(blank.is_none(), "a blank token counts as absent");
        let refresh = imported_token(Some(SecretString::new("r")), None, None);
        let parsed = SuppliedCredentials::authorization_code(None, refresh, None, &mut issues);
        assert!(matches!(
            parsed,
            Some(SuppliedCredentials::AuthorizationCode {
                tokens: ImportedTokens::RefreshOnly(_),
                ..
            })
        ));
        assert!(SuppliedCredentials::authorization_code(None, None, None, &mut issues).is_none());
        assert_eq!(
            names(&issues),
            ["oauth2AuthorizationCode.accessToken.token"]
        );
    }

    #[test]
    fn exactly_one_credential_scheme_is_chosen() {
        let mut issues = Vec::new();
        assert_eq!(
            choose_scheme(&[AuthScheme::Basic], None, &mut issues),
            Some(AuthScheme::Basic)
        );
        assert!(choose_scheme(&[], None, &mut issues).is_none());
        assert!(
            choose_scheme(&[AuthScheme::ApiKey, AuthScheme::Custom], None, &mut issues).is_none()
        );
        assert_eq!(names(&issues), ["apiKey", "customAuth"]);
        assert!(
            issues[1].detail.ends_with("got apiKey, customAuth"),
            "{}",
            issues[1].detail
        );
    }
}
