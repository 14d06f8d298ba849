//! Writing down how a flow ended: on its row, in the metrics, in the audit
//! log, and, for a flow refused for CSRF, on its connect session. Apart
//! because none of it changes the outcome: each write is best effort.

use crate::domain::audit::record::{Actor, AuditAction, AuditEntry};
use crate::domain::error::DomainResult;
use crate::domain::handle::Grantd;
use crate::domain::oauth::callback::{CallbackInput, CallbackOutcome, CallbackRejection};
use crate::storage::{now_millis, FlowOutcome, OAuthFlowRow, SessionResult};
use crate::vocab::SessionResultStatus;

impl Grantd {
    /// Counts how the flow ended and, when it stored credentials, audits
    /// the new or re-authorized connection as done by the browser at the
    /// callback.
    pub(super) async fn count_and_audit_flow(
        &self,
        actor: &Actor,
        flow: &OAuthFlowRow,
        outcome: &DomainResult<CallbackOutcome>,
    ) {
        let (connection_id, reauthorized) = match outcome {
            Ok(CallbackOutcome::Connected {
                connection_id,
                reauthorized,
                ..
            }) => (connection_id, *reauthorized),
            Ok(CallbackOutcome::Failed { failure, .. }) => {
                let reason = failure.flow_outcome().as_str();
                self.metrics().flow_failed(&flow.provider, reason);
                return;
            }
            Ok(CallbackOutcome::Rejected(_)) | Err(_) => {
                let reason = FlowOutcome::ExchangeFailed.as_str();
                self.metrics().flow_failed(&flow.provider, reason);
                return;
            }
        };
        self.metrics().flow_completed(&flow.provider);
        let action = if reauthorized {
            AuditAction::ConnectionReauthorize
        } else {
            AuditAction::ConnectionCreate
        };
        self.audit_after_write(
            actor,
            AuditEntry::new(action, &flow.project_id)
                .connection(connection_id)
                .detail(serde_json::json!({
                    "provider": flow.provider,
                    "connectSessionId": flow.connect_session_id,
                })),
        )
        .await;
    }

    /// The authorization response left the browser that started the flow:
    /// spend the flow without sending the code anywhere.
    pub(super) async fn refuse_cross_site(
        &self,
        flow: &OAuthFlowRow,
        input: &CallbackInput,
    ) -> CallbackOutcome {
        let detail = if flow.csrf_hash.is_none() {
            "the flow was never started through its bounce URL"
        } else if input.csrf_cookie.is_none() {
            "the callback arrived without the flow's CSRF cookie"
        } else {
            "the callback's CSRF cookie is not the flow's"
        };
        if let Err(e) = self
            .store()
            .record_oauth_flow_outcome(
                &flow.state_hash,
                FlowOutcome::CsrfRejected,
                Some(detail),
                None,
            )
            .await
        {
            tracing::warn!(error = %e, "could not record the outcome of an OAuth flow");
        }
        if let Some(session_id) = &flow.connect_session_id {
            let result = SessionResult {
                status: SessionResultStatus::Failure,
                connection_id: None,
                error: Some("csrf_rejected"),
                error_description: Some(detail),
                now: now_millis(),
            };
            self.record_connect_result(session_id, &result).await;
        }
        self.metrics()
            .flow_failed(&flow.provider, FlowOutcome::CsrfRejected.as_str());
        tracing::warn!(provider = %flow.provider, detail, "OAuth callback refused: CSRF check failed");
        CallbackOutcome::Rejected(CallbackRejection::CsrfMismatch)
    }

    /// Records on the flow's row how it ended (best effort). A new
    /// connection recorded its flow's success when it was stored.
    pub(super) async fn record_flow_outcome(
        &self,
        flow: &OAuthFlowRow,
        outcome: &DomainResult<CallbackOutcome>,
    ) {
        let (kind, detail, connection_id) = match outcome {
            Ok(CallbackOutcome::Connected {
                reauthorized: false,
                ..
            }) => return,
            Ok(CallbackOutcome::Connected { connection_id, .. }) => {
                (FlowOutcome::Success, None, Some(connection_id.as_str()))
            }
            Ok(CallbackOutcome::Failed { failure, .. }) => {
                (failure.flow_outcome(), Some(failure.detail()), None)
            }
            Ok(CallbackOutcome::Rejected(_)) => (FlowOutcome::ExchangeFailed, None, None),
            Err(e) => (FlowOutcome::ExchangeFailed, Some(e.to_string()), None),
        };
        if let Err(e) = self
            .store()
            .record_oauth_flow_outcome(&flow.state_hash, kind, detail.as_deref(), connection_id)
            .await
        {
            tracing::warn!(error = %e, "could not record the outcome of an OAuth flow");
        }
    }
}
