//! What oauth-connect and connections:generate share: the provider a
//! connection is for, the group and consumer it belongs to, and the
//! provider's workspace and metadata inputs, validated together.

use crate::domain::catalog::{AuthScheme, Catalog, Provider};
use crate::domain::error::{check_text, optional_name, required_ref, FieldIssue};
use crate::domain::model::{MetadataSource, MetadataValue, ProviderMetadata};
use std::collections::BTreeMap;

/// One `providerMetadata` entry as callers send it.
#[derive(Debug, Clone)]
pub struct MetadataInput {
    pub value: String,
}

/// The target fields of a request, before validation.
pub(crate) struct TargetInput<'a> {
    pub provider: Option<&'a str>,
    pub group_ref: Option<&'a str>,
    pub consumer_ref: Option<&'a str>,
    pub group_name: Option<&'a str>,
    pub consumer_name: Option<&'a str>,
    pub workspace: Option<&'a str>,
    pub metadata: &'a BTreeMap<String, MetadataInput>,
}

/// Checks every target field, recording issues; returns the provider when
/// it is known (and supports `required_scheme`, when one is given).
pub(crate) fn check_target<'c>(
    catalog: &'c Catalog,
    input: &TargetInput<'_>,
    required_scheme: Option<AuthScheme>,
    issues: &mut Vec<FieldIssue>,
) -> Option<&'c Provider> {
    let provider = match input.provider {
        None => {
            issues.push(FieldIssue::body(
                "provider",
                serde_json::Value::Null,
                "provider is required",
            ));
            None
        }
        Some(name) => match catalog.get(name) {
            None => {
                issues.push(FieldIssue::body(
                    "provider",
                    name,
                    format!("unknown provider {name}"),
                ));
                None
            }
            Some(p) => match required_scheme {
                Some(scheme) if !p.supports(scheme) => {
                    issues.push(FieldIssue::body(
                        "provider",
                        name,
                        format!("provider {name} does not support {}", scheme.as_str()),
                    ));
                    None
                }
                _ => Some(p),
            },
        },
    };
    required_ref("groupRef", input.group_ref, issues);
    required_ref("consumerRef", input.consumer_ref, issues);
    optional_name("groupName", input.group_name, issues);
    optional_name("consumerName", input.consumer_name, issues);
    // Stored as given, and for a provider that declares no such input, not
    // checked by any pattern.
    let mut clean_inputs = input
        .workspace
        .is_none_or(|w| check_text("providerWorkspaceRef", w, issues));
    for (name, value) in input.metadata {
        let field = format!("providerMetadata.{name}.value");
        clean_inputs &= check_text(&field, &value.value, issues);
    }
    if let Some(provider) = provider.filter(|_| clean_inputs) {
        let values: BTreeMap<String, String> = input
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect();
        provider.check_inputs(input.workspace, &values, issues);
    }
    provider
}

/// The `providerMetadata` key under which Ampersand's clients send the
/// workspace as well (grantd's `ProviderInfo` lists it among the inputs).
pub const WORKSPACE_METADATA: &str = "workspace";

/// Makes `providerMetadata.workspace` the workspace: the value when
/// `providerWorkspaceRef` is absent (a blank one counts as absent), an
/// issue when the two differ. It is no metadata of its own afterwards;
/// connections show it again under `providerMetadata` (see the wire view).
pub(crate) fn fold_workspace_metadata(
    workspace: &mut Option<String>,
    metadata: &mut BTreeMap<String, MetadataInput>,
    issues: &mut Vec<FieldIssue>,
) {
    let Some(entry) = metadata.remove(WORKSPACE_METADATA) else {
        return;
    };
    match workspace {
        None if entry.value.trim().is_empty() => {}
        None => *workspace = Some(entry.value),
        Some(given) if *given == entry.value => {}
        Some(_) => issues.push(FieldIssue::body(
            "providerMetadata.workspace.value",
            entry.value.as_str(),
            "providerMetadata.workspace must equal providerWorkspaceRef when both are sent",
        )),
    }
}

/// Caller-supplied metadata in its stored form.
pub(crate) fn input_metadata(metadata: &BTreeMap<String, MetadataInput>) -> ProviderMetadata {
    metadata
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                MetadataValue {
                    value: v.value.clone(),
                    source: MetadataSource::Input,
                },
            )
        })
        .collect()
}

/// A display name the caller really supplied; blank counts as absent, so
/// the stored name stays (or defaults to the ref).
pub(crate) fn supplied_name(name: Option<&str>) -> Option<String> {
    name.map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
}
