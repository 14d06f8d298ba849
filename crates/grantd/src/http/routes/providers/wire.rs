//! The catalog as Ampersand's `ProviderInfo`, so their clients read grantd's
//! providers unchanged. grantd's own additions (`authSchemes`, `category`,
//! `docsURL`) sit beside the Ampersand fields; clients that do not know them
//! ignore them.

use crate::domain::catalog::{
    ApiKeySpec, AuthScheme, BasicField, BasicSpec, CustomAuthSpec, OAuth2Spec, Provider,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The path of one provider.
#[derive(Debug, Deserialize)]
pub struct ProviderPath {
    pub provider: String,
}

/// One provider, in Ampersand's shape.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderInfo {
    pub name: String,
    pub display_name: String,
    /// The entry's first (main) scheme.
    #[schema(value_type = AuthType)]
    pub auth_type: &'static str,
    #[serde(rename = "baseURL")]
    pub base_url: String,
    /// Always empty: grantd has no modules (Ampersand's own entries without
    /// modules say the same).
    pub default_module: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2_opts: Option<OAuth2Options>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_opts: Option<ApiKeyOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_opts: Option<BasicAuthOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_opts: Option<CustomAuthOptions>,
    pub support: Support,
    pub provider_opts: BTreeMap<String, String>,
    pub post_auth_info_needed: bool,
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ProviderMetadata>,
    /// grantd: every scheme the provider accepts, main one first.
    pub auth_schemes: Vec<&'static str>,
    /// grantd: the catalog category.
    pub category: String,
    /// grantd: the provider's integration documentation.
    #[serde(rename = "docsURL", skip_serializing_if = "Option::is_none")]
    pub docs_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2Options {
    pub grant_type: &'static str,
    #[serde(rename = "authURL", skip_serializing_if = "Option::is_none")]
    pub auth_url: Option<String>,
    #[serde(rename = "tokenURL")]
    pub token_url: String,
    pub explicit_scopes_required: bool,
    pub explicit_workspace_required: bool,
    pub token_metadata_fields: TokenMetadataFields,
    #[serde(rename = "authURLParams", skip_serializing_if = "BTreeMap::is_empty")]
    pub auth_url_params: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenMetadataFields {
    pub scopes_field: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_fields: Vec<OtherField>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OtherField {
    pub name: String,
    pub display_name: String,
    pub path: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyOptions {
    /// `header` or `query`.
    pub attachment_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<ApiKeyHeader>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<ApiKeyQuery>,
    #[serde(rename = "docsURL", skip_serializing_if = "Option::is_none")]
    pub docs_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyHeader {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_prefix: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyQuery {
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuthOptions {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub api_key_as_basic: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_as_basic_opts: Option<ApiKeyAsBasicOptions>,
    #[serde(rename = "docsURL", skip_serializing_if = "Option::is_none")]
    pub docs_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyAsBasicOptions {
    /// `username` or `password`.
    pub field_used: &'static str,
}

/// Ampersand's `CustomAuthOpts`: the inputs `customAuth` takes and the
/// headers and query parameters made from them.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomAuthOptions {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<TemplatedValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub query_params: Vec<TemplatedValue>,
    pub inputs: Vec<CustomInput>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplatedValue {
    pub name: String,
    /// `{{ .input }}` placeholders, Ampersand's template syntax.
    pub value_template: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomInput {
    pub name: String,
    pub display_name: String,
    #[serde(rename = "docsURL", skip_serializing_if = "Option::is_none")]
    pub docs_url: Option<String>,
}

/// Ampersand's `AuthType` values (grantd's entries use the first three).
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub enum AuthType {
    #[schema(rename = "oauth2")]
    OAuth2,
    ApiKey,
    Basic,
    Jwt,
    Custom,
    None,
}

/// What grantd does with a provider beyond holding its connections: no
/// reads, writes, deletes, searches or subscriptions, said plainly for
/// Ampersand clients; `proxy` where the catalog gives the proxy a fixed
/// API base.
#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Support {
    pub bulk_write: BulkWriteSupport,
    pub proxy: bool,
    pub read: bool,
    pub subscribe: bool,
    pub write: bool,
    pub delete: bool,
    pub search: SearchSupport,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct SearchSupport {
    pub operators: SearchOperators,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct SearchOperators {
    pub equals: bool,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct BulkWriteSupport {
    pub insert: bool,
    pub update: bool,
    pub upsert: bool,
    pub delete: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderMetadata {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub input: Vec<MetadataInput>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_authentication: Vec<MetadataPostAuth>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetadataInput {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(rename = "docsURL", skip_serializing_if = "Option::is_none")]
    pub docs_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MetadataPostAuth {
    pub name: String,
}

/// `{workspace}` becomes `{{.workspace}}`, Ampersand's template syntax.
fn ampersand_template(url: &str) -> String {
    url.replace('{', "{{.").replace('}', "}}")
}

fn auth_type(scheme: AuthScheme) -> &'static str {
    match scheme {
        AuthScheme::ApiKey => "apiKey",
        AuthScheme::Basic => "basic",
        AuthScheme::Custom => "custom",
        AuthScheme::None => "none",
        _ => "oauth2",
    }
}

/// The grant Ampersand would name for this provider: the interactive one when
/// there is one, PKCE when the provider insists on it.
fn grant_type(provider: &Provider) -> &'static str {
    let has = |s| provider.auth_schemes.contains(&s);
    if has(AuthScheme::OAuth2AuthorizationCodePkce) {
        "authorizationCodePKCE"
    } else if has(AuthScheme::OAuth2AuthorizationCode) {
        "authorizationCode"
    } else if has(AuthScheme::OAuth2ClientCredentials) {
        "clientCredentials"
    } else {
        "password"
    }
}

impl From<&Provider> for ProviderInfo {
    fn from(p: &Provider) -> Self {
        let metadata = provider_metadata(p);
        let post_auth_info_needed = metadata
            .as_ref()
            .is_some_and(|m| !m.post_authentication.is_empty());
        ProviderInfo {
            name: p.name.clone(),
            display_name: p.display_name.clone(),
            auth_type: auth_type(p.auth_schemes[0]),
            base_url: p
                .api_base_url
                .as_deref()
                .map(ampersand_template)
                .unwrap_or_default(),
            default_module: String::new(),
            oauth2_opts: p.oauth2.as_ref().map(|o| oauth2_options(p, o)),
            api_key_opts: p.api_key.as_ref().map(ApiKeyOptions::from),
            basic_opts: p.basic.as_ref().map(BasicAuthOptions::from),
            custom_opts: p.custom_auth.as_ref().map(CustomAuthOptions::from),
            support: Support {
                proxy: p.supports_proxy(),
                ..Support::default()
            },
            provider_opts: BTreeMap::new(),
            post_auth_info_needed,
            labels: BTreeMap::from([("category".to_owned(), p.category.clone())]),
            metadata,
            auth_schemes: p.auth_schemes.iter().map(|s| s.as_str()).collect(),
            category: p.category.clone(),
            docs_url: p.docs_url.clone(),
        }
    }
}

/// `oauth2Opts`: the grant, the endpoints as Ampersand templates, and the
/// token fields kept as metadata.
fn oauth2_options(p: &Provider, o: &OAuth2Spec) -> OAuth2Options {
    OAuth2Options {
        grant_type: grant_type(p),
        auth_url: o.authorize_url.as_deref().map(ampersand_template),
        token_url: ampersand_template(&o.token_url),
        explicit_scopes_required: o.scopes_required,
        explicit_workspace_required: p.workspace.as_ref().is_some_and(|w| w.required),
        token_metadata_fields: TokenMetadataFields {
            scopes_field: o.scope_path.clone().unwrap_or_else(|| "scope".into()),
            other_fields: o
                .token_metadata
                .iter()
                .map(|(name, path)| OtherField {
                    name: name.clone(),
                    display_name: name.clone(),
                    path: path.clone(),
                })
                .collect(),
        },
        auth_url_params: o.authorize_params.clone(),
    }
}

impl From<&ApiKeySpec> for ApiKeyOptions {
    fn from(k: &ApiKeySpec) -> Self {
        let in_header = k.location == "header";
        ApiKeyOptions {
            attachment_type: k.location.clone(),
            header: in_header.then(|| ApiKeyHeader {
                name: k.name.clone(),
                value_prefix: k.prefix.clone(),
            }),
            query: (!in_header).then(|| ApiKeyQuery {
                name: k.name.clone(),
            }),
            docs_url: k.docs_url.clone(),
        }
    }
}

impl From<&BasicSpec> for BasicAuthOptions {
    fn from(b: &BasicSpec) -> Self {
        BasicAuthOptions {
            api_key_as_basic: b.api_key_as_basic,
            api_key_as_basic_opts: b.field_used.map(|field| ApiKeyAsBasicOptions {
                field_used: match field {
                    BasicField::Username => "username",
                    BasicField::Password => "password",
                },
            }),
            docs_url: b.docs_url.clone(),
        }
    }
}

impl From<&CustomAuthSpec> for CustomAuthOptions {
    fn from(c: &CustomAuthSpec) -> Self {
        let templated = |m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(name, template)| TemplatedValue {
                    name: name.clone(),
                    value_template: ampersand_template(template),
                })
                .collect()
        };
        CustomAuthOptions {
            headers: templated(&c.headers),
            query_params: templated(&c.query),
            inputs: c
                .inputs
                .iter()
                .map(|i| CustomInput {
                    name: i.name.clone(),
                    display_name: i.label.clone().unwrap_or_else(|| i.name.clone()),
                    docs_url: i.docs_url.clone(),
                })
                .collect(),
        }
    }
}

/// `metadata`: the inputs a connection asks for (workspace first) and the
/// values read after authorization; absent when there are neither.
fn provider_metadata(p: &Provider) -> Option<ProviderMetadata> {
    let input: Vec<MetadataInput> = p
        .workspace
        .iter()
        .map(|spec| ("workspace", spec))
        .chain(p.metadata.iter().map(|(name, spec)| (name.as_str(), spec)))
        .map(|(name, spec)| MetadataInput {
            name: name.to_owned(),
            display_name: spec.label.clone(),
            docs_url: spec.docs_url.clone(),
        })
        .collect();
    let post_authentication: Vec<MetadataPostAuth> = p
        .oauth2
        .as_ref()
        .and_then(|o| o.post_auth.as_ref())
        .map(|post| {
            post.metadata
                .keys()
                .map(|name| MetadataPostAuth { name: name.clone() })
                .collect()
        })
        .unwrap_or_default();
    let post_auth_info_needed = !post_authentication.is_empty();
    (!input.is_empty() || post_auth_info_needed).then_some(ProviderMetadata {
        input,
        post_authentication,
    })
}
