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

/// The caller's headers as the provider may see them: without grantd's own
/// credential (`x-api-key`, `Authorization`), cookies, `x-amp-*`, `Host`,
/// `Expect`, hop-by-hop fields and every field the caller's `Connection`
/// names. `Content-Length` is dropped too; the body sets its own.
pub fn to_provider(mut headers: HeaderMap) -> HeaderMap {
    remove_hop_by_hop(&mut headers);
    for name in [
        "x-api-key",
        "authorization",
        "cookie",
        "host",
        "expect",
        "content-length",
    ] {
        headers.remove(name);
    }
    let amp: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("x-amp-"))
        .cloned()
        .collect();
    for name in amp {
        headers.remove(name);
    }
    headers
}

/// The provider's headers as the caller may see them: without hop-by-hop
/// fields and the ones its `Connection` names.
pub fn to_caller(mut headers: HeaderMap) -> HeaderMap {
    remove_hop_by_hop(&mut headers);
    headers
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

fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    for name in named
        .iter()
        .map(String::as_str)
        .chain(HOP_BY_HOP.iter().copied())
    {
        headers.remove(name);
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
        ] {
            headers.append(name, HeaderValue::from_static(value));
        }
        let out = to_provider(headers);
        let mut names: Vec<&str> = out.keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["accept", "x-custom"]);
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
