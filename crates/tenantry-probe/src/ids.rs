//! Learning a tenant's resource ids from the list endpoints.

use std::collections::HashMap;

use serde_json::Value;

/// Collection name → ids, for one tenant.
pub(crate) type Ids = HashMap<String, Vec<String>>;

/// Ids found in a list response: objects with a string (or integer) `id`,
/// either as the top-level array or in an array value (preferring the key
/// named after the collection).
pub(crate) fn ids_in(body: &Value, collection: &str) -> Vec<String> {
    let array = match body {
        Value::Array(items) => Some(items),
        Value::Object(map) => map
            .get(collection)
            .and_then(Value::as_array)
            .or_else(|| map.values().find_map(Value::as_array)),
        _ => None,
    };
    array
        .into_iter()
        .flatten()
        .filter_map(|item| match item.get("id")? {
            Value::String(id) => Some(id.clone()),
            Value::Number(id) if id.is_i64() || id.is_u64() => Some(id.to_string()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_wrapped_and_bare_lists() {
        assert_eq!(
            ids_in(
                &json!({"orders": [{"id": "a"}, {"id": "b"}], "next": 1}),
                "orders"
            ),
            ["a", "b"]
        );
        assert_eq!(ids_in(&json!([{"id": "x"}]), "notes"), ["x"]);
        assert_eq!(
            ids_in(&json!({"dead": [{"id": 42}, {"id": 1.5}]}), "dead"),
            ["42"]
        );
        assert!(ids_in(&json!({"error": "nope"}), "orders").is_empty());
    }
}
