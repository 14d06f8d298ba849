//! The provider catalog: what grantd knows about each SaaS provider, as data.
//!
//! Providers are described in TOML (`providers/*.toml`, compiled into the
//! binary) rather than in code, so adding one or pointing grantd at a test
//! double is an edit to a file. A user file (`GRANTD_PROVIDERS_FILE`) adds
//! entries or replaces shipped ones by name. Every entry is checked when it is
//! loaded; a catalog that loads is one whose URLs all build.

mod lint;
mod provider;
mod spec;

pub use provider::ProviderInputs;
pub use spec::{
    ApiKeySpec, AuthScheme, BasicField, BasicSpec, CustomAuthSpec, InputSpec, OAuth2Spec,
    PkceSupport, PostAuthSpec, Provider, ProxySpec, TokenAuth, TokenRequestFormat, UrlPolicy,
    CATEGORIES,
};

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

/// The catalog shipped with grantd: one file per family of providers, all
/// compiled into the binary.
pub const BUILTIN_FILES: &[(&str, &str)] = &[
    ("crm.toml", include_str!("../../../providers/crm.toml")),
    (
        "marketing.toml",
        include_str!("../../../providers/marketing.toml"),
    ),
    (
        "support-communication.toml",
        include_str!("../../../providers/support-communication.toml"),
    ),
    (
        "productivity-storage.toml",
        include_str!("../../../providers/productivity-storage.toml"),
    ),
    (
        "developer-analytics.toml",
        include_str!("../../../providers/developer-analytics.toml"),
    ),
    (
        "finance.toml",
        include_str!("../../../providers/finance.toml"),
    ),
    (
        "hr-ecommerce.toml",
        include_str!("../../../providers/hr-ecommerce.toml"),
    ),
];

/// Why a catalog failed to load.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{source_name}: not valid catalog TOML: {message}")]
    Parse {
        source_name: String,
        message: String,
    },
    #[error("{source_name}: provider {provider}: {message}")]
    Invalid {
        source_name: String,
        provider: String,
        message: String,
    },
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    providers: BTreeMap<String, Provider>,
}

/// All known providers, by name. Immutable once loaded; shared behind an `Arc`.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    providers: Arc<BTreeMap<String, Provider>>,
    /// Alias -> canonical name.
    aliases: Arc<BTreeMap<String, String>>,
}

impl Catalog {
    /// The shipped catalog plus, optionally, a user file whose entries win.
    /// A user entry named by a shipped alias replaces that shipped entry,
    /// under its canonical name, so stored connections keep finding it.
    pub fn load(user_file: Option<&Path>) -> Result<Self, CatalogError> {
        let mut providers = builtin()?;
        if let Some(path) = user_file {
            let shipped_aliases = alias_map(&providers);
            let source_name = path.display().to_string();
            for (name, mut provider) in parse_file(path, UrlPolicy::AllowLoopbackHttp)? {
                let name = match shipped_aliases.get(&name) {
                    Some(canonical) => {
                        if provider.aliases.is_empty() {
                            provider.aliases = providers[canonical].aliases.clone();
                        }
                        provider.name = canonical.clone();
                        canonical.clone()
                    }
                    None => name,
                };
                providers.insert(name, provider);
            }
            check_unique_names(providers.values().map(|p| (source_name.as_str(), p)))?;
        }
        Ok(Self {
            aliases: Arc::new(alias_map(&providers)),
            providers: Arc::new(providers),
        })
    }

    /// The entry called `name`, by its canonical name or one of its aliases.
    pub fn get(&self, name: &str) -> Option<&Provider> {
        self.providers.get(name).or_else(|| {
            self.aliases
                .get(name)
                .and_then(|canonical| self.providers.get(canonical))
        })
    }

    /// `name` as the catalog names it: the canonical name for an alias, and
    /// anything else unchanged (so an unknown name is reported as sent).
    /// The domain calls this once on every provider name it is given.
    pub fn canonical(&self, name: String) -> String {
        match self.aliases.get(&name) {
            Some(canonical) => canonical.clone(),
            None => name,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Provider> {
        self.providers.values()
    }

    pub fn len(&self) -> usize {
        self.providers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// The README's provider table: one row per entry, by name.
    pub fn markdown_table(&self) -> String {
        let mut out = String::from(
            "| Name | Provider | Category | Auth schemes | Checked against docs |\n|---|---|---|---|---|\n",
        );
        for p in self.iter() {
            let schemes: Vec<&str> = p.auth_schemes.iter().map(|s| s.as_str()).collect();
            let display = p.display_name.replace('|', "\\|");
            let checked = if p.sources.is_empty() { "" } else { "yes" };
            out.push_str(&format!(
                "| `{}` | {display} | {} | {} | {checked} |\n",
                p.name,
                p.category,
                schemes.join(", ")
            ));
        }
        out
    }
}

/// Every shipped file, parsed and linted; a name may appear in one file only.
pub fn builtin() -> Result<BTreeMap<String, Provider>, CatalogError> {
    parse_all(BUILTIN_FILES)
}

/// Parses `(file name, text)` pairs under the shipped rules into one map.
fn parse_all(files: &[(&str, &str)]) -> Result<BTreeMap<String, Provider>, CatalogError> {
    let mut providers = BTreeMap::new();
    let mut origin = BTreeMap::new();
    for (file, text) in files {
        for (name, provider) in parse(text, file, UrlPolicy::HttpsOnly)? {
            if providers.contains_key(&name) {
                return Err(CatalogError::Invalid {
                    source_name: (*file).to_owned(),
                    provider: name,
                    message: "defined in more than one shipped file".into(),
                });
            }
            origin.insert(name.clone(), *file);
            providers.insert(name, provider);
        }
    }
    check_unique_names(
        providers
            .values()
            .map(|provider| (origin[provider.name.as_str()], provider)),
    )?;
    Ok(providers)
}

/// Alias -> canonical name, for entries already checked by
/// `check_unique_names`.
fn alias_map(providers: &BTreeMap<String, Provider>) -> BTreeMap<String, String> {
    providers
        .values()
        .flat_map(|p| {
            p.aliases
                .iter()
                .map(|alias| (alias.clone(), p.name.clone()))
        })
        .collect()
}

/// Every name and alias names one entry only, even ignoring case: a user
/// who types `Hubspot` or an old name must never reach a different entry
/// than the one they mean. An entry's own aliases may differ from its name
/// by case alone (`linkedin` for `linkedIn`).
fn check_unique_names<'p>(
    entries: impl Iterator<Item = (&'p str, &'p Provider)>,
) -> Result<(), CatalogError> {
    let mut owners: BTreeMap<String, (&str, &str)> = BTreeMap::new();
    for (file, provider) in entries {
        let names = std::iter::once(&provider.name).chain(&provider.aliases);
        let mut own = BTreeSet::new();
        for name in names {
            if !own.insert(name.as_str()) {
                return Err(CatalogError::Invalid {
                    source_name: file.to_owned(),
                    provider: provider.name.clone(),
                    message: format!("{name} is listed twice among its name and aliases"),
                });
            }
            let folded = name.to_ascii_lowercase();
            match owners.get(&folded) {
                Some((owner, owner_file)) if *owner != provider.name => {
                    return Err(CatalogError::Invalid {
                        source_name: file.to_owned(),
                        provider: provider.name.clone(),
                        message: format!(
                            "name or alias {name} clashes with provider {owner} \
                             (in {owner_file}), ignoring case"
                        ),
                    });
                }
                _ => {
                    owners.insert(folded, (provider.name.as_str(), file));
                }
            }
        }
    }
    Ok(())
}

/// Reads, parses and lints a catalog file from disk.
pub fn parse_file(
    path: &Path,
    policy: UrlPolicy,
) -> Result<BTreeMap<String, Provider>, CatalogError> {
    let text = std::fs::read_to_string(path).map_err(|error| CatalogError::Io {
        path: path.display().to_string(),
        error,
    })?;
    parse(&text, &path.display().to_string(), policy)
}

/// Parses and lints one catalog file.
pub fn parse(
    text: &str,
    source_name: &str,
    policy: UrlPolicy,
) -> Result<BTreeMap<String, Provider>, CatalogError> {
    let file: CatalogFile = toml::from_str(text).map_err(|e| CatalogError::Parse {
        source_name: source_name.to_owned(),
        message: e.to_string(),
    })?;
    let mut out = BTreeMap::new();
    for (name, mut provider) in file.providers {
        provider.name = name.clone();
        lint::lint(&mut provider, policy).map_err(|message| CatalogError::Invalid {
            source_name: source_name.to_owned(),
            provider: name.clone(),
            message,
        })?;
        out.insert(name, provider);
    }
    check_unique_names(out.values().map(|p| (source_name, p)))?;
    Ok(out)
}

#[cfg(test)]
mod tests;
