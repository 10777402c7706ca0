//! `/api/invoices`: invoices are made from orders and then paid.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{Body, Id, Params};
use super::{ApiError, AppState};
use crate::store::invoices::{self, Invoice};

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
    pub(crate) invoices: Vec<Invoice>,
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
    State(app): State<AppState>,
    Params(q): Params<ListInvoices>,
) -> Result<Json<InvoiceList>, ApiError> {
    let limit = super::page::limit(q.limit, 50)?;
    let invoices = invoices::list(&app.db, limit, q.before).await?;
    let next_before = super::page::next(&invoices, limit, |i| i.number);
    Ok(Json(InvoiceList {
        invoices,
        next_before,
    }))
}

/// Invoice an order for its current total.
///
/// An `order_id` the tenant cannot see is a 404, like any other id.
#[utoipa::path(post, path = "/api/invoices", tag = "invoices", request_body = NewInvoice,
    responses((status = 201, description = "the invoice, created", body = Invoice), (status = 400, description = "invalid body"), (status = 404, description = "no such order for this tenant"), (status = 409, description = "order already invoiced")))]
pub(crate) async fn create(
    State(app): State<AppState>,
    Body(new): Body<NewInvoice>,
) -> Result<(StatusCode, Json<Invoice>), ApiError> {
    let invoice = invoices::create_for_order(&app.db, new.order_id).await?;
    crate::jobs::invoice_created(&app.events, &invoice).await;
    Ok((StatusCode::CREATED, Json(invoice)))
}

/// Get one invoice.
#[utoipa::path(get, path = "/api/invoices/{id}", tag = "invoices",
    params(("id" = uuid::Uuid, Path, description = "Invoice id")),
    responses((status = 200, description = "the invoice", body = Invoice), (status = 404, description = "no such invoice for this tenant")))]
pub(crate) async fn get(
    State(app): State<AppState>,
    Id(id): Id,
) -> Result<Json<Invoice>, ApiError> {
    invoices::get(&app.db, id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// Mark an invoice paid.
#[utoipa::path(post, path = "/api/invoices/{id}/pay", tag = "invoices",
    params(("id" = uuid::Uuid, Path, description = "Invoice id")),
    responses((status = 200, description = "the invoice", body = Invoice), (status = 404, description = "no such invoice for this tenant"), (status = 409, description = "already paid")))]
pub(crate) async fn pay(
    State(app): State<AppState>,
    Id(id): Id,
) -> Result<Json<Invoice>, ApiError> {
    let invoice = invoices::mark_paid(&app.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    crate::jobs::invoice_paid(&app.events, &invoice).await;
    Ok(Json(invoice))
}
