//! Starting authorization flows: `oauth-connect` for a new connection and
//! `:oauth-update` to re-authorize an existing one. The hosted connect page
//! starts its flows through the same two preparations, so that what it
//! accepts is exactly what the API accepts.

use crate::domain::audit::record::{Actor, AuditAction, AuditEntry};
use crate::domain::catalog::{AuthScheme, Catalog, Provider, ProviderInputs};
use crate::domain::connections::target::{ConnectionTarget, TargetFields};
use crate::domain::error::{DomainError, DomainResult, FieldIssue, OrNotFound};
use crate::domain::fields::finish;
use crate::domain::handle::Grantd;
use crate::domain::model::{MetadataSource, Project, ProviderApp, ProviderMetadata};
use crate::domain::oauth::authorize::{authorization_url, FlowSecrets};
use crate::storage::{now_millis, NewOAuthFlow};

/// An oauth-connect request, parsed: the new connection's target (for a
/// provider with an authorization code flow), the app to authorize with,
/// and whether to bind the flow to the browser with a cookie.
#[derive(Debug)]
pub struct StartOAuthConnect<'c> {
    target: ConnectionTarget<'c>,
    provider_app_id: Option<String>,
    csrf: bool,
}

impl<'c> StartOAuthConnect<'c> {
    /// Checks the body against the calling project and the catalog;
    /// `project` (`projectIdOrName`) must name the caller's own project.
    pub fn parse(
        catalog: &'c Catalog,
        caller: &Project,
        project: Option<&str>,
        target: TargetFields,
        provider_app_id: Option<String>,
        csrf: bool,
    ) -> DomainResult<Self> {
        let mut issues = Vec::new();
        match project {
            None => issues.push(FieldIssue::body(
                "projectIdOrName",
                serde_json::Value::Null,
                "projectIdOrName is required",
            )),
            Some(p) if p != caller.id && p != caller.name => {
                // Another project's id: indistinguishable from one that does not exist.
                return Err(DomainError::not_found("project"));
            }
            Some(_) => {}
        }
        let target = ConnectionTarget::parse(
            catalog,
            target,
            Some(AuthScheme::OAuth2AuthorizationCode),
            &mut issues,
        );
        let command = target.map(|target| StartOAuthConnect {
            target,
            provider_app_id,
            csrf,
        });
        finish(command, issues)
    }
}

/// How a flow is started, beyond what it is for.
#[derive(Debug, Default, Clone)]
pub(crate) struct FlowOptions {
    /// Origin the callback page reports to by `postMessage`; grantd's own
    /// origin when `None`.
    pub opener_origin: Option<String>,
    /// Bind the flow to the browser that starts it with a cookie: the URL
    /// returned is then grantd's bounce endpoint, which sets the cookie and
    /// redirects to the provider.
    pub csrf: bool,
    /// The connect session the flow belongs to; the callback records its
    /// result there.
    pub connect_session_id: Option<String>,
}

/// What a new flow is for, once every input is known to be good. Owned, so
/// that it can wait while a connect session is consumed.
pub(crate) struct PreparedFlow<'c> {
    project_id: String,
    provider: &'c Provider,
    app: ProviderApp,
    connection_id: Option<String>,
    group_ref: String,
    group_name: Option<String>,
    consumer_ref: String,
    consumer_name: Option<String>,
    workspace: Option<String>,
    metadata: ProviderMetadata,
}

impl PreparedFlow<'_> {
    pub fn provider_name(&self) -> &str {
        &self.provider.name
    }

    pub fn group_ref(&self) -> &str {
        &self.group_ref
    }

    pub fn consumer_ref(&self) -> &str {
        &self.consumer_ref
    }
}

impl Grantd {
    /// Returns the authorization URL of a new flow (or, with
    /// `enableCSRFProtection`, grantd's bounce URL in front of it).
    /// `opener_origin` is the origin of the page that asked, when a browser
    /// asked; the callback page reports to it by `postMessage`.
    #[tracing::instrument(skip_all, fields(project_id = %caller.id, provider = %request.target.provider().name))]
    pub async fn start_oauth_connect(
        &self,
        caller: &Project,
        request: StartOAuthConnect<'_>,
        opener_origin: Option<String>,
    ) -> DomainResult<String> {
        let options = FlowOptions {
            opener_origin: self.allowed_opener(&caller.id, opener_origin).await?,
            csrf: request.csrf,
            connect_session_id: None,
        };
        let prepared = self
            .prepare_connect(
                &caller.id,
                request.target,
                request.provider_app_id.as_deref(),
            )
            .await?;
        self.begin_flow(prepared, &options).await
    }

    /// The browser origin that asked, when the project allows it: the
    /// callback page posts the connection there. Any other caller's page
    /// gets nothing (the result goes to grantd's own origin).
    async fn allowed_opener(
        &self,
        project_id: &str,
        origin: Option<String>,
    ) -> DomainResult<Option<String>> {
        match origin {
            Some(origin) if self.project_allows_origin(project_id, &origin).await? => {
                Ok(Some(origin))
            }
            _ => Ok(None),
        }
    }

    /// Finds the provider app for a new connection's flow; nothing is
    /// written.
    pub(crate) async fn prepare_connect<'c>(
        &self,
        project_id: &str,
        target: ConnectionTarget<'c>,
        provider_app_id: Option<&str>,
    ) -> DomainResult<PreparedFlow<'c>> {
        let target = target.into_parts();
        let app = self
            .resolve_provider_app(project_id, &target.provider.name, provider_app_id)
            .await?;
        Ok(PreparedFlow {
            project_id: project_id.to_owned(),
            provider: target.provider,
            app,
            connection_id: None,
            group_ref: target.group_ref,
            group_name: target.group_name,
            consumer_ref: target.consumer_ref,
            consumer_name: target.consumer_name,
            workspace: target.workspace,
            metadata: target.metadata,
        })
    }

    /// The authorization URL that re-authorizes an existing connection in place.
    pub async fn start_oauth_update(
        &self,
        actor: &Actor,
        project: &Project,
        connection_id: &str,
        opener_origin: Option<&str>,
    ) -> DomainResult<String> {
        let prepared = self.prepare_update(&project.id, connection_id).await?;
        let provider = prepared.provider.name.clone();
        let options = FlowOptions {
            opener_origin: self
                .allowed_opener(&project.id, opener_origin.map(str::to_owned))
                .await?,
            ..FlowOptions::default()
        };
        let url = self.begin_flow(prepared, &options).await?;
        self.audit_after_write(
            actor,
            AuditEntry::new(AuditAction::ConnectionReauthorizeStart, &project.id)
                .connection(connection_id)
                .detail(serde_json::json!({"provider": provider})),
        )
        .await;
        Ok(url)
    }

    /// Finds the connection to re-authorize, its provider and app; its
    /// workspace and input metadata are kept.
    pub(crate) async fn prepare_update(
        &self,
        project_id: &str,
        connection_id: &str,
    ) -> DomainResult<PreparedFlow<'_>> {
        let connection = self
            .store()
            .find_connection(project_id, connection_id)
            .await
            .or_not_found("connection")?;
        let provider = self
            .catalog()
            .get(&connection.provider)
            .filter(|p| p.supports(AuthScheme::OAuth2AuthorizationCode))
            .ok_or_else(|| {
                DomainError::invalid(FieldIssue {
                    location: crate::domain::error::InputLocation::Path,
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
                project_id,
                &provider.name,
                connection.provider_app_id.as_deref(),
            )
            .await?;
        let metadata: ProviderMetadata = connection
            .provider_metadata
            .into_iter()
            .filter(|(_, v)| v.source == MetadataSource::Input)
            .collect();
        Ok(PreparedFlow {
            project_id: project_id.to_owned(),
            provider,
            app,
            connection_id: Some(connection.id),
            group_ref: connection.group_ref,
            group_name: None,
            consumer_ref: connection.consumer_ref,
            consumer_name: None,
            workspace: connection.provider_workspace_ref,
            metadata,
        })
    }

    /// Records the flow and builds the URL the browser is sent to: the
    /// provider's authorization URL, or for a CSRF-protected flow grantd's
    /// bounce endpoint, which hands that URL out once, to the browser it
    /// binds the flow to.
    pub(crate) async fn begin_flow(
        &self,
        request: PreparedFlow<'_>,
        options: &FlowOptions,
    ) -> DomainResult<String> {
        let provider = request.provider;
        let secrets = FlowSecrets::generate(provider.pkce());
        let inputs = ProviderInputs::new(request.workspace.as_deref(), &request.metadata);
        let scopes = provider.scopes_for(&request.app.scopes, &inputs)?;
        let redirect_uri = self.settings().redirect_uri.as_str();
        let url = authorization_url(
            provider,
            &inputs,
            &request.app.client_id,
            redirect_uri,
            &scopes,
            &secrets,
            &request.app.metadata.auth_query_params,
        )?;
        let sealed_verifier = secrets.code_verifier.as_ref().map(|verifier| {
            self.cipher().seal(
                verifier.expose().as_bytes(),
                &verifier_aad(&secrets.state_hash),
            )
        });
        let sealed_url = options.csrf.then(|| {
            self.cipher()
                .seal(url.as_bytes(), &authorize_url_aad(&secrets.state_hash))
        });
        let now = now_millis();
        let ttl = i64::try_from(self.settings().state_ttl.as_millis()).unwrap_or(i64::MAX);
        self.store()
            .insert_oauth_flow(NewOAuthFlow {
                state_hash: secrets.state_hash.clone(),
                project_id: request.project_id,
                provider: provider.name.clone(),
                provider_app_id: request.app.id.clone(),
                connection_id: request.connection_id,
                group_ref: request.group_ref,
                group_name: request.group_name,
                consumer_ref: request.consumer_ref,
                consumer_name: request.consumer_name,
                provider_metadata: request.metadata,
                provider_workspace_ref: request.workspace,
                scopes,
                redirect_uri: redirect_uri.to_owned(),
                opener_origin: options
                    .opener_origin
                    .clone()
                    .unwrap_or_else(|| self.settings().public_origin.clone()),
                code_verifier_key_id: sealed_verifier.as_ref().map(|s| s.key_id.clone()),
                code_verifier_ciphertext: sealed_verifier.map(|s| s.bytes),
                create_time: now,
                expire_time: now.saturating_add(ttl),
                csrf_protected: i64::from(options.csrf),
                csrf_hash: None,
                authorize_url_key_id: sealed_url.as_ref().map(|s| s.key_id.clone()),
                authorize_url_ciphertext: sealed_url.map(|s| s.bytes),
                connect_session_id: options.connect_session_id.clone(),
            })
            .await?;
        self.metrics().flow_started(&provider.name);
        if options.csrf {
            Ok(self.bounce_url(secrets.state.expose()))
        } else {
            Ok(url)
        }
    }
}

/// The associated data binding a PKCE verifier to its flow.
pub(in crate::domain) fn verifier_aad(state_hash: &str) -> String {
    format!("oauth_flow:{state_hash}:code_verifier")
}

/// The associated data binding a sealed authorization URL to its flow.
pub(in crate::domain) fn authorize_url_aad(state_hash: &str) -> String {
    format!("oauth_flow:{state_hash}:authorize_url")
}
