//! Orders (seed 001 통합주문현황, seed 002): the integrated order list
//! with flags, notes, filters and the delay highlight; allocation runs
//! (preview, then run); the unmatched-lines queue with linking; one
//! order with its stock by location and customer service (cancel,
//! exchange, return, split, merge, deallocate).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use jaego_core::role::Permission;
use maud::{Markup, html};
use serde::Deserialize;

use super::{Ctx, Nav, Screen, enc};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::routes::catalog::ListQuery;
use crate::routes::orders::{
    OrderBody, OrderQuery, UnmatchedQuery, get_order, list_orders, list_unmatched, order_stock,
};
use crate::routes::places::list_channels;

const LIVE: &[&str] = &[
    "order.collected",
    "order.updated",
    "order.allocated",
    "order.deallocated",
    "order.shipped",
    "order.cancelled",
    "order.exchanged",
    "order.exchange_resolved",
    "order.return_requested",
    "order.returned",
    "order.split",
    "order.merged",
    "orders.reset",
    "allocation_run.completed",
    "sku_link.created",
    "sku_link.removed",
    "stock.changed",
    // Parcels listed on an order's page.
    "shipment.*",
];

const ORDERS_PER_PAGE: usize = 50;
const STATUSES: [&str; 7] = [
    "open",
    "partially_allocated",
    "allocated",
    "partially_shipped",
    "shipped",
    "cancelled",
    "merged",
];

#[derive(Debug, Default, Deserialize)]
pub struct ListFilter {
    channel: Option<String>,
    status: Option<String>,
    order_no: Option<String>,
    sku: Option<String>,
    hold: Option<String>,
    flag: Option<String>,
    priority: Option<String>,
    delayed: Option<String>,
    after: Option<String>,
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Channel id → code, for showing channel ids as codes.
async fn channel_codes(state: &AppState, ctx: &Ctx) -> Result<HashMap<String, String>, ApiError> {
    let Json(channels) = list_channels(
        State(state.clone()),
        ctx.auth.clone(),
        ApiQuery(ListQuery {
            after: None,
            limit: Some(500),
        }),
    )
    .await?;
    Ok(channels.items.into_iter().map(|c| (c.id, c.code)).collect())
}

fn status_label(ctx: &Ctx, status: &str) -> &'static str {
    let t = ctx.t;
    match status {
        "open" => t.st_open,
        "partially_allocated" => t.st_partially_allocated,
        "allocated" => t.st_allocated,
        "partially_shipped" => t.st_partially_shipped,
        "shipped" => t.st_shipped,
        "cancelled" => t.st_cancelled,
        "merged" => t.st_merged,
        _ => t.state,
    }
}

fn flags(ctx: &Ctx, o: &OrderBody) -> Markup {
    let t = ctx.t;
    html! {
        span.flags {
            @if o.hold { span.badge.bad { (t.hold) } }
            @if o.flag { span.badge.warn { "⚑ " (t.flag) } }
            @if o.priority { span.badge.info { (t.priority) } }
            @if o.delayed { span.badge.bad { (t.delayed) } }
            @if o.remote_area { span.badge.muted { (t.remote_area) } }
            @if o.pickup_location_id.is_some() { span.badge.muted { (t.pickup) } }
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(f): Query<ListFilter>,
) -> Response {
    let screen = list_screen(&state, &ctx, f).await;
    ctx.render(screen)
}

async fn list_screen(state: &AppState, ctx: &Ctx, f: ListFilter) -> Result<Screen, ApiError> {
    let t = ctx.t;
    let channels = channel_codes(state, ctx).await?;
    let yes = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty()).then_some(true);
    let Json(orders) = list_orders(
        State(state.clone()),
        ctx.auth.clone(),
        ApiQuery(OrderQuery {
            channel: nonempty(&f.channel),
            status: nonempty(&f.status),
            hold: yes(&f.hold),
            flag: yes(&f.flag),
            priority: yes(&f.priority),
            remote_area: None,
            delayed: yes(&f.delayed),
            sku: nonempty(&f.sku),
            from: None,
            to: None,
            order_no: nonempty(&f.order_no),
            after: f.after.clone(),
            limit: Some(ORDERS_PER_PAGE),
        }),
    )
    .await?;
    let Json(unmatched) = list_unmatched(
        State(state.clone()),
        ctx.auth.clone(),
        ApiQuery(UnmatchedQuery {
            channel: None,
            limit: Some(100),
        }),
    )
    .await?;
    let may_write = ctx.may(Permission::WriteOrders);
    let mut channel_codes: Vec<&String> = channels.values().collect();
    channel_codes.sort();
    let content = html! {
        h1 { (t.nav_orders) }
        @if may_write {
            section.panel #allocation aria-labelledby="allocation-h" {
                h2 #allocation-h { (t.allocation_run) }
                div.inline {
                    label for="run-mode" { (t.shipment_mode) }
                    select #run-mode {
                        option value="" { (t.mode_channel_default) }
                        option value="complete" { (t.mode_complete) }
                        option value="partial" { (t.mode_partial) }
                        option value="consolidated" { (t.mode_consolidated) }
                    }
                    button.button #preview-run type="button" { (t.preview) }
                    button.button.primary #start-run type="button" data-confirm=(t.run_confirm) { (t.run_allocation) }
                }
                div #run-result.run-result aria-live="polite"
                    data-t-summary=(t.run_summary) data-t-preview=(t.preview_title) data-t-done=(t.run_done)
                    data-t-outcome-allocated=(t.outcome_allocated) data-t-outcome-partial=(t.outcome_partial)
                    data-t-outcome-skipped=(t.outcome_skipped) {}
            }
        }
        form.filters method="get" role="search" {
            label for="order_no" { (t.order_no) }
            input #order_no type="search" name="order_no" value=[f.order_no.as_deref()];
            label for="sku" { (t.sku) }
            input #sku type="search" name="sku" value=[f.sku.as_deref()] size="10";
            label for="channel" { (t.channel) }
            select #channel name="channel" {
                option value="" { (t.all) }
                @for code in &channel_codes {
                    option value=(code) selected[f.channel.as_deref() == Some(code.as_str())] { (code) }
                }
            }
            label for="status" { (t.state) }
            select #status name="status" {
                option value="" { (t.all) }
                @for s in STATUSES {
                    option value=(s) selected[f.status.as_deref() == Some(s)] { (status_label(ctx, s)) }
                }
            }
            label.choice { input type="checkbox" name="hold" value="1" checked[yes(&f.hold).is_some()]; (t.hold) }
            label.choice { input type="checkbox" name="flag" value="1" checked[yes(&f.flag).is_some()]; (t.flag) }
            label.choice { input type="checkbox" name="priority" value="1" checked[yes(&f.priority).is_some()]; (t.priority) }
            label.choice { input type="checkbox" name="delayed" value="1" checked[yes(&f.delayed).is_some()]; (t.delayed) }
            button.button type="submit" { (t.apply) }
        }
        div #orders data-live-region {
            table.grid.orders {
                thead { tr {
                    th scope="col" { (t.order_no) } th scope="col" { (t.channel) } th scope="col" { (t.customer) }
                    th scope="col" { (t.state) } th scope="col" { (t.lines) } th scope="col" { (t.note) } th scope="col" { (t.collected) }
                } }
                tbody {
                    @for o in &orders.items {
                        @let units: i64 = o.lines.iter().map(|l| l.quantity).sum();
                        @let allocated: i64 = o.lines.iter().map(|l| l.allocated).sum();
                        @let open: i64 = o.lines.iter().map(|l| l.open).sum();
                        tr.delayed[o.delayed] id={ "order-" (o.id) } data-order-id=(o.id) data-order-no=(o.order_no) {
                            th scope="row" { a href={ "/orders/" (o.id) } { (o.order_no) @if o.copy_no > 0 { "-" (o.copy_no) } } (flags(ctx, o)) }
                            td { (channels.get(&o.channel_id).map_or("", String::as_str)) }
                            td { (o.customer.name) }
                            td { span.badge.status.{ "st-" (o.status) } { (status_label(ctx, &o.status)) } }
                            td.lines-cell {
                                (o.lines.len()) " · " (t.units) " " (units)
                                @if allocated > 0 { " · " (t.allocated) " " (allocated) }
                                @if open > 0 && o.status != "cancelled" { " · " (t.open_units) " " (open) }
                                @if o.lines.iter().any(|l| l.sku_id.is_none()) { " " span.badge.warn { (t.unmatched) } }
                            }
                            td.note { (o.note) }
                            td.time { (super::short_time(&o.collected_at)) }
                        }
                    }
                }
            }
            @if orders.items.is_empty() { p.empty { (t.nothing_found) } }
            @if let Some(next) = &orders.next_cursor {
                p { a.button href={ "/orders?after=" (enc(next)) } { (t.next_page) } }
            }
        }
        section.panel #unmatched data-live-region aria-labelledby="unmatched-h" {
            h2 #unmatched-h { (t.unmatched_queue) " (" (unmatched.len()) ")" }
            @if unmatched.is_empty() {
                p.empty { (t.unmatched_none) }
            } @else {
                table.grid {
                    thead { tr { th scope="col" { (t.channel) } th scope="col" { (t.item) } th scope="col" .num { (t.lines) } th scope="col" .num { (t.units) } th scope="col" { (t.link_to_sku) } } }
                    tbody {
                        @for (i, u) in unmatched.iter().enumerate() {
                            @let channel = channels.get(&u.channel_id).cloned().unwrap_or_default();
                            tr {
                                td { (channel) }
                                td { span.code { (u.item_code) @if !u.item_option.is_empty() { " / " (u.item_option) } } " " (u.product_name) " " (u.option_text) }
                                td.num { (u.lines) } td.num { (u.units) }
                                td {
                                    @if may_write {
                                        form.inline data-api data-method="POST" data-url={ "/api/v1/channels/" (enc(&channel)) "/sku-links" } {
                                            input type="hidden" name="item_code" value=(u.item_code);
                                            input type="hidden" name="item_option" value=(u.item_option);
                                            label.sr-only for={ "link-" (i) } { (t.sku_code) }
                                            input id={ "link-" (i) } name="sku" required placeholder=(t.sku_code) size="10";
                                            button.button type="submit" { (t.link) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(Screen::new(t.nav_orders, Nav::Orders, content).live(LIVE, None))
}

/// One order: its lines and where they are allocated, its stock by
/// location, flags and note, and the customer-service actions.
pub async fn detail(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let screen = detail_screen(&state, &ctx, id).await;
    ctx.render(screen)
}

async fn detail_screen(state: &AppState, ctx: &Ctx, id: String) -> Result<Screen, ApiError> {
    let t = ctx.t;
    let Json(o) = get_order(State(state.clone()), ctx.auth.clone(), Path(id.clone())).await?;
    let Json(stock) = order_stock(State(state.clone()), ctx.auth.clone(), Path(id)).await?;
    let Json(parcels) = crate::routes::shipments::list_shipments(
        State(state.clone()),
        ctx.auth.clone(),
        ApiQuery(crate::routes::shipments::ShipmentQuery {
            state: None,
            order: Some(o.id.clone()),
            location: None,
            after: None,
            limit: Some(100),
        }),
    )
    .await?;
    let open_parcels: Vec<&str> = parcels
        .items
        .iter()
        .filter(|p| p.state == "open")
        .map(|p| p.id.as_str())
        .collect();
    let channels = channel_codes(state, ctx).await?;
    let locations = super::location_codes(state, ctx).await?;
    let url = format!("/api/v1/orders/{}", o.id);
    let may_write = ctx.may(Permission::WriteOrders);
    let content = html! {
        p { a href="/orders" { "← " (t.nav_orders) } }
        div #order data-live-region {
            div.title-row {
                h1 { (t.order) " " (o.order_no) @if o.copy_no > 0 { "-" (o.copy_no) } }
                span { span.badge.status.{ "st-" (o.status) } { (status_label(ctx, &o.status)) } (flags(ctx, &o)) }
            }
            div.summary {
                (super::figure(t.channel, channels.get(&o.channel_id).map_or("", String::as_str)))
                (super::figure(t.customer, &o.customer.name))
                (super::figure(t.phone, &o.customer.phone))
                (super::figure(t.address, format!("{} {}", o.customer.postal_code, o.customer.address)))
                (super::figure(t.collected, super::short_time(&o.collected_at)))
                @if let Some(from) = &o.split_from { (super::figure(t.split_from, from)) }
                @if let Some(into) = &o.merged_into { (super::figure(t.merged_into, into)) }
            }
            section.panel {
                h2 { (t.flags_and_note) }
                div.inline {
                    @for (field, label, on) in [("hold", t.hold, o.hold), ("flag", t.flag, o.flag), ("priority", t.priority, o.priority), ("never_merge", t.never_merge, o.never_merge)] {
                        label.switch {
                            input type="checkbox" role="switch" id={ "order-" (field) } checked[on] disabled[!may_write]
                                data-field=(field) data-method="PATCH" data-url=(url);
                            span { (label) }
                        }
                    }
                }
                label for="order-note" { (t.note) }
                input #order-note.wide-input type="text" value=(o.note) disabled[!may_write] maxlength="1000"
                    data-field="note" data-method="PATCH" data-url=(url);
            }
            h2 { (t.lines) }
            table.grid {
                thead { tr {
                    th scope="col" { "#" } th scope="col" { (t.item) } th scope="col" .num { (t.units) }
                    th scope="col" .num { (t.allocated) } th scope="col" .num { (t.st_shipped) } th scope="col" .num { (t.st_cancelled) }
                    th scope="col" .num { (t.returned) } th scope="col" { (t.where_allocated) }
                } }
                tbody {
                    @for l in &o.lines {
                        tr {
                            td { (l.line) }
                            td { span.code { (l.item_code) } " " (l.product_name) " " (l.option_text)
                                 @if l.sku_id.is_none() { " " span.badge.warn { (t.unmatched) } }
                                 @if l.gift { " " span.badge.info { (t.gift) } } }
                            td.num { (l.quantity) } td.num { (l.allocated) } td.num { (l.shipped) }
                            td.num { (l.cancelled) } td.num { (l.returned) }
                            td { @for a in &l.allocations { span.badge.muted { (super::movements::code(&locations, &a.location_id)) " " (a.quantity) } " " } }
                        }
                    }
                }
            }
            @if !parcels.items.is_empty() {
                div.title-row #shipments {
                    h2 { (t.shipments) }
                    @if !open_parcels.is_empty() {
                        a.button.quiet-dark href={ "/api/v1/print/shipments.pdf?shipments=" (open_parcels.join(",")) } target="_blank" { (t.print_invoice_slip) }
                    }
                }
                table.grid {
                    thead { tr {
                        th scope="col" { (t.nav_scan) } th scope="col" { (t.state) } th scope="col" { (t.location) }
                        th scope="col" { (t.tracking_no) } th scope="col" .num { (t.scanned) } th scope="col" {}
                    } }
                    tbody {
                        @for p in &parcels.items {
                            tr data-shipment=(p.id) {
                                td { a.code href={ "/scan?code=" (enc(&p.code)) } { (p.code) } }
                                td { span.badge.status.{ "sh-" (p.state) } { (super::scan::state_label(ctx, &p.state)) } }
                                td { (p.location_code) }
                                td { (p.tracking_no.as_deref().unwrap_or("—")) }
                                td.num { (p.scanned) " / " (p.units) }
                                td { a.button.quiet-dark href={ "/api/v1/print/shipments.pdf?shipments=" (p.id) } target="_blank" { (t.print) } }
                            }
                        }
                    }
                }
            }
            h2 { (t.stock_by_location) }
            table.grid {
                thead { tr {
                    th scope="col" { (t.sku) } th scope="col" { (t.location) } th scope="col" .num { (t.on_hand) }
                    th scope="col" .num { (t.available) } th scope="col" .num { (t.allocated) } th scope="col" .num { (t.incoming) }
                } }
                tbody {
                    @for b in &stock {
                        tr.low[b.available <= 0] { td { (b.sku_code) } td { (b.location_code) } td.num { (b.on_hand) }
                           td.num.available { (b.available) } td.num { (b.allocated) } td.num { (b.incoming) } }
                    }
                }
            }
        }
        @if may_write {
            section.panel.actions-panel {
                h2 { (t.customer_service) }
                div.inline {
                    button.button type="button" data-method="POST" data-url={ (url) "/deallocate" } data-confirm=(t.js_confirm) { (t.deallocate) }
                    button.button.danger type="button" data-method="POST" data-url={ (url) "/cancel" } data-body="{}" data-confirm=(t.cancel_confirm) { (t.cancel_order) }
                }
                details {
                    summary { (t.cancel_lines) }
                    form.inline data-api data-kind="lines" data-method="POST" data-url={ (url) "/cancel" } {
                        label for="cancel-line" { (t.line_no) } input #cancel-line name="line" type="number" min="1" data-type="int" required;
                        label for="cancel-qty" { (t.units) } input #cancel-qty name="quantity" type="number" min="1" data-type="int";
                        label for="cancel-reason" { (t.reason) } input #cancel-reason name="reason" data-optional;
                        button.button type="submit" { (t.cancel_lines) }
                    }
                }
                details {
                    summary { (t.exchange) }
                    form.inline data-api data-kind="exchange" data-method="POST" data-url={ (url) "/exchanges" } {
                        label for="ex-line" { (t.line_no) } input #ex-line name="line" type="number" min="1" data-type="int" required;
                        label for="ex-qty" { (t.units) } input #ex-qty name="quantity" type="number" min="1" data-type="int" required;
                        label for="ex-sku" { (t.new_sku) } input #ex-sku name="sku" required size="10";
                        label for="ex-fee" { (t.fee) } input #ex-fee name="fee" type="number" min="0" data-type="int";
                        label for="ex-reason" { (t.reason) } input #ex-reason name="reason";
                        button.button type="submit" { (t.exchange) }
                    }
                }
                details {
                    summary { (t.return_goods) }
                    form.inline data-api data-method="POST" data-url={ (url) "/returns" } {
                        label for="ret-line" { (t.line_no) } input #ret-line name="line" type="number" min="1" data-type="int" required;
                        label for="ret-qty" { (t.units) } input #ret-qty name="quantity" type="number" min="1" data-type="int" required;
                        label for="ret-reason" { (t.reason) } input #ret-reason name="reason" value="sellable";
                        button.button type="submit" { (t.return_goods) }
                    }
                }
                details {
                    summary { (t.split) }
                    form.inline data-api data-kind="split" data-method="POST" data-url={ (url) "/split" } data-then="/orders/{split.id}" {
                        label for="split-lines" { (t.split_lines) } input #split-lines name="lines" required placeholder="1, 2";
                        button.button type="submit" { (t.split) }
                    }
                }
                details {
                    summary { (t.merge) }
                    form.inline data-api data-method="POST" data-url={ (url) "/merge" } {
                        label for="merge-orders" { (t.merge_ids) } input #merge-orders name="orders" data-list required size="40";
                        button.button type="submit" { (t.merge) }
                    }
                }
            }
        }
    };
    Ok(Screen::new(format!("{} {}", t.order, o.order_no), Nav::Orders, content).live(LIVE, None))
}
