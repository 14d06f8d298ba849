//! Spawns a real grantd on 127.0.0.1:0 with a fresh data directory and a
//! mock OAuth provider, and offers shortcuts for driving it over HTTP.

use crate::mock_provider::{MockProvider, CLIENT_ID, CLIENT_SECRET};
use grantd::app::Application;
use grantd::config::Config;
use grantd::domain::Grantd;
use grantd::secrets::{Cipher, SecretString};
use reqwest::header::LOCATION;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::oneshot;

/// Providers pointing at the mock; BASE is replaced by its address.
pub const TEST_PROVIDERS: &str = r#"
[providers.mock]
displayName = "Mock CRM"
category = "crm"
authSchemes = ["oauth2/authorizationCode", "oauth2/clientCredentials", "oauth2/password", "apiKey", "basic"]
[providers.mock.oauth2]
authorizeUrl = "BASE/authorize"
tokenUrl = "BASE/token"
revocationUrl = "BASE/revoke"
issuer = "BASE"
requiredScopes = ["read"]
pkce = "allowed"
tokenAuth = "body"
tokenMetadata = { instanceUrl = "instance_url" }
[providers.mock.apiKey]
in = "header"
name = "X-Api-Key"

[providers.mock-basic]
displayName = "Mock with HTTP Basic client auth"
category = "support"
authSchemes = ["oauth2/authorizationCode", "oauth2/clientCredentials"]
[providers.mock-basic.oauth2]
authorizeUrl = "BASE/authorize"
tokenUrl = "BASE/token"
pkce = "unsupported"
tokenAuth = "basic"
scopeSeparator = ","

[providers.mock-workspace]
displayName = "Mock with a workspace"
category = "finance"
authSchemes = ["oauth2/authorizationCode", "apiKey"]
[providers.mock-workspace.workspace]
label = "Tenant"
pattern = "^[a-z][a-z0-9-]{0,30}$"
[providers.mock-workspace.metadata.accountId]
label = "Account id"
pattern = "^[0-9]{1,12}$"
[providers.mock-workspace.oauth2]
authorizeUrl = "BASE/authorize?tenant={workspace}"
tokenUrl = "BASE/token?tenant={workspace}&account={accountId}"
[providers.mock-workspace.apiKey]
in = "query"
name = "key"

[providers.mock-nested]
displayName = "Mock with Slack-style nested user tokens and a post-auth lookup"
category = "communication"
authSchemes = ["oauth2/authorizationCode"]
[providers.mock-nested.oauth2]
authorizeUrl = "BASE/authorize"
tokenUrl = "BASE/token"
scopeSeparator = ","
defaultScopes = ["chat:write"]
tokensExpire = false
accessTokenPath = "authed_user.access_token"
refreshTokenPath = "authed_user.refresh_token"
scopePath = "authed_user.scope"
tokenMetadata = { teamId = "team.id", teamName = "team.name" }
[providers.mock-nested.oauth2.postAuth]
url = "BASE/me"
metadata = { cloudId = "0.id", siteUrl = "0.url" }

[providers.mock-custom]
displayName = "Mock with custom auth"
category = "support"
authSchemes = ["custom"]
[providers.mock-custom.customAuth]
inputs = [{ name = "apiKey", label = "API key" }, { name = "username" }]
headers = { "Api-Key" = "{apiKey}", "Api-Username" = "{username}" }

[providers.mock-open]
displayName = "Mock without auth"
category = "support"
authSchemes = ["none"]

[providers.mock-pkce]
displayName = "Mock requiring PKCE"
category = "storage"
authSchemes = ["oauth2/authorizationCodePKCE"]
[providers.mock-pkce.oauth2]
authorizeUrl = "BASE/authorize"
tokenUrl = "BASE/token"
tokenRequestFormat = "json"
"#;

pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    /// The proxy's own listener, when the test configured `proxy_listen`.
    pub proxy_address: Option<String>,
    pub client: reqwest::Client,
    pub api_key: String,
    pub project_id: String,
    pub project_name: String,
    pub grantd: Grantd,
    pub provider: MockProvider,
    pub data_dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    /// The server task, to tell a server that died mid-test from one stopped at teardown.
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// The PostgreSQL database of this test; `None` on SQLite.
    pub database_url: Option<String>,
    /// What this instance was started with; siblings start with the same.
    pub config: Config,
    /// `http://…/metrics` when the test asked for a metrics listener.
    pub metrics_url: Option<String>,
}

/// Another grantd instance on the same database, keyring and catalog.
pub struct Sibling {
    pub address: String,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for Sibling {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The suite's backend switch: with `GRANTD_TEST_DATABASE_URL` naming a
/// PostgreSQL server (a user that may create databases), each test gets a
/// fresh database there; without it, a fresh SQLite file.
pub async fn test_database() -> Option<String> {
    use sqlx::{Connection, Executor};
    let admin = std::env::var("GRANTD_TEST_DATABASE_URL").ok()?;
    let name = format!("grantd_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("GRANTD_TEST_DATABASE_URL accepts connections");
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    conn.close().await.unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);
    Some(url.to_string())
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // A server task that ended before teardown panicked or failed: the
        // test's requests may have been answered by nobody.
        let died = self.server.as_ref().is_some_and(|s| s.is_finished());
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if died && !std::thread::panicking() {
            panic!("the server under test stopped before the test ended");
        }
    }
}

/// With `GRANTD_TEST_LOG` set, the servers under test log to the test's
/// output (shown for a failing test, or for all with `--nocapture`):
/// `GRANTD_TEST_LOG=1` for grantd's debug logs, or any `RUST_LOG`-style
/// filter such as `GRANTD_TEST_LOG=grantd::domain=trace`.
fn init_test_log() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let Ok(filter) = std::env::var("GRANTD_TEST_LOG") else {
            return;
        };
        let filter = match filter.as_str() {
            "" | "0" => return,
            "1" => "info,grantd=debug".to_owned(),
            other => other.to_owned(),
        };
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    });
}

/// Says that a test did not run, straight to the process's stderr (past the
/// harness's capture) so that the skip shows in a normal `cargo test` run.
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Adds `entries` (providers-file TOML) after the suite's own providers, for
/// a test that needs a catalog entry of its own.
pub fn add_providers(config: &Config, entries: &str) {
    let path = config.providers_file.clone().expect("a providers file");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(entries);
    std::fs::write(&path, text).unwrap();
}

/// The mock OAuth provider's base URL as the suite's providers file names it,
/// for entries added while configuring (before the `TestApp` exists).
pub fn mock_oauth_base(config: &Config) -> String {
    let path = config.providers_file.clone().expect("a providers file");
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("tokenUrl = \""))
        .and_then(|rest| rest.strip_suffix("/token\""))
        .expect("the suite's providers name the mock's token URL")
        .to_owned()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Spawns grantd with the mock's OAuth client registered as the project's
/// provider app for `provider` (`mock` for most flows).
pub async fn spawn_app_with_provider_app(provider: &str) -> TestApp {
    let app = spawn_app().await;
    app.create_provider_app(provider).await;
    app
}

/// Spawns grantd after letting the test adjust its configuration.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    init_test_log();
    let provider = MockProvider::start().await;
    let data_dir = tempfile::tempdir().unwrap();
    let providers_file = data_dir.path().join("providers.toml");
    std::fs::write(
        &providers_file,
        TEST_PROVIDERS.replace("BASE", &provider.base),
    )
    .unwrap();
    let mut config = Config::for_data_dir(data_dir.path().join("data"));
    // Quick refresher ticks and retries; lead and skew stay at their defaults.
    config.refresh.tick = Duration::from_millis(50);
    config.refresh.backoff_base = Duration::from_millis(20);
    config.providers_file = Some(providers_file);
    config.encryption_key = Some(SecretString::new(Cipher::generate_spec()));
    config.database_url = test_database().await;
    configure(&mut config);
    let database_url = config.database_url.clone();
    let started_with = config.clone();
    let app = Application::build(config).await.expect("grantd starts");
    let address = format!("http://{}", app.local_addr());
    let metrics_url = app
        .metrics_addr()
        .map(|address| format!("http://{address}/metrics"));
    let proxy_address = app.proxy_addr().map(|a| format!("http://{a}"));
    let grantd = app.grantd().clone();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    let created = grantd.create_project("acme").await.unwrap();
    TestApp {
        address,
        proxy_address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        api_key: created.api_key.expose().to_owned(),
        project_id: created.project.id.clone(),
        project_name: created.project.name.clone(),
        grantd,
        provider,
        data_dir,
        shutdown: Some(tx),
        server: Some(server),
        database_url,
        config: started_with,
        metrics_url,
    }
}

impl TestApp {
    /// Starts a second instance sharing this one's database (the same SQLite
    /// file, or the same PostgreSQL database), after `configure`.
    pub async fn spawn_sibling(&self, configure: impl FnOnce(&mut Config)) -> Sibling {
        let mut config = self.config.clone();
        configure(&mut config);
        let app = Application::build(config).await.expect("sibling starts");
        let address = format!("http://{}", app.local_addr());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        Sibling {
            address,
            shutdown: Some(tx),
        }
    }

    /// Stops the server as a signal would and checks that its background
    /// work finished: the server task ends cleanly, and no webhook delivery
    /// or token refresh is left holding a lease (work cut off mid-flight).
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let server = self.server.take().expect("the server is running");
        // A bound against hanging, not a measure of speed.
        let ended = tokio::time::timeout(Duration::from_secs(60), server)
            .await
            .expect("the server stops after its shutdown signal");
        ended
            .expect("the server task did not panic")
            .expect("the server shut down cleanly");
        let db = self.db().await;
        let (deliveries,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM webhook_deliveries WHERE lease_owner IS NOT NULL")
                .fetch_one(&db)
                .await
                .unwrap();
        assert_eq!(deliveries, 0, "webhook deliveries were left in flight");
        let (refreshes,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM connections WHERE refresh_lease_owner IS NOT NULL",
        )
        .fetch_one(&db)
        .await
        .unwrap();
        assert_eq!(refreshes, 0, "token refreshes were left in flight");
        db.close().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `/v1/projects/acme{rest}`
    pub fn project_url(&self, rest: &str) -> String {
        self.url(&format!("/v1/projects/{}{rest}", self.project_name))
    }

    /// `method url` sent with `api_key` and, when there is one, a JSON body:
    /// every keyed request of the suite goes through here.
    pub async fn send_with_key(
        &self,
        method: Method,
        url: &str,
        api_key: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, url)
            .header("X-Api-Key", api_key);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap()
    }

    pub async fn post_json(&self, url: &str, body: &Value) -> Response {
        self.send_with_key(Method::POST, url, &self.api_key, Some(body))
            .await
    }

    pub async fn patch_json(&self, url: &str, body: &Value) -> Response {
        self.send_with_key(Method::PATCH, url, &self.api_key, Some(body))
            .await
    }

    pub async fn put_json(&self, url: &str, body: &Value) -> Response {
        self.send_with_key(Method::PUT, url, &self.api_key, Some(body))
            .await
    }

    pub async fn get(&self, url: &str) -> Response {
        self.send_with_key(Method::GET, url, &self.api_key, None)
            .await
    }

    pub async fn delete(&self, url: &str) -> Response {
        self.send_with_key(Method::DELETE, url, &self.api_key, None)
            .await
    }

    /// `GET url` with another key than the app's own.
    pub async fn get_with_key(&self, url: &str, api_key: &str) -> Response {
        self.send_with_key(Method::GET, url, api_key, None).await
    }

    /// `GET url` with no credential at all, as a browser or a public client sends it.
    pub async fn get_without_key(&self, url: &str) -> Response {
        self.client.get(url).send().await.unwrap()
    }

    /// `GET url` with the app's key, expecting 200; the JSON body.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> T {
        let response = self.get(url).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "GET {url}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// A public document (the OpenAPI document, the catalog) as JSON, fetched
    /// without credentials.
    pub async fn public_json(&self, path: &str) -> Value {
        let response = self.get_without_key(&self.url(path)).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    /// Replaces the project's allowed origins (browser callers, the connect page).
    pub async fn allow_origins(&self, origins: &[&str]) {
        let response = self
            .put_json(
                &self.project_url("/allowed-origins"),
                &json!({ "origins": origins }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "allowing {origins:?}");
    }

    /// Registers the mock's OAuth client for `provider` and returns the app id.
    pub async fn create_provider_app(&self, provider: &str) -> String {
        let response = self
            .post_json(
                &self.project_url("/provider-apps"),
                &json!({"provider": provider, "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "scopes": ["write"]}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// `POST /v1/oauth-connect` with `body`, expecting the authorization URL.
    pub async fn oauth_connect(&self, body: Value) -> String {
        let response = self.post_json(&self.url("/v1/oauth-connect"), &body).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "oauth-connect failed: {text}");
        text
    }

    /// Follows the authorization URL at the mock and returns the callback URL it redirects to.
    pub async fn authorize(&self, authorization_url: &str) -> String {
        let response = self.get_without_key(authorization_url).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        response.headers()[LOCATION].to_str().unwrap().to_owned()
    }

    /// Starts a flow for `provider` (group `g`, consumer `c`); returns the authorization URL.
    pub async fn start_flow(&self, provider: &str) -> String {
        self.oauth_connect(json!({
            "projectId": self.project_id,
            "provider": provider,
            "groupRef": "g",
            "consumerRef": "c",
        }))
        .await
    }

    /// Registers the `mock` app and runs a flow (group `g`, consumer `c`) up to
    /// the mock's redirect: the callback URL, not yet visited.
    pub async fn mock_flow_at_callback(&self) -> String {
        self.create_provider_app("mock").await;
        let url = self.start_flow("mock").await;
        self.authorize(&url).await
    }

    /// Asserts that a refused callback changed nothing: no connection stored
    /// and the code never sent to the mock's token endpoint.
    pub async fn assert_no_code_exchanged(&self) {
        assert_eq!(self.connection_count().await, 0, "a connection was stored");
        assert_eq!(
            self.provider.token_calls(),
            0,
            "the code was sent to the token endpoint"
        );
    }

    /// Sends the browser through the mock's authorize step and back to grantd's callback.
    pub async fn finish_flow(&self, authorization_url: &str) -> Response {
        let callback = self.authorize(authorization_url).await;
        self.get_without_key(&callback).await
    }

    /// The whole flow for the `mock` provider; returns the new connection's id.
    pub async fn connect_mock(&self, group_ref: &str, consumer_ref: &str) -> String {
        let url = self
            .oauth_connect(json!({
                "projectId": self.project_id,
                "provider": "mock",
                "groupRef": group_ref,
                "consumerRef": consumer_ref,
            }))
            .await;
        let callback = self.authorize(&url).await;
        let response = self.get_without_key(&callback).await;
        assert_eq!(response.status(), StatusCode::OK);
        self.only_connection_for(group_ref).await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Re-authorizes connection `id` in place: `:oauth-update`, then the
    /// whole flow through the mock.
    pub async fn reauthorize(&self, id: &str) {
        let response = self
            .patch_json(
                &self.project_url(&format!("/connections/{id}:oauth-update")),
                &json!({}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let url = response.text().await.unwrap();
        assert_eq!(self.finish_flow(&url).await.status(), StatusCode::OK);
    }

    /// The event log of connection `id`, newest first, as `/events` answers.
    pub async fn connection_events(&self, id: &str) -> Vec<Value> {
        self.get_json(&self.project_url(&format!("/events?connectionId={id}")))
            .await
    }

    /// The types of connection `id`'s events, oldest first.
    pub async fn connection_event_types(&self, id: &str) -> Vec<String> {
        let events = self.connection_events(id).await;
        events
            .iter()
            .rev()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The single connection of a group, asserting there is exactly one.
    pub async fn only_connection_for(&self, group_ref: &str) -> Value {
        let list: Vec<Value> = self
            .get(&self.project_url(&format!("/connections?groupRef={group_ref}")))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            list.len(),
            1,
            "expected one connection for {group_ref}: {list:?}"
        );
        list.into_iter().next().unwrap()
    }

    pub async fn connection_count(&self) -> usize {
        let list: Vec<Value> = self
            .get(&self.project_url("/connections"))
            .await
            .json()
            .await
            .unwrap();
        list.len()
    }

    /// `POST …/connections:generate` with `body`.
    pub async fn generate(&self, body: &Value) -> Response {
        self.post_json(&self.project_url("/connections:generate"), body)
            .await
    }

    /// `connections:generate` that must succeed; the created connection.
    pub async fn generated(&self, body: &Value) -> Value {
        let response = self.generate(body).await;
        let status = response.status();
        let created: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created
    }

    /// `connections:generate` that must succeed; the new connection's id.
    pub async fn generated_id(&self, body: &Value) -> String {
        self.generated(body).await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A `mock` connection of group `group_ref` (consumer `c`) holding the API
    /// key `k`: the cheapest connection to make; its id.
    pub async fn api_key_connection(&self, group_ref: &str) -> String {
        self.generated_id(&json!({
            "provider": "mock", "groupRef": group_ref, "consumerRef": "c", "apiKey": "k",
        }))
        .await
    }

    /// A connection of the app's project with every secret (`includeRefreshToken=true`).
    pub async fn connection_with_credentials(&self, id: &str) -> Value {
        let response = self
            .get(&self.project_url(&format!("/connections/{id}?includeRefreshToken=true")))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// A direct connection to the app's SQLite file, for checks the API does not expose.
    /// A direct handle on this test's database, whichever the backend.
    pub async fn db(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        let url = self.database_url.clone().unwrap_or_else(|| {
            let path = self.data_dir.path().join("data").join("grantd.db");
            format!("sqlite://{}", path.display())
        });
        sqlx::AnyPool::connect(&url).await.unwrap()
    }

    /// The stored hash of the state of the (one) flow started for `group_ref`.
    pub async fn flow_state_hash(&self, group_ref: &str) -> String {
        let (state_hash,): (String,) =
            sqlx::query_as("SELECT state_hash FROM oauth_flows WHERE group_ref = $1")
                .bind(group_ref)
                .fetch_one(&self.db().await)
                .await
                .unwrap();
        state_hash
    }

    /// A second project and its API key, for isolation tests.
    pub async fn other_project(&self) -> (String, String) {
        let created = self.grantd.create_project("globex").await.unwrap();
        (
            created.project.id.clone(),
            created.api_key.expose().to_owned(),
        )
    }
}

/// A `connections:generate` body for connection `i` (group `g{i}`) with
/// imported tokens `at-{i}`/`rt-{i}` that have two minutes left of an hour,
/// so that the refresher takes it at once (the mock must know `rt-{i}`:
/// `issue_refresh_token`).
pub fn due_import(i: usize) -> Value {
    let expires_at = (chrono::Utc::now() + chrono::Duration::minutes(2)).to_rfc3339();
    let issued_at = (chrono::Utc::now() - chrono::Duration::minutes(58)).to_rfc3339();
    json!({"provider": "mock", "groupRef": format!("g{i}"), "consumerRef": "c",
        "oauth2AuthorizationCode": {
            "accessToken": {"token": format!("at-{i}"), "expiresAt": expires_at, "issuedAt": issued_at},
            "refreshToken": {"token": format!("rt-{i}")}}})
}

/// Reads a problem body, checking the content type on the way.
pub async fn problem(response: Response) -> Value {
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    response.json().await.unwrap()
}

/// Asserts that `response` is a problem with `status` (in the header and in
/// the body's `status` member); returns the body.
pub async fn expect_problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    let body = problem(response).await;
    assert_eq!(body["status"], status.as_u16(), "{body}");
    body
}

/// The names of the issues of a 400 problem.
pub fn issue_names(problem: &Value) -> Vec<String> {
    problem["issues"]
        .as_array()
        .map(|issues| {
            issues
                .iter()
                .map(|i| i["name"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Extracts a query parameter from a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
