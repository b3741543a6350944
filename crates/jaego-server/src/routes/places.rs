//! Locations, channels and their links, and merchant-defined movement types.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jaego_core::catalog::LocationKind;
use jaego_core::role::Permission;
use jaego_core::{LocationId, StockPolicy, TenantId};
use jaego_store::places::{
    Channel, Location, LocationFilter, MovementType, NewChannel, NewLocation,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, Auth, parse_enum, unknown};
use crate::routes::catalog::ListQuery;
use crate::wire::{PageBody, page, time};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_locations, create_location))
        .routes(routes!(get_location, update_location))
        .routes(routes!(list_channels, create_channel))
        .routes(routes!(get_channel))
        .routes(routes!(set_channel_locations))
        .routes(routes!(list_movement_types, create_movement_type))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLocation {
    pub code: String,
    pub name: String,
    /// `warehouse` or `store`.
    pub kind: String,
    /// IANA time zone, e.g. `Asia/Seoul`.
    pub time_zone: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// `strict` (default) or `unlimited`.
    pub policy: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateLocation {
    /// `strict` or `unlimited`.
    pub policy: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LocationBody {
    pub id: String,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub time_zone: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub policy: String,
    pub created_at: String,
}

impl From<Location> for LocationBody {
    fn from(l: Location) -> Self {
        LocationBody {
            id: l.id.to_string(),
            code: l.code,
            name: l.name,
            kind: l.kind.as_str().to_string(),
            time_zone: l.time_zone,
            latitude: l.latitude,
            longitude: l.longitude,
            policy: l.policy.to_string(),
            created_at: time(l.created_at),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LocationQuery {
    /// `warehouse` or `store`.
    pub kind: Option<String>,
    pub after: Option<String>,
    pub limit: Option<usize>,
}

#[utoipa::path(post, path = "/locations", tag = "places", security(("bearer" = ["catalog:write"])), request_body = CreateLocation,
    responses((status = 201, body = LocationBody), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_location(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateLocation>,
) -> ApiResult<(StatusCode, Json<LocationBody>)> {
    let p = auth.require(Permission::WriteCatalog, "change locations")?;
    let kind = LocationKind::parse(&body.kind)
        .ok_or_else(|| ApiError::invalid("kind", "must be warehouse or store"))?;
    let policy = body
        .policy
        .as_deref()
        .map_or(Ok(StockPolicy::Strict), |raw| {
            parse_enum::<StockPolicy>("policy", raw)
        })?;
    let new = NewLocation {
        code: body.code,
        name: body.name,
        kind,
        time_zone: body.time_zone,
        latitude: body.latitude,
        longitude: body.longitude,
        policy,
    };
    let location = state.store.create_location(p.tenant_id, &new).await?;
    Ok((StatusCode::CREATED, Json(location.into())))
}

#[utoipa::path(get, path = "/locations", tag = "places", security(("bearer" = ["read"])), params(LocationQuery), responses((status = 200, body = PageBody<LocationBody>)))]
pub async fn list_locations(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<LocationQuery>,
) -> ApiResult<Json<PageBody<LocationBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let kind = match q.kind.as_deref() {
        Some(raw) => Some(
            LocationKind::parse(raw)
                .ok_or_else(|| ApiError::invalid("kind", "must be warehouse or store"))?,
        ),
        None => None,
    };
    let got = state
        .store
        .list_locations(
            p.tenant_id,
            &LocationFilter { kind },
            &page(q.after, q.limit)?,
        )
        .await?;
    Ok(Json(PageBody::from_page(got, LocationBody::from)))
}

#[utoipa::path(get, path = "/locations/{location}", tag = "places", security(("bearer" = ["read"])), params(("location" = String, Path, description = "Location id or code")),
    responses((status = 200, body = LocationBody), (status = 404, body = Problem)))]
pub async fn get_location(
    State(state): State<AppState>,
    auth: Auth,
    Path(location): Path<String>,
) -> ApiResult<Json<LocationBody>> {
    let p = auth.require(Permission::Read, "read")?;
    Ok(Json(
        state
            .store
            .find_location(p.tenant_id, &location)
            .await?
            .into(),
    ))
}

#[utoipa::path(patch, path = "/locations/{location}", tag = "places", security(("bearer" = ["catalog:write"])), params(("location" = String, Path, description = "Location id or code")),
    request_body = UpdateLocation, responses((status = 200, body = LocationBody), (status = 404, body = Problem)))]
pub async fn update_location(
    State(state): State<AppState>,
    auth: Auth,
    Path(location): Path<String>,
    ApiJson(body): ApiJson<UpdateLocation>,
) -> ApiResult<Json<LocationBody>> {
    let p = auth.require(Permission::WriteCatalog, "change locations")?;
    let policy = parse_enum::<StockPolicy>("policy", &body.policy)?;
    let current = state.store.find_location(p.tenant_id, &location).await?;
    Ok(Json(
        state
            .store
            .set_location_policy(p.tenant_id, current.id, policy)
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChannel {
    pub code: String,
    pub name: String,
    /// What kind of channel: `web`, `marketplace`, `pos`, `table_order`, … (free code).
    pub kind: String,
    /// Overrides the linked locations' policy: `strict` or `unlimited`.
    pub policy: Option<String>,
    /// Linked locations (ids or codes), highest priority first.
    #[serde(default)]
    pub locations: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetChannelLocations {
    /// Location ids or codes, highest priority first. Replaces the links.
    pub locations: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelBody {
    pub id: String,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub policy: Option<String>,
    /// Linked location ids, highest priority first.
    pub locations: Vec<String>,
    pub created_at: String,
}

impl From<Channel> for ChannelBody {
    fn from(c: Channel) -> Self {
        ChannelBody {
            id: c.id.to_string(),
            code: c.code,
            name: c.name,
            kind: c.kind,
            policy: c.policy.map(|p| p.to_string()),
            locations: c.locations.iter().map(ToString::to_string).collect(),
            created_at: time(c.created_at),
        }
    }
}

async fn resolve_locations(
    state: &AppState,
    tenant: TenantId,
    refs: &[String],
) -> ApiResult<Vec<LocationId>> {
    let mut out = Vec::with_capacity(refs.len());
    for (i, r) in refs.iter().enumerate() {
        let location = state.store.find_location(tenant, r).await.map_err(unknown(
            format!("locations[{i}]"),
            "location",
            r,
        ))?;
        out.push(location.id);
    }
    Ok(out)
}

#[utoipa::path(post, path = "/channels", tag = "places", security(("bearer" = ["catalog:write"])), request_body = CreateChannel,
    responses((status = 201, body = ChannelBody), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_channel(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateChannel>,
) -> ApiResult<(StatusCode, Json<ChannelBody>)> {
    let p = auth.require(Permission::WriteCatalog, "change channels")?;
    let policy = body
        .policy
        .as_deref()
        .map(|raw| parse_enum::<StockPolicy>("policy", raw))
        .transpose()?;
    let locations = resolve_locations(&state, p.tenant_id, &body.locations).await?;
    let new = NewChannel {
        code: body.code,
        name: body.name,
        kind: body.kind,
        policy,
        locations,
    };
    Ok((
        StatusCode::CREATED,
        Json(state.store.create_channel(p.tenant_id, &new).await?.into()),
    ))
}

#[utoipa::path(get, path = "/channels", tag = "places", security(("bearer" = ["read"])), params(ListQuery), responses((status = 200, body = PageBody<ChannelBody>)))]
pub async fn list_channels(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<PageBody<ChannelBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    let got = state
        .store
        .list_channels(p.tenant_id, &page(q.after, q.limit)?)
        .await?;
    Ok(Json(PageBody::from_page(got, ChannelBody::from)))
}

#[utoipa::path(get, path = "/channels/{channel}", tag = "places", security(("bearer" = ["read"])), params(("channel" = String, Path, description = "Channel id or code")),
    responses((status = 200, body = ChannelBody), (status = 404, body = Problem)))]
pub async fn get_channel(
    State(state): State<AppState>,
    auth: Auth,
    Path(channel): Path<String>,
) -> ApiResult<Json<ChannelBody>> {
    let p = auth.require(Permission::Read, "read")?;
    Ok(Json(
        state
            .store
            .find_channel(p.tenant_id, &channel)
            .await?
            .into(),
    ))
}

#[utoipa::path(put, path = "/channels/{channel}/locations", tag = "places", security(("bearer" = ["catalog:write"])), params(("channel" = String, Path, description = "Channel id or code")),
    request_body = SetChannelLocations, responses((status = 200, body = ChannelBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set_channel_locations(
    State(state): State<AppState>,
    auth: Auth,
    Path(channel): Path<String>,
    ApiJson(body): ApiJson<SetChannelLocations>,
) -> ApiResult<Json<ChannelBody>> {
    let p = auth.require(Permission::WriteCatalog, "change channels")?;
    let channel = state.store.find_channel(p.tenant_id, &channel).await?;
    let locations = resolve_locations(&state, p.tenant_id, &body.locations).await?;
    Ok(Json(
        state
            .store
            .set_channel_locations(p.tenant_id, channel.id, &locations)
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMovementType {
    /// The code movements name in `type`, e.g. `sample_out`.
    pub code: String,
    pub name: String,
    /// `in` (adds to on hand) or `out` (takes from on hand).
    pub direction: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MovementTypeBody {
    pub code: String,
    pub name: String,
    pub direction: String,
    pub created_at: String,
}

impl From<MovementType> for MovementTypeBody {
    fn from(t: MovementType) -> Self {
        MovementTypeBody {
            code: t.code,
            name: t.name,
            direction: t.direction.as_str().to_string(),
            created_at: time(t.created_at),
        }
    }
}

#[utoipa::path(post, path = "/movement-types", tag = "ledger", security(("bearer" = ["catalog:write"])), request_body = CreateMovementType,
    responses((status = 201, body = MovementTypeBody), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_movement_type(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateMovementType>,
) -> ApiResult<(StatusCode, Json<MovementTypeBody>)> {
    let p = auth.require(Permission::WriteCatalog, "define movement types")?;
    let direction = parse_enum("direction", &body.direction)?;
    let created = state
        .store
        .create_movement_type(p.tenant_id, &body.code, &body.name, direction)
        .await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

#[utoipa::path(get, path = "/movement-types", tag = "ledger", security(("bearer" = ["read"])), responses((status = 200, body = Vec<MovementTypeBody>)))]
pub async fn list_movement_types(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Vec<MovementTypeBody>>> {
    let p = auth.require(Permission::Read, "read")?;
    Ok(Json(
        state
            .store
            .list_movement_types(p.tenant_id)
            .await?
            .into_iter()
            .map(MovementTypeBody::from)
            .collect(),
    ))
}
