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

/// Every operation of a document by operationId: (method, path, operation).
fn operations(document: &Value) -> std::collections::BTreeMap<String, Value> {
    let mut found = std::collections::BTreeMap::new();
    for item in document["paths"].as_object().unwrap().values() {
        for (method, operation) in item.as_object().unwrap() {
            if let Some(id) = operation["operationId"].as_str() {
                let _ = method;
                found.insert(id.to_owned(), operation.clone());
            }
        }
    }
    found
}

/// A schema's enum values, following one `$ref` or a `oneOf` with null.
fn enum_values(document: &Value, schema: &Value) -> Vec<String> {
    let schema = match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap();
            document["components"]["schemas"][name].clone()
        }
        None => schema.clone(),
    };
    let mut values: Vec<String> = schema["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("an enum: {schema}"))
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    values.sort();
    values
}

#[tokio::test]
async fn grantds_openapi_document_uses_ampersands_tags_enums_and_required_fields() {
    let app = spawn_app().await;
    let ours = app.public_json("/v1/openapi.json").await;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/ampersand/api.bundled.json");
    let theirs: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();

    // Tags: a client generated from either document has the same classes.
    let our_operations = operations(&ours);
    let mut shared = 0;
    for (id, operation) in operations(&theirs) {
        if let Some(our) = our_operations.get(&id) {
            shared += 1;
            assert_eq!(our["tags"], operation["tags"], "tags of {id}");
        }
    }
    assert!(shared >= 15, "{shared} shared operations");

    let schema = |document: &Value, name: &str| document["components"]["schemas"][name].clone();
    let connection = schema(&ours, "Connection");
    let their_connection = schema(&theirs, "Connection");
    assert_eq!(
        enum_values(&ours, &connection["properties"]["status"]),
        enum_values(&theirs, &their_connection["properties"]["status"]),
    );
    // Ampersand's authScheme, plus `custom` for custom-auth connections,
    // which its enum has no value for.
    let mut schemes = enum_values(&theirs, &their_connection["properties"]["authScheme"]);
    schemes.push("custom".into());
    schemes.sort();
    assert_eq!(
        enum_values(&ours, &connection["properties"]["authScheme"]),
        schemes
    );
    assert_eq!(
        enum_values(
            &ours,
            &schema(&ours, "ProviderMetadataValue")["properties"]["source"]
        ),
        enum_values(
            &theirs,
            &schema(&theirs, "ProviderMetadataInfo")["properties"]["source"]
        ),
    );
    assert_eq!(
        enum_values(&ours, &schema(&ours, "InputIssue")["properties"]["in"]),
        enum_values(
            &theirs,
            &schema(&theirs, "InputValidationIssue")["properties"]["in"]
        ),
    );
    assert_eq!(
        enum_values(
            &ours,
            &schema(&ours, "ProviderInfo")["properties"]["authType"]
        ),
        enum_values(&theirs, &schema(&theirs, "AuthType")),
    );
    let generate = schema(&ours, "GenerateConnectionRequest");
    for field in ["provider", "groupRef", "consumerRef"] {
        assert!(
            generate["required"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == field),
            "GenerateConnectionRequest requires {field}: {generate}"
        );
    }

    // Status codes: what the operation can answer, each declared.
    for (id, statuses) in [
        (
            "generateConnection",
            &[
                "201", "400", "401", "403", "404", "409", "413", "415", "422", "502", "503",
            ][..],
        ),
        (
            "getConnection",
            &["200", "400", "401", "403", "404", "503"][..],
        ),
        (
            "updateConnection",
            &["200", "400", "401", "403", "404", "409", "422", "502"][..],
        ),
        ("listProviders", &["200", "500"][..]),
    ] {
        let responses = &our_operations[id]["responses"];
        for status in statuses {
            assert!(
                responses.get(*status).is_some(),
                "{id} declares {status}: {responses}"
            );
        }
    }
}
