//! Where a proxied call goes: the provider's base URL with the caller's path
//! and query appended, and never anywhere else. Credentials ride on this
//! request, so a path that could move it to another host, or above the
//! base's path, is refused rather than normalised.

use crate::domain::error::{DomainError, FieldIssue, InputLocation};
use hyper::Uri;
use url::Url;

/// Where one call goes, checked: the provider's base with the caller's path
/// and query. Credentials may still add query parameters before it becomes
/// the request's URI.
#[derive(Debug, Clone)]
pub struct Target {
    text: String,
    has_query: bool,
}

impl Target {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Appends `name=value`, form-encoded, to the query.
    pub fn append_query_pair(&mut self, name: &str, value: &str) {
        self.text.push(if self.has_query { '&' } else { '?' });
        self.text.push_str(
            &url::form_urlencoded::Serializer::new(String::new())
                .append_pair(name, value)
                .finish(),
        );
        self.has_query = true;
    }

    /// The request's URI: what [`proxied_url`] checked, plus query pairs.
    pub fn into_uri(self) -> Result<Uri, DomainError> {
        // The text was checked and pairs are form-encoded, so this fails
        // only on a bug; the text is not quoted: it may hold a credential.
        Uri::try_from(self.text).map_err(|_| {
            DomainError::Conflict("the connection's credential cannot be sent in the query".into())
        })
    }
}

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
///
/// The text is sent as it was checked: nothing normalises it afterwards.
pub fn proxied_url(
    base: &Url,
    raw_path: &str,
    raw_query: Option<&str>,
) -> Result<Target, DomainError> {
    check_path(raw_path)?;
    let base_text = base.as_str().trim_end_matches('/');
    let mut text = String::with_capacity(
        base_text.len() + raw_path.len() + raw_query.map_or(0, |q| q.len() + 1),
    );
    text.push_str(base_text);
    text.push_str(raw_path);
    if let Some(query) = raw_query {
        text.push('?');
        text.push_str(query);
    }
    if text.contains('#') {
        return Err(unsafe_path(raw_path, "the path may not hold a fragment"));
    }
    let uri = Uri::try_from(text.as_str())
        .map_err(|_| unsafe_path(raw_path, "the path does not form a URL"))?;
    let base_path = base.path().trim_end_matches('/');
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    let same_origin = uri.scheme_str() == Some(base.scheme())
        && !authority.contains('@')
        && uri.host() == base.host_str()
        && uri.port_u16().or_else(|| default_port(base.scheme())) == base.port_or_known_default();
    let under_base = uri
        .path()
        .strip_prefix(base_path)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    if !same_origin || !under_base {
        return Err(unsafe_path(
            raw_path,
            "the path leaves the provider's API base",
        ));
    }
    Ok(Target {
        text,
        has_query: raw_query.is_some(),
    })
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    }
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
        let mut url = proxied_url(&base(), "/contacts/a%20b", Some("limit=5&q=%C3%A9")).unwrap();
        assert_eq!(
            url.as_str(),
            "https://api.example.com/v2/contacts/a%20b?limit=5&q=%C3%A9"
        );
        url.append_query_pair("api_key", "a b&c");
        assert_eq!(
            url.into_uri().unwrap().query(),
            Some("limit=5&q=%C3%A9&api_key=a+b%26c")
        );
        let mut bare = proxied_url(&base(), "/x", None).unwrap();
        bare.append_query_pair("k", "v");
        assert_eq!(bare.as_str(), "https://api.example.com/v2/x?k=v");
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
            "/a#frag",
            "/a b",
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
