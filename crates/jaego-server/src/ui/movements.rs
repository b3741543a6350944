//! Movements: the ledger with filters and a CSV export, and forms for
//! receipts, adjustments, counts, transfers and the merchant's own
//! movement types.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jaego_core::role::Permission;
use maud::html;
use serde::Deserialize;

use super::{Ctx, Nav, Screen, enc};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::routes::catalog::{SkuQuery, list_skus};
use crate::routes::places::list_movement_types;
use crate::routes::stock::{MovementBody, MovementQuery, list_movements};

const LIVE: &[&str] = &["stock.changed", "transfer.created", "transfer.received"];
const ROWS_PER_PAGE: usize = 100;
/// Rows in one CSV export (pages of 500 read one after another).
const CSV_ROWS_MAX: usize = 50_000;
const KINDS: [&str; 15] = [
    "receipt",
    "adjustment",
    "count",
    "safety_stock",
    "shipment",
    "return",
    "sale",
    "transfer_out",
    "transfer_in",
    "reset",
    "allocate",
    "deallocate",
    "custom_in",
    "custom_out",
    "expected_receipt",
];

#[derive(Debug, Default, Deserialize, Clone)]
pub struct LedgerFilter {
    sku: Option<String>,
    location: Option<String>,
    kind: Option<String>,
    /// A date (`2026-05-01`), from its start (UTC).
    from: Option<String>,
    /// A date, up to its end (UTC).
    to: Option<String>,
    after: Option<String>,
}

impl LedgerFilter {
    fn query(&self, after: Option<String>, limit: usize) -> Result<MovementQuery, ApiError> {
        let day =
            |field: &str, d: &Option<String>, plus: i64| -> Result<Option<String>, ApiError> {
                match d.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
                    None => Ok(None),
                    Some(d) => {
                        let date: jiff::civil::Date = d.parse().map_err(|_| {
                            ApiError::invalid(field, "must be a date like 2026-05-01")
                        })?;
                        let date = date
                            .checked_add(jiff::Span::new().days(plus))
                            .map_err(|_| ApiError::invalid(field, "is out of range"))?;
                        Ok(Some(format!("{date}T00:00:00Z")))
                    }
                }
            };
        let some = |s: &Option<String>| {
            s.as_ref()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        Ok(MovementQuery {
            sku: some(&self.sku),
            location: some(&self.location),
            kind: some(&self.kind),
            reservation: None,
            from: day("from", &self.from, 0)?,
            to: day("to", &self.to, 1)?,
            after,
            limit: Some(limit),
        })
    }

    fn query_string(&self) -> String {
        let mut params = Vec::new();
        for (k, v) in [
            ("sku", &self.sku),
            ("location", &self.location),
            ("kind", &self.kind),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                params.push((k, v.clone()));
            }
        }
        serde_urlencoded::to_string(params).unwrap_or_default()
    }
}

/// Id → code for SKUs and locations (the first 500 of each; others show
/// their id).
pub(super) async fn codes(
    state: &AppState,
    ctx: &Ctx,
) -> Result<(HashMap<String, String>, HashMap<String, String>), ApiError> {
    let Json(skus) = list_skus(
        State(state.clone()),
        ctx.auth.clone(),
        ApiQuery(SkuQuery {
            q: None,
            tracked: None,
            product_id: None,
            barcode: None,
            tag: None,
            after: None,
            limit: Some(500),
        }),
    )
    .await?;
    Ok((
        skus.items.into_iter().map(|s| (s.id, s.code)).collect(),
        super::location_codes(state, ctx).await?,
    ))
}

pub(super) fn code<'a>(map: &'a HashMap<String, String>, id: &'a str) -> &'a str {
    map.get(id).map_or(id, String::as_str)
}

pub async fn ledger(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(f): Query<LedgerFilter>,
) -> Response {
    let screen = ledger_screen(&state, &ctx, f).await;
    ctx.render(screen)
}

async fn ledger_screen(state: &AppState, ctx: &Ctx, f: LedgerFilter) -> Result<Screen, ApiError> {
    let t = ctx.t;
    let Json(page) = list_movements(
        State(state.clone()),
        ctx.auth.clone(),
        ApiQuery(f.query(f.after.clone(), ROWS_PER_PAGE)?),
    )
    .await?;
    let Json(types) = list_movement_types(State(state.clone()), ctx.auth.clone()).await?;
    let (skus, locations) = codes(state, ctx).await?;
    let mut location_codes: Vec<&String> = locations.values().collect();
    location_codes.sort();
    let qs = f.query_string();
    let may_write = ctx.may(Permission::WriteStock);
    let content = html! {
        h1 { (t.nav_movements) }
        @if may_write {
            div.two-forms {
                details.panel #movement-form-panel {
                    summary { (t.record_movement) }
                    form #movement-form data-api data-kind="movement" data-method="POST" data-url="/api/v1/movements" data-reset {
                        label for="mv-kind" { (t.kind) }
                        select #mv-kind name="kind" {
                            @for (k, label) in [("receipt", t.kind_receipt), ("adjustment", t.kind_adjustment), ("count", t.kind_count), ("safety_stock", t.kind_safety_stock), ("shipment", t.kind_shipment), ("return", t.kind_return)] {
                                option value=(k) { (label) }
                            }
                            @for ty in &types {
                                option value={ "custom:" (ty.code) } { (ty.name) " (" (ty.code) ", " (ty.direction) ")" }
                            }
                        }
                        label for="mv-sku" { (t.sku_code) } input #mv-sku name="sku" required;
                        label for="mv-location" { (t.location) }
                        select #mv-location name="location" required { @for c in &location_codes { option value=(c) { (c) } } }
                        label for="mv-qty" { (t.units) } input #mv-qty name="quantity" type="number" data-type="int" required;
                        span.hint { (t.quantity_hint) }
                        label for="mv-reason" { (t.reason) } input #mv-reason name="reason";
                        label for="mv-ref" { (t.reference) } input #mv-ref name="reference";
                        button.button.primary type="submit" { (t.record) }
                    }
                }
                details.panel #transfer-form-panel {
                    summary { (t.transfer) }
                    form #transfer-form data-api data-method="POST" data-url="/api/v1/transfers" data-reset {
                        label for="tr-sku" { (t.sku_code) } input #tr-sku name="sku" required;
                        label for="tr-from" { (t.from_location) }
                        select #tr-from name="from_location" required { @for c in &location_codes { option value=(c) { (c) } } }
                        label for="tr-to" { (t.to_location) }
                        select #tr-to name="to_location" required { @for c in &location_codes { option value=(c) { (c) } } }
                        label for="tr-qty" { (t.units) } input #tr-qty name="quantity" type="number" min="1" data-type="int" required;
                        label for="tr-ref" { (t.reference) } input #tr-ref name="reference";
                        button.button.primary type="submit" { (t.transfer) }
                    }
                }
            }
        }
        form.filters method="get" role="search" {
            label for="f-sku" { (t.sku) } input #f-sku type="search" name="sku" value=[f.sku.as_deref()] size="10";
            label for="f-location" { (t.location) }
            select #f-location name="location" {
                option value="" { (t.all_locations) }
                @for c in &location_codes { option value=(c) selected[f.location.as_deref() == Some(c.as_str())] { (c) } }
            }
            label for="f-kind" { (t.kind) }
            select #f-kind name="kind" {
                option value="" { (t.all) }
                @for k in KINDS { option value=(k) selected[f.kind.as_deref() == Some(k)] { (k) } }
            }
            label for="f-from" { (t.date_from) } input #f-from type="date" name="from" value=[f.from.as_deref()];
            label for="f-to" { (t.date_to) } input #f-to type="date" name="to" value=[f.to.as_deref()];
            button.button type="submit" { (t.apply) }
            a.button #csv-export href={ "/movements.csv?" (qs) } download { (t.export_csv) }
        }
        div #ledger data-live-region {
            table.grid.ledger {
                thead { tr {
                    th scope="col" { (t.time) } th scope="col" { (t.kind) } th scope="col" { (t.sku) } th scope="col" { (t.location) }
                    th scope="col" .num { (t.units) } th scope="col" .num { (t.on_hand) " Δ" } th scope="col" .num { (t.available) " Δ" }
                    th scope="col" { (t.reason) " / " (t.reference) } th scope="col" { (t.actor) }
                } }
                tbody {
                    @for m in &page.items {
                        @let available = m.delta.on_hand - m.delta.reserved - m.delta.allocated - m.delta.safety_stock;
                        tr data-kind=(m.kind) {
                            td.time { (super::short_time(&m.created_at)) }
                            td { span.badge.muted { (m.kind) @if let Some(ty) = &m.movement_type { ":" (ty) } } }
                            td { (code(&skus, &m.sku_id)) } td { (code(&locations, &m.location_id)) }
                            td.num { (m.quantity) } td.num { (signed(m.delta.on_hand)) } td.num { (signed(available)) }
                            td { (m.reason) @if !m.reason.is_empty() && !m.reference.is_empty() { " · " } (m.reference) }
                            td.actor { (m.actor) }
                        }
                    }
                }
            }
            @if page.items.is_empty() { p.empty { (t.nothing_found) } }
            @if let Some(next) = &page.next_cursor {
                p { a.button href={ "/movements?" (qs) @if !qs.is_empty() { "&" } "after=" (enc(next)) } { (t.next_page) } }
            }
        }
    };
    Ok(Screen::new(t.nav_movements, Nav::Movements, content).live(LIVE, None))
}

fn signed(n: i64) -> String {
    if n > 0 {
        format!("+{n}")
    } else {
        n.to_string()
    }
}

/// The ledger as CSV, with the page's filters, oldest first.
pub async fn csv(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(f): Query<LedgerFilter>,
) -> Response {
    match csv_body(&state, &ctx, &f).await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"movements.csv\"",
                ),
            ],
            body,
        )
            .into_response(),
        Err(e) => ctx.error(&e),
    }
}

async fn csv_body(state: &AppState, ctx: &Ctx, f: &LedgerFilter) -> Result<Vec<u8>, ApiError> {
    let (skus, locations) = codes(state, ctx).await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let write = |out: &mut csv::Writer<Vec<u8>>, row: &[&str]| {
        out.write_record(row)
            .map_err(|e| ApiError::Internal(e.to_string()))
    };
    write(
        &mut out,
        &[
            "created_at",
            "kind",
            "type",
            "sku",
            "location",
            "quantity",
            "on_hand_delta",
            "reserved_delta",
            "allocated_delta",
            "incoming_delta",
            "in_transit_delta",
            "reason",
            "reference",
            "actor",
            "id",
        ],
    )?;
    let mut after = None;
    let mut rows = 0;
    loop {
        let Json(page) = list_movements(
            State(state.clone()),
            ctx.auth.clone(),
            ApiQuery(f.query(after, 500)?),
        )
        .await?;
        for m in &page.items {
            let m: &MovementBody = m;
            write(
                &mut out,
                &[
                    &m.created_at,
                    &m.kind,
                    m.movement_type.as_deref().unwrap_or(""),
                    code(&skus, &m.sku_id),
                    code(&locations, &m.location_id),
                    &m.quantity.to_string(),
                    &m.delta.on_hand.to_string(),
                    &m.delta.reserved.to_string(),
                    &m.delta.allocated.to_string(),
                    &m.delta.incoming.to_string(),
                    &m.delta.in_transit.to_string(),
                    &m.reason,
                    &m.reference,
                    &m.actor,
                    &m.id,
                ],
            )?;
        }
        rows += page.items.len();
        match page.next_cursor {
            Some(next) if rows < CSV_ROWS_MAX => after = Some(next),
            _ => break,
        }
    }
    out.into_inner()
        .map_err(|e| ApiError::Internal(e.to_string()))
}
