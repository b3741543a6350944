//! The ledger over HTTP: movements, balances and transfers.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jaego_core::error::Validator;
use jaego_core::limits::{QUANTITY_MAX, REASON_LEN_MAX, REFERENCE_LEN_MAX};
use jaego_core::role::Permission;
use jaego_core::{MovementKind, Qty};
use jaego_store::ledger::{
    BalanceFilter, BalanceRow, Movement, MovementFilter, NewMovement, NewTransfer, Transfer,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, Problem, name_shortages};
use crate::extract::{ApiJson, ApiQuery, Auth, field_id, parse_enum, path_id};
use crate::wire::{PageBody, page, parse_time, time};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_movements, create_movement))
        .routes(routes!(get_movement))
        .routes(routes!(list_balances))
        .routes(routes!(create_transfer))
        .routes(routes!(get_transfer))
        .routes(routes!(receive_transfer))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMovement {
    /// SKU id or code.
    pub sku: String,
    /// Location id or code.
    pub location: String,
    /// `receipt`, `expected_receipt`, `expect`, `adjustment`, `count`,
    /// `safety_stock`, `shipment`, `return`, `sale`, or `custom` (with `type`).
    pub kind: String,
    /// For `custom`: the merchant's movement type code.
    #[serde(rename = "type")]
    pub movement_type: Option<String>,
    /// Units (1 to 1,000,000,000). Signed and non-zero for `adjustment`; the
    /// counted figure (0 or more) for `count` and `safety_stock`.
    pub quantity: i64,
    #[serde(default)]
    pub reason: String,
    /// An order number, document number or other reference.
    #[serde(default)]
    pub reference: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MovementBody {
    pub id: String,
    pub sku_id: String,
    pub location_id: String,
    pub kind: String,
    #[serde(rename = "type")]
    pub movement_type: Option<String>,
    /// As posted; for `count` and `safety_stock` the difference recorded.
    pub quantity: i64,
    pub delta: DeltaBody,
    pub reason: String,
    pub reference: String,
    pub actor: String,
    pub idempotency_key: Option<String>,
    pub reservation_id: Option<String>,
    pub transfer_id: Option<String>,
    /// The bundle it was made for (a component of a bundle line).
    pub bundle_sku_id: Option<String>,
    pub created_at: String,
}

/// What a movement changed, per figure.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeltaBody {
    pub on_hand: i64,
    pub reserved: i64,
    pub allocated: i64,
    pub incoming: i64,
    pub in_transit: i64,
    pub safety_stock: i64,
}

impl From<Movement> for MovementBody {
    fn from(m: Movement) -> Self {
        MovementBody {
            id: m.id.to_string(),
            sku_id: m.sku_id.to_string(),
            location_id: m.location_id.to_string(),
            kind: m.kind.as_str().to_string(),
            movement_type: m.custom_type,
            quantity: m.quantity,
            delta: DeltaBody {
                on_hand: m.delta.on_hand,
                reserved: m.delta.reserved,
                allocated: m.delta.allocated,
                incoming: m.delta.incoming,
                in_transit: m.delta.in_transit,
                safety_stock: m.delta.safety_stock,
            },
            reason: m.reason,
            reference: m.reference,
            actor: m.actor,
            idempotency_key: m.idempotency_key,
            reservation_id: m.reservation_id.map(|r| r.to_string()),
            transfer_id: m.transfer_id.map(|t| t.to_string()),
            bundle_sku_id: m.bundle_sku_id.map(|b| b.to_string()),
            created_at: time(m.created_at),
        }
    }
}

/// Checks a posted quantity by kind.
fn check_quantity(kind: MovementKind, quantity: i64) -> ApiResult<()> {
    match kind {
        MovementKind::Adjustment => {
            if quantity == 0 || quantity.abs() > QUANTITY_MAX {
                return Err(ApiError::invalid(
                    "quantity",
                    format!("must be non-zero and between -{QUANTITY_MAX} and {QUANTITY_MAX}"),
                ));
            }
        }
        MovementKind::Count | MovementKind::SafetyStock => {
            if !(0..=QUANTITY_MAX).contains(&quantity) {
                return Err(ApiError::invalid(
                    "quantity",
                    format!("must be between 0 and {QUANTITY_MAX}"),
                ));
            }
        }
        _ => {
            Qty::parse("quantity", quantity)?;
        }
    }
    Ok(())
}

/// Resolves optional SKU and location filters (ids or codes) to ids; an
/// unknown one is a 404, not an empty list.
async fn resolve_places(
    state: &AppState,
    tenant: jaego_core::TenantId,
    sku: Option<&str>,
    location: Option<&str>,
) -> ApiResult<(Option<jaego_core::SkuId>, Option<jaego_core::LocationId>)> {
    let sku_id = match sku {
        Some(s) => Some(state.store.sku_id(tenant, s).await?),
        None => None,
    };
    let location_id = match location {
        Some(l) => Some(state.store.find_location(tenant, l).await?.id),
        None => None,
    };
    Ok((sku_id, location_id))
}

pub(crate) fn check_texts(reason: &str, reference: &str) -> ApiResult<()> {
    let mut v = Validator::new();
    v.optional_text("reason", reason, REASON_LEN_MAX);
    v.optional_text("reference", reference, REFERENCE_LEN_MAX);
    Ok(v.finish()?)
}

#[utoipa::path(post, path = "/movements", tag = "ledger", security(("bearer" = ["stock:write"])), request_body = CreateMovement,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = MovementBody), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_movement(
    State(state): State<AppState>,
    auth: Auth,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<CreateMovement>,
) -> ApiResult<(StatusCode, Json<MovementBody>)> {
    let p = auth.require(Permission::WriteStock, "record movements")?;
    let (kind, custom_type) = if body.kind == "custom" {
        let code = body.movement_type.clone().ok_or_else(|| {
            ApiError::invalid("type", "custom movements name their movement type")
        })?;
        let ty = state.store.find_movement_type(p.tenant_id, &code).await?;
        (ty.direction.kind(), Some(code))
    } else {
        let kind: MovementKind = parse_enum("kind", &body.kind)?;
        if !kind.is_direct() || matches!(kind, MovementKind::CustomIn | MovementKind::CustomOut) {
            return Err(ApiError::invalid(
                "kind",
                format!("{} movements cannot be posted directly", kind.as_str()),
            ));
        }
        if body.movement_type.is_some() {
            return Err(ApiError::invalid(
                "type",
                "only custom movements have a type",
            ));
        }
        (kind, None)
    };
    check_quantity(kind, body.quantity)?;
    check_texts(&body.reason, &body.reference)?;
    let sku_id = state.store.sku_id(p.tenant_id, &body.sku).await?;
    let location = state
        .store
        .find_location(p.tenant_id, &body.location)
        .await?;
    let new = NewMovement {
        sku_id,
        location_id: location.id,
        kind,
        custom_type,
        quantity: body.quantity,
        reason: body.reason,
        reference: body.reference,
        actor: p.actor(),
        idempotency_key: headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    let movement = name_shortages(
        &state.store,
        p.tenant_id,
        state.store.record_movement(p.tenant_id, &new).await,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(movement.into())))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MovementQuery {
    /// SKU id or code.
    pub sku: Option<String>,
    /// Location id or code.
    pub location: Option<String>,
    pub kind: Option<String>,
    pub reservation: Option<String>,
    /// RFC 3339; inclusive.
    pub from: Option<String>,
    /// RFC 3339; exclusive.
    pub to: Option<String>,
    pub after: Option<String>,
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/movements", tag = "ledger", security(("bearer" = ["read"])), params(MovementQuery), responses((status = 200, body = PageBody<MovementBody>)))]
pub async fn list_movements(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<MovementQuery>,
) -> ApiResult<Json<PageBody<MovementBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let tenant = p.tenant_id;
    let (sku_id, location_id) =
        resolve_places(&state, tenant, q.sku.as_deref(), q.location.as_deref()).await?;
    let filter = MovementFilter {
        sku_id,
        location_id,
        kind: q
            .kind
            .as_deref()
            .map(|k| parse_enum("kind", k))
            .transpose()?,
        reservation_id: field_id(q.reservation.as_deref(), "reservation", "a reservation id")?,
        from: q
            .from
            .as_deref()
            .map(|t| parse_time("from", t))
            .transpose()?,
        to: q.to.as_deref().map(|t| parse_time("to", t)).transpose()?,
    };
    let got = state
        .store
        .list_movements(tenant, &filter, &page(q.after, q.limit)?)
        .await?;
    Ok(Json(PageBody::from_page(got, MovementBody::from)))
}

#[utoipa::path(get, path = "/movements/{id}", tag = "ledger", security(("bearer" = ["read"])), responses((status = 200, body = MovementBody), (status = 404, body = Problem)))]
pub async fn get_movement(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<MovementBody>> {
    let p = auth.require(Permission::Read, "read")?;
    Ok(Json(
        state
            .store
            .get_movement(p.tenant_id, path_id(&id, "movement")?)
            .await?
            .into(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceBody {
    pub sku_id: String,
    pub sku_code: String,
    pub location_id: String,
    pub location_code: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub allocated: i64,
    pub incoming: i64,
    pub in_transit: i64,
    pub safety_stock: i64,
    /// `on_hand − reserved − allocated − safety_stock`; negative only for backorders.
    pub available: i64,
    pub updated_at: String,
}

impl From<BalanceRow> for BalanceBody {
    fn from(b: BalanceRow) -> Self {
        BalanceBody {
            sku_id: b.sku_id.to_string(),
            sku_code: b.sku_code,
            location_id: b.location_id.to_string(),
            location_code: b.location_code,
            on_hand: b.balance.on_hand,
            reserved: b.balance.reserved,
            allocated: b.balance.allocated,
            incoming: b.balance.incoming,
            in_transit: b.balance.in_transit,
            safety_stock: b.balance.safety_stock,
            available: b.balance.available(),
            updated_at: time(b.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BalanceQuery {
    /// SKU id or code.
    pub sku: Option<String>,
    /// Location id or code.
    pub location: Option<String>,
    pub after: Option<String>,
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/balances", tag = "ledger", security(("bearer" = ["read"])), params(BalanceQuery), responses((status = 200, body = PageBody<BalanceBody>)))]
pub async fn list_balances(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<BalanceQuery>,
) -> ApiResult<Json<PageBody<BalanceBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let tenant = p.tenant_id;
    let (sku_id, location_id) =
        resolve_places(&state, tenant, q.sku.as_deref(), q.location.as_deref()).await?;
    let filter = BalanceFilter {
        sku_id,
        location_id,
    };
    let got = state
        .store
        .list_balances(tenant, &filter, &page(q.after, q.limit)?)
        .await?;
    Ok(Json(PageBody::from_page(got, BalanceBody::from)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTransfer {
    /// SKU id or code.
    pub sku: String,
    /// Location id or code the goods leave.
    pub from_location: String,
    /// Location id or code the goods go to.
    pub to_location: String,
    pub quantity: i64,
    #[serde(default)]
    pub reference: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransferBody {
    pub id: String,
    pub sku_id: String,
    pub from_location_id: String,
    pub to_location_id: String,
    pub quantity: i64,
    /// `in_transit` or `received`.
    pub state: String,
    pub reference: String,
    pub created_at: String,
    pub received_at: Option<String>,
}

impl From<Transfer> for TransferBody {
    fn from(t: Transfer) -> Self {
        TransferBody {
            id: t.id.to_string(),
            sku_id: t.sku_id.to_string(),
            from_location_id: t.from_location_id.to_string(),
            to_location_id: t.to_location_id.to_string(),
            quantity: t.quantity,
            state: t.state,
            reference: t.reference,
            created_at: time(t.created_at),
            received_at: t.received_at.map(time),
        }
    }
}

#[utoipa::path(post, path = "/transfers", tag = "ledger", security(("bearer" = ["stock:write"])), request_body = CreateTransfer,
    responses((status = 201, body = TransferBody), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_transfer(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateTransfer>,
) -> ApiResult<(StatusCode, Json<TransferBody>)> {
    let p = auth.require(Permission::WriteStock, "transfer stock")?;
    Qty::parse("quantity", body.quantity)?;
    check_texts("", &body.reference)?;
    let tenant = p.tenant_id;
    let new = NewTransfer {
        sku_id: state.store.sku_id(tenant, &body.sku).await?,
        from_location_id: state
            .store
            .find_location(tenant, &body.from_location)
            .await?
            .id,
        to_location_id: state
            .store
            .find_location(tenant, &body.to_location)
            .await?
            .id,
        quantity: body.quantity,
        reference: body.reference,
        actor: p.actor(),
    };
    Ok((
        StatusCode::CREATED,
        Json(
            name_shortages(
                &state.store,
                tenant,
                state.store.create_transfer(tenant, &new).await,
            )
            .await?
            .into(),
        ),
    ))
}

#[utoipa::path(get, path = "/transfers/{id}", tag = "ledger", security(("bearer" = ["read"])), responses((status = 200, body = TransferBody), (status = 404, body = Problem)))]
pub async fn get_transfer(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<TransferBody>> {
    let p = auth.require(Permission::Read, "read")?;
    Ok(Json(
        state
            .store
            .get_transfer(p.tenant_id, path_id(&id, "transfer")?)
            .await?
            .into(),
    ))
}

#[utoipa::path(post, path = "/transfers/{id}/receive", tag = "ledger", security(("bearer" = ["stock:write"])),
    responses((status = 200, body = TransferBody), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn receive_transfer(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<TransferBody>> {
    let p = auth.require(Permission::WriteStock, "receive transfers")?;
    Ok(Json(
        state
            .store
            .receive_transfer(p.tenant_id, path_id(&id, "transfer")?, &p.actor())
            .await?
            .into(),
    ))
}
