//! Table order (seed 000, H68 재고관리): the admin tablet's stock menu
//! and the customer's ordering screen.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use jaego_core::role::Permission;
use maud::{Markup, html};
use serde::Deserialize;

use super::{Ctx, Nav, Screen, enc};
use crate::AppState;
use crate::error::ApiError;
use crate::routes::table_order::{MenuItemBody, get_display, get_menu, get_settings};

/// The events that change what a table-order page shows.
const LIVE: &[&str] = &[
    "stock.changed",
    "sku.updated",
    "table_order.ordered",
    "table_order.reset",
    "table_order.item_updated",
    "table_order.item_removed",
    "table_order.settings_updated",
];

/// The stores, to pick one.
pub async fn stores(State(state): State<AppState>, ctx: Ctx) -> Response {
    let t = ctx.t;
    super::store_picker(&state, &ctx, t.nav_table_order, Nav::TableOrder, |l| {
        html! {
            a.button.primary href={ "/table-order/" (enc(&l.code)) } { (t.admin_tablet) }
            a.button href={ "/table-order/" (enc(&l.code)) "/customer" } { (t.customer_screen) }
        }
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
pub struct MenuFilter {
    /// Text in the code or name.
    q: Option<String>,
    /// `tracked`, `untracked`, `sold_out`; anything else: all.
    show: Option<String>,
}

impl MenuFilter {
    fn keeps(&self, item: &MenuItemBody) -> bool {
        let text = self.q.as_deref().map(str::trim).unwrap_or("");
        let matches_text = text.is_empty() || {
            let text = text.to_lowercase();
            item.sku_code.to_lowercase().contains(&text) || item.name.to_lowercase().contains(&text)
        };
        let matches_show = match self.show.as_deref() {
            Some("tracked") => item.tracked,
            Some("untracked") => !item.tracked,
            Some("sold_out") => item.sold_out,
            _ => true,
        };
        matches_text && matches_show
    }
}

/// The admin tablet: every menu item with its tracking switch and counts
/// editable in place, "turn on for all", the reset options and "reset now".
pub async fn admin(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(store): Path<String>,
    Query(filter): Query<MenuFilter>,
) -> Response {
    let screen = admin_screen(&state, &ctx, store, filter).await;
    ctx.render(screen)
}

async fn admin_screen(
    state: &AppState,
    ctx: &Ctx,
    store: String,
    filter: MenuFilter,
) -> Result<Screen, ApiError> {
    let t = ctx.t;
    let Json(menu) = get_menu(State(state.clone()), ctx.auth.clone(), Path(store.clone())).await?;
    let Json(settings) = get_settings(State(state.clone()), ctx.auth.clone(), Path(store)).await?;
    let base = format!("/api/v1/table-order/{}", enc(&menu.location_code));
    let may_write = ctx.may(Permission::WriteStock);
    let may_settings = ctx.may(Permission::WriteCatalog);
    let shown: Vec<&MenuItemBody> = menu.items.iter().filter(|i| filter.keeps(i)).collect();
    let (schedule_daily, schedule_time) = match settings.reset_schedule.as_deref() {
        Some(s) => (true, s.strip_prefix("daily ").unwrap_or("").to_string()),
        None => (false, String::new()),
    };
    let show = filter.show.as_deref().unwrap_or("all");
    let content = html! {
        div.title-row {
            h1 { (t.stock_menu) " · " (menu.location_name) }
            a.button href={ "/table-order/" (enc(&menu.location_code)) "/customer" } { (t.customer_screen) }
        }
        section.toolbar aria-label=(t.actions) {
            @if may_write {
                button.button.primary type="button" #track-all
                    data-method="POST" data-url={ (base) "/track-all" } { (t.track_all) }
                button.button.danger type="button" #reset-now
                    data-method="POST" data-url={ (base) "/reset" } data-confirm=(t.reset_confirm) { (t.reset_now) }
            }
            div #settings-summary.summary data-live-region {
                (super::figure(t.reset_mode, if settings.reset_mode == "to_zero" { t.reset_to_zero } else { t.reset_to_initial }))
                (super::figure(t.reset_when, match &settings.reset_schedule { Some(s) => s.replace("daily", t.daily), None => t.manual.to_string() }))
                (super::figure(t.show_remaining, if settings.show_remaining { t.on } else { t.off }))
                @if let Some(next) = &settings.next_reset_at { (super::figure(t.next_reset, super::local_time(next, &settings.time_zone))) }
                @if let Some(last) = &settings.last_reset_at { (super::figure(t.last_reset, super::local_time(last, &settings.time_zone))) }
            }
        }
        form.filters method="get" role="search" {
            label for="q" { (t.search) }
            input #q type="search" name="q" value=[filter.q.as_deref()] placeholder=(t.search_hint);
            label for="show" { (t.filter) }
            select #show name="show" {
                @for (value, label) in [("all", t.all), ("tracked", t.tracked), ("untracked", t.untracked), ("sold_out", t.sold_out)] {
                    option value=(value) selected[show == value] { (label) }
                }
            }
            button.button type="submit" { (t.apply) }
        }
        div #menu-items data-live-region {
            p.count { (t.items_shown.replace("{n}", &shown.len().to_string()).replace("{total}", &menu.items.len().to_string())) }
            table.grid.menu {
                thead { tr {
                    th scope="col" { (t.code) } th scope="col" { (t.name) }
                    th scope="col" { (t.tracking) } th scope="col" class="num" { (t.initial_count) }
                    th scope="col" class="num" { (t.current_count) } th scope="col" class="num" { (t.available) }
                    th scope="col" { (t.state) }
                } }
                tbody {
                    @for item in &shown {
                        (menu_row(ctx, &base, item, may_write))
                    }
                }
            }
        }
        @if may_write {
            details.panel #add-item {
                summary { (t.add_to_menu) }
                form.inline data-api data-method="PUT" data-url={ (base) "/menu/{sku}" } {
                    label for="add-sku" { (t.sku_code) }
                    input #add-sku name="sku" required data-path;
                    label for="add-initial" { (t.initial_count) }
                    input #add-initial name="initial_count" type="number" min="0" inputmode="numeric" data-type="int";
                    label for="add-current" { (t.current_count) }
                    input #add-current name="current_count" type="number" min="0" inputmode="numeric" data-type="int";
                    button.button.primary type="submit" { (t.add) }
                }
            }
        }
        @if may_settings {
            details.panel #options open {
                summary { (t.options) }
                form #settings-form data-api data-kind="table-settings" data-method="PUT" data-url={ (base) "/settings" } {
                    fieldset {
                        legend { (t.reset_mode) }
                        label.choice { input type="radio" name="reset_mode" value="to_initial" checked[settings.reset_mode != "to_zero"]; (t.reset_to_initial) }
                        label.choice { input type="radio" name="reset_mode" value="to_zero" checked[settings.reset_mode == "to_zero"]; (t.reset_to_zero) }
                    }
                    fieldset {
                        legend { (t.reset_when) }
                        label.choice { input type="radio" name="schedule" value="manual" checked[!schedule_daily]; (t.manual) }
                        label.choice { input type="radio" name="schedule" value="daily" checked[schedule_daily]; (t.daily_at) }
                        label for="reset-time" .sr-only { (t.reset_time) }
                        input #reset-time type="time" name="reset_time" value=(schedule_time);
                        span.hint { (t.time_zone) ": " (settings.time_zone) }
                    }
                    fieldset {
                        legend { (t.show_remaining) }
                        label.choice { input #show-remaining type="checkbox" name="show_remaining" checked[settings.show_remaining]; (t.show_remaining_hint) }
                    }
                    button.button.primary type="submit" { (t.save) }
                }
            }
        }
    };
    Ok(Screen::new(
        format!("{} · {}", t.stock_menu, menu.location_name),
        Nav::TableOrder,
        content,
    )
    .live(LIVE, None))
}

fn menu_row(ctx: &Ctx, base: &str, item: &MenuItemBody, may_write: bool) -> Markup {
    let t = ctx.t;
    let url = format!("{base}/menu/{}", enc(&item.sku_code));
    let id = format!("item-{}", super::dom_id(&item.sku_code));
    html! {
        tr #(id) .sold-out[item.sold_out] .untracked[!item.tracked] data-sku=(item.sku_code) {
            td.code { (item.sku_code) }
            td { (item.name) }
            td {
                label.switch {
                    input type="checkbox" role="switch" name="tracked" checked[item.tracked] disabled[!may_write]
                        id={ (id) "-tracked" } data-field="tracked" data-method="PUT" data-url=(url);
                    span.sr-only { (t.tracking) " " (item.name) }
                    span.switch-text { @if item.tracked { (t.on) } @else { (t.off) } }
                }
            }
            @if item.bundle {
                // A bundle's counts are its components': shown, never set.
                td.num { "—" }
                td.num.current { (item.on_hand) }
            } @else {
                td.num {
                    input.count type="number" min="0" inputmode="numeric" value=(item.initial_count) disabled[!may_write]
                        id={ (id) "-initial" } aria-label={ (t.initial_count) " " (item.name) }
                        data-field="initial_count" data-type="int" data-method="PUT" data-url=(url);
                }
                td.num {
                    input.count type="number" min="0" inputmode="numeric" value=(item.on_hand) disabled[!may_write]
                        id={ (id) "-current" } aria-label={ (t.current_count) " " (item.name) }
                        data-field="current_count" data-type="int" data-method="PUT" data-url=(url);
                }
            }
            td.num.available { (item.available) }
            td {
                @if item.sold_out { span.badge.bad { (t.sold_out) } }
                @else if !item.tracked { span.badge.muted { (t.untracked) } }
                @else { span.badge.good { (t.on_sale) } }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct CustomerQuery {
    /// The table, put into each order's reference.
    table: Option<String>,
}

/// The customer's screen: the menu as large buttons, what is left when the
/// store shows it, sold-out badges, a cart and the order button. A refused
/// order names the item that is short.
pub async fn customer(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(store): Path<String>,
    Query(q): Query<CustomerQuery>,
) -> Response {
    let screen = async {
        let t = ctx.t;
        let Json(display) = get_display(State(state.clone()), ctx.auth.clone(), Path(store.clone())).await?;
        // The order route takes the store's id as well as its code.
        let base = format!("/api/v1/table-order/{}", enc(&display.location_id));
        let may_order = ctx.may(Permission::WriteOrders);
        let table = q.table.unwrap_or_default();
        let content = html! {
            div.title-row {
                h1 { (display.location_name) }
                @if !table.is_empty() { span.table-no { (t.table) " " (table) } }
            }
            div.customer {
                section #menu.menu-grid data-live-region aria-label=(t.menu) {
                    @for item in &display.items {
                        button.menu-item type="button" .sold-out[item.sold_out]
                            id={ "menu-" (super::dom_id(&item.sku_code)) }
                            data-add=(item.sku_code) data-name=(item.name)
                            data-remaining=[item.remaining]
                            disabled[item.sold_out || !may_order] aria-disabled[item.sold_out] {
                            span.menu-name { (item.name) }
                            @if item.sold_out {
                                span.badge.bad.sold-out-badge { (t.sold_out) }
                            } @else if let Some(left) = item.remaining {
                                span.remaining { (t.remaining.replace("{n}", &left.to_string())) }
                            }
                        }
                    }
                }
                section #cart.cart aria-label=(t.cart) data-order-url={ (base) "/orders" } data-reference={ @if table.is_empty() { "table" } @else { "table " (table) } } {
                    h2 { (t.cart) }
                    ul #cart-lines {}
                    p #cart-empty.empty { (t.cart_empty) }
                    div #order-message.order-message role="alert" aria-live="assertive" {}
                    button #place-order.button.primary.wide type="button" disabled { (t.place_order) }
                    @if !may_order { p.hint { (t.view_only) } }
                }
            }
        };
        Ok::<_, ApiError>(
            Screen::new(display.location_name.clone(), Nav::TableOrder, content)
                .live(LIVE, None)
                .bare(),
        )
    }
    .await;
    ctx.render(screen)
}
