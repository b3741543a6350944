//! Channels (seeds 002, 004): shared inventory, each channel's publish
//! basis and linked locations, SKU links, exclusions and published
//! figures; webhooks with their delivery log and dead letters.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use jaego_core::role::Permission;
use maud::html;

use super::{Ctx, Nav, Screen, enc};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::routes::catalog::ListQuery;
use crate::routes::orders::{LinkQuery, list_sku_links};
use crate::routes::places::{get_channel, list_channels};
use crate::routes::sharing::{
    FigureQuery, get_channel_sharing, get_sharing, list_channel_figures, list_exclusions,
};
use crate::routes::webhooks::{PageQuery, list_attempts, list_dead_letters, list_webhooks};

const LIVE: &[&str] = &[
    "channel.created",
    "channel.updated",
    "channel.stock",
    "sharing.updated",
    "channel.sharing_updated",
    "channel.exclusion_added",
    "channel.exclusion_removed",
    "sku_link.created",
    "sku_link.removed",
];

const BASES: [&str; 4] = ["available", "on_hand", "fixed", "untracked"];

pub async fn list(State(state): State<AppState>, ctx: Ctx) -> Response {
    let screen = async {
        let t = ctx.t;
        let Json(sharing) = get_sharing(State(state.clone()), ctx.auth.clone()).await?;
        let Json(channels) = list_channels(
            State(state.clone()),
            ctx.auth.clone(),
            ApiQuery(ListQuery { after: None, limit: Some(500) }),
        )
        .await?;
        let may = ctx.may(Permission::WriteCatalog);
        let content = html! {
            div.title-row {
                h1 { (t.nav_channels) }
                @if may { a.button href="/webhooks" { (t.webhooks) } }
            }
            section.panel #sharing data-live-region {
                h2 { (t.shared_inventory) }
                label.switch {
                    input #sharing-enabled type="checkbox" role="switch" checked[sharing.enabled] disabled[!may]
                        data-field="enabled" data-method="PUT" data-url="/api/v1/sharing";
                    span { (t.sharing_on) }
                }
                p.hint { (t.sharing_scope) ": " (sharing.scope)
                    @if !sharing.channel_kinds.is_empty() { " · " (sharing.channel_kinds.join(", ")) }
                    @if !sharing.channels.is_empty() { " · " (sharing.channels.join(", ")) } }
            }
            table.grid #channels data-live-region {
                thead { tr { th scope="col" { (t.code) } th scope="col" { (t.name) } th scope="col" { (t.kind) } th scope="col" { (t.linked_locations) } } }
                tbody {
                    @for c in &channels.items {
                        tr { th scope="row" { a href={ "/channels/" (enc(&c.code)) } { (c.code) } } td { (c.name) } td { (c.kind) }
                             td { (c.locations.len()) } }
                    }
                }
            }
        };
        Ok::<_, ApiError>(Screen::new(t.nav_channels, Nav::Channels, content).live(LIVE, None))
    }
    .await;
    ctx.render(screen)
}

pub async fn detail(State(state): State<AppState>, ctx: Ctx, Path(code): Path<String>) -> Response {
    let screen = async {
        let t = ctx.t;
        let s = || State(state.clone());
        let a = || ctx.auth.clone();
        let Json(channel) = get_channel(s(), a(), Path(code.clone())).await?;
        let Json(sharing) = get_channel_sharing(s(), a(), Path(code.clone())).await?;
        let Json(figures) = list_channel_figures(s(), a(), Path(code.clone()), ApiQuery(FigureQuery { sku: None, after: None, limit: Some(200) })).await?;
        let Json(exclusions) = list_exclusions(s(), a(), Path(code.clone()), ApiQuery(ListQuery { after: None, limit: Some(200) })).await?;
        let Json(links) = list_sku_links(s(), a(), Path(code.clone()), ApiQuery(LinkQuery { after: None, limit: Some(200) })).await?;
        let (sku_codes, location_codes) = super::movements::codes(&state, &ctx).await?;
        let linked: Vec<String> = channel.locations.iter().map(|id| super::movements::code(&location_codes, id).to_string()).collect();
        let base = format!("/api/v1/channels/{}", enc(&channel.code));
        let may = ctx.may(Permission::WriteCatalog);
        let may_orders = ctx.may(Permission::WriteOrders);
        let content = html! {
            p { a href="/channels" { "← " (t.nav_channels) } }
            h1 { (channel.name) " " span.code { (channel.code) } }
            div #channel data-live-region {
                section.panel {
                    h2 { (t.publish) }
                    form.inline #sharing-form data-api data-method="PUT" data-url={ (base) "/sharing" } {
                        label.choice { input type="checkbox" name="enabled" checked[sharing.enabled] disabled[!may]; (t.sharing_on) }
                        label for="basis" { (t.publish_basis) }
                        select #basis name="basis" disabled[!may] {
                            @for b in BASES { option value=(b) selected[sharing.basis == b] { (b) } }
                        }
                        label for="fixed" { (t.fixed_figure) }
                        input #fixed.count name="fixed_figure" type="number" min="0" data-type="int" value=[sharing.fixed_figure] disabled[!may];
                        label for="buffer" { (t.buffer) }
                        input #buffer.count name="buffer" type="number" min="0" data-type="int" value=(sharing.buffer) disabled[!may];
                        @if may { button.button.primary type="submit" { (t.save) } }
                    }
                }
                section.panel {
                    h2 { (t.linked_locations) }
                    form.inline data-api data-method="PUT" data-url={ (base) "/locations" } {
                        label for="locations" { (t.locations_in_order) }
                        input #locations name="locations" data-list value=(linked.join(", ")) size="30" disabled[!may];
                        @if may { button.button type="submit" { (t.save) } }
                    }
                }
                section.panel {
                    h2 { (t.sku_links) " (" (links.items.len()) ")" }
                    @if may_orders {
                        div.inline {
                            button.button type="button" data-method="POST" data-url={ (base) "/sku-links/auto" } { (t.auto_link) }
                        }
                        form.inline data-api data-method="POST" data-url={ (base) "/sku-links" } data-reset {
                            label for="ln-item" { (t.item) } input #ln-item name="item_code" required size="10";
                            label for="ln-opt" { (t.option) } input #ln-opt name="item_option" size="8";
                            label for="ln-sku" { (t.sku_code) } input #ln-sku name="sku" required size="10";
                            button.button type="submit" { (t.link) }
                        }
                    }
                    table.grid {
                        thead { tr { th scope="col" { (t.item) } th scope="col" { (t.sku) } th scope="col" { (t.source) } th {} } }
                        tbody { @for l in &links.items {
                            tr { td { span.code { (l.item_code) @if !l.item_option.is_empty() { " / " (l.item_option) } } } td { (super::movements::code(&sku_codes, &l.sku_id)) } td { (l.source) }
                                 td { @if may_orders { button.button.quiet-dark type="button" data-method="DELETE"
                                        data-url={ (base) "/sku-links?" (serde_urlencoded::to_string([("item_code", &l.item_code), ("item_option", &l.item_option)]).unwrap_or_default()) }
                                        data-confirm=(t.js_confirm) { (t.unlink) } } } }
                        } }
                    }
                }
                section.panel {
                    h2 { (t.exclusions) }
                    @if may {
                        form.inline data-api data-method="PUT" data-url={ (base) "/exclusions/{sku}" } data-reset {
                            label for="ex-sku" { (t.sku_code) } input #ex-sku name="sku" data-path required size="10";
                            button.button type="submit" { (t.exclude) }
                        }
                    }
                    ul.plain { @for x in &exclusions.items {
                        li { (x.sku_code) " " @if may { button.button.quiet-dark type="button" data-method="DELETE" data-url={ (base) "/exclusions/" (enc(&x.sku_code)) } { (t.include_again) } } }
                    } }
                }
                section.panel {
                    h2 { (t.published_figures) }
                    table.grid {
                        thead { tr { th scope="col" { (t.sku) } th scope="col" .num { (t.figure) } th scope="col" { (t.reason) } th scope="col" { (t.source) } } }
                        tbody { @for f in &figures.items {
                            tr { td { (f.sku_code) } td.num { @if let Some(n) = f.figure { (n) } @else { "—" } } td { (f.reason) } td { (f.source) } }
                        } }
                    }
                }
            }
        };
        Ok::<_, ApiError>(Screen::new(channel.name.clone(), Nav::Channels, content).live(LIVE, None))
    }
    .await;
    ctx.render(screen)
}

/// Webhooks: create, pause or resume, rotate the secret, delete; each
/// endpoint's recent deliveries and dead letters (redeliver).
pub async fn webhooks(State(state): State<AppState>, ctx: Ctx) -> Response {
    let screen = async {
        let t = ctx.t;
        let s = || State(state.clone());
        let a = || ctx.auth.clone();
        let Json(hooks) = list_webhooks(s(), a(), ApiQuery(PageQuery { after: None, limit: Some(100) })).await?;
        let mut logs = Vec::new();
        for h in &hooks.items {
            let Json(attempts) = list_attempts(s(), a(), Path(h.id.clone()), ApiQuery(PageQuery { after: None, limit: Some(20) })).await?;
            let Json(dead) = list_dead_letters(s(), a(), Path(h.id.clone()), ApiQuery(PageQuery { after: None, limit: Some(20) })).await?;
            logs.push((h, attempts.items, dead.items));
        }
        let content = html! {
            p { a href="/channels" { "← " (t.nav_channels) } }
            h1 { (t.webhooks) }
            details.panel {
                summary { (t.new_webhook) }
                form.inline data-api data-method="POST" data-url="/api/v1/webhooks" data-show="webhook-secret" data-show-field="secret" data-reset {
                    label for="wh-url" { "URL" } input #wh-url name="url" type="url" required size="40";
                    label for="wh-kinds" { (t.event_kinds) } input #wh-kinds name="kinds" data-list placeholder="channel.stock, order.*" size="30";
                    label for="wh-channel" { (t.channel) } input #wh-channel name="channel" data-optional size="8";
                    label for="wh-desc" { (t.description) } input #wh-desc name="description";
                    button.button.primary type="submit" { (t.create) }
                }
                p.hint { (t.secret_once) }
                pre #webhook-secret.secret hidden {}
            }
            div #webhooks data-live-region {
                @for (h, attempts, dead) in &logs {
                    section.panel.webhook id={ "webhook-" (h.id) } {
                        h2 { span.code { (h.url) } }
                        div.inline {
                            label.switch {
                                input type="checkbox" role="switch" checked[h.active] data-field="active" data-method="PATCH" data-url={ "/api/v1/webhooks/" (h.id) };
                                span { (t.active) }
                            }
                            button.button type="button" data-method="POST" data-url={ "/api/v1/webhooks/" (h.id) "/rotate-secret" } data-confirm=(t.js_confirm)
                                data-show="webhook-secret" data-show-field="secret" { (t.rotate_secret) }
                            button.button.danger type="button" data-method="DELETE" data-url={ "/api/v1/webhooks/" (h.id) } data-confirm=(t.js_confirm) { (t.delete) }
                        }
                        p.hint { (t.event_kinds) ": " (h.kinds.join(", ")) " · " (t.delivered_up_to) " " (h.delivery.cursor_seq)
                            @if h.delivery.failures > 0 { " · " span.badge.bad { (t.failures) " " (h.delivery.failures) } }
                            @if let Some(e) = &h.delivery.last_error { " · " (e) } }
                        h3 { (t.delivery_log) }
                        table.grid {
                            thead { tr { th { (t.time) } th { "#" } th { (t.kind) } th .num { "HTTP" } th .num { "ms" } th { (t.error) } } }
                            tbody { @for x in attempts {
                                tr.low[x.error.is_some()] { td.time { (super::short_time(&x.created_at)) } td { (x.seq) } td { (x.kind) }
                                    td.num { @if let Some(s) = x.status { (s) } } td.num { (format!("{:.0}", x.latency_ms)) } td { (x.error.as_deref().unwrap_or("")) } }
                            } }
                        }
                        @if !dead.is_empty() {
                            h3 { (t.dead_letters) }
                            ul.plain { @for d in dead {
                                li { (d.seq) " " (d.kind) " · " (d.state) " · " (d.last_error) " "
                                    button.button type="button" data-method="POST" data-url={ "/api/v1/webhooks/" (h.id) "/dead-letters/" (d.id) "/redeliver" } { (t.redeliver) } }
                            } }
                        }
                    }
                }
                @if logs.is_empty() { p.empty { (t.nothing_found) } }
            }
        };
        Ok::<_, ApiError>(
            Screen::new(t.webhooks, Nav::Channels, content).live(&["webhook.created", "webhook.updated", "webhook.deleted"], None),
        )
    }
    .await;
    ctx.render(screen)
}
