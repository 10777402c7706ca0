//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

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
    modifiers(&BearerAuth),
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

pub(crate) fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
