//! Where a proxied call goes: the provider's base URL with the caller's path
//! and query appended, and never anywhere else. Credentials ride on this
//! request, so a path that could move it to another host, or above the
//! base's path, is refused rather than normalised.

use crate::domain::error::{DomainError, FieldIssue, InputLocation};
use url::Url;

/// The caller's path (raw, still percent-encoded, starting with `/`) and
/// query appended to `base`. Refused, naming `path`:
/// - a path that does not start with `/`, or holds an empty segment (`//`,
///   which some servers read as the start of an authority);
/// - a `.` or `..` segment, plain or percent-encoded;
/// - an encoded `/` or `\` (`%2F`, `%5C`), or a plain `\`, which servers
///   and frameworks decode into separators after grantd's checks;
/// - anything that, once parsed, lands outside the base's scheme, host,
///   port or path (checked again on the result, whatever the rules above
///   missed).
pub fn proxied_url(
    base: &Url,
    raw_path: &str,
    raw_query: Option<&str>,
) -> Result<Url, DomainError> {
    check_path(raw_path)?;
    let base_text = base.as_str().trim_end_matches('/');
    let mut text = format!("{base_text}{raw_path}");
    if let Some(query) = raw_query {
        text.push('?');
        text.push_str(query);
    }
    let url =
        Url::parse(&text).map_err(|_| unsafe_path(raw_path, "the path does not form a URL"))?;
    let base_path = base.path().trim_end_matches('/');
    let same_origin = url.scheme() == base.scheme()
        && url.host() == base.host()
        && url.port_or_known_default() == base.port_or_known_default()
        && url.username().is_empty()
        && url.password().is_none();
    let under_base = url
        .path()
        .strip_prefix(base_path)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    if !same_origin || !under_base || url.fragment().is_some() {
        return Err(unsafe_path(
            raw_path,
            "the path leaves the provider's API base",
        ));
    }
    Ok(url)
}

fn check_path(raw_path: &str) -> Result<(), DomainError> {
    if !raw_path.starts_with('/') {
        return Err(unsafe_path(raw_path, "the path must start with /"));
    }
    if raw_path.contains('\\') {
        return Err(unsafe_path(raw_path, "the path may not contain \\"));
    }
    let lower = raw_path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") {
        return Err(unsafe_path(
            raw_path,
            "the path may not contain an encoded / or \\ (%2F, %5C)",
        ));
    }
    // The first segment is empty (the path starts with '/'); a trailing
    // slash leaves an empty last segment, which is fine.
    let segments: Vec<&str> = raw_path[1..].split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        if segment.is_empty() && i + 1 < segments.len() {
            return Err(unsafe_path(raw_path, "the path may not contain //"));
        }
        let decoded = percent_decoded_lowercase(segment);
        if decoded == "." || decoded == ".." {
            return Err(unsafe_path(
                raw_path,
                "the path may not contain . or .. segments",
            ));
        }
    }
    Ok(())
}

/// A segment with `%2e`/`%2E` read as the dot it encodes (the only escape
/// that matters for `.` and `..`).
fn percent_decoded_lowercase(segment: &str) -> String {
    segment.to_ascii_lowercase().replace("%2e", ".")
}

fn unsafe_path(raw_path: &str, detail: &str) -> DomainError {
    DomainError::invalid(FieldIssue {
        location: InputLocation::Path,
        name: "path".into(),
        value: raw_path.into(),
        detail: format!("{detail}; the proxy only calls paths under the provider's API base"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://api.example.com/v2").unwrap()
    }

    fn refused(path: &str) -> bool {
        proxied_url(&base(), path, None).is_err()
    }

    #[test]
    fn a_path_and_query_are_appended_unchanged() {
        let url = proxied_url(&base(), "/contacts/a%20b", Some("limit=5&q=%C3%A9")).unwrap();
        assert_eq!(
            url.as_str(),
            "https://api.example.com/v2/contacts/a%20b?limit=5&q=%C3%A9"
        );
        let root = Url::parse("https://api.example.com").unwrap();
        assert_eq!(
            proxied_url(&root, "/", None).unwrap().as_str(),
            "https://api.example.com/"
        );
    }

    #[test]
    fn escapes_from_the_base_are_refused() {
        for path in [
            "/../admin",
            "/a/../../b",
            "/%2e%2e/admin",
            "/%2E./admin",
            "/./a",
            "/a%2fb",
            "/a%2F..%2Fb",
            "/a%5cb",
            "/a\\b",
            "//evil.example/x",
            "/a//b",
            "relative",
            "@evil.example/",
        ] {
            assert!(refused(path), "{path} should be refused");
        }
        assert!(!refused("/a/b/"), "a trailing slash is a path like any");
        assert!(
            !refused("/files/report..pdf"),
            "dots inside a name are fine"
        );
    }
}
