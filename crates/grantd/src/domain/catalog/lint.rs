//! The rules every entry obeys before grantd serves it.

use super::provider::ProviderInputs;
use super::spec::{AuthScheme, InputSpec, OAuth2Spec, Provider};
use super::spec::{UrlPolicy, CATEGORIES};
use regex::Regex;
use std::collections::BTreeSet;

/// The rules every entry obeys; also compiles the input patterns and
/// decides whether the entry can be proxied. The checks run in this order,
/// and the first broken rule is the one reported.
pub(super) fn lint(provider: &mut Provider, policy: UrlPolicy) -> Result<(), String> {
    check_names(provider, policy)?;
    check_listing(provider, policy)?;
    check_scheme_sections(provider)?;
    if provider.auth_schemes.contains(&AuthScheme::Custom) {
        check_custom_auth(provider)?;
    }
    let declared = compile_inputs(provider)?;
    if let Some(o) = &provider.oauth2 {
        check_oauth_templates(provider, o, &declared)?;
    }
    check_url_templates(provider, policy, &declared)?;
    provider.proxyable = check_proxy(provider, policy)?;
    check_pkce_stated(provider, policy)
}

/// The entry's name and aliases.
fn check_names(provider: &Provider, policy: UrlPolicy) -> Result<(), String> {
    // Shipped names follow Ampersand's identifiers: ASCII letters and
    // digits, starting lowercase (`constantContact`). A user's file may also
    // use '-' and '_', as grantd's names once did.
    let user_punctuation =
        |c: char| policy == UrlPolicy::AllowLoopbackHttp && (c == '-' || c == '_');
    let name = &provider.name;
    let name_ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || user_punctuation(c));
    if !name_ok {
        return Err(if policy == UrlPolicy::HttpsOnly {
            "name must be ASCII letters and digits, starting with a lowercase letter (lowerCamelCase)".into()
        } else {
            "name must be ASCII letters, digits, '-' or '_', starting with a lowercase letter"
                .into()
        });
    }
    // Aliases keep old names working, which used '-' and '_'.
    for alias in &provider.aliases {
        let alias_ok = alias.starts_with(|c: char| c.is_ascii_alphanumeric())
            && alias
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !alias_ok {
            return Err(format!(
                "alias {alias:?} must be ASCII letters, digits, '-' or '_'"
            ));
        }
    }
    Ok(())
}

/// What a shipped entry lists about itself: schemes, category, docs and API.
fn check_listing(provider: &Provider, policy: UrlPolicy) -> Result<(), String> {
    if provider.auth_schemes.is_empty() {
        return Err("authSchemes is empty".into());
    }
    if !CATEGORIES.contains(&provider.category.as_str()) {
        return Err(format!(
            "category {:?} is not one of {}",
            provider.category,
            CATEGORIES.join(", ")
        ));
    }
    if policy == UrlPolicy::HttpsOnly {
        // Shipped entries are documentation too: say where to read more and
        // where the API lives.
        if provider.docs_url.is_none() {
            return Err("docsUrl is missing".into());
        }
        if provider.api_base_url.is_none() {
            return Err("apiBaseUrl is missing".into());
        }
    }
    Ok(())
}

/// Each listed scheme has its section, and the section is usable.
fn check_scheme_sections(provider: &Provider) -> Result<(), String> {
    let needs_oauth2 = provider.auth_schemes.iter().any(|s| s.is_oauth2());
    match (&provider.oauth2, needs_oauth2) {
        (None, true) => return Err("an oauth2/* scheme is listed but [oauth2] is missing".into()),
        (Some(o), _) if o.token_url.trim().is_empty() => {
            return Err("oauth2.tokenUrl is empty".into())
        }
        (Some(o), _)
            if provider.supports(AuthScheme::OAuth2AuthorizationCode)
                && o.authorize_url.is_none() =>
        {
            return Err("oauth2/authorizationCode needs oauth2.authorizeUrl".into())
        }
        (Some(o), _) if o.scope_separator.is_empty() => {
            return Err("oauth2.scopeSeparator is empty".into())
        }
        _ => {}
    }
    if provider.auth_schemes.contains(&AuthScheme::ApiKey) {
        match &provider.api_key {
            None => return Err("apiKey is listed but [apiKey] is missing".into()),
            Some(k) if k.location != "header" && k.location != "query" => {
                return Err("apiKey.in must be header or query".into())
            }
            _ => {}
        }
    }
    Ok(())
}

/// `[customAuth]`: inputs, something to send, and templates naming only inputs.
fn check_custom_auth(provider: &Provider) -> Result<(), String> {
    let Some(custom) = &provider.custom_auth else {
        return Err("custom is listed but [customAuth] is missing".into());
    };
    if custom.inputs.is_empty() {
        return Err("customAuth.inputs is empty".into());
    }
    let inputs: BTreeSet<&str> = custom.inputs.iter().map(|i| i.name.as_str()).collect();
    if custom.headers.is_empty() && custom.query.is_empty() {
        return Err("customAuth sends nothing: give headers or query".into());
    }
    for template in custom.headers.values().chain(custom.query.values()) {
        for name in template
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        {
            if !inputs.contains(name) {
                return Err(format!(
                    "customAuth template {template:?} names {name}, which is no input"
                ));
            }
        }
    }
    Ok(())
}

/// Compiles the workspace and metadata patterns; returns the names that
/// templates may use as placeholders.
fn compile_inputs(provider: &mut Provider) -> Result<BTreeSet<String>, String> {
    let mut declared = BTreeSet::new();
    if let Some(spec) = provider.workspace.as_mut() {
        compile(spec, "workspace")?;
        declared.insert("workspace".to_owned());
    }
    for (input, spec) in provider.metadata.iter_mut() {
        compile(spec, input)?;
        if spec.default_host.is_some() {
            return Err(format!(
                "metadata.{input}.defaultHost: only a workspace has one"
            ));
        }
        declared.insert(input.clone());
    }
    if let Some(host) = provider
        .workspace
        .as_ref()
        .and_then(|w| w.default_host.as_deref())
    {
        let parsed = url::Url::parse(&format!("https://{host}/")).ok();
        if parsed.as_ref().and_then(url::Url::host_str) != Some(host) || host.contains(':') {
            return Err(format!(
                "workspace.defaultHost must be a bare host name: {host}"
            ));
        }
    }
    Ok(declared)
}

/// Scopes use only declared placeholders, and inputs in the host of an
/// OAuth URL stay under a fixed domain.
fn check_oauth_templates(
    provider: &Provider,
    o: &OAuth2Spec,
    declared: &BTreeSet<String>,
) -> Result<(), String> {
    for scope in o.default_scopes.iter().chain(&o.required_scopes) {
        for placeholder in placeholders(scope)? {
            if !declared.contains(placeholder) {
                return Err(format!(
                    "scope {scope} uses undeclared placeholder {{{placeholder}}}"
                ));
            }
        }
    }
    let oauth_urls = [
        o.authorize_url.as_deref(),
        Some(o.token_url.as_str()),
        o.refresh_url.as_deref(),
        o.revocation_url.as_deref(),
        o.post_auth.as_ref().map(|p| p.url.as_str()),
    ];
    for template in oauth_urls.into_iter().flatten() {
        check_host_inputs(provider, template)?;
    }
    Ok(())
}

/// Every URL template uses declared placeholders only and, with sample
/// values filled in, builds into an https URL (or loopback http, for a
/// user's file).
fn check_url_templates(
    provider: &Provider,
    policy: UrlPolicy,
    declared: &BTreeSet<String>,
) -> Result<(), String> {
    // Substitute a sample value for every placeholder (one of its values,
    // when the pattern lists them), then check the URL.
    let sample_of = |spec: &InputSpec| {
        spec.listed_values()
            .and_then(|values| values.into_iter().next())
            .unwrap_or_else(|| "sample".to_owned())
    };
    let workspace_sample = provider.workspace.as_ref().map(sample_of);
    let metadata_samples: Vec<(&str, String)> = provider
        .metadata
        .iter()
        .map(|(name, spec)| (name.as_str(), sample_of(spec)))
        .collect();
    let mut sample = ProviderInputs {
        workspace: workspace_sample.as_deref(),
        ..Default::default()
    };
    for (input, value) in &metadata_samples {
        sample.metadata.insert(*input, value.as_str());
    }
    for (label, template) in provider.url_templates() {
        for placeholder in placeholders(template)? {
            if !declared.contains(placeholder) {
                return Err(format!(
                    "{label} uses undeclared placeholder {{{placeholder}}}"
                ));
            }
        }
        let url = provider
            .build_url(template, &sample)
            .map_err(|e| format!("{label} does not build: {e}"))?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        let scheme_ok = url.scheme() == "https"
            || (policy == UrlPolicy::AllowLoopbackHttp && url.scheme() == "http" && loopback);
        if !scheme_ok {
            return Err(format!("{label} must be https: {template}"));
        }
    }
    Ok(())
}

/// A shipped authorization-code entry says what the provider does about PKCE.
fn check_pkce_stated(provider: &Provider, policy: UrlPolicy) -> Result<(), String> {
    if let Some(o) = &provider.oauth2 {
        if policy == UrlPolicy::HttpsOnly
            && provider.supports(AuthScheme::OAuth2AuthorizationCode)
            && o.pkce.is_none()
        {
            return Err(
                "oauth2.pkce must be set (required, allowed or unsupported) on an \
                 authorization-code entry: say which the provider documents"
                    .into(),
            );
        }
    }
    Ok(())
}

/// An input in the host of an OAuth URL (where grantd sends client secrets
/// and tokens) may only choose a host under a fixed domain: a literal domain
/// of at least two labels (`.zendesk.com`) must follow the last input that
/// takes open values, whatever its pattern allows (a pattern without dots
/// still lets an end user name `localhost` or an intranet host). An input
/// whose pattern lists its values (`^(com|eu)$`) counts as literal text.
fn check_host_inputs(provider: &Provider, template: &str) -> Result<(), String> {
    let Some((_, after_scheme)) = template.split_once("://") else {
        return Ok(());
    };
    let authority = &after_scheme[..after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len())];
    // Inputs refuse '@' and ':', so neither userinfo nor port can move the host.
    let host_and_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_and_port.strip_prefix('[') {
        Some(ip_literal) => ip_literal.split(']').next().unwrap_or_default(),
        None => host_and_port.split(':').next().unwrap_or_default(),
    };
    let mut pieces = Vec::new();
    let mut rest = host;
    while let Some(start) = rest.find('{') {
        pieces.push(HostPiece::Literal(&rest[..start]));
        let end = rest[start..]
            .find('}')
            .map(|e| e + start)
            .ok_or_else(|| format!("unclosed placeholder in {template}"))?;
        let name = &rest[start + 1..end];
        let spec = if name == "workspace" {
            provider.workspace.as_ref()
        } else {
            provider.metadata.get(name)
        };
        pieces.push(match spec.and_then(InputSpec::listed_values) {
            Some(values) => HostPiece::Listed(values),
            None => HostPiece::Open(name),
        });
        rest = &rest[end + 1..];
    }
    pieces.push(HostPiece::Literal(rest));
    let Some(last_open) = pieces.iter().rposition(|p| matches!(p, HostPiece::Open(_))) else {
        return Ok(());
    };
    let HostPiece::Open(name) = pieces[last_open] else {
        unreachable!("rposition found an open input")
    };
    let mut tails = vec![String::new()];
    for piece in &pieces[last_open + 1..] {
        tails = match piece {
            HostPiece::Literal(text) => tails.into_iter().map(|t| t + text).collect(),
            HostPiece::Listed(values) => tails
                .iter()
                .flat_map(|t| values.iter().map(move |v| format!("{t}{v}")))
                .collect(),
            HostPiece::Open(_) => unreachable!("no open input after the last one"),
        };
        if tails.len() > 256 {
            return Err(format!(
                "the inputs after {{{name}}} in the host of {template} list too many values"
            ));
        }
    }
    match tails.iter().find(|tail| !is_fixed_domain_suffix(tail)) {
        None => Ok(()),
        Some(tail) => Err(format!(
            "{{{name}}} sits in the host of {template} without a fixed domain after it \
             (found {tail:?}; expected e.g. {{{name}}}.example.com): an end user could \
             name any host, such as localhost"
        )),
    }
}

/// Checks the `[proxy]` table and says whether the entry can be proxied:
/// proxied calls carry credentials, so the base's host must be as fixed as
/// an OAuth URL's. An explicit `proxy.baseUrl` that is not is an error; an
/// `apiBaseUrl` that is not (`https://{workspace}/rest`) only leaves the
/// entry out of the proxy.
fn check_proxy(provider: &Provider, policy: UrlPolicy) -> Result<bool, String> {
    if let Some(spec) = &provider.proxy {
        if let Some(base) = &spec.base_url {
            check_host_inputs(provider, base)?;
        }
        if spec.base_url_metadata.is_some() && spec.base_url_hosts.is_empty() {
            return Err("proxy.baseUrlMetadata needs proxy.baseUrlHosts".into());
        }
        for domain in &spec.base_url_hosts {
            let loopback = policy == UrlPolicy::AllowLoopbackHttp
                && matches!(domain.as_str(), "127.0.0.1" | "localhost");
            if !loopback && !is_fixed_domain_suffix(&format!(".{domain}")) {
                return Err(format!(
                    "proxy.baseUrlHosts: {domain:?} is not a domain of at least two labels"
                ));
            }
        }
        for (name, value) in &spec.default_headers {
            let name_ok = reqwest::header::HeaderName::from_bytes(name.as_bytes());
            let value_ok = reqwest::header::HeaderValue::from_str(value);
            if name_ok.is_err() || value_ok.is_err() {
                return Err(format!(
                    "proxy.defaultHeaders: {name:?} is not a valid header"
                ));
            }
            let lower = name.to_ascii_lowercase();
            if matches!(lower.as_str(), "authorization" | "cookie" | "host")
                || lower.starts_with("x-amp-")
            {
                return Err(format!(
                    "proxy.defaultHeaders may not set {name}: grantd sets or strips it"
                ));
            }
        }
    }
    Ok(provider
        .proxy_base_template()
        .is_some_and(|base| check_host_inputs(provider, base).is_ok()))
}

/// A host template cut at its inputs.
enum HostPiece<'t> {
    Literal(&'t str),
    /// An input whose pattern lists every value it takes.
    Listed(Vec<String>),
    /// Any other input, by name.
    Open(&'t str),
}

/// `.example.com`: a dot, then at least two non-empty DNS labels, so that
/// what precedes it can only name hosts inside that domain.
fn is_fixed_domain_suffix(tail: &str) -> bool {
    let Some(domain) = tail.strip_prefix('.') else {
        return false;
    };
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Values no input may take: each could change where a URL points.
const HOSTILE_SAMPLES: &[&str] = &[
    "a/b", "a@b", "a:b", "a?b", "a#b", "a\\b", "a b", "a%2fb", "a\nb", "",
];

fn compile(spec: &mut InputSpec, input: &str) -> Result<(), String> {
    if !spec.pattern.starts_with('^') || !spec.pattern.ends_with('$') {
        return Err(format!("pattern of {input} must be anchored with ^ and $"));
    }
    let re = Regex::new(&spec.pattern).map_err(|e| format!("pattern of {input}: {e}"))?;
    if let Some(bad) = HOSTILE_SAMPLES.iter().find(|sample| re.is_match(sample)) {
        return Err(format!(
            "pattern of {input} accepts {bad:?}; inputs must not carry URL delimiters"
        ));
    }
    spec.compiled = Some(re);
    Ok(())
}

fn placeholders(template: &str) -> Result<Vec<&str>, String> {
    let mut found = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| format!("unclosed placeholder in {template}"))?
            + start;
        found.push(&rest[start + 1..end]);
        rest = &rest[end + 1..];
    }
    Ok(found)
}
