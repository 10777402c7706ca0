//! The OpenAPI document: the info, security and error shapes here; the
//! paths come from the router itself ([`super::routes`], utoipa-axum), so
//! a route cannot be served undocumented or documented unserved.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

/// The API's OpenAPI description.
#[derive(OpenApi)]
#[openapi(
    info(title = "tenantry reference API", description = "A tenant-scoped orders, invoices and users API. \
        The tenant is claimed by subdomain (`acme.<base domain>`), path prefix (`/t/acme/…`), custom domain \
        or `X-Tenant-Id`, and must match the bearer token's `tenant` claim."),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags((name = "orders"), (name = "users"), (name = "invoices"), (name = "attachments"), (name = "secrets"), (name = "settings"), (name = "jobs"), (name = "webhooks"), (name = "signup")),
)]
pub(crate) struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The body of every answer that is not a success.
#[derive(ToSchema)]
#[allow(dead_code)] // documents `ApiError`'s JSON
pub(crate) struct ErrorBody {
    /// What went wrong, for a person to read.
    error: String,
    /// The request field at fault, when one is.
    #[schema(nullable = false)]
    field: Option<String>,
}

/// Answers any operation can give, whatever its handler does: the edge
/// (authentication, the tenant's claims and state), the per-tenant limits
/// and the database's availability stand in front of every route.
const EVERY_OPERATION: &[(u16, &str)] = &[
    (
        400,
        "the request names its tenant ambiguously, or a parameter is invalid",
    ),
    (401, "no valid bearer token"),
    (
        403,
        "the token's tenant is not the one claimed, the tenant is suspended, or the role is too low",
    ),
    (404, "nothing by this id for this tenant"),
    (
        429,
        "over the tenant's request rate or concurrent-request budget (see `Retry-After`)",
    ),
    (500, "an internal error (its detail is logged, never sent)"),
    (
        503,
        "the database is unavailable or the tenant is being provisioned (see `Retry-After`)",
    ),
    (504, "the request ran past the tenant's time limit"),
];

/// What every operation that reads a body can also answer.
const WITH_A_BODY: &[(u16, &str)] = &[(413, "the body is over the size limit")];

/// Adds [`EVERY_OPERATION`]'s answers where a handler did not document its
/// own, and gives every error answer the [`ErrorBody`] schema.
/// Adds the answers every operation can give; run on the finished
/// document, after the router has added its paths.
pub(crate) struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let body = || {
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(Ref::from_schema_name("ErrorBody"))))
                .build()
        };
        for item in doc.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                // Handlers' names repeat across tags (`list`, `get`): the
                // tag makes each id unique, as client generators need.
                if let (Some(tag), Some(id)) = (
                    operation.tags.as_ref().and_then(|t| t.first()),
                    operation.operation_id.as_mut(),
                ) && !id.starts_with(tag.as_str())
                {
                    *id = format!("{tag}_{id}");
                }
                let reads_body = operation.request_body.is_some();
                let responses = &mut operation.responses.responses;
                let extra =
                    EVERY_OPERATION
                        .iter()
                        .chain(if reads_body { WITH_A_BODY } else { &[] });
                for (status, description) in extra {
                    responses
                        .entry(status.to_string())
                        .or_insert_with(|| ResponseBuilder::new().description(*description).into());
                }
                for (status, response) in responses.iter_mut() {
                    if let RefOr::T(response) = response
                        && !status.starts_with('2')
                        && response.content.is_empty()
                    {
                        response
                            .content
                            .insert("application/json".to_owned(), body().into());
                    }
                }
            }
        }
    }
}

/// The document `/openapi.json` serves (its tests read it here).
#[cfg(test)]
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    super::routes().1
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    fn served() -> Value {
        serde_json::to_value(document()).unwrap()
    }

    fn operations(doc: &Value) -> Vec<(String, &Value)> {
        let mut all = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                all.push((format!("{} {path}", method.to_uppercase()), operation));
            }
        }
        all
    }

    #[test]
    fn every_operation_is_named_once_and_every_answer_is_described() {
        let doc = served();
        let mut ids = HashSet::new();
        for (what, operation) in operations(&doc) {
            let id = operation["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_owned()), "{what}: operationId {id} twice");
            for (status, response) in operation["responses"].as_object().unwrap() {
                let description = response["description"].as_str().unwrap_or("");
                assert!(!description.is_empty(), "{what} {status}: no description");
                if !status.starts_with('2') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{what} {status}"
                    );
                }
            }
            for status in ["401", "403", "429", "503"] {
                assert!(
                    operation["responses"].get(status).is_some(),
                    "{what} does not document {status}"
                );
            }
        }
        assert!(ids.len() >= 30);
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }

    /// The pattern and length limits the document states for a string.
    struct Stated {
        pattern: regex::Regex,
        min: usize,
        max: usize,
    }

    impl Stated {
        fn of(schema: &Value) -> Self {
            let pattern = schema["pattern"].as_str().expect("a pattern is stated");
            Self {
                pattern: regex::Regex::new(pattern).unwrap(),
                min: schema["minLength"].as_u64().unwrap_or(0) as usize,
                max: schema["maxLength"].as_u64().unwrap_or(u64::MAX) as usize,
            }
        }

        fn allows(&self, text: &str) -> bool {
            let count = text.chars().count();
            self.pattern.is_match(text) && (self.min..=self.max).contains(&count)
        }
    }

    fn property(doc: &Value, schema: &str, field: &str) -> Stated {
        Stated::of(&doc["components"]["schemas"][schema]["properties"][field])
    }

    fn parameter(doc: &Value, path: &str, method: &str, name: &str) -> Stated {
        let parameters = doc["paths"][path][method]["parameters"].as_array().unwrap();
        let found = parameters.iter().find(|p| p["name"] == name).unwrap();
        Stated::of(&found["schema"])
    }

    /// Text mostly of the characters the checks turn on: controls, white
    /// space, `@`, `.`, `/`, backslash, letters, and some beyond ASCII.
    fn texts() -> impl Strategy<Value = String> {
        let pick = prop_oneof![
            4 => prop::sample::select(vec![
                'a', 'Z', '0', '.', '@', '/', '\\', ' ', '\t', '\n', '\u{0}', '\u{7f}',
                '\u{85}', '\u{a0}', '\u{2003}', '\u{feff}', 'é', '宝', '_', '-', '+', ':', '|', '*',
            ]),
            1 => any::<char>(),
        ];
        // Starts that reach past each check's first test.
        let start = prop::sample::select(vec![
            "", "", "https://", "http://h", "Europe/", "x@y.", "EU",
        ]);
        let rest = prop_oneof![
            prop::collection::vec(pick.clone(), 0..12),
            prop::collection::vec(pick, 95..260),
        ];
        (start, rest).prop_map(|(start, rest)| start.chars().chain(rest).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3_000))]

        /// What the document allows is exactly what the server accepts,
        /// field by field: a client that follows the document is never
        /// refused, one that does not is never let through.
        #[test]
        fn documented_strings_are_exactly_the_accepted_ones(text in texts()) {
            let doc = served();
            let customer = property(&doc, "NewOrder", "customer");
            prop_assert_eq!(customer.allows(&text), super::super::orders::check_customer(&text).is_ok());
            let email = property(&doc, "NewUser", "email");
            prop_assert_eq!(email.allows(&text), super::super::users::check_email(&text).is_ok());
            let name = property(&doc, "NewUser", "name");
            prop_assert_eq!(name.allows(&text), super::super::users::check_name(&text).is_ok());
            let file = parameter(&doc, "/api/invoices/{id}/attachments/{name}", "put", "name");
            prop_assert_eq!(
                file.allows(&text),
                super::super::attachments::file_key(uuid::Uuid::nil(), &text).is_ok()
            );
            let settings = |change: &dyn Fn(&mut crate::tenant_settings::TenantSettings)| {
                let mut settings = crate::tenant_settings::TenantSettings::default();
                change(&mut settings);
                tenantry::config::Settings::validate(&settings).is_ok()
            };
            prop_assert_eq!(
                property(&doc, "Settings", "email_from").allows(&text),
                settings(&|s| s.email_from = Some(text.clone()))
            );
            let zones = doc["components"]["schemas"]["Settings"]["properties"]["timezone"]["enum"]
                .as_array()
                .unwrap();
            prop_assert_eq!(
                zones.iter().any(|zone| zone == text.as_str()),
                settings(&|s| s.timezone = text.clone())
            );
            prop_assert_eq!(
                property(&doc, "Settings", "webhook_url").allows(&text),
                settings(&|s| s.webhook_url = Some(text.clone()))
            );
            prop_assert_eq!(
                property(&doc, "Settings", "currency").allows(&text),
                settings(&|s| s.currency = text.clone())
            );
        }
    }
}
