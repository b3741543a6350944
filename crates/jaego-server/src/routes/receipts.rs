//! Expected receipts with due dates (overdue ones shown as D+N) and
//! availability estimates for SKUs that are out of stock.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jaego_core::estimate::{Estimate, MerchantEstimate};
use jaego_core::product_status::parse_date;
use jaego_core::role::Permission;
use jaego_core::{ExpectedReceiptId, Qty};
use jaego_store::now_us;
use jaego_store::stock_rules::receipts::{
    Availability, ExpectedReceipt, NewExpectedReceipt, ReceiptFilter,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, Auth, optional_json, path_id};
use crate::routes::stock::check_texts;
use crate::wire::{PageBody, page, time};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_receipts, create_receipt))
        .routes(routes!(get_receipt))
        .routes(routes!(receive_receipt))
        .routes(routes!(cancel_receipt))
        .routes(routes!(get_availability))
        .routes(routes!(set_estimate, clear_estimate))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExpectedReceiptBody {
    pub id: String,
    pub sku_id: String,
    pub sku_code: String,
    pub location_id: String,
    pub location_code: String,
    pub quantity: i64,
    pub received: i64,
    /// Units still expected (0 once received or cancelled).
    pub open_quantity: i64,
    /// `YYYY-MM-DD` in the location's time zone.
    pub due_on: String,
    /// The due date as merchants read it: `2026-11-20`, or
    /// `2026-11-20 (D+2)` for an open receipt two days late.
    pub due_label: String,
    /// Days past due for an open receipt, else `null`.
    pub overdue_days: Option<i64>,
    pub reference: String,
    /// `open`, `received` or `cancelled`.
    pub state: String,
    pub created_at: String,
    pub closed_at: Option<String>,
}

impl From<ExpectedReceipt> for ExpectedReceiptBody {
    fn from(r: ExpectedReceipt) -> Self {
        let due_label = match r.overdue_days {
            Some(n) => format!("{} (D+{n})", r.due_on),
            None => r.due_on.to_string(),
        };
        ExpectedReceiptBody {
            id: r.id.to_string(),
            open_quantity: r.open_quantity(),
            sku_id: r.sku_id.to_string(),
            sku_code: r.sku_code,
            location_id: r.location_id.to_string(),
            location_code: r.location_code,
            quantity: r.quantity,
            received: r.received,
            due_on: r.due_on.to_string(),
            due_label,
            overdue_days: r.overdue_days,
            reference: r.reference,
            state: r.state,
            created_at: time(r.created_at),
            closed_at: r.closed_at.map(time),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateExpectedReceipt {
    /// SKU id or code.
    pub sku: String,
    /// Location id or code where it will arrive.
    pub location: String,
    pub quantity: i64,
    /// `YYYY-MM-DD`, in the location's time zone.
    pub due_on: String,
    /// A purchase order or supplier reference.
    #[serde(default)]
    pub reference: String,
}

#[utoipa::path(post, path = "/expected-receipts", tag = "receipts", security(("bearer" = ["stock:write"])), request_body = CreateExpectedReceipt,
    responses((status = 201, body = ExpectedReceiptBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_receipt(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateExpectedReceipt>,
) -> ApiResult<(StatusCode, Json<ExpectedReceiptBody>)> {
    let p = auth.require(Permission::WriteStock, "announce receipts")?;
    Qty::parse("quantity", body.quantity)?;
    let due_on = parse_date("due_on", &body.due_on)?;
    check_texts("", &body.reference)?;
    let tenant = p.tenant_id;
    let new = NewExpectedReceipt {
        sku_id: state.store.sku_id(tenant, &body.sku).await?,
        location_id: state.store.find_location(tenant, &body.location).await?.id,
        quantity: body.quantity,
        due_on,
        reference: body.reference,
        actor: p.actor(),
    };
    Ok((
        StatusCode::CREATED,
        Json(
            state
                .store
                .create_expected_receipt(tenant, &new)
                .await?
                .into(),
        ),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReceiptQuery {
    /// SKU id or code.
    pub sku: Option<String>,
    /// Location id or code.
    pub location: Option<String>,
    /// `open`, `received` or `cancelled`.
    pub state: Option<String>,
    /// `true`: only open receipts past their due date.
    #[serde(default)]
    pub overdue: bool,
    pub after: Option<String>,
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/expected-receipts", tag = "receipts", security(("bearer" = ["read"])), params(ReceiptQuery),
    responses((status = 200, body = PageBody<ExpectedReceiptBody>)))]
pub async fn list_receipts(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ReceiptQuery>,
) -> ApiResult<Json<PageBody<ExpectedReceiptBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let tenant = p.tenant_id;
    let filter = ReceiptFilter {
        sku_id: match q.sku.as_deref() {
            Some(s) => Some(state.store.sku_id(tenant, s).await?),
            None => None,
        },
        location_id: match q.location.as_deref() {
            Some(l) => Some(state.store.find_location(tenant, l).await?.id),
            None => None,
        },
        state: q.state,
        overdue: q.overdue,
    };
    let got = state
        .store
        .list_expected_receipts(tenant, &filter, &page(q.after, q.limit)?, now_us())
        .await?;
    Ok(Json(PageBody::from_page(got, ExpectedReceiptBody::from)))
}

#[utoipa::path(get, path = "/expected-receipts/{id}", tag = "receipts", security(("bearer" = ["read"])),
    responses((status = 200, body = ExpectedReceiptBody), (status = 404, body = Problem)))]
pub async fn get_receipt(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<ExpectedReceiptBody>> {
    let p = auth.require(Permission::Read, "read")?;
    let id: ExpectedReceiptId = path_id(&id, "expected receipt")?;
    Ok(Json(
        state
            .store
            .get_expected_receipt(p.tenant_id, id, now_us())
            .await?
            .into(),
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveExpected {
    /// Units that arrived; default: everything still expected.
    pub quantity: Option<i64>,
}

#[utoipa::path(post, path = "/expected-receipts/{id}/receive", tag = "receipts", security(("bearer" = ["stock:write"])),
    request_body(content = ReceiveExpected, description = "Optional"),
    responses((status = 200, body = ExpectedReceiptBody), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn receive_receipt(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<ExpectedReceiptBody>> {
    let p = auth.require(Permission::WriteStock, "receive stock")?;
    let body: ReceiveExpected = optional_json(&body)?;
    let id: ExpectedReceiptId = path_id(&id, "expected receipt")?;
    Ok(Json(
        state
            .store
            .receive_expected_receipt(p.tenant_id, id, body.quantity, &p.actor())
            .await?
            .into(),
    ))
}

#[utoipa::path(post, path = "/expected-receipts/{id}/cancel", tag = "receipts", security(("bearer" = ["stock:write"])),
    responses((status = 200, body = ExpectedReceiptBody), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn cancel_receipt(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<ExpectedReceiptBody>> {
    let p = auth.require(Permission::WriteStock, "cancel expected receipts")?;
    let id: ExpectedReceiptId = path_id(&id, "expected receipt")?;
    Ok(Json(
        state
            .store
            .cancel_expected_receipt(p.tenant_id, id, &p.actor())
            .await?
            .into(),
    ))
}

/// When an out-of-stock SKU is expected back.
#[derive(Debug, Serialize, ToSchema)]
pub struct EstimateBody {
    /// `merchant` (the merchant's words and date) or `expected_receipt`
    /// (the earliest open expected receipt's due date).
    pub source: String,
    /// The merchant's words; empty for a derived estimate.
    pub text: String,
    /// `YYYY-MM-DD`.
    pub date: Option<String>,
    /// For a derived estimate whose receipt is late: days past due.
    pub overdue_days: Option<i64>,
    /// `2026-11-20` or `2026-11-20 (D+2)`.
    pub label: Option<String>,
}

impl From<Estimate> for EstimateBody {
    fn from(e: Estimate) -> Self {
        let label = e.date.map(|d| match e.overdue_days {
            Some(n) => format!("{d} (D+{n})"),
            None => d.to_string(),
        });
        EstimateBody {
            source: e.source.as_str().to_string(),
            text: e.text,
            date: e.date.map(|d| d.to_string()),
            overdue_days: e.overdue_days,
            label,
        }
    }
}

/// The merchant's own estimate, as set.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MerchantEstimateBody {
    /// Words for customers, up to 200 characters, e.g. "Back in early December".
    #[serde(default)]
    pub text: String,
    /// `YYYY-MM-DD`.
    pub date: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AvailabilityBody {
    pub sku_id: String,
    pub sku_code: String,
    /// Over every location.
    pub on_hand: i64,
    pub available: i64,
    pub incoming: i64,
    pub in_stock: bool,
    /// What to tell customers; `null` while in stock or when nothing is known.
    pub estimate: Option<EstimateBody>,
    /// The merchant's estimate as set (used only when out of stock).
    pub merchant_estimate: Option<MerchantEstimateBody>,
    /// The earliest open expected receipt.
    pub next_receipt: Option<ExpectedReceiptBody>,
}

impl From<Availability> for AvailabilityBody {
    fn from(a: Availability) -> Self {
        AvailabilityBody {
            sku_id: a.sku_id.to_string(),
            sku_code: a.sku_code,
            on_hand: a.on_hand,
            available: a.available,
            incoming: a.incoming,
            in_stock: a.available > 0,
            estimate: a.estimate.map(EstimateBody::from),
            merchant_estimate: a.merchant.map(|m| MerchantEstimateBody {
                text: m.text,
                date: m.date.map(|d| d.to_string()),
            }),
            next_receipt: a.next_receipt.map(ExpectedReceiptBody::from),
        }
    }
}

#[utoipa::path(get, path = "/skus/{sku}/availability", tag = "receipts", security(("bearer" = ["read"])),
    params(("sku" = String, Path, description = "SKU id or code")),
    responses((status = 200, body = AvailabilityBody), (status = 404, body = Problem)))]
pub async fn get_availability(
    State(state): State<AppState>,
    auth: Auth,
    Path(sku): Path<String>,
) -> ApiResult<Json<AvailabilityBody>> {
    let p = auth.require(Permission::Read, "read")?;
    let sku = state.store.sku_id(p.tenant_id, &sku).await?;
    Ok(Json(
        state
            .store
            .availability(p.tenant_id, sku, now_us())
            .await?
            .into(),
    ))
}

#[utoipa::path(put, path = "/skus/{sku}/availability-estimate", tag = "receipts", security(("bearer" = ["catalog:write"])),
    params(("sku" = String, Path, description = "SKU id or code")), request_body = MerchantEstimateBody,
    responses((status = 200, body = AvailabilityBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set_estimate(
    State(state): State<AppState>,
    auth: Auth,
    Path(sku): Path<String>,
    ApiJson(body): ApiJson<MerchantEstimateBody>,
) -> ApiResult<Json<AvailabilityBody>> {
    let p = auth.require(Permission::WriteCatalog, "set availability estimates")?;
    let estimate = MerchantEstimate {
        text: body.text,
        date: body
            .date
            .as_deref()
            .map(|d| parse_date("date", d))
            .transpose()?,
    };
    estimate.validate()?;
    let sku = state.store.sku_id(p.tenant_id, &sku).await?;
    state
        .store
        .set_availability_estimate(p.tenant_id, sku, Some(&estimate))
        .await?;
    Ok(Json(
        state
            .store
            .availability(p.tenant_id, sku, now_us())
            .await?
            .into(),
    ))
}

#[utoipa::path(delete, path = "/skus/{sku}/availability-estimate", tag = "receipts", security(("bearer" = ["catalog:write"])),
    params(("sku" = String, Path, description = "SKU id or code")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn clear_estimate(
    State(state): State<AppState>,
    auth: Auth,
    Path(sku): Path<String>,
) -> ApiResult<StatusCode> {
    let p = auth.require(Permission::WriteCatalog, "set availability estimates")?;
    let sku = state.store.sku_id(p.tenant_id, &sku).await?;
    state
        .store
        .set_availability_estimate(p.tenant_id, sku, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
