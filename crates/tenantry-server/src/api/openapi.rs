//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use super::{attachments, invoices, jobs, orders, secrets, settings, users, webhooks};

/// The API's OpenAPI description.
#[derive(OpenApi)]
#[openapi(
    info(title = "tenantry reference API", description = "A tenant-scoped orders, invoices and users API. \
        The tenant is claimed by subdomain (`acme.<base domain>`), path prefix (`/t/acme/…`), custom domain \
        or `X-Tenant-Id`, and must match the bearer token's `tenant` claim."),
    paths(
        orders::list, orders::create, orders::get, orders::update, orders::delete,
        users::list, users::create, users::get, users::update, users::delete,
        invoices::list, invoices::create, invoices::get, invoices::pay,
        attachments::list, attachments::put, attachments::get, attachments::delete, attachments::upload_url,
        secrets::list, secrets::put, secrets::get, secrets::delete,
        settings::get, settings::put, settings::flags, settings::set_flag,
        jobs::get, jobs::dead, jobs::retry, jobs::discard,
        webhooks::rotate_secret, webhooks::deliveries,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth, &ErrorResponses),
    security(("bearer" = [])),
    tags((name = "orders"), (name = "users"), (name = "invoices"), (name = "attachments"), (name = "secrets"), (name = "settings"), (name = "jobs"), (name = "webhooks")),
)]
pub struct ApiDoc;

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
    (400, "the request names its tenant ambiguously, or a parameter is invalid"),
    (401, "no valid bearer token"),
    (403, "the token's tenant is not the one claimed, the tenant is suspended, or the role is too low"),
    (404, "nothing by this id for this tenant"),
    (429, "over the tenant's request rate or concurrent-request budget (see `Retry-After`)"),
    (500, "an internal error (its detail is logged, never sent)"),
    (503, "the database is unavailable or the tenant is being provisioned (see `Retry-After`)"),
    (504, "the request ran past the tenant's time limit"),
];

/// What every operation that reads a body can also answer.
const WITH_A_BODY: &[(u16, &str)] = &[
    (413, "the body is over the size limit"),
];

/// Adds [`EVERY_OPERATION`]'s answers where a handler did not document its
/// own, and gives every error answer the [`ErrorBody`] schema.
struct ErrorResponses;

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
                let reads_body = operation.request_body.is_some();
                let responses = &mut operation.responses.responses;
                let extra = EVERY_OPERATION
                    .iter()
                    .chain(reads_body.then_some(WITH_A_BODY).unwrap_or_default());
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

pub(crate) fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
