//! The shape of a catalog entry: what the TOML files may say about a provider.

pub use crate::domain::model::AuthScheme;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Whether a provider takes PKCE (RFC 7636) on the authorization code flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PkceSupport {
    Required,
    #[default]
    Allowed,
    Unsupported,
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenAuth {
    /// `client_id` and `client_secret` in the request body.
    #[default]
    Body,
    /// HTTP Basic with the client id and secret (RFC 6749 §2.3.1).
    Basic,
}

/// Encoding of token request bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenRequestFormat {
    #[default]
    Form,
    Json,
}

/// A per-connection input (workspace or metadata) and the pattern it must match.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InputSpec {
    #[serde(default = "yes")]
    pub required: bool,
    #[serde(default)]
    pub label: Option<String>,
    pub pattern: String,
    /// Where the end user finds this value.
    #[serde(default)]
    pub docs_url: Option<String>,
    /// Workspace only: the host URLs use when no workspace is given, for a
    /// provider with a shared login host besides per-tenant ones
    /// (Salesforce: `login.salesforce.com` without My Domain). Every URL
    /// whose host names `{workspace}` then has this host instead.
    #[serde(default)]
    pub default_host: Option<String>,
    #[serde(skip)]
    pub(super) compiled: Option<Regex>,
}

fn yes() -> bool {
    true
}

impl InputSpec {
    pub fn accepts(&self, value: &str) -> bool {
        self.compiled.as_ref().is_some_and(|re| re.is_match(value))
    }

    /// Every value the pattern takes, when it lists them (`^(com|eu)$`,
    /// `^eu[12]$`); `None` when it takes open input (`^[a-z]+$`) or is
    /// anchored only in part (`^a|b$`).
    pub fn listed_values(&self) -> Option<Vec<String>> {
        use regex_syntax::hir::{literal::Extractor, Hir, HirKind, Look};
        let hir = regex_syntax::parse(&self.pattern).ok()?;
        let HirKind::Concat(parts) = hir.kind() else {
            return None;
        };
        let (first, rest) = parts.split_first()?;
        let (last, middle) = rest.split_last()?;
        let anchored = matches!(first.kind(), HirKind::Look(Look::Start))
            && matches!(last.kind(), HirKind::Look(Look::End))
            && middle
                .iter()
                .all(|part| part.properties().look_set().is_empty());
        if !anchored {
            return None;
        }
        let literals = Extractor::new().extract(&Hir::concat(middle.to_vec()));
        if !literals.is_exact() {
            return None;
        }
        literals
            .literals()?
            .iter()
            .map(|literal| String::from_utf8(literal.as_bytes().to_vec()).ok())
            .collect()
    }
}

/// OAuth 2.0 endpoints and the provider's quirks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OAuth2Spec {
    #[serde(default)]
    pub authorize_url: Option<String>,
    pub token_url: String,
    /// Where refresh_token grants go, for the few providers that take them
    /// somewhere other than `tokenUrl`.
    #[serde(default)]
    pub refresh_url: Option<String>,
    #[serde(default)]
    pub revocation_url: Option<String>,
    /// RFC 9207 issuer (placeholders allowed). When set, every callback must
    /// carry it as `iss`; when unset, an `iss` a callback carries anyway must
    /// be the origin of the token URL built for the flow.
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default = "space")]
    pub scope_separator: String,
    /// Sent when the provider app configures no scopes of its own.
    #[serde(default)]
    pub default_scopes: Vec<String>,
    /// Always sent, whatever the app configures (e.g. `offline_access`).
    #[serde(default)]
    pub required_scopes: Vec<String>,
    /// The provider refuses an authorization request without scopes, so a
    /// provider app must name some (Ampersand's `explicitScopesRequired`).
    #[serde(default)]
    pub scopes_required: bool,
    /// Unset means `allowed`; shipped authorization-code entries must set it,
    /// because sending PKCE by default changed or broke some providers'
    /// flows (Square's refresh tokens become single-use).
    #[serde(default)]
    pub pkce: Option<PkceSupport>,

    #[serde(default)]
    pub token_auth: TokenAuth,
    #[serde(default)]
    pub token_request_format: TokenRequestFormat,
    #[serde(default = "yes")]
    pub tokens_expire: bool,
    #[serde(default)]
    pub authorize_params: BTreeMap<String, String>,
    /// Extra parameters sent with every token request.
    #[serde(default)]
    pub token_params: BTreeMap<String, String>,
    /// Metadata name -> dot path in the token response, kept on the connection.
    #[serde(default)]
    pub token_metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub access_token_path: Option<String>,
    #[serde(default)]
    pub refresh_token_path: Option<String>,
    #[serde(default)]
    pub expires_in_path: Option<String>,
    #[serde(default)]
    pub scope_path: Option<String>,
    #[serde(default)]
    pub post_auth: Option<PostAuthSpec>,
}

/// A read made with the new access token right after it is obtained, for ids
/// the token response lacks (Atlassian's cloud id, Xero's tenant id).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostAuthSpec {
    pub url: String,
    /// Metadata name -> dot path in the JSON answer.
    pub metadata: BTreeMap<String, String>,
}

impl OAuth2Spec {
    /// Scopes for an authorization request: the required ones, then the
    /// app's own or, when it has none, the catalog defaults.
    pub(crate) fn scopes_for(&self, app_scopes: &[String]) -> Vec<String> {
        let chosen = if app_scopes.is_empty() {
            &self.default_scopes
        } else {
            app_scopes
        };
        let mut scopes: Vec<String> = Vec::with_capacity(self.required_scopes.len() + chosen.len());
        for scope in self.required_scopes.iter().chain(chosen) {
            if !scope.is_empty() && !scopes.contains(scope) {
                scopes.push(scope.clone());
            }
        }
        scopes
    }
}

fn space() -> String {
    " ".to_owned()
}

/// Where a static API key goes on requests to the provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiKeySpec {
    #[serde(rename = "in")]
    pub location: String,
    pub name: String,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub docs_url: Option<String>,
}

/// Which half of a basic-auth pair carries an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BasicField {
    Username,
    Password,
}

/// How a provider's basic auth is filled in.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BasicSpec {
    #[serde(default)]
    pub docs_url: Option<String>,
    /// The pair is really an API key placed in one field.
    #[serde(default)]
    pub api_key_as_basic: bool,
    #[serde(default)]
    pub field_used: Option<BasicField>,
}

/// One provider as the catalog describes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Provider {
    #[serde(skip_deserializing)]
    pub name: String,
    /// Other names the entry answers to, such as its name before grantd
    /// adopted Ampersand's identifiers: every API field and path that takes a
    /// provider accepts them and resolves them to `name`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    pub display_name: String,

    pub category: String,
    #[serde(default)]
    pub docs_url: Option<String>,
    #[serde(default)]
    pub api_base_url: Option<String>,
    /// Official pages the entry's URLs were checked against; empty when
    /// they could not be confirmed there.
    #[serde(default)]
    pub sources: Vec<String>,
    pub auth_schemes: Vec<AuthScheme>,
    #[serde(default)]
    pub workspace: Option<InputSpec>,
    #[serde(default)]
    pub metadata: BTreeMap<String, InputSpec>,
    #[serde(default)]
    pub oauth2: Option<OAuth2Spec>,
    #[serde(default)]
    pub api_key: Option<ApiKeySpec>,
    #[serde(default)]
    pub basic: Option<BasicSpec>,
    /// What calls through grantd's proxy need beyond `apiBaseUrl`.
    #[serde(default)]
    pub proxy: Option<ProxySpec>,
    /// Whether the proxy may send this entry's credentials to its API base:
    /// set by the lint when the base builds and its host cannot be chosen
    /// freely by an input (see `lint::check_host_inputs`).
    #[serde(skip)]
    pub(super) proxyable: bool,
    /// With `custom` in `authSchemes`: the inputs a connection supplies and
    /// where requests to the provider carry them.
    #[serde(default)]
    pub custom_auth: Option<CustomAuthSpec>,
}

/// How calls through grantd's proxy reach a provider's API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxySpec {
    /// Base of proxied calls when it differs from `apiBaseUrl` (placeholders
    /// allowed, like every URL of the entry).
    #[serde(default)]
    pub base_url: Option<String>,
    /// A metadata value holding the whole base URL, read from the token
    /// response (Salesforce's `instance_url`). Used when present and its
    /// host is one of `baseUrlHosts`; the template otherwise.
    #[serde(default)]
    pub base_url_metadata: Option<String>,
    /// Domains a `baseUrlMetadata` value may point into: the domain itself
    /// or any host under it (`salesforce.com`).
    #[serde(default)]
    pub base_url_hosts: Vec<String>,
    /// Headers the provider requires on every call (`Notion-Version`); a
    /// caller's own value wins.
    #[serde(default)]
    pub default_headers: BTreeMap<String, String>,
}

/// Ampersand's custom auth: named inputs (`customAuth` in
/// connections:generate) and the headers and query parameters made from
/// them with `{input}` templates.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomAuthSpec {
    pub inputs: Vec<CustomInputSpec>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomInputSpec {
    pub name: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub docs_url: Option<String>,
}

/// Categories an entry may name; a closed list so the catalog stays browsable.
pub const CATEGORIES: &[&str] = &[
    "crm",
    "marketing",
    "advertising",
    "support",
    "communication",
    "productivity",
    "storage",
    "developer-tools",
    "analytics",
    "finance",
    "hr",
    "ecommerce",
    "security",
];

/// Whether plain-http URLs to loopback hosts are acceptable. Shipped entries
/// must be https; a user's file may point at a local test double.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlPolicy {
    HttpsOnly,
    AllowLoopbackHttp,
}
