//! One attempt at a claimed delivery: the destination checked against the
//! egress policy, the request signed and POSTed, the answer turned into an
//! [`Outcome`]. Apart because it is the only part that touches the network.

use crate::domain::handle::Grantd;
use crate::domain::lifecycle::webhook_delivery::failure::DeliveryError;
use crate::domain::lifecycle::webhook_egress::{AddressRefused, EgressPolicy, GuardedResolver};
use crate::domain::lifecycle::webhook_signing::{
    body_of, sign, ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use crate::domain::settings::WebhookSettings;
use crate::secrets::Sealed;
use crate::storage::DeliveryJob;
use std::sync::Arc;
use std::time::Duration;

/// How one attempt went.
#[derive(Debug)]
pub(super) enum Outcome {
    Delivered {
        status: u16,
    },
    Failed {
        status: Option<u16>,
        error: DeliveryError,
    },
}

/// A transport error in words, for grantd's own debug log: without the URL
/// (which may carry a token in its query), with the causes that say what
/// actually went wrong.
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The client every attempt uses: redirects are not followed (a 3xx is a
/// failed attempt), one timeout bounds the whole request, and names resolve
/// through the egress guard. No proxy is used, not even one named by
/// `HTTPS_PROXY`: through a proxy grantd would resolve and check only the
/// proxy's address, and the proxy would connect anywhere.
pub(super) fn http_client(settings: &WebhookSettings) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver {
            policy: settings.egress_policy(),
        }))
        .timeout(settings.request_timeout)
        .connect_timeout(settings.request_timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("grantd-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("static reqwest configuration is valid")
}

/// The refusal of a URL whose host is an IP literal the policy refuses.
/// Literals never reach the resolver, so they are checked here, before
/// anything is sent: an endpoint registered while private addresses were
/// allowed is refused once they are not.
fn refused_literal(url: &str, policy: EgressPolicy) -> Option<AddressRefused> {
    let ip = match url::Url::parse(url).ok()?.host()? {
        url::Host::Ipv4(ip) => std::net::IpAddr::V4(ip),
        url::Host::Ipv6(ip) => std::net::IpAddr::V6(ip),
        url::Host::Domain(_) => return None,
    };
    policy.check(ip).err()
}

impl Grantd {
    /// Makes one attempt at a claimed delivery.
    pub(super) async fn attempt_delivery(
        &self,
        http: &reqwest::Client,
        job: &DeliveryJob,
    ) -> Outcome {
        if let Some(refusal) = refused_literal(&job.url, self.settings().webhooks.egress_policy()) {
            tracing::debug!(delivery_id = %job.id, endpoint_id = %job.endpoint_id, %refusal, "webhook destination refused");
            return Outcome::Failed {
                status: None,
                error: DeliveryError::RefusedAddress,
            };
        }
        let secret = match self.open_webhook_secret(
            &job.endpoint_id,
            Sealed {
                key_id: job.secret_key_id.clone(),
                bytes: job.secret_ciphertext.clone(),
            },
        ) {
            Ok(secret) => secret,
            Err(error) => {
                tracing::error!(%error, endpoint_id = %job.endpoint_id, "cannot open a webhook signing secret");
                return Outcome::Failed {
                    status: None,
                    error: DeliveryError::SigningSecret,
                };
            }
        };
        let body = body_of(job);
        let timestamp = chrono::Utc::now().timestamp();
        let signature = sign(secret.expose(), timestamp, &body);
        let sent = http
            .post(&job.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(ID_HEADER, &job.event_id)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => Outcome::Delivered {
                status: response.status().as_u16(),
            },
            Ok(response) => {
                let status = response.status().as_u16();
                Outcome::Failed {
                    status: Some(status),
                    error: DeliveryError::Http(status),
                }
            }
            Err(error) => {
                let class = DeliveryError::of_transport(&error);
                tracing::debug!(delivery_id = %job.id, endpoint_id = %job.endpoint_id, error = %describe(&error), class = %class.class(), "webhook request failed");
                Outcome::Failed {
                    status: None,
                    error: class,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_literal_is_caught_before_sending_and_names_are_left_to_the_resolver() {
        let strict = EgressPolicy {
            allow_private: false,
        };
        let open = EgressPolicy {
            allow_private: true,
        };
        assert!(refused_literal("https://10.0.0.1/hook", strict).is_some());
        assert!(refused_literal("http://127.0.0.1:9000/hook", strict).is_some());
        assert!(refused_literal("https://[::ffff:7f00:1]/hook", strict).is_some());
        assert!(refused_literal("https://169.254.169.254/latest", open).is_some());
        assert!(refused_literal("http://127.0.0.1:9000/hook", open).is_none());
        assert!(refused_literal("https://8.8.8.8/hook", strict).is_none());
        assert!(refused_literal("https://localhost/hook", strict).is_none());
    }
}
