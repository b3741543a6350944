//! Reservations over HTTP: reserve, commit, release.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use jaego_core::limits::RESERVATION_TTL_SECS_DEFAULT;
use jaego_core::reservation::Resolution;
use jaego_core::role::Permission;
use jaego_store::reservations::{Reservation, ReserveInput, Source};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::audit::{AuditDraft, AuditWritten};
use crate::error::{ApiError, ApiResult, Problem, name_shortages};
use crate::extract::{ApiJson, Auth, optional_json, path_id};
use crate::routes::stock::check_texts;
use crate::wire::time;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_reservation))
        .routes(routes!(get_reservation))
        .routes(routes!(commit_reservation))
        .routes(routes!(release_reservation))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReservation {
    /// Reserve at this location (id or code) …
    pub location: Option<String>,
    /// … or through this channel's linked locations, in priority order.
    pub channel: Option<String>,
    /// 1 to 100 lines.
    pub lines: Vec<ReserveLine>,
    /// Seconds until the hold expires (1 to 604800; default 900).
    pub ttl_secs: Option<i64>,
    /// A cart, checkout or basket reference.
    #[serde(default)]
    pub reference: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReserveLine {
    /// SKU id or code; a bundle reserves its components.
    pub sku: String,
    pub quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CommitReservation {
    /// How much of each line to commit; lines not named are released. Omit
    /// to commit everything.
    pub lines: Option<Vec<CommitLine>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitLine {
    /// Line number as returned (1-based).
    pub line: i64,
    pub quantity: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReservationBody {
    pub id: String,
    pub channel_id: Option<String>,
    /// `open`, `committed`, `released` or `expired`.
    pub state: String,
    pub reference: String,
    pub expires_at: String,
    pub created_at: String,
    pub resolved_at: Option<String>,
    pub lines: Vec<ReservationLineBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReservationLineBody {
    pub line: i64,
    pub sku_id: String,
    /// Where the units are held.
    pub location_id: String,
    pub quantity: i64,
    /// Units that became allocated, once committed.
    pub committed: Option<i64>,
    /// For a component line of a bundle line: the bundle, the request's
    /// line number it came from and the bundle units of that line. A
    /// bundle line is held as one line per component, at one location.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle: Option<ReservationBundleBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReservationBundleBody {
    pub sku_id: String,
    /// The request's line number (1-based) of the bundle line.
    pub line: i64,
    /// Bundle units of that line.
    pub units: i64,
}

impl From<Reservation> for ReservationBody {
    fn from(r: Reservation) -> Self {
        ReservationBody {
            id: r.id.to_string(),
            channel_id: r.channel_id.map(|c| c.to_string()),
            state: r.state.to_string(),
            reference: r.reference,
            expires_at: time(r.expires_at),
            created_at: time(r.created_at),
            resolved_at: r.resolved_at.map(time),
            lines: r
                .lines
                .into_iter()
                .map(|l| ReservationLineBody {
                    line: l.line_no,
                    sku_id: l.sku_id.to_string(),
                    location_id: l.location_id.to_string(),
                    quantity: l.quantity,
                    committed: l.committed,
                    bundle: l.bundle.map(|b| ReservationBundleBody {
                        sku_id: b.sku_id.to_string(),
                        line: b.line,
                        units: b.units,
                    }),
                })
                .collect(),
        }
    }
}

#[utoipa::path(post, path = "/reservations", tag = "reservations", security(("bearer" = ["stock:write"])), request_body = CreateReservation,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = ReservationBody), (status = 404, body = Problem),
        (status = 409, description = "`insufficient_stock` lists every short line", body = Problem), (status = 422, body = Problem)))]
pub async fn create_reservation(
    State(state): State<AppState>,
    auth: Auth,
    draft: AuditDraft,
    ApiJson(body): ApiJson<CreateReservation>,
) -> ApiResult<(
    StatusCode,
    Option<Extension<AuditWritten>>,
    Json<ReservationBody>,
)> {
    let p = auth.require(Permission::WriteStock, "reserve stock")?;
    let source = match (body.location, body.channel) {
        (Some(location), None) => Source::Location(location),
        (None, Some(channel)) => Source::Channel(channel),
        _ => {
            return Err(ApiError::invalid(
                "location",
                "give exactly one of location or channel",
            ));
        }
    };
    check_texts("", &body.reference)?;
    let input = ReserveInput {
        source,
        lines: body
            .lines
            .into_iter()
            .map(|l| (l.sku, l.quantity))
            .collect(),
        ttl_secs: body.ttl_secs.unwrap_or(RESERVATION_TTL_SECS_DEFAULT),
        reference: body.reference,
        actor: p.actor(),
    };
    let mut request = state.store.prepare_reservation(p.tenant_id, &input).await?;
    request.audit = draft.entry();
    let audited = written(request.audit.is_some());
    let reservation = name_shortages(
        &state.store,
        p.tenant_id,
        state.store.reserve(request).await,
    )
    .await?;
    Ok((StatusCode::CREATED, audited, Json(reservation.into())))
}

#[utoipa::path(get, path = "/reservations/{id}", tag = "reservations", security(("bearer" = ["read"])), responses((status = 200, body = ReservationBody), (status = 404, body = Problem)))]
pub async fn get_reservation(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<ReservationBody>> {
    let p = auth.require(Permission::Read, "read")?;
    Ok(Json(
        state
            .store
            .get_reservation(p.tenant_id, path_id(&id, "reservation")?)
            .await?
            .into(),
    ))
}

#[utoipa::path(post, path = "/reservations/{id}/commit", tag = "reservations", security(("bearer" = ["stock:write"])), request_body(content = CommitReservation, description = "Optional"),
    responses((status = 200, body = ReservationBody), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn commit_reservation(
    State(state): State<AppState>,
    auth: Auth,
    draft: AuditDraft,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<(Option<Extension<AuditWritten>>, Json<ReservationBody>)> {
    let p = auth.require(Permission::WriteStock, "commit reservations")?;
    let body: CommitReservation = optional_json(&body)?;
    let lines: Option<Vec<(i64, i64)>> = body
        .lines
        .map(|ls| ls.into_iter().map(|l| (l.line, l.quantity)).collect());
    let audit = draft.entry();
    let audited = written(audit.is_some());
    let done = state
        .store
        .resolve_reservation(
            p.tenant_id,
            path_id(&id, "reservation")?,
            Resolution::Commit,
            lines.as_deref(),
            &p.actor(),
            audit,
        )
        .await?;
    Ok((audited, Json(done.into())))
}

#[utoipa::path(post, path = "/reservations/{id}/release", tag = "reservations", security(("bearer" = ["stock:write"])),
    responses((status = 200, body = ReservationBody), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn release_reservation(
    State(state): State<AppState>,
    auth: Auth,
    draft: AuditDraft,
    Path(id): Path<String>,
) -> ApiResult<(Option<Extension<AuditWritten>>, Json<ReservationBody>)> {
    let p = auth.require(Permission::WriteStock, "release reservations")?;
    let audit = draft.entry();
    let audited = written(audit.is_some());
    let done = state
        .store
        .resolve_reservation(
            p.tenant_id,
            path_id(&id, "reservation")?,
            Resolution::Release,
            None,
            &p.actor(),
            audit,
        )
        .await?;
    Ok((audited, Json(done.into())))
}

/// The response marker telling the audit layer that the store wrote the
/// request's entry with its change (in the group-commit transaction).
fn written(handed_over: bool) -> Option<Extension<AuditWritten>> {
    handed_over.then_some(Extension(AuditWritten))
}
