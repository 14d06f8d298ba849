use crate::domain::{CallbackInput, CallbackOutcome, CallbackRejection, Grantd};
use crate::http::callback_page::{CallbackPage, OpenerMessage};
use crate::http::extract::QueryParams;
use crate::secrets::SecretString;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// The authorization response (RFC 6749 §4.1.2, RFC 9207).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    pub state: Option<String>,
    #[param(value_type = Option<String>)]
    pub code: Option<SecretString>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub iss: Option<String>,
}

/// Where providers send the browser back; exchanges the code.
#[utoipa::path(
    operation_id = "getOauthCallback",
    get, path = "/callbacks/v1/oauth", tag = "OAuth",
    params(CallbackQuery),
    responses(
        (status = 200, description = "Connected", body = String, content_type = "text/html"),
        (status = 400, description = "Invalid state or provider error", body = String, content_type = "text/html"),
    )
)]
pub async fn get_oauth_callback(
    State(grantd): State<Grantd>,
    QueryParams(query): QueryParams<CallbackQuery>,
) -> Response {
    let input = CallbackInput {
        state: query.state,
        code: query.code,
        error: query.error,
        error_description: query.error_description,
        iss: query.iss,
    };
    let outcome = match grantd.complete_oauth_callback(input).await {
        Ok(outcome) => outcome,
        Err(error) => {
            tracing::error!(%error, "OAuth callback failed");
            return CallbackPage {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                title: "Something went wrong",
                message: "The connection could not be saved. Please try again.".into(),
                notify: None,
            }
            .into_response();
        }
    };
    match &outcome {
        CallbackOutcome::Rejected(reason) => CallbackPage {
            status: StatusCode::BAD_REQUEST,
            title: "This link is no longer valid",
            message: match reason {
                CallbackRejection::MissingState => {
                    "The request is missing its state parameter.".into()
                }
                CallbackRejection::InvalidState => {
                    "This authorization request is unknown, was already used, or has expired. \
                     Please start again."
                        .into()
                }
            },
            notify: None,
        }
        .into_response(),
        CallbackOutcome::Connected {
            connection_id,
            provider,
            opener_origin,
            reauthorized,
        } => {
            tracing::info!(%connection_id, %provider, reauthorized, "connection authorized");
            CallbackPage {
                status: StatusCode::OK,
                title: "Connected",
                message: format!(
                    "Your {provider} account is connected. You can close this window."
                ),
                notify: Some((
                    opener_origin,
                    OpenerMessage {
                        kind: "grantd:oauth",
                        status: "success",
                        connection_id: Some(connection_id),
                        provider,
                        error: None,
                        error_description: None,
                    },
                )),
            }
            .into_response()
        }
        CallbackOutcome::Failed {
            provider,
            opener_origin,
            connection_id,
            error,
            description,
            provider_unavailable,
        } => {
            tracing::info!(%provider, %error, "OAuth flow failed");
            let message = match description {
                Some(d) => format!("{provider} reported: {error} ({d})"),
                None => format!("{provider} reported: {error}"),
            };
            CallbackPage {
                status: if *provider_unavailable {
                    StatusCode::BAD_GATEWAY
                } else {
                    StatusCode::BAD_REQUEST
                },
                title: "The connection was not made",
                message,
                notify: Some((
                    opener_origin,
                    OpenerMessage {
                        kind: "grantd:oauth",
                        status: "failure",
                        connection_id: connection_id.as_deref(),
                        provider,
                        error: Some(error),
                        error_description: description.as_deref(),
                    },
                )),
            }
            .into_response()
        }
    }
}
