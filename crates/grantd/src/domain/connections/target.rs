//! What a connection is for, parsed once: the provider (resolved against the
//! catalog to its canonical entry), the group and consumer it belongs to,
//! and the provider's workspace and metadata inputs, checked against what
//! the provider declares. oauth-connect, connections:generate and the
//! connect page all build a `ConnectionTarget` the same way, so what one
//! accepts the others accept.

use crate::domain::catalog::{AuthScheme, Catalog, Provider};
use crate::domain::error::{check_text, optional_name, required_ref, FieldIssue};
use crate::domain::model::{MetadataSource, MetadataValue, ProviderMetadata};
use std::collections::BTreeMap;

/// A required reference a connection is filed under, as the caller gave it:
/// present, not blank, bounded and printable (`required_ref`). Only `parse`
/// makes one, so a value of this type needs no further check.
macro_rules! required_ref_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// The field's name in request bodies and in issues.
            pub const FIELD: &'static str = $field;

            /// The value, or `None` with an issue recorded.
            pub fn parse(value: Option<String>, issues: &mut Vec<FieldIssue>) -> Option<Self> {
                let before = issues.len();
                required_ref($field, value.as_deref(), issues);
                value.filter(|_| issues.len() == before).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }
    };
}

required_ref_type!(
    /// `groupRef`: the caller's id for the group (their customer) a connection belongs to.
    GroupRef,
    "groupRef"
);
required_ref_type!(
    /// `consumerRef`: the caller's id for the consumer (their user) who connected.
    ConsumerRef,
    "consumerRef"
);

/// A display name the caller really supplied (`groupName`, `consumerName`):
/// trimmed, bounded and printable. Blank counts as absent, so the stored
/// name stays (or defaults to the ref).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// `None` for an absent or blank name, and for a bad one (with an issue).
    pub fn parse(field: &str, value: Option<&str>, issues: &mut Vec<FieldIssue>) -> Option<Self> {
        optional_name(field, value, issues).map(Self)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The target fields of a request body, exactly as sent; only
/// `ConnectionTarget::parse` reads them.
#[derive(Debug, Default)]
pub struct TargetFields {
    pub provider: Option<String>,
    pub group_ref: Option<String>,
    pub group_name: Option<String>,
    pub consumer_ref: Option<String>,
    pub consumer_name: Option<String>,
    pub workspace: Option<String>,
    /// `providerMetadata`, by key, each entry's `value`.
    pub metadata: BTreeMap<String, String>,
}

/// What a new connection is for, every part checked.
#[derive(Debug)]
pub struct ConnectionTarget<'c> {
    provider: &'c Provider,
    group_ref: GroupRef,
    group_name: Option<DisplayName>,
    consumer_ref: ConsumerRef,
    consumer_name: Option<DisplayName>,
    workspace: Option<String>,
    /// The caller's inputs, as stored (`source: input`).
    metadata: ProviderMetadata,
}

/// A `ConnectionTarget` taken apart by the operation that stores it.
pub(crate) struct TargetParts<'c> {
    pub provider: &'c Provider,
    pub group_ref: String,
    pub group_name: Option<String>,
    pub consumer_ref: String,
    pub consumer_name: Option<String>,
    pub workspace: Option<String>,
    pub metadata: ProviderMetadata,
}

impl<'c> ConnectionTarget<'c> {
    /// Checks every target field, recording all issues; the target when
    /// there are none. `required_scheme` is a scheme the provider must
    /// support (oauth-connect needs the authorization code flow).
    pub fn parse(
        catalog: &'c Catalog,
        mut fields: TargetFields,
        required_scheme: Option<AuthScheme>,
        issues: &mut Vec<FieldIssue>,
    ) -> Option<Self> {
        let before = issues.len();
        fold_workspace_metadata(&mut fields.workspace, &mut fields.metadata, issues);
        let provider = known_provider(catalog, fields.provider, required_scheme, issues);
        let group_ref = GroupRef::parse(fields.group_ref, issues);
        let consumer_ref = ConsumerRef::parse(fields.consumer_ref, issues);
        let group_name = DisplayName::parse("groupName", fields.group_name.as_deref(), issues);
        let consumer_name =
            DisplayName::parse("consumerName", fields.consumer_name.as_deref(), issues);
        // Stored as given, and for a provider that declares no such input, not
        // checked by any pattern.
        let mut clean_inputs = fields
            .workspace
            .as_deref()
            .is_none_or(|w| check_text("providerWorkspaceRef", w, issues));
        for (name, value) in &fields.metadata {
            let field = format!("providerMetadata.{name}.value");
            clean_inputs &= check_text(&field, value, issues);
        }
        if let Some(provider) = provider.filter(|_| clean_inputs) {
            provider.check_inputs(fields.workspace.as_deref(), &fields.metadata, issues);
        }
        if issues.len() != before {
            return None;
        }
        Some(ConnectionTarget {
            provider: provider?,
            group_ref: group_ref?,
            group_name,
            consumer_ref: consumer_ref?,
            consumer_name,
            workspace: fields.workspace,
            metadata: input_metadata(fields.metadata),
        })
    }

    pub fn provider(&self) -> &'c Provider {
        self.provider
    }

    pub fn workspace(&self) -> Option<&str> {
        self.workspace.as_deref()
    }

    pub(crate) fn into_parts(self) -> TargetParts<'c> {
        TargetParts {
            provider: self.provider,
            group_ref: self.group_ref.into_string(),
            group_name: self.group_name.map(DisplayName::into_string),
            consumer_ref: self.consumer_ref.into_string(),
            consumer_name: self.consumer_name.map(DisplayName::into_string),
            workspace: self.workspace,
            metadata: self.metadata,
        }
    }
}

/// The catalog's entry for `name` (an alias finds its canonical entry), or
/// an issue on `provider`.
fn known_provider<'c>(
    catalog: &'c Catalog,
    name: Option<String>,
    required_scheme: Option<AuthScheme>,
    issues: &mut Vec<FieldIssue>,
) -> Option<&'c Provider> {
    let Some(name) = name.map(|name| catalog.canonical(name)) else {
        issues.push(FieldIssue::body(
            "provider",
            serde_json::Value::Null,
            "provider is required",
        ));
        return None;
    };
    let detail = match catalog.get(&name) {
        None => format!("unknown provider {name}"),
        Some(p) => match required_scheme {
            Some(scheme) if !p.supports(scheme) => {
                format!("provider {name} does not support {}", scheme.as_str())
            }
            _ => return Some(p),
        },
    };
    issues.push(FieldIssue::body("provider", name, detail));
    None
}

/// The `providerMetadata` key under which Ampersand's clients send the
/// workspace as well (grantd's `ProviderInfo` lists it among the inputs).
pub const WORKSPACE_METADATA: &str = "workspace";

/// Makes `providerMetadata.workspace` the workspace: the value when
/// `providerWorkspaceRef` is absent (a blank one counts as absent), an
/// issue when the two differ. It is no metadata of its own afterwards;
/// connections show it again under `providerMetadata` (see the wire view).
fn fold_workspace_metadata(
    workspace: &mut Option<String>,
    metadata: &mut BTreeMap<String, String>,
    issues: &mut Vec<FieldIssue>,
) {
    let Some(value) = metadata.remove(WORKSPACE_METADATA) else {
        return;
    };
    match workspace {
        None if value.trim().is_empty() => {}
        None => *workspace = Some(value),
        Some(given) if *given == value => {}
        Some(_) => issues.push(FieldIssue::body(
            "providerMetadata.workspace.value",
            value.as_str(),
            "providerMetadata.workspace must equal providerWorkspaceRef when both are sent",
        )),
    }
}

/// Caller-supplied metadata in its stored form.
pub(crate) fn input_metadata(metadata: BTreeMap<String, String>) -> ProviderMetadata {
    metadata
        .into_iter()
        .map(|(k, value)| {
            let source = MetadataSource::Input;
            (k, MetadataValue { value, source })
        })
        .collect()
}
