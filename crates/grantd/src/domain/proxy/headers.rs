//! Header hygiene: what crosses the proxy in each direction.

use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION};

/// Hop-by-hop fields (RFC 9110 §7.6.1 and the older ones still seen):
/// they describe one connection, never the end-to-end message.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
];

/// What a caller sends for grantd, never for the provider: its own
/// credential, cookies, `Host` and `Expect` (the client sets its own), and
/// `Content-Length` (the body sets its own).
const CALLERS_OWN: &[&str] = &[
    "x-api-key",
    "authorization",
    "cookie",
    "host",
    "expect",
    "content-length",
];

/// The caller's headers as the provider may see them: without
/// [`CALLERS_OWN`], `x-amp-*`, hop-by-hop fields and every field the
/// caller's `Connection` names.
pub fn to_provider(headers: HeaderMap) -> HeaderMap {
    without(headers, |name| {
        CALLERS_OWN.contains(&name) || name.starts_with("x-amp-")
    })
}

/// The provider's headers as the caller may see them: without hop-by-hop
/// fields and the ones its `Connection` names.
pub fn to_caller(headers: HeaderMap) -> HeaderMap {
    without(headers, |_| false)
}

/// `headers` without hop-by-hop fields, the fields `Connection` names and
/// those `also` picks. The kept fields move to a new map: removing from
/// the old one would need copies of the names (allocations, for the
/// non-standard ones) or a lookup per listed name.
fn without(headers: HeaderMap, also: impl Fn(&str) -> bool) -> HeaderMap {
    let named = connection_named(&headers);
    let mut kept = HeaderMap::with_capacity(headers.len());
    // `None` names a further value of the previous field.
    let mut keeping = false;
    for (name, value) in headers {
        match name {
            Some(name) => {
                let text = name.as_str();
                keeping =
                    !(HOP_BY_HOP.contains(&text) || also(text) || named.iter().any(|n| n == text));
                if keeping {
                    kept.append(name, value);
                }
            }
            None if keeping => {
                // Rare: a repeated field. Its name was moved into `kept`.
                if let Some(name) = kept.keys().last().cloned() {
                    kept.append(name, value);
                }
            }
            None => {}
        }
    }
    kept
}

/// The field names listed in `Connection`, lowercased.
fn connection_named(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

/// Adds the catalog's default headers the caller did not send itself.
pub fn add_defaults<'a>(
    headers: &mut HeaderMap,
    defaults: impl IntoIterator<Item = (&'a String, &'a String)>,
) {
    for (name, value) in defaults {
        // The lint checked both; a bad one is skipped rather than fatal.
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            continue;
        };
        headers.entry(name).or_insert(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_amp_fields_and_hop_by_hop_fields_never_reach_the_provider() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("x-api-key", "gdk_secret"),
            ("authorization", "Bearer jwt"),
            ("cookie", "session=1"),
            ("x-amp-project-id", "p"),
            ("x-amp-connection-id", "c"),
            ("connection", "close, X-Private-Hop"),
            ("x-private-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "Basic x"),
            ("accept", "application/json"),
            ("x-custom", "kept"),
            ("cookie", "other=2"),
            ("x-custom", "kept too"),
        ] {
            headers.append(name, HeaderValue::from_static(value));
        }
        let out = to_provider(headers);
        let mut names: Vec<&str> = out.keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["accept", "x-custom"]);
        let custom: Vec<&str> = out
            .get_all("x-custom")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(custom, ["kept", "kept too"]);
    }

    #[test]
    fn defaults_fill_in_only_what_the_caller_left_out() {
        let mut headers = HeaderMap::new();
        headers.insert("notion-version", HeaderValue::from_static("2025-09-03"));
        let defaults = [
            ("Notion-Version".to_owned(), "2022-06-28".to_owned()),
            ("X-Extra".to_owned(), "1".to_owned()),
        ];
        add_defaults(&mut headers, defaults.iter().map(|(a, b)| (a, b)));
        assert_eq!(headers["notion-version"], "2025-09-03");
        assert_eq!(headers["x-extra"], "1");
    }
}
