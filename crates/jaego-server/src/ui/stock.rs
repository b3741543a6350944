//! Integrated stock (seed 001, 통합재고현황): per SKU, each location's on
//! hand, available, reserved, allocated, incoming and in transit, with
//! totals, product status flags, a low-stock highlight, availability
//! estimates for what is out, and overdue expected receipts (D+N).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::{Ctx, Nav, Screen};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiQuery, path_id};
use crate::routes::catalog::{SkuQuery, list_skus};
use crate::routes::receipts::{AvailabilityBody, ReceiptQuery, list_receipts};
use crate::routes::status::SkuStatusBody;
use crate::routes::stock::BalanceBody;
use jaego_core::SkuId;
use jaego_store::now_us;

/// SKUs per page (their balances, statuses and estimates are read at once).
const SKUS_PER_PAGE: usize = 30;
/// The low-stock highlight when the page does not say.
const LOW_DEFAULT: i64 = 5;

const LIVE: &[&str] = &[
    "stock.changed",
    "sku.created",
    "sku.updated",
    "sku.status_changed",
    "expected_receipt.created",
    "expected_receipt.received",
    "expected_receipt.cancelled",
    "availability_estimate.updated",
];

#[derive(Debug, Default, Deserialize)]
pub struct GridQuery {
    q: Option<String>,
    location: Option<String>,
    /// Highlight rows whose available is at or below this.
    low: Option<i64>,
    /// Only SKUs with a row at or below `low`.
    #[serde(default)]
    only_low: Option<String>,
    after: Option<String>,
}

#[derive(Default, Clone, Copy)]
struct Totals {
    on_hand: i64,
    available: i64,
    reserved: i64,
    allocated: i64,
    incoming: i64,
    in_transit: i64,
}

impl Totals {
    fn add(&mut self, b: &BalanceBody) {
        self.on_hand += b.on_hand;
        self.available += b.available;
        self.reserved += b.reserved;
        self.allocated += b.allocated;
        self.incoming += b.incoming;
        self.in_transit += b.in_transit;
    }

    fn sum(&mut self, o: Totals) {
        self.on_hand += o.on_hand;
        self.available += o.available;
        self.reserved += o.reserved;
        self.allocated += o.allocated;
        self.incoming += o.incoming;
        self.in_transit += o.in_transit;
    }

    fn cells(self) -> Markup {
        html! {
            td.num { (self.on_hand) } td.num.available { (self.available) } td.num { (self.reserved) }
            td.num { (self.allocated) } td.num { (self.incoming) } td.num { (self.in_transit) }
        }
    }
}

pub async fn grid(State(state): State<AppState>, ctx: Ctx, Query(q): Query<GridQuery>) -> Response {
    let screen = grid_screen(&state, &ctx, q).await;
    ctx.render(screen)
}

async fn grid_screen(state: &AppState, ctx: &Ctx, q: GridQuery) -> Result<Screen, ApiError> {
    let t = ctx.t;
    let low = q.low.unwrap_or(LOW_DEFAULT);
    let only_low = q.only_low.is_some();
    let may_status = ctx.may(jaego_core::role::Permission::WriteCatalog);
    let location = q.location.clone().filter(|l| !l.is_empty());
    let locations = super::locations(state, ctx, false).await?;
    let Json(skus) = list_skus(
        State(state.clone()),
        ctx.auth.clone(),
        ApiQuery(SkuQuery {
            q: q.q.clone().filter(|s| !s.trim().is_empty()),
            tracked: None,
            product_id: None,
            barcode: None,
            tag: None,
            after: q.after.clone(),
            limit: Some(SKUS_PER_PAGE),
        }),
    )
    .await?;
    let Json(overdue) = list_receipts(
        State(state.clone()),
        ctx.auth.clone(),
        ApiQuery(ReceiptQuery {
            sku: None,
            location: None,
            state: None,
            overdue: true,
            after: None,
            limit: Some(100),
        }),
    )
    .await?;
    // The location filter is resolved once, from the list the picker
    // shows (up to 500); a key beyond it is looked up.
    let tenant = ctx
        .auth
        .require(jaego_core::role::Permission::Read, "read")?
        .tenant_id;
    let location_id = match &location {
        Some(l) => match locations.iter().find(|x| x.code == *l || x.id == *l) {
            Some(found) => Some(path_id(&found.id, "location")?),
            None => Some(state.store.find_location(tenant, l).await?.id),
        },
        None => None,
    };
    // The page's balances, statuses and estimates (tracked SKUs only, the
    // only ones that show one) in one read each.
    let ids = skus
        .items
        .iter()
        .map(|sku| path_id::<SkuId>(&sku.id, "SKU"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut balances: HashMap<SkuId, Vec<BalanceBody>> = HashMap::new();
    for b in state.store.stock_of(tenant, &ids).await? {
        if location_id.is_none_or(|l| l == b.location_id) {
            balances.entry(b.sku_id).or_default().push(b.into());
        }
    }
    let mut statuses: HashMap<SkuId, SkuStatusBody> = state
        .store
        .sku_statuses(tenant, &ids)
        .await?
        .into_iter()
        .map(|s| (s.sku_id, s.into()))
        .collect();
    let tracked: Vec<SkuId> = skus
        .items
        .iter()
        .zip(&ids)
        .filter(|(sku, _)| sku.tracked)
        .map(|(_, id)| *id)
        .collect();
    let mut estimates: HashMap<SkuId, AvailabilityBody> = state
        .store
        .availabilities(tenant, &tracked, now_us())
        .await?
        .into_iter()
        .map(|a| (a.sku_id, a.into()))
        .collect();
    let mut rows = Vec::new();
    let mut grand = Totals::default();
    for (sku, id) in skus.items.iter().zip(&ids) {
        let balances = balances.remove(id).unwrap_or_default();
        let mut totals = Totals::default();
        for b in &balances {
            totals.add(b);
        }
        let any_low = sku.tracked && balances.iter().any(|b| b.available <= low);
        if only_low && !any_low {
            continue;
        }
        // `sku_statuses` answers every SKU of the tenant (SKUs are never
        // deleted); should one be missing, its row is left out.
        let Some(status) = statuses.remove(id) else {
            continue;
        };
        grand.sum(totals);
        let estimate = estimates.remove(id);
        rows.push((sku, balances, status, estimate, totals, any_low));
    }
    let next = skus.next_cursor.as_ref().map(|cursor| {
        let mut params = vec![("after", cursor.clone()), ("low", low.to_string())];
        if let Some(text) = &q.q {
            params.push(("q", text.clone()));
        }
        if let Some(l) = &location {
            params.push(("location", l.clone()));
        }
        if only_low {
            params.push(("only_low", "1".into()));
        }
        format!(
            "/stock?{}",
            serde_urlencoded::to_string(params).unwrap_or_default()
        )
    });
    let content = html! {
        h1 { (t.nav_stock) }
        @if !overdue.items.is_empty() {
            section.panel.warn #overdue data-live-region aria-labelledby="overdue-h" {
                h2 #overdue-h { (t.overdue_receipts) }
                ul.overdue {
                    @for r in &overdue.items {
                        li { strong.badge.bad { "D+" (r.overdue_days.unwrap_or(0)) } " " (r.sku_code) " @ " (r.location_code) " · "
                             (t.open_quantity) " " (r.open_quantity) " · " (t.due) " " (r.due_on)
                             @if !r.reference.is_empty() { " · " (r.reference) } }
                    }
                }
            }
        }
        form.filters method="get" role="search" {
            label for="q" { (t.search) }
            input #q type="search" name="q" value=[q.q.as_deref()] placeholder=(t.search_hint);
            label for="location" { (t.location) }
            select #location name="location" {
                option value="" { (t.all_locations) }
                @for l in &locations {
                    option value=(l.code) selected[location.as_deref() == Some(l.code.as_str())] { (l.name) " (" (l.code) ")" }
                }
            }
            label for="low" { (t.low_at) }
            input #low.count type="number" name="low" value=(low) inputmode="numeric";
            label.choice { input type="checkbox" name="only_low" value="1" checked[only_low]; (t.only_low) }
            button.button type="submit" { (t.apply) }
        }
        div #stock-grid data-live-region {
            table.grid.stock {
                thead { tr {
                    th scope="col" { (t.sku) " / " (t.location) }
                    th scope="col" .num { (t.on_hand) } th scope="col" .num { (t.available) }
                    th scope="col" .num { (t.reserved) } th scope="col" .num { (t.allocated) }
                    th scope="col" .num { (t.incoming) } th scope="col" .num { (t.in_transit) }
                } }
                @for (sku, balances, status, availability, totals, any_low) in &rows {
                    tbody.sku-group .low[*any_low] id={ "sku-" (super::dom_id(&sku.code)) } {
                        tr.sku-row {
                            th scope="row" {
                                span.code { (sku.code) } " " (sku.name)
                                span.flags {
                                    @if !sku.tracked { span.badge.muted { (t.untracked) } }
                                    @if status.discontinued { span.badge.bad { (t.discontinued) @if let Some(d) = &status.discontinued_on { " " (d) } } }
                                    @if status.reorder { span.badge.info { (t.reorder) @if let Some(d) = &status.reorder_on { " " (d) } } }
                                    @if status.forced_sold_out { span.badge.bad { (t.forced_sold_out) } }
                                    @if let Some(n) = status.limited_stock { span.badge.warn { (t.limited) " " (n) } }
                                    @if *any_low { span.badge.warn { (t.low_stock) } }
                                }
                                @if may_status {
                                    details.status-edit {
                                        summary { (t.change_status) }
                                        form.inline data-api data-method="PUT" data-url={ "/api/v1/skus/" (super::enc(&sku.code)) "/status" } {
                                            label.choice { input type="checkbox" name="discontinued" checked[status.discontinued]; (t.discontinued) }
                                            input type="date" name="discontinued_on" data-type="nullable" value=[status.discontinued_on.as_deref()] aria-label=(t.discontinued);
                                            label.choice { input type="checkbox" name="reorder" checked[status.reorder]; (t.reorder) }
                                            input type="date" name="reorder_on" data-type="nullable" value=[status.reorder_on.as_deref()] aria-label=(t.reorder);
                                            label.choice { input type="checkbox" name="forced_sold_out" checked[status.forced_sold_out]; (t.forced_sold_out) }
                                            label { (t.limited) " " input.count type="number" min="0" name="limited_stock" data-type="int" value=[status.limited_stock]; }
                                            button.button type="submit" { (t.save) }
                                        }
                                    }
                                }
                                @if let Some(a) = availability.as_ref().filter(|a| a.available <= 0) {
                                    @if let Some(e) = &a.estimate {
                                        span.estimate { (t.estimate) ": " (e.label.as_deref().unwrap_or(&e.text)) }
                                    }
                                }
                            }
                            (totals.cells())
                        }
                        @for b in balances {
                            tr.loc-row .low[sku.tracked && b.available <= low] {
                                td.loc { (b.location_code) }
                                td.num { (b.on_hand) } td.num.available { (b.available) } td.num { (b.reserved) }
                                td.num { (b.allocated) } td.num { (b.incoming) } td.num { (b.in_transit) }
                            }
                        }
                    }
                }
                tfoot { tr.total { th scope="row" { (t.total) } (grand.cells()) } }
            }
            @if rows.is_empty() { p.empty { (t.nothing_found) } }
            @if let Some(next) = next { p { a.button href=(next) { (t.next_page) } } }
        }
    };
    Ok(Screen::new(t.nav_stock, Nav::Stock, content).live(LIVE, None))
}
