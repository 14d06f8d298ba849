//! The lint and URL building, entry by entry and against the shipped files.

use super::*;

#[test]
fn the_shipped_catalog_passes_the_lint_with_150_providers_in_every_category() {
    let catalog = Catalog::load(None).expect("builtin catalog loads");
    assert!(catalog.len() >= 150, "{} providers", catalog.len());
    for category in CATEGORIES {
        assert!(
            catalog.iter().any(|p| p.category == *category),
            "no provider in {category}"
        );
    }
}

#[test]
fn shipped_quirks_are_described_as_data() {
    let catalog = Catalog::load(None).unwrap();
    let oauth = |name: &str| catalog.get(name).unwrap().oauth2.clone().unwrap();
    let google = oauth("google");
    assert_eq!(google.authorize_params["access_type"], "offline");
    assert_eq!(google.authorize_params["prompt"], "consent");
    let atlassian = oauth("atlassian");
    assert_eq!(atlassian.authorize_params["audience"], "api.atlassian.com");
    assert_eq!(atlassian.required_scopes, ["offline_access"]);
    assert_eq!(atlassian.post_auth.unwrap().metadata["cloudId"], "0.id");
    assert_eq!(
        oauth("salesforce").token_metadata["instanceUrl"],
        "instance_url"
    );
    assert_eq!(
        oauth("notion").token_metadata["workspaceId"],
        "workspace_id"
    );
    assert_eq!(oauth("slack").scope_separator, ",");
    assert_eq!(oauth("notion").token_auth, TokenAuth::Basic);
    assert!(!oauth("github").tokens_expire);
    assert_eq!(
        catalog.get("airtable").unwrap().pkce(),
        PkceSupport::Required
    );
    let zendesk = catalog.get("zendesk").unwrap();
    assert!(zendesk.workspace.as_ref().unwrap().accepts("acme"));
    assert!(!zendesk.workspace.as_ref().unwrap().accepts("evil.com/x"));
}

#[test]
fn http_urls_are_rejected_in_the_builtin_policy() {
    let text = entry(
        "bad",
        "authSchemes = [\"oauth2/authorizationCode\"]\n[providers.bad.oauth2]\nauthorizeUrl = \"http://example.com/auth\"\ntokenUrl = \"https://example.com/token\"",
    );
    let err = lint_error(&text);
    assert!(err.contains("must be https"), "{err}");
}

#[test]
fn undeclared_placeholders_are_rejected() {
    let text = entry(
        "bad",
        "authSchemes = [\"oauth2/authorizationCode\"]\n[providers.bad.oauth2]\nauthorizeUrl = \"https://{tenant}.example.com/auth\"\ntokenUrl = \"https://example.com/token\"",
    );
    let err = lint_error(&text);
    assert!(err.contains("undeclared placeholder"), "{err}");
}

/// A minimal valid entry named `name`, with `extra` lines appended.
fn entry(name: &str, extra: &str) -> String {
    format!(
        r#"
        [providers.{name}]
        displayName = "Example"
        category = "crm"
        docsUrl = "https://example.com/docs"
        apiBaseUrl = "https://api.example.com"
        {extra}
        "#
    )
}

fn lint_error(text: &str) -> String {
    parse(text, "t", UrlPolicy::HttpsOnly)
        .unwrap_err()
        .to_string()
}

#[test]
fn shipped_names_are_ascii_letters_and_digits_in_lower_camel_case() {
    for bad in ["Acme", "acme-crm", "acme_crm", "1acme"] {
        let text = entry(bad, r#"authSchemes = ["apiKey"]"#);
        assert!(lint_error(&text).contains("lowerCamelCase"), "{bad}");
    }
    let text = entry("acmeCRM2", r#"authSchemes = ["basic"]"#);
    assert!(parse(&text, "t", UrlPolicy::HttpsOnly).is_ok());
    // A user's file keeps the punctuation grantd's names once had.
    let text = entry("acme-crm", r#"authSchemes = ["basic"]"#);
    assert!(parse(&text, "t", UrlPolicy::AllowLoopbackHttp).is_ok());
}

/// Two entries, `first` (with `aliases`) in one file and `second` in
/// another, merged under the shipped rules.
fn merge_error(first: &str, aliases: &str, second: &str) -> Option<String> {
    let one = entry(first, &format!("aliases = {aliases}\nauthSchemes = [\"apiKey\"]\n[providers.{first}.apiKey]\nin = \"header\"\nname = \"k\""));
    let two = entry(second, "authSchemes = [\"basic\"]");
    parse_all(&[("a.toml", &one), ("b.toml", &two)])
        .err()
        .map(|e| e.to_string())
}

#[test]
fn a_name_or_alias_names_one_entry_only_even_ignoring_case() {
    let err = merge_error("hubSpot", "[]", "hubspot").unwrap();
    assert!(err.contains("clashes with provider hubSpot"), "{err}");
    let err = merge_error("acme", r#"["acme-old", "other"]"#, "other").unwrap();
    assert!(err.contains("clashes"), "{err}");
    let err = merge_error("acme", r#"["Other"]"#, "other").unwrap();
    assert!(err.contains("clashes"), "{err}");
    let err = merge_error("acme", r#"["acme-old", "acme-old"]"#, "other").unwrap();
    assert!(err.contains("listed twice"), "{err}");
    // An entry's own old name may differ from its name by case alone.
    assert_eq!(merge_error("linkedIn", r#"["linkedin"]"#, "other"), None);
    let err = merge_error("acme", r#"["acme/old"]"#, "other").unwrap();
    assert!(err.contains("alias"), "{err}");
}

#[test]
fn shipped_authorization_code_entries_must_say_whether_they_send_pkce() {
    let text = entry(
        "acme",
        "authSchemes = [\"oauth2/authorizationCode\"]\n[providers.acme.oauth2]\nauthorizeUrl = \"https://example.com/a\"\ntokenUrl = \"https://example.com/token\"",
    );
    assert!(lint_error(&text).contains("oauth2.pkce must be set"));
    // A user's file may leave it out: PKCE is then sent where allowed.
    let user = parse(&text, "t", UrlPolicy::AllowLoopbackHttp).unwrap();
    assert_eq!(user["acme"].pkce(), PkceSupport::Allowed);
    let chosen = text.replace("tokenUrl =", "pkce = \"unsupported\"\ntokenUrl =");
    let shipped = parse(&chosen, "t", UrlPolicy::HttpsOnly).unwrap();
    assert_eq!(shipped["acme"].pkce(), PkceSupport::Unsupported);
}

#[test]
fn an_old_name_finds_the_entry_under_its_canonical_name() {
    let catalog = Catalog::load(None).unwrap();
    let entry = catalog.get("constant-contact").expect("alias resolves");
    assert_eq!(entry.name, "constantContact");
    assert_eq!(
        catalog.canonical("constant-contact".into()),
        "constantContact"
    );
    assert_eq!(
        catalog.canonical("constantContact".into()),
        "constantContact"
    );
    assert_eq!(catalog.canonical("no-such".into()), "no-such");
    assert!(catalog.iter().all(|p| p.name != "constant-contact"));
}

#[test]
fn a_user_entry_named_by_an_old_name_replaces_the_shipped_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("providers.toml");
    std::fs::write(
        &path,
        "[providers.sendgrid]\ndisplayName = \"Local SendGrid\"\ncategory = \"marketing\"\nauthSchemes = [\"basic\"]\n",
    )
    .unwrap();
    let catalog = Catalog::load(Some(&path)).unwrap();
    let entry = catalog.get("sendGrid").unwrap();
    assert_eq!(entry.display_name, "Local SendGrid");
    assert_eq!(entry.name, "sendGrid");
    assert_eq!(
        catalog.get("sendgrid").unwrap().display_name,
        "Local SendGrid"
    );
    assert_eq!(
        catalog
            .iter()
            .filter(|p| p.display_name == "Local SendGrid")
            .count(),
        1
    );
}

#[test]
fn oauth_schemes_need_a_token_url() {
    let text = entry(
        "acme",
        "authSchemes = [\"oauth2/clientCredentials\"]\n[providers.acme.oauth2]\ntokenUrl = \" \"",
    );
    assert!(lint_error(&text).contains("tokenUrl is empty"), "{text}");
    let text = entry("acme", r#"authSchemes = ["oauth2/password"]"#);
    assert!(lint_error(&text).contains("[oauth2] is missing"));
}

#[test]
fn the_authorization_code_scheme_needs_an_authorize_url() {
    let text = entry(
        "acme",
        "authSchemes = [\"oauth2/authorizationCode\"]\n[providers.acme.oauth2]\ntokenUrl = \"https://example.com/token\"",
    );
    assert!(lint_error(&text).contains("needs oauth2.authorizeUrl"));
}

#[test]
fn categories_come_from_the_fixed_list() {
    let text = entry("acme", r#"authSchemes = ["basic"]"#).replace("\"crm\"", "\"misc\"");
    assert!(lint_error(&text).contains("category"));
}

#[test]
fn shipped_entries_need_docs_and_api_urls() {
    let text = entry("acme", r#"authSchemes = ["basic"]"#)
        .replace("apiBaseUrl = \"https://api.example.com\"", "");
    assert!(lint_error(&text).contains("apiBaseUrl is missing"));
    // A user's file may leave them out.
    assert!(parse(&text, "t", UrlPolicy::AllowLoopbackHttp).is_ok());
}

#[test]
fn unknown_keys_are_rejected() {
    let text = entry("acme", "authSchemes = [\"basic\"]\ntokenUrl = \"x\"");
    assert!(lint_error(&text).contains("unknown field"));
}

#[test]
fn a_name_may_be_shipped_in_one_file_only() {
    let one = entry("acme", r#"authSchemes = ["basic"]"#);
    let err = parse_all(&[("a.toml", &one), ("b.toml", &one)]).unwrap_err();
    assert!(
        err.to_string().contains("more than one shipped file"),
        "{err}"
    );
}

#[test]
fn patterns_must_be_anchored() {
    let text = entry(
        "acme",
        "authSchemes = [\"basic\"]\n[providers.acme.workspace]\npattern = \"[a-z]+\"",
    );
    assert!(lint_error(&text).contains("anchored"));
}

#[test]
fn an_input_pattern_that_lets_url_delimiters_through_is_rejected() {
    // Each pattern is anchored but lets one delimiter in, through which
    // an end user could move the request to another host or path.
    for pattern in [
        "^[a-z./]+$",
        "^[a-z@]+$",
        "^[a-z:]+$",
        "^[a-z?]+$",
        "^[a-z#]+$",
        "^[a-z0-9%]+$",
        "^[a-z ]+$",
        "^[a-z\\\\]+$",
        "^[a-z]*$",
        "^.+$",
    ] {
        let text = entry(
            "acme",
            &format!(
                "authSchemes = [\"basic\"]\n[providers.acme.workspace]\npattern = '{pattern}'"
            ),
        );
        let err = lint_error(&text);
        assert!(err.contains("URL delimiters"), "{pattern}: {err}");
    }
    let text = entry(
        "acme",
        "authSchemes = [\"basic\"]\n[providers.acme.workspace]\npattern = '^[a-z0-9-]+$'",
    );
    assert!(parse(&text, "t", UrlPolicy::HttpsOnly).is_ok());
}

#[test]
fn post_auth_urls_are_linted_like_the_others() {
    let text = entry(
        "acme",
        "authSchemes = [\"oauth2/clientCredentials\"]\n[providers.acme.oauth2]\ntokenUrl = \"https://example.com/token\"\n[providers.acme.oauth2.postAuth]\nurl = \"https://{site}.example.com/me\"\nmetadata = { id = \"id\" }",
    );
    assert!(lint_error(&text).contains("undeclared placeholder"));
}

#[test]
fn required_scopes_come_first_and_defaults_only_fill_in() {
    let text = entry(
        "acme",
        "authSchemes = [\"oauth2/clientCredentials\"]\n[providers.acme.oauth2]\ntokenUrl = \"https://example.com/token\"\ndefaultScopes = [\"read\"]\nrequiredScopes = [\"offline\"]",
    );
    let providers = parse(&text, "t", UrlPolicy::HttpsOnly).unwrap();
    let oauth = providers["acme"].oauth2.as_ref().unwrap();
    assert_eq!(oauth.scopes_for(&[]), ["offline", "read"]);
    let app = ["write".to_owned(), "offline".to_owned()];
    assert_eq!(oauth.scopes_for(&app), ["offline", "write"]);
}

/// An authorization-code entry whose token URL is `token_url`, with a
/// workspace and a `region` input of the given patterns.
fn host_entry(token_url: &str, workspace: &str, region: &str) -> String {
    entry(
        "acme",
        &format!(
            "authSchemes = [\"oauth2/clientCredentials\"]\n\
             [providers.acme.workspace]\npattern = '{workspace}'\n\
             [providers.acme.metadata.region]\npattern = '{region}'\n\
             [providers.acme.oauth2]\ntokenUrl = \"{token_url}\""
        ),
    )
}

const OPEN: &str = "^[a-z][a-z0-9-]{0,30}$";
const LISTED: &str = "^(eu|us|ap)$";

#[test]
fn a_host_input_needs_a_literal_domain_after_it_whatever_its_pattern() {
    // The pattern refuses dots, yet the end user could still send the
    // client secret to `localhost` or an intranet host.
    for token_url in [
        "https://{workspace}/token",
        "https://{workspace}:8443/token",
        "https://{workspace}.com/token",
        "https://{workspace}example.com/token",
        "https://{workspace}.{region}/token",
        "https://api.{workspace}/token",
    ] {
        let err = lint_error(&host_entry(token_url, OPEN, OPEN));
        assert!(err.contains("without a fixed domain"), "{token_url}: {err}");
    }
    // An open input after a literal domain ends the host just the same.
    let err = lint_error(&host_entry(
        "https://{workspace}.example.{region}/token",
        OPEN,
        OPEN,
    ));
    assert!(err.contains("{region}"), "{err}");
}

#[test]
fn a_host_input_under_a_fixed_domain_or_listing_its_values_passes() {
    for (token_url, region) in [
        ("https://{workspace}.example.com/token", OPEN),
        ("https://api-{workspace}.eu.example.com/token", OPEN),
        ("https://{workspace}.{region}.example.com/token", OPEN),
        ("https://{workspace}.{region}.example.com/token", LISTED),
        // Listed values are literal text: `.eu.example.com`, …
        ("https://{workspace}.{region}.example.com/token", LISTED),
        // A host made only of listed values is one of a fixed few.
        ("https://login.example.{region}/token", LISTED),
        ("https://example.com/{workspace}/token", OPEN),
    ] {
        let text = host_entry(token_url, OPEN, region);
        parse(&text, "t", UrlPolicy::HttpsOnly).unwrap_or_else(|e| panic!("{token_url}: {e}"));
    }
    // …but a listed value alone is no registrable domain.
    let err = lint_error(&host_entry(
        "https://{workspace}.{region}/token",
        OPEN,
        LISTED,
    ));
    assert!(err.contains("without a fixed domain"), "{err}");
}

#[test]
fn only_fully_anchored_finite_patterns_list_their_values() {
    let spec = |pattern: &str| InputSpec {
        required: true,
        label: None,
        pattern: pattern.to_owned(),
        docs_url: None,
        default_host: None,
        compiled: None,
    };
    let mut listed = spec("^(com|eu|com\\.au)$").listed_values().unwrap();
    listed.sort();
    assert_eq!(listed, ["com", "com.au", "eu"]);
    assert_eq!(spec("^eu[12]$").listed_values().unwrap().len(), 2);
    for open in ["^[a-z]+$", "^a|b$", "^(a|b)", "(a|b)$", "^[a-z0-9]{1,20}$"] {
        assert_eq!(spec(open).listed_values(), None, "{open}");
    }
}

#[test]
fn salesforce_without_my_domain_signs_in_at_login_salesforce_com() {
    let catalog = Catalog::load(None).unwrap();
    let sf = catalog.get("salesforce").unwrap();
    let mut issues = Vec::new();
    sf.check_inputs(None, &BTreeMap::new(), &mut issues);
    assert!(issues.is_empty(), "{issues:?}");
    let oauth = sf.oauth2.as_ref().unwrap();
    let none = ProviderInputs::default();
    let authorize = sf
        .build_url(oauth.authorize_url.as_ref().unwrap(), &none)
        .unwrap();
    assert_eq!(
        authorize.as_str(),
        "https://login.salesforce.com/services/oauth2/authorize"
    );
    let token = sf.build_url(&oauth.token_url, &none).unwrap();
    assert_eq!(
        token.as_str(),
        "https://login.salesforce.com/services/oauth2/token"
    );
    // A My Domain still wins.
    let acme = ProviderInputs {
        workspace: Some("acme"),
        ..Default::default()
    };
    let token = sf.build_url(&oauth.token_url, &acme).unwrap();
    assert_eq!(token.host_str(), Some("acme.my.salesforce.com"));
}

#[test]
fn a_default_host_belongs_to_a_workspace_and_is_a_bare_host() {
    let metadata = entry(
        "acme",
        "authSchemes = [\"basic\"]\n[providers.acme.metadata.region]\npattern = \"^[a-z]+$\"\ndefaultHost = \"example.com\"",
    );
    assert!(lint_error(&metadata).contains("only a workspace"));
    for host in ["example.com/path", "example.com:8443", "user@example.com"] {
        let text = entry(
            "acme",
            &format!("authSchemes = [\"basic\"]\n[providers.acme.workspace]\npattern = \"^[a-z]+$\"\nrequired = false\ndefaultHost = \"{host}\""),
        );
        assert!(lint_error(&text).contains("bare host"), "{host}");
    }
}

#[test]
fn workspace_is_substituted_after_validation() {
    let catalog = Catalog::load(None).unwrap();
    let sf = catalog.get("salesforce").unwrap();
    let mut issues = Vec::new();
    sf.check_inputs(Some("evil.com/x"), &BTreeMap::new(), &mut issues);
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].name, "providerWorkspaceRef");
    let inputs = ProviderInputs {
        workspace: Some("acme"),
        ..Default::default()
    };
    let url = sf
        .build_url(
            sf.oauth2.as_ref().unwrap().authorize_url.as_ref().unwrap(),
            &inputs,
        )
        .unwrap();
    assert_eq!(url.host_str(), Some("acme.my.salesforce.com"));
}

#[test]
fn salesforce_calls_go_to_the_instance_url_only_inside_salesforce_com() {
    use crate::domain::model::{MetadataSource, MetadataValue, ProviderMetadata};
    let catalog = Catalog::load(None).unwrap();
    let salesforce = catalog.get("salesforce").unwrap();
    assert!(salesforce.supports_proxy());
    let base = |instance: Option<&str>| {
        let mut metadata = ProviderMetadata::new();
        if let Some(url) = instance {
            metadata.insert(
                "instanceUrl".into(),
                MetadataValue {
                    value: url.into(),
                    source: MetadataSource::Token,
                },
            );
        }
        let inputs = ProviderInputs::new(Some("acme"), &metadata);
        salesforce
            .proxy_base_url(&inputs, &metadata)
            .unwrap()
            .to_string()
    };
    assert_eq!(
        base(Some("https://acme--dev.sandbox.my.salesforce.com")),
        "https://acme--dev.sandbox.my.salesforce.com/"
    );
    assert_eq!(base(None), "https://acme.my.salesforce.com/");
    for elsewhere in [
        "https://evil.example",
        "https://salesforce.com.evil.example",
        "http://acme.my.salesforce.com",
        "https://user:pw@acme.my.salesforce.com",
    ] {
        assert_eq!(
            base(Some(elsewhere)),
            "https://acme.my.salesforce.com/",
            "{elsewhere}"
        );
    }
    assert_eq!(
        catalog
            .get("notion")
            .unwrap()
            .proxy
            .as_ref()
            .unwrap()
            .default_headers["Notion-Version"],
        "2022-06-28"
    );
}

#[test]
fn a_proxy_base_whose_host_an_input_chooses_is_rejected_and_an_api_base_one_is_not_proxied() {
    let open = "authSchemes = [\"basic\"]\n[providers.acme.workspace]\npattern = \"^[a-z.]+$\"\n";
    let err = lint_error(&entry(
        "acme",
        &format!("{open}[providers.acme.proxy]\nbaseUrl = \"https://{{workspace}}/api\"\n"),
    ));
    assert!(err.contains("without a fixed domain"), "{err}");
    let fixed = parse(&entry("acme", open), "t", UrlPolicy::HttpsOnly).unwrap();
    assert!(fixed["acme"].supports_proxy());
    let text = entry("acme", open).replace("https://api.example.com", "https://{workspace}/api");
    let open_host = parse(&text, "t", UrlPolicy::HttpsOnly).unwrap();
    assert!(!open_host["acme"].supports_proxy());
    let err = lint_error(&entry(
        "acme",
        "authSchemes = [\"basic\"]\n[providers.acme.proxy]\ndefaultHeaders = { Authorization = \"x\" }\n",
    ));
    assert!(err.contains("may not set"), "{err}");
    let err = lint_error(&entry(
        "acme",
        "authSchemes = [\"basic\"]\n[providers.acme.proxy]\nbaseUrlMetadata = \"instanceUrl\"\n",
    ));
    assert!(err.contains("baseUrlHosts"), "{err}");
}
