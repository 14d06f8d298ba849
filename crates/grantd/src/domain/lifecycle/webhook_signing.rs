//! What a webhook request carries and how it is signed: the JSON body, the
//! headers, and HMAC-SHA256 over `"{timestamp}.{body}"` so a receiver can
//! check both origin and freshness. Kept apart from delivery, which only
//! sends what this builds.

use crate::domain::model::{from_millis, Timestamp};
use crate::storage::DeliveryJob;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use std::time::Duration;

/// Header carrying the event id: the same on every attempt, for deduplication.
pub const ID_HEADER: &str = "Grantd-Webhook-Id";
/// Header carrying the attempt's Unix time in seconds, covered by the signature.
pub const TIMESTAMP_HEADER: &str = "Grantd-Webhook-Timestamp";
/// Header carrying `v1=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`.
pub const SIGNATURE_HEADER: &str = "Grantd-Webhook-Signature";

/// The JSON body POSTed to an endpoint.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookBody<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    created_at: Timestamp,
    project_id: &'a str,
    data: Value,
}

/// The body of one delivery, as it is signed and sent.
pub(super) fn body_of(job: &DeliveryJob) -> Vec<u8> {
    let body = WebhookBody {
        id: &job.event_id,
        kind: &job.kind,
        created_at: from_millis(job.event_created_at),
        project_id: &job.project_id,
        data: serde_json::from_str(&job.data).unwrap_or_else(|_| Value::Object(Default::default())),
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Grantd-Webhook-Signature` value for a body sent at `timestamp`:
/// `v1=` and the hex HMAC-SHA256, keyed with the whole secret string
/// (`whsec_` included), of `"{timestamp}.{body}"`. The timestamp is signed
/// so that a captured request cannot be replayed later with a new one.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "v1={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// What a receiver does, for Rust receivers and tests: checks the signature
/// in constant time and refuses timestamps more than `tolerance` away from
/// `now` (Unix seconds).
pub fn verify(
    secret: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now: i64,
    tolerance: Duration,
) -> bool {
    let Ok(ts) = timestamp.trim().parse::<i64>() else {
        return false;
    };
    if now.abs_diff(ts) > tolerance.as_secs() {
        return false;
    }
    let Some(Ok(expected)) = signature.trim().strip_prefix("v1=").map(hex::decode) else {
        return false;
    };
    // verify_slice compares in constant time.
    mac(secret, ts, body).verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_a_changed_body_or_stale_timestamp_does_not() {
        let secret = "whsec_test";
        let now = 1_800_000_000;
        let body = b"{\"a\":1}";
        let signature = sign(secret, now, body);
        let five_minutes = Duration::from_secs(300);
        let ts = now.to_string();
        /// (secret, timestamp, body, signature, now, verifies)
        type Case<'a> = (&'a str, &'a str, &'a [u8], &'a str, i64, bool);
        let cases: [Case; 8] = [
            (secret, &ts, body, &signature, now, true),
            (secret, &ts, b"{\"a\":2}", &signature, now, false),
            ("whsec_other", &ts, body, &signature, now, false),
            (secret, &ts, body, &signature, now + 301, false),
            // A timestamp from the future is as stale as one from the past.
            (secret, &ts, body, &signature, now - 301, false),
            (secret, &ts, body, &signature, now - 299, true),
            (secret, "soon", body, &signature, now, false),
            (secret, &ts, body, "v1=zz", now, false),
        ];
        for (i, (secret, timestamp, body, signature, at, verifies)) in cases.into_iter().enumerate()
        {
            assert_eq!(
                verify(secret, timestamp, body, signature, at, five_minutes),
                verifies,
                "case {i}"
            );
        }
    }

    #[test]
    fn the_signature_is_hex_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231-style cross-check computed independently of `mac`.
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"key").unwrap();
        mac.update(b"42.body");
        let expected = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(sign("key", 42, b"body"), expected);
    }
}
