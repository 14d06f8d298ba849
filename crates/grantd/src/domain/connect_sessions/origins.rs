//! Which web origins a project trusts, and the URLs and parent frames a
//! connect session may name: parsed once, compared exactly.

use crate::domain::error::FieldIssue;
use serde_json::Value;
use url::{Host, Url};

pub(super) const MAX_URL_LEN: usize = 2048;

/// An origin as the allow-list stores it (`scheme://host[:port]`, default
/// port dropped, host lowercased), or why the value is not one. https
/// anywhere; plain http only on loopback hosts, for development (a page on
/// plain http elsewhere could be impersonated by anyone on the network).
pub fn normalize_origin(value: &str) -> Result<String, &'static str> {
    let value = value.trim();
    if value.is_empty() {
        return Err("must not be empty");
    }
    let url = Url::parse(value).map_err(|_| "must be an origin such as https://app.example.com")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials");
    }
    let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
    if !bare || value.trim_end_matches('/').len() + 1 < value.len() {
        return Err(
            "must be an origin only: scheme://host[:port], without a path, query or fragment",
        );
    }
    check_scheme(&url)?;
    Ok(url.origin().ascii_serialization())
}

fn check_scheme(url: &Url) -> Result<(), &'static str> {
    let loopback = match url.host() {
        Some(Host::Domain(domain)) => domain == "localhost",
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err("must name a host"),
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err("must use https (plain http only on localhost, 127.0.0.1 or ::1)"),
        _ => Err("must be an https URL"),
    }
}

/// A return URL: absolute, http(s), no credentials or fragment, and on an
/// allowed origin.
pub(super) fn check_return_url(
    value: Option<&str>,
    allowed: &[String],
    issues: &mut Vec<FieldIssue>,
) -> Option<Url> {
    let raw = value?.trim();
    let issue = |detail: String| FieldIssue::body("returnUrl", raw, detail);
    if raw.len() > MAX_URL_LEN {
        issues.push(FieldIssue::body(
            "returnUrl",
            Value::Null,
            format!("returnUrl is longer than {MAX_URL_LEN} characters"),
        ));
        return None;
    }
    let url = match Url::parse(raw) {
        Ok(url) => url,
        Err(e) => {
            issues.push(issue(format!("returnUrl is not an absolute URL: {e}")));
            return None;
        }
    };
    if !url.username().is_empty() || url.password().is_some() {
        issues.push(FieldIssue::body(
            "returnUrl",
            Value::Null,
            "returnUrl must not carry credentials",
        ));
        return None;
    }
    if url.fragment().is_some() {
        issues.push(issue("returnUrl must not have a fragment".into()));
        return None;
    }
    if let Err(detail) = check_scheme(&url) {
        issues.push(issue(format!("returnUrl {detail}")));
        return None;
    }
    let origin = url.origin().ascii_serialization();
    if !allowed.contains(&origin) {
        issues.push(issue(not_allowed("returnUrl", &origin)));
        return None;
    }
    Some(url)
}

/// The embedding page's origin: an origin, on the allow-list.
pub(super) fn check_parent_origin(
    value: &str,
    allowed: &[String],
    issues: &mut Vec<FieldIssue>,
) -> Option<String> {
    match normalize_origin(value) {
        Err(detail) => {
            issues.push(FieldIssue::body(
                "parentOrigin",
                value,
                format!("parentOrigin {detail}"),
            ));
            None
        }
        Ok(origin) if !allowed.contains(&origin) => {
            issues.push(FieldIssue::body(
                "parentOrigin",
                value,
                not_allowed("parentOrigin", &origin),
            ));
            None
        }
        Ok(origin) => Some(origin),
    }
}

fn not_allowed(field: &str, origin: &str) -> String {
    format!(
        "{field}'s origin {origin} is not one of the project's allowed origins \
         (PUT /v1/projects/{{projectIdOrName}}/allowed-origins)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalized_and_only_origins_pass() {
        assert_eq!(
            normalize_origin("https://App.Example.com").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            normalize_origin("https://app.example.com:443/").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            normalize_origin("http://127.0.0.1:3000").unwrap(),
            "http://127.0.0.1:3000"
        );
        assert_eq!(
            normalize_origin("http://localhost:5173").unwrap(),
            "http://localhost:5173"
        );
        for bad in [
            "",
            "app.example.com",
            "https://app.example.com/path",
            "https://app.example.com/?q=1",
            "https://app.example.com/#x",
            "https://user@app.example.com",
            "http://app.example.com",
            "ftp://app.example.com",
            "https://app.example.com//",
            "*",
        ] {
            assert!(normalize_origin(bad).is_err(), "{bad} must be refused");
        }
    }
}
