//! The classes a failed attempt is recorded as: never the transport's own
//! words, which name hosts and ports. Apart so that the worker, the
//! delivery log and rows left by older instances speak the same classes.

use crate::domain::lifecycle::webhook_egress::{AddressRefused, DnsFailed};

/// Why an attempt failed, as the delivery log shows it: a class, never the
/// transport's own words, which name hosts, ports and what answered there
/// and would turn the log into a scanner of grantd's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryError {
    /// The destination address is one deliveries may not connect to
    /// (see `webhook_egress`); nothing was sent.
    RefusedAddress,
    /// The host name did not resolve.
    Dns,
    /// No TCP connection.
    Connect,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// No complete answer within the request timeout.
    Timeout,
    /// The connection broke, or what came back was not HTTP.
    Protocol,
    /// An answer other than 2xx; a 3xx included, since redirects are not
    /// followed.
    Http(u16),
    /// The endpoint's signing secret could not be opened (its key is no
    /// longer in the keyring).
    SigningSecret,
    /// Instances stopped mid-delivery until the attempts ran out.
    Abandoned,
}

impl DeliveryError {
    /// The class recorded in `lastError`.
    pub fn class(self) -> String {
        match self {
            DeliveryError::RefusedAddress => "refused_address".into(),
            DeliveryError::Dns => "dns".into(),
            DeliveryError::Connect => "connect".into(),
            DeliveryError::Tls => "tls".into(),
            DeliveryError::Timeout => "timeout".into(),
            DeliveryError::Protocol => "protocol".into(),
            DeliveryError::Http(status) => format!("http_{status}"),
            DeliveryError::SigningSecret => "signing_secret".into(),
            DeliveryError::Abandoned => "abandoned".into(),
        }
    }

    /// The class of a transport error, found by walking its causes: the
    /// resolver's own errors say whether the name failed or its addresses
    /// were refused, and a rustls error under the connect error means TLS.
    pub(super) fn of_transport(error: &reqwest::Error) -> Self {
        let causes = causes(error);
        if causes.iter().any(|e| e.is::<AddressRefused>()) {
            return DeliveryError::RefusedAddress;
        }
        if causes.iter().any(|e| e.is::<DnsFailed>()) {
            return DeliveryError::Dns;
        }
        let tls = causes.iter().any(|e| e.is::<rustls::Error>());
        if error.is_timeout() {
            DeliveryError::Timeout
        } else if tls {
            DeliveryError::Tls
        } else if error.is_connect() {
            DeliveryError::Connect
        } else {
            DeliveryError::Protocol
        }
    }
}

/// An error and all its causes. `io::Error` hides the error it wraps from
/// `source()` (it reports that error's own source), and TLS failures come
/// as an io::Error inside another, so wrapped errors are unpacked too.
fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut found = Vec::new();
    let mut pending = vec![error];
    while let Some(error) = pending.pop() {
        found.push(error);
        if let Some(inner) = error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            pending.push(inner);
        }
        if let Some(source) = error.source() {
            pending.push(source);
        }
    }
    found
}

/// The `lastError` to show for a stored one. Instances of grantd before
/// error classes (still running beside newer ones during an upgrade, or
/// rows they left behind) stored the transport's words; those are shown by
/// their class too.
pub(in crate::domain) fn shown_error(stored: &str) -> String {
    const CLASSES: [&str; 8] = [
        "refused_address",
        "dns",
        "connect",
        "tls",
        "timeout",
        "protocol",
        "signing_secret",
        "abandoned",
    ];
    if CLASSES.contains(&stored) {
        return stored.to_owned();
    }
    let status = |digits: &str| {
        digits
            .parse::<u16>()
            .ok()
            .filter(|s| (100..=999).contains(s))
    };
    if let Some(status) = stored.strip_prefix("http_").and_then(status) {
        return DeliveryError::Http(status).class();
    }
    // The words older instances wrote.
    let legacy = if let Some(rest) = stored.strip_prefix("HTTP ") {
        match status(rest.get(..3).unwrap_or_default()) {
            Some(status) => DeliveryError::Http(status),
            None => DeliveryError::Protocol,
        }
    } else if stored.starts_with("timed out") {
        DeliveryError::Timeout
    } else if stored.starts_with("could not connect") {
        let lower = stored.to_ascii_lowercase();
        if lower.contains("dns error") {
            DeliveryError::Dns
        } else if lower.contains("certificate") || lower.contains("tls") {
            DeliveryError::Tls
        } else {
            DeliveryError::Connect
        }
    } else if stored.starts_with("the signing secret") {
        DeliveryError::SigningSecret
    } else if stored.starts_with("abandoned") {
        DeliveryError::Abandoned
    } else {
        DeliveryError::Protocol
    };
    legacy.class()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_stored_in_words_by_older_instances_are_shown_as_classes() {
        for (stored, class) in [
            ("HTTP 503", "http_503"),
            ("HTTP 307 (redirects are not followed)", "http_307"),
            ("timed out after 10000 ms", "timeout"),
            (
                "could not connect: client error (Connect): tcp connect error: Connection refused (os error 111)",
                "connect",
            ),
            (
                "could not connect: client error (Connect): dns error: failed to lookup address information",
                "dns",
            ),
            (
                "could not connect: client error (Connect): invalid peer certificate: UnknownIssuer",
                "tls",
            ),
            ("request failed: connection closed before message completed", "protocol"),
            ("the signing secret could not be decrypted", "signing_secret"),
            ("abandoned: attempts exhausted by instances that stopped mid-delivery", "abandoned"),
            ("http_9999", "protocol"),
            ("10.0.0.7:5432 said hello", "protocol"),
        ] {
            assert_eq!(shown_error(stored), class, "{stored}");
        }
    }
}
