//! The provider catalog: what grantd knows about each SaaS provider, as data.
//!
//! Providers are described in TOML (`providers/*.toml`, compiled into the
//! binary) rather than in code, so adding one or pointing grantd at a test
//! double is an edit to a file. A user file (`GRANTD_PROVIDERS_FILE`) adds
//! entries or replaces shipped ones by name. Every entry is checked when it is
//! loaded; a catalog that loads is one whose URLs all build.

use super::error::{DomainError, FieldIssue};
use super::model::ProviderMetadata;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use url::Url;

/// The catalog shipped with grantd: one file per family of providers, all
/// compiled into the binary.
pub const BUILTIN_FILES: &[(&str, &str)] = &[
    ("crm.toml", include_str!("../../providers/crm.toml")),
    (
        "marketing.toml",
        include_str!("../../providers/marketing.toml"),
    ),
    (
        "support-communication.toml",
        include_str!("../../providers/support-communication.toml"),
    ),
    (
        "productivity-storage.toml",
        include_str!("../../providers/productivity-storage.toml"),
    ),
    (
        "developer-analytics.toml",
        include_str!("../../providers/developer-analytics.toml"),
    ),
    ("finance.toml", include_str!("../../providers/finance.toml")),
    (
        "hr-ecommerce.toml",
        include_str!("../../providers/hr-ecommerce.toml"),
    ),
];

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

/// Ways a connection can authenticate, named as Ampersand names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AuthScheme {
    #[serde(rename = "oauth2/authorizationCode")]
    OAuth2AuthorizationCode,
    #[serde(rename = "oauth2/authorizationCodePKCE")]
    OAuth2AuthorizationCodePkce,
    #[serde(rename = "oauth2/clientCredentials")]
    OAuth2ClientCredentials,
    #[serde(rename = "oauth2/password")]
    OAuth2Password,
    #[serde(rename = "apiKey")]
    ApiKey,
    #[serde(rename = "basic")]
    Basic,
}

impl AuthScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthScheme::OAuth2AuthorizationCode => "oauth2/authorizationCode",
            AuthScheme::OAuth2AuthorizationCodePkce => "oauth2/authorizationCodePKCE",
            AuthScheme::OAuth2ClientCredentials => "oauth2/clientCredentials",
            AuthScheme::OAuth2Password => "oauth2/password",
            AuthScheme::ApiKey => "apiKey",
            AuthScheme::Basic => "basic",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(value.to_owned())).ok()
    }

    fn is_oauth2(self) -> bool {
        !matches!(self, AuthScheme::ApiKey | AuthScheme::Basic)
    }
}

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
    compiled: Option<Regex>,
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
    #[serde(default)]
    pub pkce: PkceSupport,
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
}

/// Values for a provider's placeholders, already validated.
#[derive(Debug, Default, Clone)]
pub struct ProviderInputs<'a> {
    pub workspace: Option<&'a str>,
    pub metadata: BTreeMap<&'a str, &'a str>,
}

impl<'a> ProviderInputs<'a> {
    /// The inputs a connection or flow stored: its workspace and the values
    /// of its metadata.
    pub fn new(workspace: Option<&'a str>, metadata: &'a ProviderMetadata) -> Self {
        ProviderInputs {
            workspace,
            metadata: metadata
                .iter()
                .map(|(k, v)| (k.as_str(), v.value.as_str()))
                .collect(),
        }
    }
}

impl Provider {
    pub fn supports(&self, scheme: AuthScheme) -> bool {
        match scheme {
            AuthScheme::OAuth2AuthorizationCode | AuthScheme::OAuth2AuthorizationCodePkce => {
                self.auth_schemes.iter().any(|s| {
                    matches!(
                        s,
                        AuthScheme::OAuth2AuthorizationCode
                            | AuthScheme::OAuth2AuthorizationCodePkce
                    )
                })
            }
            other => self.auth_schemes.contains(&other),
        }
    }

    /// PKCE policy; a provider listing the PKCE scheme requires it.
    pub fn pkce(&self) -> PkceSupport {
        if self
            .auth_schemes
            .contains(&AuthScheme::OAuth2AuthorizationCodePkce)
        {
            return PkceSupport::Required;
        }
        self.oauth2.as_ref().map(|o| o.pkce).unwrap_or_default()
    }

    /// Checks the caller's workspace and metadata against the entry's
    /// declarations, naming each bad field.
    pub fn check_inputs(
        &self,
        workspace: Option<&str>,
        metadata: &BTreeMap<String, String>,
        issues: &mut Vec<FieldIssue>,
    ) {
        match (&self.workspace, workspace) {
            (Some(spec), None) if spec.required => issues.push(FieldIssue::body(
                "providerWorkspaceRef",
                serde_json::Value::Null,
                format!(
                    "provider {} requires providerWorkspaceRef ({})",
                    self.name,
                    spec.label.as_deref().unwrap_or("workspace")
                ),
            )),
            (Some(spec), Some(value)) if !spec.accepts(value) => issues.push(FieldIssue::body(
                "providerWorkspaceRef",
                value,
                format!("providerWorkspaceRef must match {}", spec.pattern),
            )),
            _ => {}
        }
        for (name, spec) in &self.metadata {
            let field = format!("providerMetadata.{name}");
            match metadata.get(name) {
                None if spec.required => issues.push(FieldIssue::body(
                    field,
                    serde_json::Value::Null,
                    format!("provider {} requires metadata {name}", self.name),
                )),
                Some(value) if !spec.accepts(value) => issues.push(FieldIssue::body(
                    format!("{field}.value"),
                    value.as_str(),
                    format!("{name} must match {}", spec.pattern),
                )),
                _ => {}
            }
        }
        for name in metadata.keys() {
            if !self.metadata.contains_key(name) {
                issues.push(FieldIssue::body(
                    format!("providerMetadata.{name}"),
                    name.as_str(),
                    format!("provider {} takes no metadata named {name}", self.name),
                ));
            }
        }
    }

    /// The post-auth lookup's URL for these inputs, when the entry has one.
    pub fn post_auth_url(&self, inputs: &ProviderInputs<'_>) -> Result<Option<Url>, DomainError> {
        self.oauth2
            .as_ref()
            .and_then(|o| o.post_auth.as_ref())
            .map(|p| self.build_url(&p.url, inputs))
            .transpose()
    }

    /// Substitutes `{workspace}` and `{metadataName}` placeholders and parses
    /// the result. Inputs must have passed `check_inputs`.
    pub fn build_url(
        &self,
        template: &str,
        inputs: &ProviderInputs<'_>,
    ) -> Result<Url, DomainError> {
        let template = self.with_default_host(template, inputs);
        let out = self.fill_placeholders(&template, inputs)?;
        Url::parse(&out).map_err(|e| DomainError::Internal(format!("bad provider URL {out}: {e}")))
    }

    /// `template` with the workspace's default host as its host, when no
    /// workspace is given and the host names it; otherwise as it is.
    fn with_default_host<'t>(
        &self,
        template: &'t str,
        inputs: &ProviderInputs<'_>,
    ) -> std::borrow::Cow<'t, str> {
        let default_host = self
            .workspace
            .as_ref()
            .and_then(|w| w.default_host.as_deref());
        let (Some(host), None) = (default_host, inputs.workspace) else {
            return template.into();
        };
        let Some((scheme, rest)) = template.split_once("://") else {
            return template.into();
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if !rest[..end].contains("{workspace}") {
            return template.into();
        }
        format!("{scheme}://{host}{}", &rest[end..]).into()
    }

    /// The catalog's scopes for an app, with placeholders filled in (Dynamics
    /// 365 scopes name the customer's environment host).
    pub fn scopes_for(
        &self,
        app_scopes: &[String],
        inputs: &ProviderInputs<'_>,
    ) -> Result<Vec<String>, DomainError> {
        let Some(spec) = self.oauth2.as_ref() else {
            return Ok(app_scopes.to_vec());
        };
        spec.scopes_for(app_scopes)
            .iter()
            .map(|scope| self.fill_placeholders(scope, inputs))
            .collect()
    }

    /// Replaces each `{name}` in `template` with the input of that name.
    pub fn fill_placeholders(
        &self,
        template: &str,
        inputs: &ProviderInputs<'_>,
    ) -> Result<String, DomainError> {
        let mut out = String::with_capacity(template.len() + 32);
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').ok_or_else(|| {
                DomainError::Internal(format!("unclosed placeholder in {template}"))
            })? + start;
            let name = &rest[start + 1..end];
            let value = if name == "workspace" {
                inputs.workspace
            } else {
                inputs.metadata.get(name).copied()
            };
            let value = value.ok_or_else(|| {
                DomainError::invalid(FieldIssue::body(
                    if name == "workspace" {
                        "providerWorkspaceRef".to_owned()
                    } else {
                        format!("providerMetadata.{name}")
                    },
                    serde_json::Value::Null,
                    format!("provider {} needs {name}", self.name),
                ))
            })?;
            out.push_str(value);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Every URL of the entry, with a label for lint messages.
    fn url_templates(&self) -> Vec<(String, &str)> {
        let mut optional: Vec<(String, Option<&String>)> = vec![
            ("docsUrl".into(), self.docs_url.as_ref()),
            ("apiBaseUrl".into(), self.api_base_url.as_ref()),
            (
                "workspace.docsUrl".into(),
                self.workspace.as_ref().and_then(|w| w.docs_url.as_ref()),
            ),
            (
                "apiKey.docsUrl".into(),
                self.api_key.as_ref().and_then(|k| k.docs_url.as_ref()),
            ),
            (
                "basic.docsUrl".into(),
                self.basic.as_ref().and_then(|b| b.docs_url.as_ref()),
            ),
        ];
        for (name, spec) in &self.metadata {
            optional.push((format!("metadata.{name}.docsUrl"), spec.docs_url.as_ref()));
        }
        if let Some(o) = &self.oauth2 {
            optional.push(("oauth2.authorizeUrl".into(), o.authorize_url.as_ref()));
            optional.push(("oauth2.tokenUrl".into(), Some(&o.token_url)));
            optional.push(("oauth2.refreshUrl".into(), o.refresh_url.as_ref()));
            optional.push(("oauth2.revocationUrl".into(), o.revocation_url.as_ref()));
            optional.push(("oauth2.issuer".into(), o.issuer.as_ref()));
            optional.push((
                "oauth2.postAuth.url".into(),
                o.post_auth.as_ref().map(|p| &p.url),
            ));
        }
        for (i, source) in self.sources.iter().enumerate() {
            optional.push((format!("sources[{i}]"), Some(source)));
        }
        optional
            .into_iter()
            .filter_map(|(label, url)| url.map(|u| (label, u.as_str())))
            .collect()
    }
}

/// Why a catalog failed to load.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{source_name}: not valid catalog TOML: {message}")]
    Parse {
        source_name: String,
        message: String,
    },
    #[error("{source_name}: provider {provider}: {message}")]
    Invalid {
        source_name: String,
        provider: String,
        message: String,
    },
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    providers: BTreeMap<String, Provider>,
}

/// Whether plain-http URLs to loopback hosts are acceptable. Shipped entries
/// must be https; a user's file may point at a local test double.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlPolicy {
    HttpsOnly,
    AllowLoopbackHttp,
}

/// All known providers, by name. Immutable once loaded; shared behind an `Arc`.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    providers: Arc<BTreeMap<String, Provider>>,
}

impl Catalog {
    /// The shipped catalog plus, optionally, a user file whose entries win.
    pub fn load(user_file: Option<&Path>) -> Result<Self, CatalogError> {
        let mut providers = builtin()?;
        if let Some(path) = user_file {
            providers.extend(parse_file(path, UrlPolicy::AllowLoopbackHttp)?);
        }
        Ok(Self {
            providers: Arc::new(providers),
        })
    }

    pub fn get(&self, name: &str) -> Option<&Provider> {
        self.providers.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Provider> {
        self.providers.values()
    }

    pub fn len(&self) -> usize {
        self.providers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// The README's provider table: one row per entry, by name.
    pub fn markdown_table(&self) -> String {
        let mut out = String::from(
            "| Name | Provider | Category | Auth schemes | Checked against docs |\n|---|---|---|---|---|\n",
        );
        for p in self.iter() {
            let schemes: Vec<&str> = p.auth_schemes.iter().map(|s| s.as_str()).collect();
            let display = p.display_name.replace('|', "\\|");
            let checked = if p.sources.is_empty() { "" } else { "yes" };
            out.push_str(&format!(
                "| `{}` | {display} | {} | {} | {checked} |\n",
                p.name,
                p.category,
                schemes.join(", ")
            ));
        }
        out
    }
}

/// Every shipped file, parsed and linted; a name may appear in one file only.
pub fn builtin() -> Result<BTreeMap<String, Provider>, CatalogError> {
    parse_all(BUILTIN_FILES)
}

/// Parses `(file name, text)` pairs under the shipped rules into one map.
fn parse_all(files: &[(&str, &str)]) -> Result<BTreeMap<String, Provider>, CatalogError> {
    let mut providers = BTreeMap::new();
    for (file, text) in files {
        for (name, provider) in parse(text, file, UrlPolicy::HttpsOnly)? {
            if providers.contains_key(&name) {
                return Err(CatalogError::Invalid {
                    source_name: (*file).to_owned(),
                    provider: name,
                    message: "defined in more than one shipped file".into(),
                });
            }
            providers.insert(name, provider);
        }
    }
    Ok(providers)
}

/// Reads, parses and lints a catalog file from disk.
pub fn parse_file(
    path: &Path,
    policy: UrlPolicy,
) -> Result<BTreeMap<String, Provider>, CatalogError> {
    let text = std::fs::read_to_string(path).map_err(|error| CatalogError::Io {
        path: path.display().to_string(),
        error,
    })?;
    parse(&text, &path.display().to_string(), policy)
}

/// Parses and lints one catalog file.
pub fn parse(
    text: &str,
    source_name: &str,
    policy: UrlPolicy,
) -> Result<BTreeMap<String, Provider>, CatalogError> {
    let file: CatalogFile = toml::from_str(text).map_err(|e| CatalogError::Parse {
        source_name: source_name.to_owned(),
        message: e.to_string(),
    })?;
    let mut out = BTreeMap::new();
    for (name, mut provider) in file.providers {
        provider.name = name.clone();
        lint(&mut provider, policy).map_err(|message| CatalogError::Invalid {
            source_name: source_name.to_owned(),
            provider: name.clone(),
            message,
        })?;
        out.insert(name, provider);
    }
    Ok(out)
}

/// The rules every entry obeys; also compiles the input patterns.
fn lint(provider: &mut Provider, policy: UrlPolicy) -> Result<(), String> {
    let name = &provider.name;
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !name_ok {
        return Err("name must be lowercase letters, digits, '-' or '_'".into());
    }
    if provider.auth_schemes.is_empty() {
        return Err("authSchemes is empty".into());
    }
    if !CATEGORIES.contains(&provider.category.as_str()) {
        return Err(format!(
            "category {:?} is not one of {}",
            provider.category,
            CATEGORIES.join(", ")
        ));
    }
    if policy == UrlPolicy::HttpsOnly {
        // Shipped entries are documentation too: say where to read more and
        // where the API lives.
        if provider.docs_url.is_none() {
            return Err("docsUrl is missing".into());
        }
        if provider.api_base_url.is_none() {
            return Err("apiBaseUrl is missing".into());
        }
    }
    let needs_oauth2 = provider.auth_schemes.iter().any(|s| s.is_oauth2());
    match (&provider.oauth2, needs_oauth2) {
        (None, true) => return Err("an oauth2/* scheme is listed but [oauth2] is missing".into()),
        (Some(o), _) if o.token_url.trim().is_empty() => {
            return Err("oauth2.tokenUrl is empty".into())
        }
        (Some(o), _)
            if provider.supports(AuthScheme::OAuth2AuthorizationCode)
                && o.authorize_url.is_none() =>
        {
            return Err("oauth2/authorizationCode needs oauth2.authorizeUrl".into())
        }
        (Some(o), _) if o.scope_separator.is_empty() => {
            return Err("oauth2.scopeSeparator is empty".into())
        }
        _ => {}
    }
    if provider.auth_schemes.contains(&AuthScheme::ApiKey) {
        match &provider.api_key {
            None => return Err("apiKey is listed but [apiKey] is missing".into()),
            Some(k) if k.location != "header" && k.location != "query" => {
                return Err("apiKey.in must be header or query".into())
            }
            _ => {}
        }
    }
    let mut declared = BTreeSet::new();
    if let Some(spec) = provider.workspace.as_mut() {
        compile(spec, "workspace")?;
        declared.insert("workspace".to_owned());
    }
    for (input, spec) in provider.metadata.iter_mut() {
        compile(spec, input)?;
        if spec.default_host.is_some() {
            return Err(format!(
                "metadata.{input}.defaultHost: only a workspace has one"
            ));
        }
        declared.insert(input.clone());
    }
    if let Some(host) = provider
        .workspace
        .as_ref()
        .and_then(|w| w.default_host.as_deref())
    {
        let parsed = Url::parse(&format!("https://{host}/")).ok();
        if parsed.as_ref().and_then(Url::host_str) != Some(host) || host.contains(':') {
            return Err(format!(
                "workspace.defaultHost must be a bare host name: {host}"
            ));
        }
    }
    // Substitute a sample value for every placeholder (one of its values,
    // when the pattern lists them), then check the URL.
    let sample_of = |spec: &InputSpec| {
        spec.listed_values()
            .and_then(|values| values.into_iter().next())
            .unwrap_or_else(|| "sample".to_owned())
    };
    let workspace_sample = provider.workspace.as_ref().map(sample_of);
    let metadata_samples: Vec<(&str, String)> = provider
        .metadata
        .iter()
        .map(|(name, spec)| (name.as_str(), sample_of(spec)))
        .collect();
    let mut sample = ProviderInputs {
        workspace: workspace_sample.as_deref(),
        ..Default::default()
    };
    for (input, value) in &metadata_samples {
        sample.metadata.insert(*input, value.as_str());
    }
    if let Some(o) = &provider.oauth2 {
        for scope in o.default_scopes.iter().chain(&o.required_scopes) {
            for placeholder in placeholders(scope)? {
                if !declared.contains(placeholder) {
                    return Err(format!(
                        "scope {scope} uses undeclared placeholder {{{placeholder}}}"
                    ));
                }
            }
        }
        let oauth_urls = [
            o.authorize_url.as_deref(),
            Some(o.token_url.as_str()),
            o.refresh_url.as_deref(),
            o.revocation_url.as_deref(),
            o.post_auth.as_ref().map(|p| p.url.as_str()),
        ];
        for template in oauth_urls.into_iter().flatten() {
            check_host_inputs(provider, template)?;
        }
    }
    for (label, template) in provider.url_templates() {
        for placeholder in placeholders(template)? {
            if !declared.contains(placeholder) {
                return Err(format!(
                    "{label} uses undeclared placeholder {{{placeholder}}}"
                ));
            }
        }
        let url = provider
            .build_url(template, &sample)
            .map_err(|e| format!("{label} does not build: {e}"))?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        let scheme_ok = url.scheme() == "https"
            || (policy == UrlPolicy::AllowLoopbackHttp && url.scheme() == "http" && loopback);
        if !scheme_ok {
            return Err(format!("{label} must be https: {template}"));
        }
    }
    Ok(())
}

/// An input in the host of an OAuth URL (where grantd sends client secrets
/// and tokens) may only choose a host under a fixed domain: a literal domain
/// of at least two labels (`.zendesk.com`) must follow the last input that
/// takes open values, whatever its pattern allows (a pattern without dots
/// still lets an end user name `localhost` or an intranet host). An input
/// whose pattern lists its values (`^(com|eu)$`) counts as literal text.
fn check_host_inputs(provider: &Provider, template: &str) -> Result<(), String> {
    let Some((_, after_scheme)) = template.split_once("://") else {
        return Ok(());
    };
    let authority = &after_scheme[..after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len())];
    // Inputs refuse '@' and ':', so neither userinfo nor port can move the host.
    let host_and_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_and_port.strip_prefix('[') {
        Some(ip_literal) => ip_literal.split(']').next().unwrap_or_default(),
        None => host_and_port.split(':').next().unwrap_or_default(),
    };
    let mut pieces = Vec::new();
    let mut rest = host;
    while let Some(start) = rest.find('{') {
        pieces.push(HostPiece::Literal(&rest[..start]));
        let end = rest[start..]
            .find('}')
            .map(|e| e + start)
            .ok_or_else(|| format!("unclosed placeholder in {template}"))?;
        let name = &rest[start + 1..end];
        let spec = if name == "workspace" {
            provider.workspace.as_ref()
        } else {
            provider.metadata.get(name)
        };
        pieces.push(match spec.and_then(InputSpec::listed_values) {
            Some(values) => HostPiece::Listed(values),
            None => HostPiece::Open(name),
        });
        rest = &rest[end + 1..];
    }
    pieces.push(HostPiece::Literal(rest));
    let Some(last_open) = pieces.iter().rposition(|p| matches!(p, HostPiece::Open(_))) else {
        return Ok(());
    };
    let HostPiece::Open(name) = pieces[last_open] else {
        unreachable!("rposition found an open input")
    };
    let mut tails = vec![String::new()];
    for piece in &pieces[last_open + 1..] {
        tails = match piece {
            HostPiece::Literal(text) => tails.into_iter().map(|t| t + text).collect(),
            HostPiece::Listed(values) => tails
                .iter()
                .flat_map(|t| values.iter().map(move |v| format!("{t}{v}")))
                .collect(),
            HostPiece::Open(_) => unreachable!("no open input after the last one"),
        };
        if tails.len() > 256 {
            return Err(format!(
                "the inputs after {{{name}}} in the host of {template} list too many values"
            ));
        }
    }
    match tails.iter().find(|tail| !is_fixed_domain_suffix(tail)) {
        None => Ok(()),
        Some(tail) => Err(format!(
            "{{{name}}} sits in the host of {template} without a fixed domain after it \
             (found {tail:?}; expected e.g. {{{name}}}.example.com): an end user could \
             name any host, such as localhost"
        )),
    }
}

/// A host template cut at its inputs.
enum HostPiece<'t> {
    Literal(&'t str),
    /// An input whose pattern lists every value it takes.
    Listed(Vec<String>),
    /// Any other input, by name.
    Open(&'t str),
}

/// `.example.com`: a dot, then at least two non-empty DNS labels, so that
/// what precedes it can only name hosts inside that domain.
fn is_fixed_domain_suffix(tail: &str) -> bool {
    let Some(domain) = tail.strip_prefix('.') else {
        return false;
    };
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Values no input may take: each could change where a URL points.
const HOSTILE_SAMPLES: &[&str] = &[
    "a/b", "a@b", "a:b", "a?b", "a#b", "a\\b", "a b", "a%2fb", "a\nb", "",
];

fn compile(spec: &mut InputSpec, input: &str) -> Result<(), String> {
    if !spec.pattern.starts_with('^') || !spec.pattern.ends_with('$') {
        return Err(format!("pattern of {input} must be anchored with ^ and $"));
    }
    let re = Regex::new(&spec.pattern).map_err(|e| format!("pattern of {input}: {e}"))?;
    if let Some(bad) = HOSTILE_SAMPLES.iter().find(|sample| re.is_match(sample)) {
        return Err(format!(
            "pattern of {input} accepts {bad:?}; inputs must not carry URL delimiters"
        ));
    }
    spec.compiled = Some(re);
    Ok(())
}

fn placeholders(template: &str) -> Result<Vec<&str>, String> {
    let mut found = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| format!("unclosed placeholder in {template}"))?
            + start;
        found.push(&rest[start + 1..end]);
        rest = &rest[end + 1..];
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalog_passes_the_lint_with_150_providers_in_every_category() {
        let catalog = Catalog::load(None).expect("builtin catalog loads");
        assert!(catalog.len() >= 150, "{} providers", catalog.len());
        for category in CATEGORIES {
            assert!(
                catalog.iter().any(|p| p.category == *category),
                "no provider in {category}"
            );
        }
    }

    #[test]
    fn shipped_quirks_are_described_as_data() {
        let catalog = Catalog::load(None).unwrap();
        let oauth = |name: &str| catalog.get(name).unwrap().oauth2.clone().unwrap();
        let google = oauth("google");
        assert_eq!(google.authorize_params["access_type"], "offline");
        assert_eq!(google.authorize_params["prompt"], "consent");
        let atlassian = oauth("atlassian");
        assert_eq!(atlassian.authorize_params["audience"], "api.atlassian.com");
        assert_eq!(atlassian.required_scopes, ["offline_access"]);
        assert_eq!(atlassian.post_auth.unwrap().metadata["cloudId"], "0.id");
        assert_eq!(
            oauth("salesforce").token_metadata["instanceUrl"],
            "instance_url"
        );
        assert_eq!(
            oauth("notion").token_metadata["workspaceId"],
            "workspace_id"
        );
        assert_eq!(oauth("slack").scope_separator, ",");
        assert_eq!(oauth("notion").token_auth, TokenAuth::Basic);
        assert!(!oauth("github").tokens_expire);
        assert_eq!(
            catalog.get("airtable").unwrap().pkce(),
            PkceSupport::Required
        );
        let zendesk = catalog.get("zendesk").unwrap();
        assert!(zendesk.workspace.as_ref().unwrap().accepts("acme"));
        assert!(!zendesk.workspace.as_ref().unwrap().accepts("evil.com/x"));
    }

    #[test]
    fn http_urls_are_rejected_in_the_builtin_policy() {
        let text = r#"
            [providers.bad]
            displayName = "Bad"
            category = "crm"
            docsUrl = "https://example.com/docs"
            apiBaseUrl = "https://api.example.com"
            authSchemes = ["oauth2/authorizationCode"]
            [providers.bad.oauth2]
            authorizeUrl = "http://example.com/auth"
            tokenUrl = "https://example.com/token"
        "#;
        let err = parse(text, "t", UrlPolicy::HttpsOnly).unwrap_err();
        assert!(err.to_string().contains("must be https"), "{err}");
    }

    #[test]
    fn undeclared_placeholders_are_rejected() {
        let text = r#"
            [providers.bad]
            displayName = "Bad"
            category = "crm"
            docsUrl = "https://example.com/docs"
            apiBaseUrl = "https://api.example.com"
            authSchemes = ["oauth2/authorizationCode"]
            [providers.bad.oauth2]
            authorizeUrl = "https://{tenant}.example.com/auth"
            tokenUrl = "https://example.com/token"
        "#;
        let err = parse(text, "t", UrlPolicy::HttpsOnly).unwrap_err();
        assert!(err.to_string().contains("undeclared placeholder"), "{err}");
    }

    /// A minimal valid entry named `name`, with `extra` lines appended.
    fn entry(name: &str, extra: &str) -> String {
        format!(
            r#"
            [providers.{name}]
            displayName = "Example"
            category = "crm"
            docsUrl = "https://example.com/docs"
            apiBaseUrl = "https://api.example.com"
            {extra}
            "#
        )
    }

    fn lint_error(text: &str) -> String {
        parse(text, "t", UrlPolicy::HttpsOnly)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn names_must_be_lowercase() {
        let text = entry("Acme", r#"authSchemes = ["apiKey"]"#);
        assert!(lint_error(&text).contains("lowercase"));
    }

    #[test]
    fn oauth_schemes_need_a_token_url() {
        let text = entry(
            "acme",
            "authSchemes = [\"oauth2/clientCredentials\"]\n[providers.acme.oauth2]\ntokenUrl = \" \"",
        );
        assert!(lint_error(&text).contains("tokenUrl is empty"), "{text}");
        let text = entry("acme", r#"authSchemes = ["oauth2/password"]"#);
        assert!(lint_error(&text).contains("[oauth2] is missing"));
    }

    #[test]
    fn the_authorization_code_scheme_needs_an_authorize_url() {
        let text = entry(
            "acme",
            "authSchemes = [\"oauth2/authorizationCode\"]\n[providers.acme.oauth2]\ntokenUrl = \"https://example.com/token\"",
        );
        assert!(lint_error(&text).contains("needs oauth2.authorizeUrl"));
    }

    #[test]
    fn categories_come_from_the_fixed_list() {
        let text = entry("acme", r#"authSchemes = ["basic"]"#).replace("\"crm\"", "\"misc\"");
        assert!(lint_error(&text).contains("category"));
    }

    #[test]
    fn shipped_entries_need_docs_and_api_urls() {
        let text = entry("acme", r#"authSchemes = ["basic"]"#)
            .replace("apiBaseUrl = \"https://api.example.com\"", "");
        assert!(lint_error(&text).contains("apiBaseUrl is missing"));
        // A user's file may leave them out.
        assert!(parse(&text, "t", UrlPolicy::AllowLoopbackHttp).is_ok());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let text = entry("acme", "authSchemes = [\"basic\"]\ntokenUrl = \"x\"");
        assert!(lint_error(&text).contains("unknown field"));
    }

    #[test]
    fn a_name_may_be_shipped_in_one_file_only() {
        let one = entry("acme", r#"authSchemes = ["basic"]"#);
        let err = parse_all(&[("a.toml", &one), ("b.toml", &one)]).unwrap_err();
        assert!(
            err.to_string().contains("more than one shipped file"),
            "{err}"
        );
    }

    #[test]
    fn patterns_must_be_anchored() {
        let text = entry(
            "acme",
            "authSchemes = [\"basic\"]\n[providers.acme.workspace]\npattern = \"[a-z]+\"",
        );
        assert!(lint_error(&text).contains("anchored"));
    }

    #[test]
    fn an_input_pattern_that_lets_url_delimiters_through_is_rejected() {
        // Each pattern is anchored but lets one delimiter in, through which
        // an end user could move the request to another host or path.
        for pattern in [
            "^[a-z./]+$",
            "^[a-z@]+$",
            "^[a-z:]+$",
            "^[a-z?]+$",
            "^[a-z#]+$",
            "^[a-z0-9%]+$",
            "^[a-z ]+$",
            "^[a-z\\\\]+$",
            "^[a-z]*$",
            "^.+$",
        ] {
            let text = entry(
                "acme",
                &format!(
                    "authSchemes = [\"basic\"]\n[providers.acme.workspace]\npattern = '{pattern}'"
                ),
            );
            let err = lint_error(&text);
            assert!(err.contains("URL delimiters"), "{pattern}: {err}");
        }
        let text = entry(
            "acme",
            "authSchemes = [\"basic\"]\n[providers.acme.workspace]\npattern = '^[a-z0-9-]+$'",
        );
        assert!(parse(&text, "t", UrlPolicy::HttpsOnly).is_ok());
    }

    #[test]
    fn post_auth_urls_are_linted_like_the_others() {
        let text = entry(
            "acme",
            "authSchemes = [\"oauth2/clientCredentials\"]\n[providers.acme.oauth2]\ntokenUrl = \"https://example.com/token\"\n[providers.acme.oauth2.postAuth]\nurl = \"https://{site}.example.com/me\"\nmetadata = { id = \"id\" }",
        );
        assert!(lint_error(&text).contains("undeclared placeholder"));
    }

    #[test]
    fn required_scopes_come_first_and_defaults_only_fill_in() {
        let text = entry(
            "acme",
            "authSchemes = [\"oauth2/clientCredentials\"]\n[providers.acme.oauth2]\ntokenUrl = \"https://example.com/token\"\ndefaultScopes = [\"read\"]\nrequiredScopes = [\"offline\"]",
        );
        let providers = parse(&text, "t", UrlPolicy::HttpsOnly).unwrap();
        let oauth = providers["acme"].oauth2.as_ref().unwrap();
        assert_eq!(oauth.scopes_for(&[]), ["offline", "read"]);
        let app = ["write".to_owned(), "offline".to_owned()];
        assert_eq!(oauth.scopes_for(&app), ["offline", "write"]);
    }

    /// An authorization-code entry whose token URL is `token_url`, with a
    /// workspace and a `region` input of the given patterns.
    fn host_entry(token_url: &str, workspace: &str, region: &str) -> String {
        entry(
            "acme",
            &format!(
                "authSchemes = [\"oauth2/clientCredentials\"]\n\
                 [providers.acme.workspace]\npattern = '{workspace}'\n\
                 [providers.acme.metadata.region]\npattern = '{region}'\n\
                 [providers.acme.oauth2]\ntokenUrl = \"{token_url}\""
            ),
        )
    }

    const OPEN: &str = "^[a-z][a-z0-9-]{0,30}$";
    const LISTED: &str = "^(eu|us|ap)$";

    #[test]
    fn a_host_input_needs_a_literal_domain_after_it_whatever_its_pattern() {
        // The pattern refuses dots, yet the end user could still send the
        // client secret to `localhost` or an intranet host.
        for token_url in [
            "https://{workspace}/token",
            "https://{workspace}:8443/token",
            "https://{workspace}.com/token",
            "https://{workspace}example.com/token",
            "https://{workspace}.{region}/token",
            "https://api.{workspace}/token",
        ] {
            let err = lint_error(&host_entry(token_url, OPEN, OPEN));
            assert!(err.contains("without a fixed domain"), "{token_url}: {err}");
        }
        // An open input after a literal domain ends the host just the same.
        let err = lint_error(&host_entry(
            "https://{workspace}.example.{region}/token",
            OPEN,
            OPEN,
        ));
        assert!(err.contains("{region}"), "{err}");
    }

    #[test]
    fn a_host_input_under_a_fixed_domain_or_listing_its_values_passes() {
        for (token_url, region) in [
            ("https://{workspace}.example.com/token", OPEN),
            ("https://api-{workspace}.eu.example.com/token", OPEN),
            ("https://{workspace}.{region}.example.com/token", OPEN),
            ("https://{workspace}.{region}.example.com/token", LISTED),
            // Listed values are literal text: `.eu.example.com`, …
            ("https://{workspace}.{region}.example.com/token", LISTED),
            // A host made only of listed values is one of a fixed few.
            ("https://login.example.{region}/token", LISTED),
            ("https://example.com/{workspace}/token", OPEN),
        ] {
            let text = host_entry(token_url, OPEN, region);
            parse(&text, "t", UrlPolicy::HttpsOnly).unwrap_or_else(|e| panic!("{token_url}: {e}"));
        }
        // …but a listed value alone is no registrable domain.
        let err = lint_error(&host_entry(
            "https://{workspace}.{region}/token",
            OPEN,
            LISTED,
        ));
        assert!(err.contains("without a fixed domain"), "{err}");
    }

    #[test]
    fn only_fully_anchored_finite_patterns_list_their_values() {
        let spec = |pattern: &str| InputSpec {
            required: true,
            label: None,
            pattern: pattern.to_owned(),
            docs_url: None,
            default_host: None,
            compiled: None,
        };
        let mut listed = spec("^(com|eu|com\\.au)$").listed_values().unwrap();
        listed.sort();
        assert_eq!(listed, ["com", "com.au", "eu"]);
        assert_eq!(spec("^eu[12]$").listed_values().unwrap().len(), 2);
        for open in ["^[a-z]+$", "^a|b$", "^(a|b)", "(a|b)$", "^[a-z0-9]{1,20}$"] {
            assert_eq!(spec(open).listed_values(), None, "{open}");
        }
    }

    #[test]
    fn salesforce_without_my_domain_signs_in_at_login_salesforce_com() {
        let catalog = Catalog::load(None).unwrap();
        let sf = catalog.get("salesforce").unwrap();
        let mut issues = Vec::new();
        sf.check_inputs(None, &BTreeMap::new(), &mut issues);
        assert!(issues.is_empty(), "{issues:?}");
        let oauth = sf.oauth2.as_ref().unwrap();
        let none = ProviderInputs::default();
        let authorize = sf
            .build_url(oauth.authorize_url.as_ref().unwrap(), &none)
            .unwrap();
        assert_eq!(
            authorize.as_str(),
            "https://login.salesforce.com/services/oauth2/authorize"
        );
        let token = sf.build_url(&oauth.token_url, &none).unwrap();
        assert_eq!(
            token.as_str(),
            "https://login.salesforce.com/services/oauth2/token"
        );
        // A My Domain still wins.
        let acme = ProviderInputs {
            workspace: Some("acme"),
            ..Default::default()
        };
        let token = sf.build_url(&oauth.token_url, &acme).unwrap();
        assert_eq!(token.host_str(), Some("acme.my.salesforce.com"));
    }

    #[test]
    fn a_default_host_belongs_to_a_workspace_and_is_a_bare_host() {
        let metadata = entry(
            "acme",
            "authSchemes = [\"basic\"]\n[providers.acme.metadata.region]\npattern = \"^[a-z]+$\"\ndefaultHost = \"example.com\"",
        );
        assert!(lint_error(&metadata).contains("only a workspace"));
        for host in ["example.com/path", "example.com:8443", "user@example.com"] {
            let text = entry(
                "acme",
                &format!("authSchemes = [\"basic\"]\n[providers.acme.workspace]\npattern = \"^[a-z]+$\"\nrequired = false\ndefaultHost = \"{host}\""),
            );
            assert!(lint_error(&text).contains("bare host"), "{host}");
        }
    }

    #[test]
    fn workspace_is_substituted_after_validation() {
        let catalog = Catalog::load(None).unwrap();
        let sf = catalog.get("salesforce").unwrap();
        let mut issues = Vec::new();
        sf.check_inputs(Some("evil.com/x"), &BTreeMap::new(), &mut issues);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].name, "providerWorkspaceRef");
        let inputs = ProviderInputs {
            workspace: Some("acme"),
            ..Default::default()
        };
        let url = sf
            .build_url(
                sf.oauth2.as_ref().unwrap().authorize_url.as_ref().unwrap(),
                &inputs,
            )
            .unwrap();
        assert_eq!(url.host_str(), Some("acme.my.salesforce.com"));
    }
}
