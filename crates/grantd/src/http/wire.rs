//! Wire pieces shared by several resources. Each resource's own request
//! and response bodies live beside its handlers, in `routes/<resource>/wire.rs`;
//! all of them are named field for field as Ampersand's reference names them.
//! Request fields are all optional so that a missing field is reported by the
//! domain as a named issue rather than a parse error.

use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// `providerMetadata` entry: `{"value": "...", "source": "input"}`, as
/// Ampersand's `ProviderMetadataInfo`. `source` and `displayName` are
/// accepted and not kept: what a caller supplies is stored as `input`, and
/// display names come from the catalog.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetadataInputBody {
    pub value: String,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// `providerMetadata` as the domain parses it: each key's `value`.
pub fn metadata_values(
    map: Option<BTreeMap<String, MetadataInputBody>>,
) -> BTreeMap<String, String> {
    map.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.value))
        .collect()
}
