//! `/api/invoices`: invoices are made from orders and then paid. Every
//! invoice is shown in the tenant's currency and time zone (its settings)
//! beside the raw values; the summary is read through the tenant cache; the
//! CSV export is behind the `bulk_export` flag.

use crate::invoice_summary::InvoiceSummaries;
use crate::tenant_settings::TenantSettings;
use std::fmt::Write as _;
use std::sync::Arc;
use tenantry::config::TenantConfig;
use tenantry::data::Database;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{Body, Id, Params};
use super::{ApiError, AppState};
use crate::locale::Locale;
use crate::store::invoices::{self, Invoice};

/// An invoice with its amount and dates as the tenant reads them.
#[derive(Serialize, ToSchema)]
pub(crate) struct InvoiceView {
    #[serde(flatten)]
    invoice: Invoice,
    /// The tenant's currency (ISO 4217).
    currency: String,
    /// `amount_cents` as a decimal in that currency (`12.34`).
    amount: String,
    /// `created_at` in the tenant's time zone, with its offset.
    created_at_local: String,
    /// `paid_at` in the tenant's time zone, with its offset.
    #[serde(skip_serializing_if = "Option::is_none")]
    paid_at_local: Option<String>,
}

impl InvoiceView {
    fn new(invoice: Invoice, locale: &Locale) -> Self {
        Self {
            currency: locale.currency().to_owned(),
            amount: locale.decimal(invoice.amount_cents),
            created_at_local: locale.rfc3339(invoice.created_at.0),
            paid_at_local: invoice.paid_at.map(|t| locale.rfc3339(t.0)),
            invoice,
        }
    }
}

/// The current tenant's locale, from its settings.
async fn locale(config: &TenantConfig<TenantSettings>) -> Result<Locale, ApiError> {
    Ok(config.settings().await?.locale())
}

/// Which order to invoice.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewInvoice {
    /// The order (of this tenant) to invoice.
    pub(crate) order_id: Uuid,
}

/// A page of the tenant's invoices.
#[derive(Serialize, ToSchema)]
pub(crate) struct InvoiceList {
    /// Invoices, newest first.
    pub(crate) invoices: Vec<InvoiceView>,
    /// Pass as `before` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_before: Option<i64>,
}

/// Paging through invoices, newest first.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListInvoices {
    /// Page size, 1–100 (default 50).
    #[serde(default, deserialize_with = "super::integer::query")]
    #[param(nullable = false, minimum = 1, maximum = 100)]
    pub(crate) limit: Option<i64>,
    /// Only invoices numbered below this (the previous page's `next_before`).
    #[serde(default, deserialize_with = "super::integer::query")]
    #[param(nullable = false)]
    pub(crate) before: Option<i64>,
}

/// List the tenant's invoices.
#[utoipa::path(get, path = "/api/invoices", tag = "invoices", params(ListInvoices),
    responses((status = 200, description = "a page of invoices", body = InvoiceList), (status = 400, description = "bad paging parameters")))]
pub(crate) async fn list(
    State(config): State<TenantConfig<TenantSettings>>,
    State(db): State<Database>,
    Params(q): Params<ListInvoices>,
) -> Result<Json<InvoiceList>, ApiError> {
    let limit = super::page::limit(q.limit, 50)?;
    let invoices = invoices::list(&db, limit, q.before).await?;
    let next_before = super::page::next(&invoices, limit, |i| i.number);
    let locale = locale(&config).await?;
    Ok(Json(InvoiceList {
        invoices: invoices
            .into_iter()
            .map(|i| InvoiceView::new(i, &locale))
            .collect(),
        next_before,
    }))
}

/// Invoice an order for its current total.
///
/// An `order_id` the tenant cannot see is a 404, like any other id.
#[utoipa::path(post, path = "/api/invoices", tag = "invoices", request_body = NewInvoice,
    responses((status = 201, description = "the invoice, created", body = InvoiceView), (status = 400, description = "invalid body"), (status = 404, description = "no such order for this tenant"), (status = 409, description = "order already invoiced")))]
pub(crate) async fn create(
    State(app): State<AppState>,
    Body(new): Body<NewInvoice>,
) -> Result<(StatusCode, Json<InvoiceView>), ApiError> {
    let invoice = invoices::create_for_order(&app.services.db, new.order_id).await?;
    app.services.summaries.invalidate().await;
    crate::jobs::invoice_created(&app.services, &invoice).await;
    Ok((
        StatusCode::CREATED,
        Json(InvoiceView::new(
            invoice,
            &locale(&app.services.config).await?,
        )),
    ))
}

/// Get one invoice.
#[utoipa::path(get, path = "/api/invoices/{id}", tag = "invoices",
    params(("id" = uuid::Uuid, Path, description = "Invoice id")),
    responses((status = 200, description = "the invoice", body = InvoiceView), (status = 404, description = "no such invoice for this tenant")))]
pub(crate) async fn get(
    State(config): State<TenantConfig<TenantSettings>>,
    State(db): State<Database>,
    Id(id): Id,
) -> Result<Json<InvoiceView>, ApiError> {
    let invoice = invoices::get(&db, id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(InvoiceView::new(invoice, &locale(&config).await?)))
}

/// Mark an invoice paid.
#[utoipa::path(post, path = "/api/invoices/{id}/pay", tag = "invoices",
    params(("id" = uuid::Uuid, Path, description = "Invoice id")),
    responses((status = 200, description = "the invoice", body = InvoiceView), (status = 404, description = "no such invoice for this tenant"), (status = 409, description = "already paid")))]
pub(crate) async fn pay(
    State(app): State<AppState>,
    Id(id): Id,
) -> Result<Json<InvoiceView>, ApiError> {
    let invoice = invoices::mark_paid(&app.services.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    app.services.summaries.invalidate().await;
    crate::jobs::invoice_paid(&app.services, &invoice).await;
    Ok(Json(InvoiceView::new(
        invoice,
        &locale(&app.services.config).await?,
    )))
}

/// Open and paid invoices: how many, and what they add up to.
#[derive(Serialize, ToSchema)]
pub(crate) struct Summary {
    /// The tenant's currency (ISO 4217).
    currency: String,
    /// Invoices not paid yet.
    open: StatusTotals,
    /// Invoices paid.
    paid: StatusTotals,
}

/// One status's invoices.
#[derive(Serialize, ToSchema)]
pub(crate) struct StatusTotals {
    /// How many.
    count: i64,
    /// Their sum in minor units.
    amount_cents: i64,
    /// Their sum as a decimal in the tenant's currency.
    amount: String,
}

/// The tenant's invoice totals (cached; current after every invoice change).
#[utoipa::path(get, path = "/api/invoices/summary", tag = "invoices",
    responses((status = 200, description = "open and paid totals", body = Summary)))]
pub(crate) async fn summary(
    State(config): State<TenantConfig<TenantSettings>>,
    State(db): State<Database>,
    State(summaries): State<Arc<InvoiceSummaries>>,
) -> Result<Json<Summary>, ApiError> {
    let totals = summaries.get(&db).await?;
    let locale = locale(&config).await?;
    let of = |count, amount_cents| StatusTotals {
        count,
        amount_cents,
        amount: locale.decimal(amount_cents),
    };
    Ok(Json(Summary {
        currency: locale.currency().to_owned(),
        open: of(totals.open_count, totals.open_cents),
        paid: of(totals.paid_count, totals.paid_cents),
    }))
}

/// Every invoice as CSV, oldest first, with the tenant's currency and time
/// zone: only for tenants with the `bulk_export` flag (their plan's, or an
/// admin's override); 403 for the others.
#[utoipa::path(get, path = "/api/invoices/export", tag = "invoices",
    responses((status = 200, description = "every invoice, CSV", content_type = "text/csv", body = String), (status = 403, description = "bulk export is not enabled for this tenant")))]
pub(crate) async fn export(
    State(config): State<TenantConfig<TenantSettings>>,
    State(db): State<Database>,
) -> Result<impl IntoResponse, ApiError> {
    if !config.flag(crate::flags::BULK_EXPORT).await? {
        return Err(ApiError::Forbidden(
            "bulk export is not enabled for this tenant (flag bulk_export)",
        ));
    }
    let locale = locale(&config).await?;
    // The list's own pages, not one unbounded read.
    let mut all = Vec::new();
    let mut before = None;
    loop {
        let page = invoices::list(&db, 100, before).await?;
        before = (page.len() == 100)
            .then(|| page.last().map(|i| i.number))
            .flatten();
        all.extend(page);
        if before.is_none() {
            break;
        }
    }
    let mut csv = String::from("number,id,order_id,amount,currency,status,created_at,paid_at\r\n");
    for invoice in all.iter().rev() {
        let _ = write!(
            csv,
            "{},{},{},{},{},{},{},{}\r\n",
            invoice.number,
            invoice.id,
            invoice.order_id,
            locale.decimal(invoice.amount_cents),
            locale.currency(),
            invoice.status,
            locale.rfc3339(invoice.created_at.0),
            invoice
                .paid_at
                .map(|t| locale.rfc3339(t.0))
                .unwrap_or_default(),
        );
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"invoices.csv\"",
            ),
        ],
        csv,
    ))
}
