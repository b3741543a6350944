//! The pickup counter (seed 001 Pick-up): tabs for reception (픽업 접수),
//! completion (픽업 등록/완료), history (접수 내역 조회, in the seed's
//! colours) and the print schedule (자동 출력 설정); the expired-receipts
//! prompt when the counter is first opened.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use jaego_core::limits::{PICKUP_DEADLINE_HOURS_MAX, PICKUP_DEADLINE_HOURS_MIN};
use jaego_core::pickup::PRINT_MINUTE_STEP;
use jaego_core::role::Permission;
use maud::{Markup, html};
use serde::Deserialize;

use super::{Ctx, Nav, Screen, enc};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::routes::pickups::{
    PickupBody, PickupQuery, RunsQuery, get_expired_prompt, get_pickup, get_settings, list_pickups,
    list_print_runs,
};

const LIVE: &[&str] = &[
    "pickup.requested",
    "pickup.items_cancelled",
    "pickup.settings_updated",
    "pickup.received",
    "pickup.completed",
    "pickup.unavailable",
    "pickup.cancelled",
    "pickup.expired",
    "pickup.printed",
    "pickup.scanned",
];

#[derive(Debug, Default, Deserialize)]
pub struct CounterQuery {
    tab: Option<String>,
    /// The receipt scanned (reception and completion tabs).
    code: Option<String>,
    status: Option<String>,
    order_no: Option<String>,
    customer: Option<String>,
}

fn status_label(ctx: &Ctx, status: &str) -> &'static str {
    let t = ctx.t;
    match status {
        "requested" => t.pk_requested,
        "received" => t.pk_received,
        "completed" => t.pk_completed,
        "unavailable" => t.pk_unavailable,
        "cancelled" => t.pk_cancelled,
        "expired" => t.pk_expired,
        _ => t.state,
    }
}

fn items(ctx: &Ctx, p: &PickupBody, completion: bool) -> Markup {
    let t = ctx.t;
    html! {
        table.grid.scan-lines {
            thead { tr { th { (t.sku) } th.num { (t.units) } th.num { (t.scanned) } } }
            tbody { @for i in &p.items {
                @let scanned = if completion { i.completion_scans } else { i.received_scans };
                tr.done[scanned >= i.units] id={ "pk-item-" (super::dom_id(&i.sku_code)) } {
                    td {
                        span.code { (i.sku_code) } " " (i.sku_name)
                        @if !i.components.is_empty() { " " span.badge { (t.bundle_set) } }
                    }
                    td.num { (i.units) } td.num { (scanned) }
                }
                // A bundle item is scanned as its components (or the
                // bundle's own barcode, a whole bundle).
                @for c in &i.components {
                    @let scanned = if completion { c.completion_scans } else { c.received_scans };
                    tr.component.done[scanned >= c.units]
                        id={ "pk-part-" (super::dom_id(&i.sku_code)) "-" (super::dom_id(&c.sku_code)) } {
                        td { "└ " span.code { (c.sku_code) } " " (c.sku_name) " "
                            span.hint { (t.per_bundle.replace("{n}", &c.per_unit.to_string())) } }
                        td.num { (c.units) } td.num { (scanned) }
                    }
                }
            } }
        }
    }
}

/// The stores, to pick a counter.
pub async fn stores(State(state): State<AppState>, ctx: Ctx) -> Response {
    let t = ctx.t;
    super::store_picker(&state, &ctx, t.nav_pickup, Nav::Pickup, |l| {
        html! { a.button.primary href={ "/pickup/" (enc(&l.code)) } { (t.nav_pickup) } }
    })
    .await
}

pub async fn counter(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(store): Path<String>,
    Query(q): Query<CounterQuery>,
) -> Response {
    let screen = counter_screen(&state, &ctx, store, q).await;
    ctx.render(screen)
}

async fn counter_screen(
    state: &AppState,
    ctx: &Ctx,
    store: String,
    q: CounterQuery,
) -> Result<Screen, ApiError> {
    let t = ctx.t;
    let s = || State(state.clone());
    let a = || ctx.auth.clone();
    let Json(settings) = get_settings(s(), a(), Path(store.clone())).await?;
    let Json(prompt) = get_expired_prompt(s(), a(), Path(store.clone())).await?;
    let tab = q.tab.as_deref().unwrap_or("reception");
    let base = format!("/pickup/{}", enc(&settings.location_code));
    let api = format!("/api/v1/pickup-stores/{}", enc(&settings.location_code));
    let may = ctx.may(Permission::WriteOrders);
    // Only the scanning tabs look a receipt up.
    let code = super::scanned_code(q.code.as_deref())
        .filter(|_| matches!(tab, "reception" | "completion"));
    let (pickup, missing) = super::look_up_scanned(code.as_deref(), async |code| {
        let Json(p) = get_pickup(s(), a(), Path(code)).await?;
        // Another store's receipt is not found at this counter.
        Ok((p.location_id == settings.location_id).then_some(p))
    })
    .await?;
    let tabs = [
        ("reception", t.pk_tab_reception),
        ("completion", t.pk_tab_completion),
        ("history", t.pk_tab_history),
        ("settings", t.pk_tab_settings),
    ];
    let body = match tab {
        "history" => history(state, ctx, &settings.location_code, &q).await?,
        "settings" => settings_tab(state, ctx, &api, &settings).await?,
        _ => html! {
            form.scan-open method="get" action=(base) {
                input type="hidden" name="tab" value=(tab);
                label for="pk-code" { (t.pk_scan_receipt) }
                input #pk-code.scan-input name="code" autocomplete="off" autocapitalize="none" spellcheck="false"
                    autofocus[pickup.is_none()];
                button.button type="submit" { (t.open) }
            }
            @if let Some(c) = &missing { p.scan-feedback.bad role="alert" { (t.scan_not_found.replace("{code}", c)) } }
            @if let Some(p) = &pickup {
                @let completion = tab == "completion";
                div #pickup data-live-region data-status=(p.status) {
                    div.title-row {
                        h2 { (t.order) " " (p.order_no) " · " span.code { (p.receipt_code) } }
                        span.{ "pk-" (p.status) } { strong { (status_label(ctx, &p.status)) } }
                    }
                    div.summary {
                        (super::figure(t.customer, &p.customer_name))
                        (super::figure(t.phone, &p.customer_phone))
                        @if let Some(d) = &p.deadline_at { (super::figure(t.pk_deadline, super::local_time(d, &settings.time_zone))) }
                        @if completion { (super::figure(t.pk_slip, if p.slip_scanned { "✓" } else { "—" })) (super::figure(t.pk_receipt, if p.receipt_scanned { "✓" } else { "—" })) }
                        @if !p.reason.is_empty() { (super::figure(t.reason, &p.reason)) }
                    }
                    (items(ctx, p, completion))
                }
                @let open = if completion { p.status == "received" } else { p.status == "requested" };
                @if open && may {
                    form #scan-form.scan-open data-scan data-done-status=(if completion { "completed" } else { "received" })
                        data-url={ "/api/v1/pickups/" (p.id) (if completion { "/completion-scans" } else { "/reception-scans" }) } {
                        label for="scan-item" { @if completion { (t.pk_scan_completion) } @else { (t.pk_scan_units) } }
                        input #scan-item.scan-input name="code" autocomplete="off" autocapitalize="none" spellcheck="false" autofocus;
                        button.button type="submit" { (t.scan) }
                    }
                    div #scan-feedback.scan-feedback role="alert" aria-live="assertive"
                        data-t-item=(t.pk_scanned_item) data-t-slip=(t.pk_scanned_slip) data-t-receipt=(t.pk_scanned_receipt)
                        data-t-complete=(if completion { t.pk_ready_to_complete } else { t.pk_all_received }) {}
                    div.inline {
                        @if completion {
                            button.button.primary.big #complete type="button" data-method="POST" data-url={ "/api/v1/pickups/" (p.id) "/complete" }
                                data-ok=(t.pk_completed_ok) { (t.pk_complete) }
                        }
                        details {
                            summary { @if completion { (t.pk_cancel) } @else { (t.pk_unavailable_action) } }
                            form.inline data-api data-method="POST" data-url={ "/api/v1/pickups/" (p.id) (if completion { "/cancel" } else { "/unavailable" }) } {
                                label for="pk-reason" { (t.reason) }
                                input #pk-reason name="reason" required;
                                button.button.danger type="submit" { (t.confirm) }
                            }
                        }
                    }
                }
            }
        },
    };
    let content = html! {
        h1 { (t.nav_pickup) " · " (settings.location_name) }
        @if prompt.ask && !prompt.pickups.is_empty() {
            section.panel.warn #expired-prompt role="alertdialog" aria-labelledby="expired-h" {
                h2 #expired-h { (t.pk_expired_title.replace("{n}", &prompt.pickups.len().to_string())) }
                ul { @for p in &prompt.pickups { li { (p.order_no) " · " (p.receipt_code) " · " (p.customer_name) } } }
                button.button.primary type="button" data-method="POST" data-url={ (api) "/expired-prompt" }
                    data-body=(serde_json::json!({"pickup_ids": prompt.pickups.iter().map(|p| p.id.clone()).collect::<Vec<_>>(), "print": true}).to_string())
                    data-then=(format!("{base}?tab={tab}")) { (t.pk_expired_ack) }
            }
        }
        nav.tabs aria-label=(t.nav_pickup) {
            @for (key, label) in tabs {
                a href={ (base) "?tab=" (key) } aria-current=[(key == tab).then_some("page")] { (label) }
            }
        }
        (body)
    };
    Ok(Screen::new(
        format!("{} · {}", t.nav_pickup, settings.location_name),
        Nav::Pickup,
        content,
    )
    // Every kind it listens to names the store: other stores' events
    // never reload this counter.
    .live(LIVE, Some(settings.location_id.clone())))
}

async fn history(
    state: &AppState,
    ctx: &Ctx,
    store: &str,
    q: &CounterQuery,
) -> Result<Markup, ApiError> {
    let t = ctx.t;
    let some = |s: &Option<String>| {
        s.as_ref()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let Json(page) = list_pickups(
        State(state.clone()),
        ctx.auth.clone(),
        ApiQuery(PickupQuery {
            location: Some(store.to_string()),
            status: some(&q.status),
            from: None,
            to: None,
            customer: some(&q.customer),
            order_no: some(&q.order_no),
            after: None,
            limit: Some(100),
        }),
    )
    .await?;
    Ok(html! {
        form.filters method="get" {
            input type="hidden" name="tab" value="history";
            label for="h-order" { (t.order_no) } input #h-order name="order_no" value=[q.order_no.as_deref()] size="10";
            label for="h-customer" { (t.customer) } input #h-customer name="customer" value=[q.customer.as_deref()] size="10";
            label for="h-status" { (t.state) }
            select #h-status name="status" {
                option value="" { (t.all) }
                @for st in ["requested", "received", "completed", "unavailable", "cancelled", "expired"] {
                    option value=(st) selected[q.status.as_deref() == Some(st)] { (status_label(ctx, st)) }
                }
            }
            button.button type="submit" { (t.apply) }
        }
        p.hint { (t.pk_colours) }
        div #history data-live-region {
            table.grid {
                thead { tr { th { (t.order_no) } th { (t.pk_receipt) } th { (t.customer) } th { (t.state) } th { (t.units) } th { (t.time) } th {} } }
                tbody { @for p in &page.items {
                    tr.{ "pk-" (p.status) } data-receipt=(p.receipt_code) {
                        td { (p.order_no) } td.code { (p.receipt_code) } td { (p.customer_name) }
                        td { (status_label(ctx, &p.status)) } td { (p.items.iter().map(|i| i.units).sum::<i64>()) }
                        td.time { (super::short_time(&p.requested_at)) }
                        td { a.button.quiet-dark href={ "/api/v1/pickups/" (p.id) "/receipt" } target="_blank" { (t.print) } }
                    }
                } }
            }
            @if page.items.is_empty() { p.empty { (t.nothing_found) } }
        }
    })
}

async fn settings_tab(
    state: &AppState,
    ctx: &Ctx,
    api: &str,
    settings: &crate::routes::pickups::PickupSettingsBody,
) -> Result<Markup, ApiError> {
    let t = ctx.t;
    let Json(runs) = list_print_runs(
        State(state.clone()),
        ctx.auth.clone(),
        Path(settings.location_code.clone()),
        ApiQuery(RunsQuery { limit: Some(20) }),
    )
    .await?;
    let minutes = settings.print_minutes.clone().unwrap_or_default();
    let may = ctx.may(Permission::WriteCatalog);
    Ok(html! {
        div #pickup-settings data-live-region {
            div.summary {
                (super::figure(t.pk_last_print, settings.last_print_at.as_deref().map_or("—".to_string(), |x| super::local_time(x, &settings.time_zone))))
                (super::figure(t.pk_next_print, settings.next_print_at.as_deref().map_or("—".to_string(), |x| super::local_time(x, &settings.time_zone))))
                (super::figure(t.pk_pending, settings.pending_prints))
                (super::figure(t.pk_held, settings.held_units))
            }
        }
        @if ctx.may(Permission::WriteOrders) {
            button.button.primary type="button" data-method="POST" data-url={ (api) "/print" } { (t.pk_print_now) }
        }
        form.panel #print-settings data-api data-kind="pickup-settings" data-method="PUT" data-url={ (api) "/settings" } {
            fieldset {
                legend { (t.pk_print_minutes) }
                @for m in (0u8..60).step_by(PRINT_MINUTE_STEP.into()) {
                    label.choice { input type="checkbox" name="minute" value=(m) checked[minutes.contains(&m)] disabled[!may]; (format!("{m:02}")) }
                }
            }
            label.choice { input type="checkbox" name="print_whole_on_cancel" checked[settings.print_whole_on_cancel] disabled[!may]; (t.pk_whole_on_cancel) }
            label for="deadline" { (t.pk_deadline_hours) }
            input #deadline.count type="number" name="deadline_hours" min=(PICKUP_DEADLINE_HOURS_MIN) max=(PICKUP_DEADLINE_HOURS_MAX) value=(settings.deadline_hours) data-type="int" disabled[!may];
            @if may { button.button.primary type="submit" { (t.save) } }
        }
        h2 { (t.pk_print_runs) }
        ul.plain { @for r in &runs {
            li { (super::local_time(&r.created_at, &settings.time_zone)) " · " (r.cause) " · " (r.receipts.len()) " "
                 a href=(r.document) target="_blank" { "PDF" } }
        } }
    })
}
