//! grantd's answers carry what Ampersand's published schemas require,
//! checked without any outside tool (the conformance test checks much more,
//! with schemathesis): the required lists are read from
//! `tests/data/ampersand/api.bundled.json` itself.

use crate::helpers::spawn_app;
use serde_json::Value;

fn ampersand_schemas() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/ampersand/api.bundled.json");
    let document: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    document["components"]["schemas"].clone()
}

/// The required properties of one of Ampersand's schemas that `value` lacks.
fn missing(schemas: &Value, schema: &str, value: &Value) -> Vec<String> {
    schemas[schema]["required"]
        .as_array()
        .unwrap_or_else(|| panic!("{schema} has a required list"))
        .iter()
        .map(|name| name.as_str().unwrap())
        .filter(|name| value.get(name).is_none())
        .map(|name| format!("{schema}.{name}"))
        .collect()
}

#[tokio::test]
async fn every_provider_carries_every_field_ampersands_provider_info_requires() {
    let app = spawn_app().await;
    let schemas = ampersand_schemas();
    let catalog = app.public_json("/v1/providers").await;
    let catalog = catalog.as_object().unwrap();
    assert!(!catalog.is_empty());
    for (name, info) in catalog {
        let support = &info["support"];
        let mut lacking = missing(&schemas, "ProviderInfo", info);
        lacking.extend(missing(&schemas, "Support", support));
        lacking.extend(missing(&schemas, "BulkWriteSupport", &support["bulkWrite"]));
        lacking.extend(missing(&schemas, "SearchSupport", &support["search"]));
        lacking.extend(missing(
            &schemas,
            "SearchOperators",
            &support["search"]["operators"],
        ));
        assert!(lacking.is_empty(), "{name} lacks {lacking:?}: {info}");
        // Honest values: grantd holds connections and does nothing else
        // with a provider's data.
        assert_eq!(support["delete"], false, "{name}");
        assert_eq!(support["search"]["operators"]["equals"], false, "{name}");
        assert_eq!(info["defaultModule"], "", "{name}: grantd has no modules");
    }
}
