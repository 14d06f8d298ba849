//! Where providers send the browser back after an authorization.

pub(crate) mod page;
pub mod wire;

use crate::domain::oauth::callback::failure::FlowFailure;
use crate::domain::oauth::csrf::csrf_cookie_name;
use crate::domain::{
    Actor, CallbackInput, CallbackOutcome, CallbackRejection, ConnectReturn, CredentialAccess,
    Grantd, ProviderAnswer,
};
use crate::http::auth::{cookie, RequestOrigin};
use crate::http::extract::QueryParams;
use crate::http::routes::connect::csrf_set_cookie;
use crate::http::routes::connections::wire::ConnectionView;
use crate::secrets::SecretString;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use page::{ampersand_message, CallbackPage, OpenerMessage};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wire::CallbackQuery;

/// These routes, each registered with its OpenAPI operation.
pub fn router() -> OpenApiRouter<Grantd> {
    OpenApiRouter::new().routes(routes!(get_oauth_callback))
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
    origin: RequestOrigin,
    headers: HeaderMap,
    QueryParams(query): QueryParams<CallbackQuery>,
) -> Response {
    let actor = origin.end_user();
    // A CSRF-protected flow's cookie is named after its state.
    let cookie_name = query.state.as_deref().map(csrf_cookie_name);
    let csrf_cookie = cookie_name
        .as_deref()
        .and_then(|name| cookie(&headers, name))
        .map(SecretString::new);
    // Whatever happens, the flow is spent: its cookie goes, cleared with the
    // attributes it was set with.
    let clear_cookie = csrf_cookie
        .as_ref()
        .and(cookie_name)
        .map(|name| csrf_set_cookie(&name, "", 0, &grantd.csrf_cookie_scope()));
    let input = CallbackInput {
        state: query.state,
        answer: ProviderAnswer::from_query(query.code, query.error, query.error_description),
        iss: query.iss,
        csrf_cookie,
    };
    let outcome = match grantd.complete_oauth_callback(&actor, input).await {
        Ok(outcome) => outcome,
        Err(error) => {
            tracing::error!(%error, "OAuth callback failed");
            return CallbackPage {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                title: "Something went wrong",
                message: "The connection could not be saved. Please try again.".into(),
                notify: None,
                ampersand: None,
                connect: None,
                clear_cookie,
            }
            .into_response();
        }
    };
    outcome_page(&grantd, &actor, &outcome, clear_cookie)
        .await
        .into_response()
}

/// The page a callback's outcome shows, and what it tells the opener.
async fn outcome_page<'a>(
    grantd: &'a Grantd,
    actor: &Actor,
    outcome: &'a CallbackOutcome,
    clear_cookie: Option<String>,
) -> CallbackPage<'a> {
    match outcome {
        CallbackOutcome::Rejected(reason) => rejected_page(*reason, clear_cookie),
        CallbackOutcome::Connected {
            project_id,
            connection_id,
            provider,
            opener_origin,
            reauthorized,
            connect,
        } => {
            tracing::info!(%connection_id, %provider, reauthorized, "connection authorized");
            let flow = FlowShown {
                provider,
                opener_origin,
                connect: connect.as_ref(),
            };
            connected_page(grantd, actor, flow, project_id, connection_id, clear_cookie).await
        }
        CallbackOutcome::Failed {
            provider,
            opener_origin,
            connection_id,
            failure,
            connect,
        } => {
            let flow = FlowShown {
                provider,
                opener_origin,
                connect: connect.as_ref(),
            };
            failed_page(
                grantd,
                flow,
                connection_id.as_deref(),
                failure,
                clear_cookie,
            )
        }
    }
}

/// A callback refused before anything was stored: nothing to tell an opener.
fn rejected_page<'a>(reason: CallbackRejection, clear_cookie: Option<String>) -> CallbackPage<'a> {
    let (title, message) = rejection_text(reason);
    CallbackPage {
        status: StatusCode::BAD_REQUEST,
        title,
        message: message.into(),
        notify: None,
        ampersand: None,
        connect: None,
        clear_cookie,
    }
}

/// What every outcome with a flow tells: whose provider, which opener to
/// notify, and the connect session the flow ran for.
struct FlowShown<'a> {
    provider: &'a str,
    opener_origin: &'a str,
    connect: Option<&'a ConnectReturn>,
}

impl<'a> FlowShown<'a> {
    /// The opener to notify and what it is told of the flow.
    fn notify(
        &self,
        status: &'a str,
        connection_id: Option<&'a str>,
        error: Option<&'a str>,
        error_description: Option<String>,
    ) -> Option<(&'a str, OpenerMessage<'a>)> {
        Some((
            self.opener_origin,
            OpenerMessage {
                kind: "grantd:oauth",
                status,
                connection_id,
                provider: self.provider,
                error,
                error_description,
                session_id: self.connect.map(|c| c.session_id.as_str()),
            },
        ))
    }
}

/// A connection was made or re-authorized.
async fn connected_page<'a>(
    grantd: &'a Grantd,
    actor: &Actor,
    flow: FlowShown<'a>,
    project_id: &str,
    connection_id: &'a str,
    clear_cookie: Option<String>,
) -> CallbackPage<'a> {
    let connect = flow.connect;
    let name = display_name(grantd, flow.provider);
    // With a return URL, the page (or its link) takes the person back.
    let returns = connect.is_some_and(|c| c.return_url.is_some());
    // Connect-page flows report to the connect page, which knows grantd's words.
    let ampersand = match connect {
        Some(_) => None,
        None => connection_for_opener(grantd, actor, project_id, connection_id)
            .await
            .map(|connection| ampersand_message(Ok(connection))),
    };
    CallbackPage {
        status: StatusCode::OK,
        title: "Connected",
        message: if returns {
            format!("Your {name} account is connected.")
        } else {
            format!("Your {name} account is connected. You can close this window.")
        },
        notify: flow.notify("success", Some(connection_id), None, None),
        ampersand,
        connect,
        clear_cookie,
    }
}

/// The flow ended without a connection: the provider's words, or ours.
fn failed_page<'a>(
    grantd: &'a Grantd,
    flow: FlowShown<'a>,
    connection_id: Option<&'a str>,
    failure: &'a FlowFailure,
    clear_cookie: Option<String>,
) -> CallbackPage<'a> {
    let error = failure.code();
    tracing::info!(provider = %flow.provider, %error, "OAuth flow failed");
    let name = display_name(grantd, flow.provider);
    let message = match failure.description() {
        Some(d) => format!("{name} reported: {error} ({d})"),
        None => format!("{name} reported: {error}"),
    };
    let ampersand = flow
        .connect
        .is_none()
        .then(|| ampersand_message(Err(&message)));
    CallbackPage {
        status: if failure.is_retryable() {
            StatusCode::BAD_GATEWAY
        } else {
            StatusCode::BAD_REQUEST
        },
        title: "The connection was not made",
        message,
        notify: flow.notify("failure", connection_id, Some(error), failure.description()),
        ampersand,
        connect: flow.connect,
        clear_cookie,
    }
}

/// The connection just authorized, as `GET …/connections/{id}` shows it
/// without credentials; `None` (with a log line) if it cannot be read.
async fn connection_for_opener(
    grantd: &Grantd,
    actor: &Actor,
    project_id: &str,
    connection_id: &str,
) -> Option<serde_json::Value> {
    match grantd
        .get_connection(actor, project_id, connection_id, CredentialAccess::None)
        .await
    {
        Ok(connection) => serde_json::to_value(ConnectionView::from(connection)).ok(),
        Err(error) => {
            tracing::warn!(%error, %connection_id, "could not read the new connection for the opener");
            None
        }
    }
}

/// The catalog's name for a provider, as people know it.
fn display_name<'a>(grantd: &'a Grantd, provider: &'a str) -> &'a str {
    grantd
        .catalog()
        .get(provider)
        .map(|p| p.display_name.as_str())
        .unwrap_or(provider)
}

/// What a refused callback tells the person.
fn rejection_text(reason: CallbackRejection) -> (&'static str, &'static str) {
    match reason {
        CallbackRejection::MissingState => (
            "This link is no longer valid",
            "The request is missing its state parameter.",
        ),
        CallbackRejection::InvalidState => (
            "This link is no longer valid",
            "This authorization request is unknown, was already used, or has expired. \
             Please start again.",
        ),
        CallbackRejection::CsrfMismatch => (
            "This sign-in did not start in this browser",
            "For your security, the connection was not made: the sign-in was started in \
             another browser, or this browser did not keep grantd's cookie. Please start \
             again from the application.",
        ),
    }
}
