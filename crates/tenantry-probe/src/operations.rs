//! Reading operations and their id-taking slots from an OpenAPI document.

use serde_json::Value;

use crate::ProbeError;

/// Where an operation takes a resource id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdSlot {
    /// Path parameter `name`.
    Path {
        /// Parameter name.
        name: String,
        /// Resource collection (`orders`).
        resource: String,
    },
    /// Query parameter `name`.
    Query {
        /// Parameter name.
        name: String,
        /// Resource collection.
        resource: String,
    },
    /// JSON body property `name`.
    Body {
        /// Property name.
        name: String,
        /// Resource collection.
        resource: String,
    },
}

impl IdSlot {
    /// The collection whose ids fill this slot.
    pub fn resource(&self) -> &str {
        match self {
            IdSlot::Path { resource, .. }
            | IdSlot::Query { resource, .. }
            | IdSlot::Body { resource, .. } => resource,
        }
    }
}

/// One HTTP operation of the document.
#[derive(Clone, Debug)]
pub struct Operation {
    /// Upper-case method.
    pub method: String,
    /// Path template (`/api/orders/{id}`).
    pub path: String,
    /// Id-taking slots.
    pub slots: Vec<IdSlot>,
    /// Path parameters that are not ids but have an `example` in the
    /// document (a file name, say): filled with it for both tenants.
    pub example_path_params: Vec<(String, String)>,
    /// Other path parameters (not ids, no example; cannot be filled).
    pub other_path_params: Vec<String>,
    /// The resolved JSON request-body schema, if any.
    pub body_schema: Option<Value>,
}

impl Operation {
    /// A `GET` without path parameters: lists a collection.
    pub fn is_list(&self) -> bool {
        self.method == "GET" && !self.path.contains('{')
    }

    /// The collection a list operation returns (its last path segment).
    pub fn collection(&self) -> Option<&str> {
        self.path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .filter(|s| !s.is_empty())
    }
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// `order_id` → `orders`; `id` after `/orders/` → `orders`.
fn resource_of(param: &str, previous_segment: Option<&str>) -> Option<String> {
    if let Some(stem) = param
        .strip_suffix("_id")
        .or_else(|| param.strip_suffix("Id"))
    {
        return Some(format!("{stem}s"));
    }
    if param == "id" {
        return previous_segment
            .filter(|s| !s.starts_with('{'))
            .map(str::to_owned);
    }
    None
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .strip_prefix("#/")
            .map(|p| p.split('/').fold(doc, |node, key| &node[key]))
            .unwrap_or(schema),
        None => schema,
    }
}

/// Every operation of `doc`, with its id slots.
pub fn operations(doc: &Value) -> Result<Vec<Operation>, ProbeError> {
    let paths = doc
        .get("paths")
        .and_then(Value::as_object)
        .ok_or_else(|| ProbeError::OpenApi("no paths".into()))?;
    let mut out = Vec::new();
    for (path, item) in paths {
        let shared_params = item
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let mut params = shared_params.clone();
            params.extend(
                op.get("parameters")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
            let mut slots = Vec::new();
            let mut other_path_params = Vec::new();
            let mut example_path_params = Vec::new();
            for param in &params {
                let param = resolve(doc, param);
                let (Some(name), Some(location)) = (
                    param.get("name").and_then(Value::as_str),
                    param.get("in").and_then(Value::as_str),
                ) else {
                    continue;
                };
                let previous = path
                    .split('/')
                    .collect::<Vec<_>>()
                    .windows(2)
                    .find(|w| w[1] == format!("{{{name}}}"))
                    .map(|w| w[0]);
                let resource = resource_of(name, previous);
                match (location, resource) {
                    ("path", Some(resource)) => slots.push(IdSlot::Path {
                        name: name.into(),
                        resource,
                    }),
                    ("path", None) => match param
                        .get("example")
                        .or_else(|| param.pointer("/schema/example"))
                        .and_then(Value::as_str)
                    {
                        Some(example) => {
                            example_path_params.push((name.to_owned(), example.to_owned()));
                        }
                        None => other_path_params.push(name.to_owned()),
                    },
                    ("query", Some(resource)) => slots.push(IdSlot::Query {
                        name: name.into(),
                        resource,
                    }),
                    _ => {}
                }
            }
            let body_schema = op
                .pointer("/requestBody/content/application~1json/schema")
                .map(|schema| resolve(doc, schema).clone());
            if let Some(properties) = body_schema
                .as_ref()
                .and_then(|s| s.get("properties"))
                .and_then(Value::as_object)
            {
                for name in properties.keys() {
                    if let Some(resource) = resource_of(name, None).filter(|_| name != "id") {
                        slots.push(IdSlot::Body {
                            name: name.clone(),
                            resource,
                        });
                    }
                }
            }
            out.push(Operation {
                method: method.to_ascii_uppercase(),
                path: path.clone(),
                slots,
                example_path_params,
                other_path_params,
                body_schema,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_path_query_and_body_slots() {
        let doc = json!({
            "paths": {
                "/api/orders/{id}": {"get": {"parameters": [{"name": "id", "in": "path"}]}},
                "/api/orders": {"get": {"parameters": [{"name": "customer_id", "in": "query"}]}},
                "/api/invoices": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewInvoice"}}}}}},
                "/api/x/{slug}": {"get": {"parameters": [{"name": "slug", "in": "path"}]}},
                "/api/files/{id}/{name}": {"get": {"parameters": [{"name": "id", "in": "path"}, {"name": "name", "in": "path", "example": "a.txt"}]}}
            },
            "components": {"schemas": {"NewInvoice": {"properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}
        });
        let ops = operations(&doc).unwrap();
        let find = |m: &str, p: &str| {
            ops.iter()
                .find(|o| o.method == m && o.path == p)
                .unwrap()
                .clone()
        };
        assert_eq!(
            find("GET", "/api/orders/{id}").slots,
            [IdSlot::Path {
                name: "id".into(),
                resource: "orders".into()
            }]
        );
        assert_eq!(
            find("GET", "/api/orders").slots,
            [IdSlot::Query {
                name: "customer_id".into(),
                resource: "customers".into()
            }]
        );
        assert_eq!(
            find("POST", "/api/invoices").slots,
            [IdSlot::Body {
                name: "order_id".into(),
                resource: "orders".into()
            }]
        );
        assert_eq!(find("GET", "/api/x/{slug}").other_path_params, ["slug"]);
        let files = find("GET", "/api/files/{id}/{name}");
        assert!(files.other_path_params.is_empty());
        assert_eq!(
            files.example_path_params,
            [("name".to_owned(), "a.txt".to_owned())]
        );
    }
}
