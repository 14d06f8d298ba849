//! A callback from its state to its outcome: consume the flow, check the
//! browser, run the steps, and report to the connect session. Apart as the
//! one place that orders the steps the sibling modules define.

use crate::domain::audit::record::Actor;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::handle::Grantd;
use crate::domain::model::Credentials;
use crate::domain::oauth::authorize::state_hash;
use crate::domain::oauth::callback::failure::{FlowFailure, FlowStop};
use crate::domain::oauth::callback::{CallbackInput, CallbackOutcome, CallbackRejection};
use crate::domain::oauth::csrf::csrf_matches;
use crate::domain::oauth::token_set::{merge_token_metadata, token_set};
use crate::storage::{now_millis, OAuthFlowRow};

impl Grantd {
    /// Consumes the flow's state and, when the provider granted access,
    /// exchanges the code and stores the connection.
    #[tracing::instrument(skip_all, fields(provider, connection_id))]
    pub async fn complete_oauth_callback(
        &self,
        actor: &Actor,
        input: CallbackInput,
    ) -> DomainResult<CallbackOutcome> {
        let Some(state) = input.state.as_deref().filter(|s| !s.is_empty()) else {
            return Ok(CallbackOutcome::Rejected(CallbackRejection::MissingState));
        };
        let Some(flow) = self
            .store()
            .consume_oauth_flow(&state_hash(state), now_millis())
            .await?
        else {
            // Unknown, spent or expired: no flow, so no provider to name.
            self.metrics().flow_failed("unknown", "invalid_state");
            return Ok(CallbackOutcome::Rejected(CallbackRejection::InvalidState));
        };
        let span = tracing::Span::current();
        span.record("provider", flow.provider.as_str());
        if let Some(id) = &flow.connection_id {
            span.record("connection_id", id.as_str());
        }
        if flow.csrf_protected != 0
            && !csrf_matches(flow.csrf_hash.as_deref(), input.csrf_cookie.as_ref())
        {
            return Ok(self.refuse_cross_site(&flow, &input).await);
        }
        let mut outcome = match self.finish_flow(&flow, &input).await {
            Ok(outcome) => Ok(outcome),
            Err(FlowStop::Failed(failure)) => Ok(CallbackOutcome::Failed {
                provider: flow.provider.clone(),
                opener_origin: flow.opener_origin.clone(),
                connection_id: flow.connection_id.clone(),
                failure,
                connect: None,
            }),
            Err(FlowStop::Error(error)) => Err(error),
        };
        if let Some(session_id) = &flow.connect_session_id {
            if let Some(connect) = self.finish_connect_session(session_id, &outcome).await {
                if let Ok(
                    CallbackOutcome::Connected { connect: slot, .. }
                    | CallbackOutcome::Failed { connect: slot, .. },
                ) = &mut outcome
                {
                    *slot = Some(connect);
                }
            }
        }
        self.record_flow_outcome(&flow, &outcome).await;
        self.count_and_audit_flow(actor, &flow, &outcome).await;
        outcome
    }

    /// The steps of a flow whose state and browser checked out.
    async fn finish_flow(
        &self,
        flow: &OAuthFlowRow,
        input: &CallbackInput,
    ) -> Result<CallbackOutcome, FlowStop> {
        let checked = self.check_callback(flow, input)?;
        let app = match self
            .flow_provider_app(&flow.project_id, &flow.provider, &flow.provider_app_id)
            .await
        {
            Ok(app) => app,
            Err(DomainError::NotFound { .. }) => return Err(FlowFailure::ProviderAppDeleted.into()),
            Err(other) => return Err(other.into()),
        };
        let response = self.exchange_code(flow, &checked, &app).await?;
        let tokens = token_set(
            checked.provider,
            &response,
            &flow.scopes,
            chrono::Utc::now(),
        );
        let mut metadata = flow.provider_metadata.clone();
        merge_token_metadata(&mut metadata, &response);
        self.add_post_auth_metadata(
            checked.provider,
            checked.post_auth_url.as_ref(),
            &response.access_token,
            &mut metadata,
        )
        .await;
        let credentials = Credentials::OAuth2AuthorizationCode { tokens };
        match &flow.connection_id {
            Some(connection_id) => {
                self.store_reauthorization(flow, connection_id, &app.id, metadata, &credentials)
                    .await
            }
            None => {
                self.store_flow_connection(flow, &app.id, metadata, credentials)
                    .await
            }
        }
    }
}
