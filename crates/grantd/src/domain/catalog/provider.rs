//! What an entry does with a connection's inputs: fills its URL templates
//! and checks the values a caller supplied.

use super::spec::{AuthScheme, PkceSupport, Provider};
use crate::domain::error::{DomainError, FieldIssue};
use crate::domain::model::ProviderMetadata;
use std::collections::BTreeMap;
use url::Url;

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
        self.oauth2
            .as_ref()
            .and_then(|o| o.pkce)
            .unwrap_or_default()
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
        Url::parse(&out).map_err(|source| DomainError::ProviderUrl { url: out, source })
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
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| DomainError::CatalogTemplate {
                    template: template.to_owned(),
                })?
                + start;
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

    /// The template proxied calls start from: `proxy.baseUrl`, else `apiBaseUrl`.
    pub fn proxy_base_template(&self) -> Option<&str> {
        self.proxy
            .as_ref()
            .and_then(|p| p.base_url.as_deref())
            .or(self.api_base_url.as_deref())
    }

    /// Whether grantd's proxy serves this entry: it has an API base whose
    /// host no end-user input can choose outside the provider's domain.
    pub fn supports_proxy(&self) -> bool {
        self.proxyable
    }

    /// Where proxied calls of a connection go: the metadata value named by
    /// `proxy.baseUrlMetadata` when it is an https URL into one of
    /// `proxy.baseUrlHosts` (loopback http too, for a user's test double),
    /// else the template with the connection's inputs filled in.
    pub fn proxy_base_url(
        &self,
        inputs: &ProviderInputs<'_>,
        metadata: &ProviderMetadata,
    ) -> Result<Url, DomainError> {
        if let Some(spec) = &self.proxy {
            let from_metadata = spec
                .base_url_metadata
                .as_ref()
                .and_then(|name| metadata.get(name))
                .and_then(|value| Url::parse(&value.value).ok())
                .filter(|url| {
                    let host = url.host_str().unwrap_or_default();
                    let inside = spec
                        .base_url_hosts
                        .iter()
                        .any(|domain| host == domain || host.ends_with(&format!(".{domain}")));
                    let loopback = matches!(host, "127.0.0.1" | "localhost" | "[::1]");
                    inside
                        && url.username().is_empty()
                        && url.password().is_none()
                        && url.query().is_none()
                        && (url.scheme() == "https" || (url.scheme() == "http" && loopback))
                });
            if let Some(url) = from_metadata {
                return Ok(url);
            }
        }
        let template =
            self.proxy_base_template()
                .ok_or_else(|| DomainError::CatalogIncomplete {
                    provider: self.name.clone(),
                    missing: "API base URL",
                })?;
        self.build_url(template, inputs)
    }

    /// Every URL of the entry, with a label for lint messages.
    pub(super) fn url_templates(&self) -> Vec<(String, &str)> {
        let mut optional: Vec<(String, Option<&String>)> = vec![
            ("docsUrl".into(), self.docs_url.as_ref()),
            ("apiBaseUrl".into(), self.api_base_url.as_ref()),
            (
                "proxy.baseUrl".into(),
                self.proxy.as_ref().and_then(|p| p.base_url.as_ref()),
            ),
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
