//! `/api/orders`: the benchmark contract's endpoints and the rest of CRUD.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tenantry::data::Database;
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use super::extract::{Body, Id, Params};
use crate::store::orders::{self, Order, OrderChanges};

/// Largest accepted total (ten billion), so sums stay far from overflow.
const MAX_TOTAL_CENTS: i64 = 1_000_000_000_000;

/// A new order.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewOrder {
    /// Customer name, 1–200 characters, not only spaces, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub(crate) customer: String,
    /// Total in cents, 0 to 10^12.
    #[serde(deserialize_with = "super::integer::required")]
    #[schema(minimum = 0, maximum = 1000000000000_u64)]
    pub(crate) total_cents: i64,
}

/// Changes to an order; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrderPatch {
    /// New customer name (as for a new order).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub(crate) customer: Option<String>,
    /// New total in cents, 0 to 10^12.
    #[serde(default, deserialize_with = "super::integer::optional")]
    #[schema(minimum = 0, maximum = 1000000000000_u64)]
    pub(crate) total_cents: Option<i64>,
    /// New status.
    #[schema(value_type = Option<OrderStatus>)]
    pub(crate) status: Option<String>,
}

/// An order's status.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // documents the accepted strings
pub(crate) enum OrderStatus {
    /// Not paid yet.
    Open,
    /// Paid.
    Paid,
    /// Cancelled.
    Cancelled,
}

/// Paging through orders, newest first.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListOrders {
    /// Page size, 1–100 (default 20).
    #[serde(default, deserialize_with = "super::integer::query")]
    #[param(nullable = false, minimum = 1, maximum = 100)]
    pub(crate) limit: Option<i64>,
    /// Only orders numbered below this (the previous page's `next_before`).
    #[serde(default, deserialize_with = "super::integer::query")]
    #[param(nullable = false)]
    pub(crate) before: Option<i64>,
}

/// A page of orders.
#[derive(Serialize, ToSchema)]
pub(crate) struct OrderPage {
    /// The orders, newest first.
    pub(crate) orders: Vec<Order>,
    /// Pass as `before` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_before: Option<i64>,
}

pub(crate) fn check_customer(customer: &str) -> Result<(), ApiError> {
    super::text::display_text("customer", customer, 200)
}

fn check_total(total: i64) -> Result<(), ApiError> {
    if !(0..=MAX_TOTAL_CENTS).contains(&total) {
        return Err(ApiError::field(
            "total_cents",
            format!("must be between 0 and {MAX_TOTAL_CENTS}"),
        ));
    }
    Ok(())
}

/// List the tenant's orders, newest first.
#[utoipa::path(get, path = "/api/orders", tag = "orders", params(ListOrders),
    responses((status = 200, description = "a page of orders", body = OrderPage), (status = 400, description = "bad paging parameters")))]
pub(crate) async fn list(
    State(db): State<Database>,
    Params(q): Params<ListOrders>,
) -> Result<Json<OrderPage>, ApiError> {
    let limit = super::page::limit(q.limit, 20)?;
    let orders = orders::list(&db, limit, q.before).await?;
    let next_before = super::page::next(&orders, limit, |o| o.number);
    Ok(Json(OrderPage {
        orders,
        next_before,
    }))
}

/// Create an order.
#[utoipa::path(post, path = "/api/orders", tag = "orders", request_body = NewOrder,
    responses((status = 201, description = "the order, created", body = Order), (status = 400, description = "invalid body")))]
pub(crate) async fn create(
    State(db): State<Database>,
    Body(new): Body<NewOrder>,
) -> Result<(StatusCode, Json<Order>), ApiError> {
    check_customer(&new.customer)?;
    check_total(new.total_cents)?;
    let order = orders::create(&db, new.customer.trim().to_owned(), new.total_cents).await?;
    Ok((StatusCode::CREATED, Json(order)))
}

/// Get one order.
#[utoipa::path(get, path = "/api/orders/{id}", tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "Order id")),
    responses((status = 200, description = "the order", body = Order), (status = 404, description = "no such order for this tenant")))]
pub(crate) async fn get(State(db): State<Database>, Id(id): Id) -> Result<Json<Order>, ApiError> {
    orders::get(&db, id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// Change an order.
#[utoipa::path(patch, path = "/api/orders/{id}", tag = "orders", request_body = OrderPatch,
    params(("id" = uuid::Uuid, Path, description = "Order id")),
    responses((status = 200, description = "the order", body = Order), (status = 400, description = "invalid body"), (status = 404, description = "no such order for this tenant")))]
pub(crate) async fn update(
    State(db): State<Database>,
    Id(id): Id,
    Body(patch): Body<OrderPatch>,
) -> Result<Json<Order>, ApiError> {
    if let Some(customer) = &patch.customer {
        check_customer(customer)?;
    }
    if let Some(total) = patch.total_cents {
        check_total(total)?;
    }
    if let Some(status) = &patch.status
        && !["open", "paid", "cancelled"].contains(&status.as_str())
    {
        return Err(ApiError::field("status", "must be open, paid or cancelled"));
    }
    let changes = OrderChanges {
        customer: patch.customer.map(|c| c.trim().to_owned()),
        total_cents: patch.total_cents,
        status: patch.status,
    };
    orders::update(&db, id, changes)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// Delete an order (refused with 409 once it is invoiced).
#[utoipa::path(delete, path = "/api/orders/{id}", tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "Order id")),
    responses((status = 204, description = "done; no content"), (status = 404, description = "no such order for this tenant"), (status = 409, description = "the order is invoiced")))]
pub(crate) async fn delete(State(db): State<Database>, Id(id): Id) -> Result<StatusCode, ApiError> {
    match orders::delete(&db, id).await {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => Err(ApiError::NotFound),
        Err(e) if e.is_constraint() => Err(ApiError::Conflict("the order is invoiced".into())),
        Err(e) => Err(e.into()),
    }
}
