//! The few grantd API calls the scenarios make, each checking its status so
//! that a wrong answer counts as an error, never as a fast request.

use crate::mock::{CLIENT_ID, CLIENT_SECRET};
use anyhow::{bail, Context};
use reqwest::header::LOCATION;
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// The provider name in the benchmark's providers file.
pub const PROVIDER: &str = "bench";

/// Cheap to clone: one connection pool shared by every worker.
#[derive(Clone)]
pub struct Api {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    base: String,
    project: String,
    api_key: String,
}

/// Reads the whole body (so the connection is reused) and checks the status.
async fn expect(response: Response, status: StatusCode, what: &str) -> anyhow::Result<Vec<u8>> {
    let got = response.status();
    let body = response
        .bytes()
        .await
        .with_context(|| format!("{what}: reading the body"))?;
    if got != status {
        bail!(
            "{what}: expected {status}, got {got}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
    }
    Ok(body.to_vec())
}

impl Api {
    pub fn new(base: &str, project: &str, api_key: &str) -> anyhow::Result<Self> {
        let client = Client::builder()
            // The dance stops at each redirect, as a browser would show it.
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the load client")?;
        Ok(Api {
            inner: Arc::new(Inner {
                client,
                base: base.to_owned(),
                project: project.to_owned(),
                api_key: api_key.to_owned(),
            }),
        })
    }

    fn authed(&self, request: RequestBuilder) -> RequestBuilder {
        request.header("X-Api-Key", &self.inner.api_key)
    }

    fn project_url(&self, rest: &str) -> String {
        format!(
            "{}/v1/projects/{}{rest}",
            self.inner.base, self.inner.project
        )
    }

    pub async fn healthz(&self) -> anyhow::Result<()> {
        let response = self
            .inner
            .client
            .get(format!("{}/healthz", self.inner.base))
            .send()
            .await
            .context("GET /healthz")?;
        expect(response, StatusCode::OK, "GET /healthz").await?;
        Ok(())
    }

    /// Registers the mock's client as the project's default app for the provider.
    pub async fn create_provider_app(&self) -> anyhow::Result<()> {
        let body = json!({"provider": PROVIDER, "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET, "scopes": ["read"]});
        let response = self
            .authed(self.inner.client.post(self.project_url("/provider-apps")))
            .json(&body)
            .send()
            .await
            .context("POST provider-apps")?;
        expect(response, StatusCode::OK, "POST provider-apps").await?;
        Ok(())
    }

    /// `POST /v1/oauth-connect`: the authorization URL.
    pub async fn oauth_connect(&self, group_ref: &str) -> anyhow::Result<String> {
        let body = json!({"projectId": self.inner.project, "provider": PROVIDER,
            "groupRef": group_ref, "consumerRef": "bench-user"});
        let response = self
            .authed(
                self.inner
                    .client
                    .post(format!("{}/v1/oauth-connect", self.inner.base)),
            )
            .json(&body)
            .send()
            .await
            .context("POST /v1/oauth-connect")?;
        let body = expect(response, StatusCode::OK, "POST /v1/oauth-connect").await?;
        String::from_utf8(body).context("oauth-connect answered non-UTF-8")
    }

    /// The browser's part: the provider's authorize URL, then grantd's callback.
    pub async fn complete_dance(&self, authorization_url: &str) -> anyhow::Result<()> {
        let response = self
            .inner
            .client
            .get(authorization_url)
            .send()
            .await
            .context("GET authorize at the mock")?;
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        expect(response, StatusCode::SEE_OTHER, "GET authorize at the mock").await?;
        let callback = location.context("the mock's redirect has no Location")?;
        let response = self
            .inner
            .client
            .get(&callback)
            .send()
            .await
            .context("GET grantd's callback")?;
        expect(response, StatusCode::OK, "GET grantd's callback").await?;
        Ok(())
    }

    /// `POST …/connections:generate`: the new connection's id.
    pub async fn generate(&self, body: &Value) -> anyhow::Result<String> {
        let response = self
            .authed(
                self.inner
                    .client
                    .post(self.project_url("/connections:generate")),
            )
            .json(body)
            .send()
            .await
            .context("POST connections:generate")?;
        let body = expect(response, StatusCode::CREATED, "POST connections:generate").await?;
        let created: Value =
            serde_json::from_slice(&body).context("connections:generate answered non-JSON")?;
        created["id"]
            .as_str()
            .map(str::to_owned)
            .context("connections:generate answered without an id")
    }

    /// `GET …/connections/{id}?includeCredentials=true`.
    pub async fn get_with_credentials(&self, id: &str) -> anyhow::Result<()> {
        let url = self.project_url(&format!("/connections/{id}?includeCredentials=true"));
        let response = self
            .authed(self.inner.client.get(url))
            .send()
            .await
            .context("GET connection")?;
        expect(response, StatusCode::OK, "GET connection with credentials").await?;
        Ok(())
    }

    /// `GET …/connections?groupRef=…`, expecting exactly one connection.
    pub async fn list_group(&self, group_ref: &str) -> anyhow::Result<()> {
        let url = self.project_url(&format!("/connections?groupRef={group_ref}"));
        let response = self
            .authed(self.inner.client.get(url))
            .send()
            .await
            .context("GET connections by group")?;
        let body = expect(response, StatusCode::OK, "GET connections by group").await?;
        let list: Value = serde_json::from_slice(&body).context("listing answered non-JSON")?;
        match list.as_array().map(Vec::len) {
            Some(1) => Ok(()),
            other => bail!("group {group_ref}: expected one connection, got {other:?}"),
        }
    }
}
