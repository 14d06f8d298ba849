//! Writing what a flow obtained: new credentials in place for the
//! connection it re-authorizes, or a new connection. Apart because these are
//! the callback's only writes of connections, with the events they raise.

use crate::domain::connections::records::ConnectionDraft;
use crate::domain::handle::Grantd;
use crate::domain::lifecycle::events::{connection_event_data, with_status_change, EventKind};
use crate::domain::model::{ConnectionStatus, Credentials, ProviderMetadata};
use crate::domain::oauth::callback::failure::{FlowFailure, FlowStop};
use crate::domain::oauth::callback::CallbackOutcome;
use crate::storage::{
    now_millis, ConnectionOwner, ConnectionSource, OAuthFlowRow, Reauthorization, StoreError,
};

impl Grantd {
    /// New credentials for the connection the flow re-authorizes, in place.
    pub(super) async fn store_reauthorization(
        &self,
        flow: &OAuthFlowRow,
        connection_id: &str,
        provider_app_id: &str,
        metadata: ProviderMetadata,
        credentials: &Credentials,
    ) -> Result<CallbackOutcome, FlowStop> {
        // Read before the write: a parked connection coming back to
        // `working` is a status change worth an event.
        let previous_status = self
            .store()
            .find_connection(&flow.project_id, connection_id)
            .await
            .ok()
            .map(|record| record.status);
        let updated = self
            .store()
            .reauthorize_connection(&Reauthorization {
                id: connection_id.to_owned(),
                project_id: flow.project_id.clone(),
                provider_app_id: provider_app_id.to_owned(),
                provider_workspace_ref: flow.provider_workspace_ref.clone(),
                provider_consumer_ref: None,
                provider_metadata: metadata,
                credentials: self.stored_credentials(connection_id, credentials)?,
                now: now_millis(),
            })
            .await;
        match updated {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(FlowFailure::ConnectionDeleted.into()),
            Err(other) => return Err(other.into()),
        }
        let data = connection_event_data(
            connection_id,
            &flow.provider,
            &flow.group_ref,
            &flow.consumer_ref,
        );
        self.record_event_after_write(
            &flow.project_id,
            connection_id,
            EventKind::Reauthorized,
            data.clone(),
        )
        .await;
        if let Some(old) = previous_status.filter(|s| *s != ConnectionStatus::Working) {
            self.record_event_after_write(
                &flow.project_id,
                connection_id,
                EventKind::StatusChanged,
                with_status_change(data, old, ConnectionStatus::Working),
            )
            .await;
        }
        Ok(CallbackOutcome::Connected {
            project_id: flow.project_id.clone(),
            connection_id: connection_id.to_owned(),
            provider: flow.provider.clone(),
            opener_origin: flow.opener_origin.clone(),
            reauthorized: true,
            connect: None,
        })
    }

    /// A new connection from the flow; its insert records the flow's success.
    pub(super) async fn store_flow_connection(
        &self,
        flow: &OAuthFlowRow,
        provider_app_id: &str,
        metadata: ProviderMetadata,
        credentials: Credentials,
    ) -> Result<CallbackOutcome, FlowStop> {
        let owner = ConnectionOwner {
            project_id: flow.project_id.clone(),
            provider: flow.provider.clone(),
            provider_app_id: Some(provider_app_id.to_owned()),
            group_ref: flow.group_ref.clone(),
            group_name: flow.group_name.clone(),
            consumer_ref: flow.consumer_ref.clone(),
            consumer_name: flow.consumer_name.clone(),
            provider_workspace_ref: flow.provider_workspace_ref.clone(),
        };
        let draft = ConnectionDraft {
            owner,
            provider_metadata: metadata,
            credentials,
        };
        let (connection_id, _) = self
            .store_new_connection(draft, ConnectionSource::Flow(flow.state_hash.clone()))
            .await?;
        Ok(CallbackOutcome::Connected {
            project_id: flow.project_id.clone(),
            connection_id,
            provider: flow.provider.clone(),
            opener_origin: flow.opener_origin.clone(),
            reauthorized: false,
            connect: None,
        })
    }
}
