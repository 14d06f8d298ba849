//! Webhook endpoints: where a project wants its connection events POSTed,
//! and the log of what was delivered there. Delivery itself is in
//! `webhook_delivery`.

use crate::domain::error::{check_text, DomainError, DomainResult, FieldIssue, OrNotFound};
use crate::domain::fields::finish;
use crate::domain::handle::Grantd;
use crate::domain::lifecycle::events::{page_limit, EventKind};
use crate::domain::lifecycle::webhook_delivery::failure::shown_error;
use crate::domain::lifecycle::webhook_egress::{AddressClass, EgressPolicy};
use crate::domain::model::{from_millis, Timestamp};
use crate::secrets::{random_token, Sealed, SecretString};
use crate::storage::{now_millis, WebhookDeliveryRow, WebhookEndpointRecord, WebhookEndpointRow};
use crate::vocab::DeliveryStatus;
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::{Host, Url};

/// Prefix of signing secrets, so that they are recognisable in a config file.
const SECRET_PREFIX: &str = "whsec_";
/// The stored subscription meaning "every kind, including ones added later".
const ALL_KINDS: &str = "*";
/// Longest accepted endpoint URL.
pub const MAX_URL_LEN: usize = 2048;
/// Longest accepted description.
pub const MAX_DESCRIPTION_LEN: usize = 512;

/// A new webhook endpoint, parsed: a URL grantd may deliver to, the kinds
/// it subscribes to (`*` for every kind, including ones added later), and
/// a printable description.
#[derive(Debug)]
pub struct NewWebhook {
    url: Url,
    kinds: Vec<String>,
    description: Option<String>,
}

impl NewWebhook {
    /// Checks every field under the egress `policy`; `events: None`
    /// subscribes to every kind.
    pub fn parse(
        url: Option<String>,
        events: Option<Vec<String>>,
        description: Option<String>,
        policy: EgressPolicy,
    ) -> DomainResult<Self> {
        let mut issues = Vec::new();
        let url = check_url(url.as_deref(), policy, &mut issues);
        let kinds = check_events(events.as_deref(), &mut issues);
        let description = check_description(description.as_deref(), &mut issues);
        let webhook = url.map(|url| NewWebhook {
            url,
            kinds,
            description,
        });
        finish(webhook, issues)
    }
}

/// A registered endpoint. Its secret is not part of it: it is shown once,
/// in [`CreatedWebhook`], and only the delivery worker opens it afterwards.
#[derive(Debug, Clone)]
pub struct WebhookEndpoint {
    pub id: String,
    pub project_id: String,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub created_at: Timestamp,
}

/// A new endpoint and its signing secret, which is never shown again.
#[derive(Debug)]
pub struct CreatedWebhook {
    pub endpoint: WebhookEndpoint,
    pub secret: SecretString,
}

/// One line of an endpoint's delivery log.
#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    pub id: String,
    pub event_id: String,
    pub kind: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// The associated data binding a signing secret to its endpoint.
pub(in crate::domain) fn secret_aad(endpoint_id: &str) -> String {
    format!("webhook:{endpoint_id}:secret")
}

/// An endpoint URL grantd will POST to: https, without credentials or a
/// fragment, and not to an IP literal the egress policy refuses. Plain http
/// only to the loopback host, and only where private destinations are
/// allowed. Host names are judged when a delivery connects, by the
/// addresses they resolve to then (see `webhook_egress`).
fn check_url(
    value: Option<&str>,
    policy: EgressPolicy,
    issues: &mut Vec<FieldIssue>,
) -> Option<Url> {
    let issue = |value: Value, detail: &str| FieldIssue::body("url", value, detail);
    let Some(raw) = value.map(str::trim) else {
        issues.push(issue(Value::Null, "url is required"));
        return None;
    };
    if raw.is_empty() {
        issues.push(issue("".into(), "url must not be empty"));
        return None;
    }
    if raw.len() > MAX_URL_LEN {
        issues.push(issue(
            Value::Null,
            &format!("url is longer than {MAX_URL_LEN} characters"),
        ));
        return None;
    }
    let url = match Url::parse(raw) {
        Ok(url) => url,
        Err(e) => {
            issues.push(issue(raw.into(), &format!("url is not a valid URL: {e}")));
            return None;
        }
    };
    let literal = match url.host() {
        Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        _ => None,
    };
    let loopback = match url.host() {
        Some(Host::Domain(domain)) => domain == "localhost",
        Some(Host::Ipv4(ip)) => ip == Ipv4Addr::LOCALHOST,
        Some(Host::Ipv6(ip)) => ip == Ipv6Addr::LOCALHOST,
        None => false,
    };
    let refusal = literal.and_then(|ip| policy.check(ip).err());
    let problem = match url.scheme() {
        _ if url.host().is_none() => Some("url must name a host"),
        "https" | "http" if refusal.is_some() => match refusal.map(|r| r.class) {
            Some(AddressClass::Metadata) => Some("url must not point at a cloud metadata address"),
            _ => Some(
                "url must not point at a loopback, private, link-local or other non-public address",
            ),
        },
        "https" => None,
        "http" if loopback && policy.allow_private => None,
        "http" if policy.allow_private => {
            Some("url must use https (plain http only to 127.0.0.1, ::1 or localhost)")
        }
        _ => Some("url must be an https URL"),
    }
    .or_else(|| {
        (!url.username().is_empty() || url.password().is_some())
            .then_some("url must not carry credentials; authenticate with the signature instead")
    })
    .or_else(|| {
        url.fragment()
            .is_some()
            .then_some("url must not have a fragment")
    });
    match problem {
        Some(detail) => {
            // The value is echoed only without its userinfo.
            let mut shown = url.clone();
            let _ = shown.set_username("");
            let _ = shown.set_password(None);
            issues.push(issue(shown.as_str().into(), detail));
            None
        }
        None => Some(url),
    }
}

/// The kinds to subscribe to: every kind when absent, else known kinds,
/// at least one, duplicates dropped.
fn check_events(events: Option<&[String]>, issues: &mut Vec<FieldIssue>) -> Vec<String> {
    let Some(events) = events else {
        return vec![ALL_KINDS.to_owned()];
    };
    if events.is_empty() {
        issues.push(FieldIssue::body(
            "events",
            Value::Array(vec![]),
            "events must name at least one kind; omit it to receive every kind",
        ));
        return Vec::new();
    }
    let mut kinds: Vec<String> = Vec::new();
    for (i, name) in events.iter().enumerate() {
        match EventKind::parse(name) {
            Some(kind) => {
                if !kinds.iter().any(|k| k == kind.as_str()) {
                    kinds.push(kind.as_str().to_owned());
                }
            }
            None => issues.push(FieldIssue::body(
                format!("events[{i}]"),
                name.as_str(),
                format!(
                    "unknown event kind {name}; expected one of {}",
                    EventKind::ALL.map(EventKind::as_str).join(", ")
                ),
            )),
        }
    }
    kinds
}

fn check_description(value: Option<&str>, issues: &mut Vec<FieldIssue>) -> Option<String> {
    let description = value.map(str::trim).filter(|d| !d.is_empty())?;
    if description.chars().count() > MAX_DESCRIPTION_LEN {
        issues.push(FieldIssue::body(
            "description",
            Value::Null,
            format!("description is longer than {MAX_DESCRIPTION_LEN} characters"),
        ));
        return None;
    }
    check_text("description", description, issues).then(|| description.to_owned())
}

/// The subscribed kinds as shown: `*` expands to every current kind.
fn shown_kinds(stored: Vec<String>) -> Vec<String> {
    if stored.iter().any(|k| k == ALL_KINDS) {
        return EventKind::ALL.map(|k| k.as_str().to_owned()).to_vec();
    }
    // Stored in alphabetical order; show them in documentation order, any
    // kind this binary does not know last.
    let mut kinds = stored;
    kinds.sort_by_key(|k| {
        EventKind::parse(k)
            .and_then(|kind| EventKind::ALL.iter().position(|a| *a == kind))
            .unwrap_or(usize::MAX)
    });
    kinds
}

fn decode_endpoint(record: WebhookEndpointRecord) -> WebhookEndpoint {
    let row = record.endpoint;
    WebhookEndpoint {
        id: row.id,
        project_id: row.project_id,
        url: row.url,
        events: shown_kinds(record.kinds),
        description: row.description,
        created_at: from_millis(row.created_at),
    }
}

fn decode_delivery(row: WebhookDeliveryRow) -> WebhookDelivery {
    WebhookDelivery {
        id: row.id,
        event_id: row.event_id,
        kind: row.kind,
        status: row.status,
        attempts: row.attempts,
        last_status_code: row.last_status_code,
        last_error: row.last_error.as_deref().map(shown_error),
        next_attempt_at: row.next_attempt_at.map(from_millis),
        delivered_at: row.delivered_at.map(from_millis),
        created_at: from_millis(row.created_at),
    }
}

impl Grantd {
    /// Registers an endpoint and mints its signing secret, returned here
    /// once and stored sealed to the endpoint's id.
    /// Parses a new endpoint under this server's egress policy.
    pub fn parse_webhook(
        &self,
        url: Option<String>,
        events: Option<Vec<String>>,
        description: Option<String>,
    ) -> DomainResult<NewWebhook> {
        let policy = self.settings().webhooks.egress_policy();
        NewWebhook::parse(url, events, description, policy)
    }

    /// Registers a parsed endpoint and mints its signing secret.
    pub async fn create_webhook(
        &self,
        project_id: &str,
        webhook: NewWebhook,
    ) -> DomainResult<CreatedWebhook> {
        let NewWebhook {
            url,
            kinds,
            description,
        } = webhook;
        let id = uuid::Uuid::now_v7().to_string();
        let secret = SecretString::new(format!("{SECRET_PREFIX}{}", random_token()));
        let sealed = self
            .cipher()
            .seal(secret.expose().as_bytes(), &secret_aad(&id));
        let now = now_millis();
        let row = WebhookEndpointRow {
            id,
            project_id: project_id.to_owned(),
            url: url.to_string(),
            description,
            secret_key_id: sealed.key_id,
            secret_ciphertext: sealed.bytes,
            created_at: now,
            updated_at: now,
        };
        self.store().insert_webhook_endpoint(&row, &kinds).await?;
        Ok(CreatedWebhook {
            endpoint: decode_endpoint(WebhookEndpointRecord {
                endpoint: row,
                kinds,
            }),
            secret,
        })
    }

    /// A project's endpoints, oldest first.
    pub async fn list_webhooks(&self, project_id: &str) -> DomainResult<Vec<WebhookEndpoint>> {
        Ok(self
            .store()
            .list_webhook_endpoints(project_id)
            .await?
            .into_iter()
            .map(decode_endpoint)
            .collect())
    }

    pub async fn get_webhook(&self, project_id: &str, id: &str) -> DomainResult<WebhookEndpoint> {
        self.store()
            .find_webhook_endpoint(project_id, id)
            .await
            .or_not_found("webhook")
            .map(decode_endpoint)
    }

    /// Removes an endpoint; deliveries not yet made to it are dropped.
    pub async fn delete_webhook(&self, project_id: &str, id: &str) -> DomainResult<()> {
        self.store()
            .delete_webhook_endpoint(project_id, id)
            .await
            .or_not_found("webhook")
    }

    /// An endpoint's deliveries, newest first; at most `limit` (1–500,
    /// default 100).
    pub async fn list_webhook_deliveries(
        &self,
        project_id: &str,
        endpoint_id: &str,
        limit: Option<i64>,
    ) -> DomainResult<Vec<WebhookDelivery>> {
        let limit = page_limit(limit)?;
        // The endpoint must be the project's: ids of others are not found.
        self.get_webhook(project_id, endpoint_id).await?;
        Ok(self
            .store()
            .list_webhook_deliveries(endpoint_id, limit)
            .await?
            .into_iter()
            .map(decode_delivery)
            .collect())
    }

    /// Opens an endpoint's signing secret (for the delivery worker).
    pub(in crate::domain) fn open_webhook_secret(
        &self,
        endpoint_id: &str,
        sealed: Sealed,
    ) -> DomainResult<SecretString> {
        let raw = self.cipher().open(&sealed, &secret_aad(endpoint_id))?;
        String::from_utf8(raw)
            .map(SecretString::new)
            .map_err(|source| DomainError::SecretNotText {
                what: "webhook secret",
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: EgressPolicy = EgressPolicy {
        allow_private: false,
    };
    const OPEN: EgressPolicy = EgressPolicy {
        allow_private: true,
    };

    fn url_issue(value: &str, policy: EgressPolicy) -> Option<String> {
        let mut issues = Vec::new();
        check_url(Some(value), policy, &mut issues);
        issues.pop().map(|i| {
            assert_eq!(i.name, "url");
            i.detail
        })
    }

    #[test]
    fn https_to_public_hosts_and_names_is_accepted() {
        for policy in [STRICT, OPEN] {
            for ok in [
                "https://hooks.example.com/grantd",
                "https://8.8.8.8/hook",
                "https://[2606:4700:4700::1111]/hook",
                // Names are judged at connect time, by what they resolve to.
                "https://localhost:9000/hook",
                "https://internal.example/hook",
            ] {
                assert_eq!(url_issue(ok, policy), None, "{ok}");
            }
        }
    }

    #[test]
    fn non_public_literals_and_plain_http_need_the_opt_in() {
        for bad in [
            "https://10.0.0.1/hook",
            "https://127.0.0.1/hook",
            "https://[::1]/hook",
            "https://[::ffff:127.0.0.1]/hook",
            "https://[::ffff:a00:1]/hook",
            "https://[fd12::1]/hook",
            "https://[fe80::1]/hook",
            "https://100.64.0.1/hook",
            "https://0.0.0.0/hook",
            // Forms the URL parser reads as 127.0.0.1.
            "https://2130706433/hook",
            "https://0x7f.1/hook",
            "http://127.0.0.1:9000/hook",
            "http://[::1]:9000/hook",
            "http://localhost/hook",
        ] {
            assert!(url_issue(bad, STRICT).is_some(), "{bad}");
        }
        for ok in [
            "https://10.0.0.1/hook",
            "https://[fd12::1]/hook",
            "http://127.0.0.1:9000/hook",
            "http://[::1]:9000/hook",
            "http://localhost/hook",
        ] {
            assert_eq!(url_issue(ok, OPEN), None, "{ok}");
        }
    }

    #[test]
    fn metadata_addresses_are_refused_even_with_the_opt_in() {
        for bad in [
            "https://169.254.169.254/latest/meta-data/",
            "http://169.254.169.254/latest/meta-data/",
            "https://[fd00:ec2::254]/",
            "https://100.100.100.200/",
            "https://[::ffff:169.254.169.254]/",
        ] {
            let detail = url_issue(bad, OPEN).unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(detail.contains("metadata"), "{bad}: {detail}");
        }
    }

    #[test]
    fn other_schemes_credentials_and_fragments_are_refused() {
        for policy in [STRICT, OPEN] {
            for bad in [
                "http://hooks.example.com/grantd",
                "http://10.0.0.1/hook",
                "ftp://example.com/",
                "https://user:pw@example.com/",
                "https://example.com/#frag",
                "not a url",
                "",
                "mailto:ops@example.com",
            ] {
                assert!(url_issue(bad, policy).is_some(), "{bad}");
            }
        }
    }

    #[test]
    fn credentials_in_a_refused_url_are_not_echoed() {
        let mut issues = Vec::new();
        check_url(
            Some("https://user:hunter2@example.com/"),
            STRICT,
            &mut issues,
        );
        assert!(!issues[0].value.to_string().contains("hunter2"));
    }

    #[test]
    fn events_default_to_all_and_reject_unknown_kinds() {
        let mut issues = Vec::new();
        assert_eq!(check_events(None, &mut issues), vec!["*"]);
        let kinds = check_events(
            Some(&[
                "connection.deleted".into(),
                "connection.deleted".into(),
                "connection.nope".into(),
            ]),
            &mut issues,
        );
        assert_eq!(kinds, vec!["connection.deleted"]);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].name, "events[2]");
        assert_eq!(shown_kinds(vec!["*".into()]).len(), EventKind::ALL.len());
    }
}
