//! Starting authorization flows: `oauth-connect` for a new connection and
//! `:oauth-update` to re-authorize an existing one.

use super::authorize::{authorization_url, FlowSecrets};
use crate::domain::catalog::{AuthScheme, Provider, ProviderInputs};
use crate::domain::error::{DomainError, DomainResult, FieldIssue, OrNotFound};
use crate::domain::model::{MetadataSource, Project, ProviderApp, ProviderMetadata};
use crate::domain::target::{check_target, input_metadata, supplied_name, TargetInput};
use crate::domain::{scopes_json, Grantd};
use crate::storage::{now_millis, NewOAuthFlow};
use std::collections::BTreeMap;

/// One `providerMetadata` entry as callers send it.
#[derive(Debug, Clone)]
pub struct MetadataInput {
    pub value: String,
}

/// The body of `POST /v1/oauth-connect`, before validation.
#[derive(Debug, Default)]
pub struct ConnectInput {
    pub project_id: Option<String>,
    pub provider: Option<String>,
    pub group_ref: Option<String>,
    pub consumer_ref: Option<String>,
    pub group_name: Option<String>,
    pub consumer_name: Option<String>,
    pub provider_workspace_ref: Option<String>,
    pub provider_metadata: BTreeMap<String, MetadataInput>,
    pub provider_app_id: Option<String>,
    pub enable_csrf_protection: bool,
    /// Origin of the page that asked, when a browser asked; the callback page
    /// reports to it by `postMessage`.
    pub opener_origin: Option<String>,
}

/// What a new flow is for, once every input is known to be good.
struct FlowRequest<'a> {
    project_id: &'a str,
    provider: &'a Provider,
    app: &'a ProviderApp,
    connection_id: Option<&'a str>,
    group_ref: &'a str,
    group_name: Option<&'a str>,
    consumer_ref: &'a str,
    consumer_name: Option<&'a str>,
    workspace: Option<&'a str>,
    metadata: &'a ProviderMetadata,
    opener_origin: Option<&'a str>,
}

impl Grantd {
    /// Validates an oauth-connect request and returns the authorization URL.
    pub async fn start_oauth_connect(
        &self,
        caller: &Project,
        input: ConnectInput,
    ) -> DomainResult<String> {
        let mut issues = Vec::new();
        match input.project_id.as_deref() {
            None => issues.push(FieldIssue::body(
                "projectId",
                serde_json::Value::Null,
                "projectId is required",
            )),
            Some(p) if p != caller.id && p != caller.name => {
                // Another project's id: indistinguishable from one that does not exist.
                return Err(DomainError::not_found("project"));
            }
            Some(_) => {}
        }
        let provider = check_target(
            self.catalog(),
            &TargetInput {
                provider: input.provider.as_deref(),
                group_ref: input.group_ref.as_deref(),
                consumer_ref: input.consumer_ref.as_deref(),
                workspace: input.provider_workspace_ref.as_deref(),
                metadata: &input.provider_metadata,
            },
            Some(AuthScheme::OAuth2AuthorizationCode),
            &mut issues,
        );
        let provider = match provider {
            Some(provider) if issues.is_empty() => provider,
            _ => return Err(DomainError::Validation(issues)),
        };
        let app = self
            .resolve_provider_app(&caller.id, &provider.name, input.provider_app_id.as_deref())
            .await?;
        let group_ref = input.group_ref.unwrap_or_default();
        let consumer_ref = input.consumer_ref.unwrap_or_default();
        let metadata = input_metadata(&input.provider_metadata);
        let group_name = supplied_name(input.group_name.as_deref());
        let consumer_name = supplied_name(input.consumer_name.as_deref());
        self.begin_flow(FlowRequest {
            project_id: &caller.id,
            provider,
            app: &app,
            connection_id: None,
            group_name: group_name.as_deref(),
            group_ref: &group_ref,
            consumer_name: consumer_name.as_deref(),
            consumer_ref: &consumer_ref,
            workspace: input.provider_workspace_ref.as_deref(),
            metadata: &metadata,
            opener_origin: input.opener_origin.as_deref(),
        })
        .await
    }

    /// The authorization URL that re-authorizes an existing connection in place.
    pub async fn start_oauth_update(
        &self,
        project: &Project,
        connection_id: &str,
        opener_origin: Option<&str>,
    ) -> DomainResult<String> {
        let connection = self
            .store()
            .find_connection(&project.id, connection_id)
            .await
            .or_not_found("connection")?;
        let provider = self
            .catalog()
            .get(&connection.provider)
            .filter(|p| p.supports(AuthScheme::OAuth2AuthorizationCode))
            .ok_or_else(|| {
                DomainError::invalid(FieldIssue {
                    location: crate::domain::InputLocation::Path,
                    name: "connectionId".into(),
                    value: connection_id.into(),
                    detail: format!(
                        "connection's provider {} has no OAuth authorization code flow",
                        connection.provider
                    ),
                })
            })?;
        let app = self
            .resolve_provider_app(
                &project.id,
                &provider.name,
                connection.provider_app_id.as_deref(),
            )
            .await?;
        let metadata: ProviderMetadata =
            serde_json::from_str::<ProviderMetadata>(&connection.provider_metadata)
                .unwrap_or_default()
                .into_iter()
                .filter(|(_, v)| v.source == MetadataSource::Input)
                .collect();
        self.begin_flow(FlowRequest {
            project_id: &project.id,
            provider,
            app: &app,
            connection_id: Some(&connection.id),
            group_ref: &connection.group_ref,
            group_name: None,
            consumer_ref: &connection.consumer_ref,
            consumer_name: None,
            workspace: connection.provider_workspace_ref.as_deref(),
            metadata: &metadata,
            opener_origin,
        })
        .await
    }

    /// Records the flow and builds the URL the browser is sent to.
    async fn begin_flow(&self, request: FlowRequest<'_>) -> DomainResult<String> {
        let provider = request.provider;
        let secrets = FlowSecrets::generate(provider.pkce());
        let inputs = ProviderInputs::new(request.workspace, request.metadata);
        let scopes = provider.scopes_for(&request.app.scopes, &inputs)?;
        let redirect_uri = self.settings().redirect_uri.as_str();
        let url = authorization_url(
            provider,
            &inputs,
            &request.app.client_id,
            redirect_uri,
            &scopes,
            &secrets,
        )?;
        let sealed_verifier = secrets.code_verifier.as_ref().map(|verifier| {
            self.cipher().seal(
                verifier.expose().as_bytes(),
                &verifier_aad(&secrets.state_hash),
            )
        });
        let now = now_millis();
        let ttl = i64::try_from(self.settings().state_ttl.as_millis()).unwrap_or(i64::MAX);
        self.store()
            .insert_oauth_flow(&NewOAuthFlow {
                state_hash: secrets.state_hash.clone(),
                project_id: request.project_id.to_owned(),
                provider: provider.name.clone(),
                provider_app_id: request.app.id.clone(),
                connection_id: request.connection_id.map(str::to_owned),
                group_ref: request.group_ref.to_owned(),
                group_name: request.group_name.map(str::to_owned),
                consumer_ref: request.consumer_ref.to_owned(),
                consumer_name: request.consumer_name.map(str::to_owned),
                provider_workspace_ref: request.workspace.map(str::to_owned),
                provider_metadata: serde_json::to_string(request.metadata)
                    .unwrap_or_else(|_| "{}".into()),
                scopes: scopes_json(&scopes),
                redirect_uri: redirect_uri.to_owned(),
                opener_origin: request
                    .opener_origin
                    .unwrap_or(&self.settings().public_origin)
                    .to_owned(),
                code_verifier_key_id: sealed_verifier.as_ref().map(|s| s.key_id.clone()),
                code_verifier_ciphertext: sealed_verifier.map(|s| s.bytes),
                create_time: now,
                expire_time: now.saturating_add(ttl),
            })
            .await?;
        Ok(url)
    }
}

/// The associated data binding a PKCE verifier to its flow.
pub(super) fn verifier_aad(state_hash: &str) -> String {
    format!("oauth_flow:{state_hash}:code_verifier")
}
