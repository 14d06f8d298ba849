//! The end user's side of the hosted connect page: the page and its assets,
//! the two JSON endpoints it calls with its session token, and the bounce
//! endpoint (under the redirect URI) that binds a CSRF-protected flow to the
//! browser.

mod bounce_page;
pub(crate) mod page;
pub mod wire;

use crate::domain::connect_sessions::initials;
use crate::domain::oauth::csrf::{csrf_cookie_name, CsrfCookieScope};
use crate::domain::{ConnectSession, Grantd, PageFlow};
use crate::http::auth::{cookie, SessionToken};
use crate::http::extract::{JsonBody, PathParams, QueryParams};
use crate::http::problem::{ApiError, Problem};
use crate::http::routes::callback::page::CallbackPage;
use crate::http::routes::connect_sessions::wire::SessionOutcomeView;
use crate::http::wire::metadata_values;
use crate::secrets::SecretString;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use bounce_page::BouncePage;
use page::ConnectPage;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wire::{
    BounceForm, ConnectInputView, ConnectPageQuery, ConnectPageSessionView, ConnectProviderView,
    ConnectStartRequest, ConnectStartView,
};

/// These routes, each registered with its OpenAPI operation.
pub fn router() -> OpenApiRouter<Grantd> {
    OpenApiRouter::new()
        .routes(routes!(get_connect_page))
        .routes(routes!(get_page_session))
        .routes(routes!(start_page_flow))
        .routes(routes!(get_bounce_page, bounce))
        .route("/connect/assets/{file}", get(get_connect_asset))
        .route("/connect/start", get(refuse_query_bounce))
}

/// The hosted connect page (HTML). It may be framed only by the session's
/// parent origin.
#[utoipa::path(
    operation_id = "getConnectPage",
    get, path = "/connect", tag = "Connect",
    params(ConnectPageQuery),
    responses((status = 200, description = "The page", body = String, content_type = "text/html")),
)]
pub async fn get_connect_page(
    State(grantd): State<Grantd>,
    QueryParams(query): QueryParams<ConnectPageQuery>,
) -> Response {
    // The script reports a bad session itself; the lookup here only decides
    // who may frame the page.
    let frame_ancestor = match &query.session_id {
        Some(id) => grantd.connect_page_frame_ancestor(id).await.ok().flatten(),
        None => None,
    };
    ConnectPage { frame_ancestor }.into_response()
}

/// `GET /connect/assets/{file}`: the page's stylesheet and script.
pub async fn get_connect_asset(PathParams(file): PathParams<String>) -> Response {
    page::asset(&file).unwrap_or_else(|| ApiError::RouteNotFound.into_response())
}

/// The session as the connect page shows it: providers with their inputs
/// and patterns, and the result once the flow finished.
#[utoipa::path(
    operation_id = "getConnectPageSession",
    get, path = "/connect/api/session", tag = "Connect",
    responses(
        (status = 200, body = ConnectPageSessionView),
        (status = 404, description = "Unknown or expired session", body = Problem, content_type = "application/problem+json"),
    ),
    security(("ConnectSession" = []))
)]
pub async fn get_page_session(
    State(grantd): State<Grantd>,
    SessionToken(token): SessionToken,
) -> Result<Response, ApiError> {
    let session = grantd.connect_session_for_token(token.expose()).await?;
    let view = page_view(&grantd, session);
    let mut response = Json(view).into_response();
    page::locked_down(response.headers_mut());
    Ok(response)
}

/// Start the session's flow for the chosen provider; inputs are checked
/// against the catalog's patterns (400 naming the field) before the
/// session is spent.
#[utoipa::path(
    operation_id = "startConnectPageFlow",
    post, path = "/connect/api/start", tag = "Connect",
    request_body = ConnectStartRequest,
    responses(
        (status = 200, body = ConnectStartView),
        (status = 400, description = "Bad Request", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The session was already used", body = Problem, content_type = "application/problem+json"),
    ),
    security(("ConnectSession" = []))
)]
pub async fn start_page_flow(
    State(grantd): State<Grantd>,
    SessionToken(token): SessionToken,
    JsonBody(body): JsonBody<ConnectStartRequest>,
) -> Result<Response, ApiError> {
    let ConnectStartRequest {
        provider,
        provider_workspace_ref,
        provider_metadata,
    } = body;
    let metadata = metadata_values(provider_metadata);
    let authorization_url = grantd
        .start_connect_flow(token.expose(), |session| {
            PageFlow::parse(
                grantd.catalog(),
                session,
                provider,
                provider_workspace_ref,
                metadata,
            )
        })
        .await?;
    let mut response = Json(ConnectStartView { authorization_url }).into_response();
    page::locked_down(response.headers_mut());
    Ok(response)
}

/// Where a CSRF-protected flow begins: the URL from oauth-connect or the
/// connect page, with the flow in its fragment (`#flow=…`), opens this page,
/// which posts the flow to the same path.
#[utoipa::path(
    operation_id = "getProtectedFlowPage",
    get, path = "/callbacks/v1/oauth/start", tag = "OAuth",
    responses(
        (status = 200, description = "A page that posts the flow named in the URL's fragment", body = String, content_type = "text/html"),
    )
)]
pub async fn get_bounce_page() -> Response {
    BouncePage.into_response()
}

/// Sets the flow's cookie on this browser (HttpOnly, SameSite=Lax, the
/// redirect URI's path, Secure on https) and redirects to the provider. The
/// first browser to arrive owns the flow; it may come back with its cookie.
#[utoipa::path(
    operation_id = "startProtectedFlow",
    post, path = "/callbacks/v1/oauth/start", tag = "OAuth",
    request_body(content = BounceForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To the provider's authorization page"),
        (status = 400, description = "Unknown, used or expired flow", body = String, content_type = "text/html"),
    )
)]
pub async fn bounce(State(grantd): State<Grantd>, headers: HeaderMap, body: Bytes) -> Response {
    // A body that is not a form names no flow: the same page as an unknown one.
    let form: Option<BounceForm> = serde_urlencoded::from_bytes(&body).ok();
    let state = form
        .as_ref()
        .and_then(|f| f.flow.as_ref())
        .map(|f| f.expose());
    let existing = state
        .map(csrf_cookie_name)
        .and_then(|name| cookie(&headers, &name))
        .map(SecretString::new);
    let bounce = match grantd.bounce_oauth_flow(state, existing.as_ref()).await {
        Ok(Some(bounce)) => bounce,
        Ok(None) => return invalid_link_page(),
        Err(error) => {
            tracing::error!(%error, "could not start a protected OAuth flow");
            return CallbackPage {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                title: "Something went wrong",
                message: "The sign-in could not be started. Please try again.".into(),
                notify: None,
                ampersand: None,
                connect: None,
                clear_cookie: None,
            }
            .into_response();
        }
    };
    let cookie = csrf_set_cookie(
        &bounce.cookie_name,
        bounce.cookie_value.expose(),
        bounce.max_age_secs,
        &bounce.scope,
    );
    let (Ok(cookie), Ok(location)) = (
        HeaderValue::from_str(&cookie),
        HeaderValue::from_str(&bounce.authorization_url),
    ) else {
        return Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location);
    headers.insert(header::SET_COOKIE, cookie);
    page::locked_down(headers);
    response
}

/// `GET /connect/start`: where bounce URLs pointed before the flow moved
/// into a fragment. Such a link carries its flow in the request line, so it
/// is refused without being read, like an expired link (they lived minutes).
pub async fn refuse_query_bounce() -> Response {
    invalid_link_page()
}

/// `Set-Cookie` for a flow's CSRF cookie; `max_age_secs` 0 clears it.
pub fn csrf_set_cookie(
    name: &str,
    value: &str,
    max_age_secs: i64,
    scope: &CsrfCookieScope,
) -> String {
    format!(
        "{name}={value}; Max-Age={max_age_secs}; Path={}; HttpOnly; SameSite=Lax{}",
        scope.path,
        if scope.secure { "; Secure" } else { "" },
    )
}

fn invalid_link_page() -> Response {
    CallbackPage {
        status: StatusCode::BAD_REQUEST,
        title: "This link is no longer valid",
        message: "This sign-in link is unknown, was already opened in another browser, \
                  or has expired. Please start again from the application."
            .into(),
        notify: None,
        ampersand: None,
        connect: None,
        clear_cookie: None,
    }
    .into_response()
}

/// The page's view of a session: display names, badges and inputs from the catalog.
fn page_view(grantd: &Grantd, session: ConnectSession) -> ConnectPageSessionView {
    let reauthorize = session.connection_id.is_some();
    let providers = session
        .providers
        .iter()
        .filter_map(|name| grantd.catalog().get(name))
        .map(|provider| {
            let mut inputs = Vec::new();
            if !reauthorize {
                if let Some(spec) = &provider.workspace {
                    inputs.push(ConnectInputView {
                        field: "providerWorkspaceRef".into(),
                        label: spec.label.clone().unwrap_or_else(|| "Workspace".into()),
                        required: spec.required,
                        pattern: spec.pattern.clone(),
                        docs_url: spec.docs_url.clone(),
                    });
                }
                for (name, spec) in &provider.metadata {
                    inputs.push(ConnectInputView {
                        field: format!("providerMetadata.{name}"),
                        label: spec.label.clone().unwrap_or_else(|| name.clone()),
                        required: spec.required,
                        pattern: spec.pattern.clone(),
                        docs_url: spec.docs_url.clone(),
                    });
                }
            }
            ConnectProviderView {
                name: provider.name.clone(),
                initials: initials(&provider.display_name),
                hue: hue(&provider.name),
                display_name: provider.display_name.clone(),
                inputs,
            }
        })
        .collect();
    let status = session.status(chrono::Utc::now()).as_str().to_owned();
    ConnectPageSessionView {
        id: session.id,
        status,
        providers,
        reauthorize,
        group_name: session.group_name,
        parent_origin: session.parent_origin,
        return_url: session.return_url,
        provider: session.provider,
        expires_at: session.expires_at,
        result: session.outcome.map(SessionOutcomeView::from),
    }
}

/// One of twelve badge colours, stable per provider name.
fn hue(name: &str) -> u8 {
    let sum = name.bytes().fold(0u32, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(u32::from(b))
    });
    (sum % 12) as u8
}
