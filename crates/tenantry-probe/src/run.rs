//! Running the probe: learn ids, try the spoofs, try every id slot.

use std::time::Duration;

use reqwest::{Method, RequestBuilder};
use serde_json::{Map, Value, json};

use crate::ids::{Ids, ids_in};
use crate::operations::{IdSlot, Operation, operations};
use crate::report::{Check, Outcome, Report};
use crate::{Probe, ProbeError, TenantAccess};

/// Methods in the order they are tried: reads first, deletes last, so a
/// leaky DELETE cannot remove what a later check needs.
const ORDER: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// The probe's HTTP client: TLS with the system's roots (APIs under test
/// are usually `https://`), no redirects (a redirect is an answer to judge,
/// not to follow), a 15 s budget per request.
pub(crate) fn client() -> Result<reqwest::Client, ProbeError> {
    Ok(tenantry::https::client_builder()?
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()?)
}

impl Probe {
    /// Runs every check and returns the report.
    pub async fn run(&self) -> Result<Report, ProbeError> {
        let ops = operations(&self.openapi)?;
        let http = client()?;
        let mut report = Report::default();

        let attacker_ids = self.learn_ids(&http, &ops, &self.attacker).await?;
        let victim_ids = self.learn_ids(&http, &ops, &self.victim).await?;

        for op in ops.iter().filter(|op| op.is_list()) {
            self.spoof_checks(&http, op, &mut report).await?;
        }

        let mut id_ops: Vec<&Operation> = ops.iter().filter(|op| !op.slots.is_empty()).collect();
        id_ops.sort_by_key(|op| {
            ORDER
                .iter()
                .position(|m| *m == op.method)
                .unwrap_or(ORDER.len())
        });
        for op in id_ops {
            self.id_checks(&http, op, &attacker_ids, &victim_ids, &mut report)
                .await?;
        }
        Ok(report)
    }

    async fn learn_ids(
        &self,
        http: &reqwest::Client,
        ops: &[Operation],
        tenant: &TenantAccess,
    ) -> Result<Ids, ProbeError> {
        let mut ids = Ids::new();
        for op in ops.iter().filter(|op| op.is_list()) {
            let Some(collection) = op.collection() else {
                continue;
            };
            let response = self
                .request(http, Method::GET, &op.path, &tenant.host)
                .bearer_auth(&tenant.token)
                .send()
                .await?;
            if response.status().is_success() {
                let body: Value = response.json().await.unwrap_or(Value::Null);
                ids.entry(collection.to_owned())
                    .or_default()
                    .extend(ids_in(&body, collection));
            }
        }
        Ok(ids)
    }

    async fn spoof_checks(
        &self,
        http: &reqwest::Client,
        op: &Operation,
        report: &mut Report,
    ) -> Result<(), ProbeError> {
        let (a, b) = (&self.attacker, &self.victim);
        let control = self
            .request(http, Method::GET, &op.path, &a.host)
            .bearer_auth(&a.token)
            .send()
            .await?
            .status();
        let control_ok = control.is_success();
        report.checks.push(Check {
            what: format!("GET {} as {} on its own host (control)", op.path, a.slug),
            expected: 200,
            got: control.as_u16(),
            outcome: if control_ok {
                Outcome::Pass
            } else {
                Outcome::ControlFailed
            },
        });
        let neutral = self.neutral_host();
        let mut attempts = vec![(
            format!(
                "GET {} on {}'s host with {}'s token",
                op.path, b.slug, a.slug
            ),
            op.path.clone(),
            b.host.clone(),
            None,
        )];
        if let Some(prefix) = &self.path_prefix {
            let path = format!("{}{}", prefix.replace("{slug}", &b.slug), op.path);
            attempts.push((
                format!(
                    "GET {path} (path prefix of {}) with {}'s token",
                    b.slug, a.slug
                ),
                path,
                neutral.clone(),
                None,
            ));
        }
        if let Some(header) = &self.tenant_header {
            attempts.push((
                format!(
                    "GET {} with {header}: {} and {}'s token",
                    op.path, b.slug, a.slug
                ),
                op.path.clone(),
                neutral.clone(),
                Some(header.clone()),
            ));
        }
        for (what, path, host, header) in attempts {
            let mut req = self
                .request(http, Method::GET, &path, &host)
                .bearer_auth(&a.token);
            if let Some(header) = header {
                req = req.header(header, &b.slug);
            }
            let got = req.send().await?.status().as_u16();
            report.checks.push(Check {
                what,
                expected: 403,
                got,
                outcome: if got == 403 {
                    Outcome::Pass
                } else {
                    Outcome::Leak
                },
            });
        }
        Ok(())
    }

    async fn id_checks(
        &self,
        http: &reqwest::Client,
        op: &Operation,
        attacker_ids: &Ids,
        victim_ids: &Ids,
        report: &mut Report,
    ) -> Result<(), ProbeError> {
        let label = format!("{} {}", op.method, op.path);
        let first = |ids: &Ids, resource: &str| ids.get(resource).and_then(|v| v.first()).cloned();
        let Some(victim_values) = op
            .slots
            .iter()
            .map(|s| first(victim_ids, s.resource()))
            .collect::<Option<Vec<_>>>()
        else {
            report.checks.push(Check {
                what: format!("{label}: no {}'s ids to try", self.victim.slug),
                expected: 404,
                got: 0,
                outcome: Outcome::Untested,
            });
            return Ok(());
        };
        if !op.other_path_params.is_empty() {
            report.checks.push(Check {
                what: format!(
                    "{label}: path parameters {:?} cannot be filled",
                    op.other_path_params
                ),
                expected: 404,
                got: 0,
                outcome: Outcome::Untested,
            });
            return Ok(());
        }

        // Positive control for reads: the attacker's own ids must work, or a
        // 404 below proves nothing.
        if op.method == "GET"
            && let Some(own) = op
                .slots
                .iter()
                .map(|s| first(attacker_ids, s.resource()))
                .collect::<Option<Vec<_>>>()
        {
            let got = self.send_with(http, op, &own, &self.attacker).await?;
            report.checks.push(Check {
                what: format!("{label} with {}'s own ids (control)", self.attacker.slug),
                expected: 200,
                got,
                outcome: if (200..300).contains(&got) {
                    Outcome::Pass
                } else {
                    Outcome::ControlFailed
                },
            });
        }

        let got = self
            .send_with(http, op, &victim_values, &self.attacker)
            .await?;
        let slots: Vec<String> = op.slots.iter().map(describe).collect();
        report.checks.push(Check {
            what: format!(
                "{label} as {} with {}'s ids in {}",
                self.attacker.slug,
                self.victim.slug,
                slots.join(", ")
            ),
            expected: 404,
            got,
            outcome: if got == 404 {
                Outcome::Pass
            } else {
                Outcome::Leak
            },
        });
        Ok(())
    }

    async fn send_with(
        &self,
        http: &reqwest::Client,
        op: &Operation,
        values: &[String],
        as_tenant: &TenantAccess,
    ) -> Result<u16, ProbeError> {
        let mut path = op.path.clone();
        for (name, example) in &op.example_path_params {
            path = path.replace(&format!("{{{name}}}"), example);
        }
        let mut query = Vec::new();
        let mut body_ids = Map::new();
        for (slot, value) in op.slots.iter().zip(values) {
            match slot {
                IdSlot::Path { name, .. } => path = path.replace(&format!("{{{name}}}"), value),
                IdSlot::Query { name, .. } => query.push((name.clone(), value.clone())),
                IdSlot::Body { name, .. } => {
                    body_ids.insert(name.clone(), Value::String(value.clone()));
                }
            }
        }
        let method = Method::from_bytes(op.method.as_bytes()).unwrap_or(Method::GET);
        let mut req = self
            .request(http, method, &path, &as_tenant.host)
            .bearer_auth(&as_tenant.token)
            .query(&query);
        if let Some(schema) = &op.body_schema {
            req = req.json(&body_for(schema, body_ids));
        }
        Ok(req.send().await?.status().as_u16())
    }

    fn request(
        &self,
        http: &reqwest::Client,
        method: Method,
        path: &str,
        host: &str,
    ) -> RequestBuilder {
        http.request(
            method,
            format!("{}{path}", self.base_url.trim_end_matches('/')),
        )
        .header("host", host)
    }

    fn neutral_host(&self) -> String {
        let without_scheme = self
            .base_url
            .split_once("://")
            .map_or(self.base_url.as_str(), |(_, rest)| rest);
        without_scheme
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

fn describe(slot: &IdSlot) -> String {
    match slot {
        IdSlot::Path { name, .. } => format!("path {name}"),
        IdSlot::Query { name, .. } => format!("query {name}"),
        IdSlot::Body { name, .. } => format!("body {name}"),
    }
}

/// A body that satisfies `schema`'s required properties with plain values,
/// with the id properties set to `ids` — so a refusal is about the ids, not
/// about a malformed body.
fn body_for(schema: &Value, ids: Map<String, Value>) -> Value {
    let mut body = Map::new();
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let properties = schema.get("properties").and_then(Value::as_object);
    for name in required {
        let property = properties.and_then(|p| p.get(name)).unwrap_or(&Value::Null);
        body.insert(name.to_owned(), sample(property));
    }
    body.extend(ids);
    Value::Object(body)
}

fn sample(property: &Value) -> Value {
    let kind = match property.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("string"),
        _ => "string",
    };
    match (kind, property.get("format").and_then(Value::as_str)) {
        ("integer", _) => json!(1),
        ("number", _) => json!(1.0),
        ("boolean", _) => json!(false),
        ("array", _) => json!([]),
        ("object", _) => json!({}),
        (_, Some("email")) => json!("probe@example.com"),
        (_, Some("uuid")) => json!("00000000-0000-4000-8000-000000000000"),
        _ => json!("probe"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_probe_speaks_tls_on_its_own() {
        // Built alone (not unified with the server's features), the probe's
        // client must still have a TLS stack: `use_rustls_tls` exists only
        // with one, and `build` fails without roots to trust.
        assert!(super::client().is_ok());
    }
}
