//! The scan station (seed 001 송장스캐닝): scan a tracking number or a
//! packing slip, then every unit; large feedback for each scan (accepted,
//! wrong item, too many, unknown), progress, and confirmation (with a
//! manager's override reason when units are left).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use jaego_core::role::Permission;
use maud::html;
use serde::Deserialize;

use super::{Ctx, Nav, Screen, enc};
use crate::AppState;
use crate::routes::shipments::{ShipmentBody, open_at_scan_station};

const LIVE: &[&str] = &[
    "shipment.scanned",
    "shipment.confirmed",
    "shipment.cancelled",
    "shipment.tracking_registered",
];

#[derive(Debug, Default, Deserialize)]
pub struct ScanQuery {
    /// What the scanner read first: a tracking number or a slip code.
    code: Option<String>,
    /// The slip code of the shipment just confirmed here.
    confirmed: Option<String>,
}

/// A shipment's state in the user's language.
pub(super) fn state_label(ctx: &Ctx, state: &str) -> &'static str {
    let t = ctx.t;
    match state {
        "open" => t.sh_open,
        "confirmed" => t.sh_confirmed,
        "cancelled" => t.st_cancelled,
        _ => t.state,
    }
}

fn print_link(ids: Option<&str>) -> String {
    match ids {
        Some(id) => format!("/api/v1/print/shipments.pdf?shipments={}", enc(id)),
        None => "/api/v1/print/shipments.pdf".to_string(),
    }
}

pub async fn station(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ScanQuery>,
) -> Response {
    let t = ctx.t;
    let code = super::scanned_code(q.code.as_deref());
    let found = super::look_up_scanned(code.as_deref(), async |code| {
        let Json(s) =
            open_at_scan_station(State(state.clone()), ctx.auth.clone(), Path(code)).await?;
        Ok(Some(s))
    })
    .await;
    let (shipment, missing): (Option<ShipmentBody>, Option<String>) = match found {
        Ok(found) => found,
        Err(e) => return ctx.error(&e),
    };
    let may_scan = ctx.may(Permission::WriteOrders);
    let may_override = ctx.may(Permission::Supervise);
    let content = html! {
        div.title-row {
            h1 { (t.nav_scan) }
            a.button.quiet-dark href=(print_link(None)) target="_blank" { (t.print_open_shipments) }
        }
        form.scan-open method="get" action="/scan" {
            label for="scan-code" { (t.scan_parcel) }
            input #scan-code.scan-input name="code" autocomplete="off" autocapitalize="none" spellcheck="false"
                autofocus[shipment.is_none()] value=[code.as_deref().filter(|_| shipment.is_none())];
            button.button type="submit" { (t.open) }
        }
        @if let Some(code) = &missing {
            p.scan-feedback.bad role="alert" data-result="not_found" { (t.scan_not_found.replace("{code}", code)) }
        }
        @if let (Some(done), None) = (&q.confirmed, &shipment) {
            p.scan-feedback.ok role="status" data-result="confirmed" { (t.scan_confirmed.replace("{code}", done)) }
        }
        @if let Some(s) = &shipment {
            div #shipment data-live-region data-shipment=(s.id) data-state=(s.state) {
                div.title-row {
                    h2 { (t.order) " " (s.order_no) " · " span.code { (s.code) } }
                    span.badge.status.{ "sh-" (s.state) } { (state_label(&ctx, &s.state)) }
                }
                div.summary {
                    (super::figure(t.tracking_no, s.tracking_no.as_deref().unwrap_or("—")))
                    (super::figure(t.courier, s.courier_name.as_deref().unwrap_or("—")))
                    (super::figure(t.location, &s.location_code))
                    (super::figure(t.customer, &s.recipient.name))
                    @if let Some(r) = &s.override_reason { (super::figure(t.reason, r)) }
                }
                div.progress {
                    progress #progress-bar max=(s.units.max(1)) value=(s.scanned) aria-label=(t.scanned) {}
                    span.progress-text #progress { (s.scanned) " / " (s.units) }
                }
                table.grid.scan-lines {
                    thead { tr { th { (t.sku) } th { (t.bin) } th.num { (t.units) } th.num { (t.scanned) } th.num { (t.remaining_units) } } }
                    tbody { @for l in &s.lines {
                        tr.done[l.remaining == 0] id={ "line-" (super::dom_id(&l.sku_code)) } {
                            td {
                                span.code { (l.sku_code) } " " (l.sku_name)
                                @if !l.components.is_empty() { " " span.badge { (t.bundle_set) } }
                            }
                            td { (l.bin.as_deref().unwrap_or("")) }
                            td.num { (l.quantity) } td.num { (l.scanned) } td.num.available { (l.remaining) }
                        }
                        // A bundle line is scanned as its components (or
                        // the bundle's own barcode, a whole bundle).
                        @for c in &l.components {
                            tr.component.done[c.remaining == 0]
                                id={ "part-" (super::dom_id(&l.sku_code)) "-" (super::dom_id(&c.sku_code)) } {
                                td { "└ " span.code { (c.sku_code) } " " (c.sku_name) " "
                                    span.hint { (t.per_bundle.replace("{n}", &c.per_bundle.to_string())) } }
                                td {} td.num { (c.quantity) } td.num { (c.scanned) } td.num.available { (c.remaining) }
                            }
                        }
                    } }
                }
            }
            p.actions.scan-print {
                a.button.quiet-dark href=(print_link(Some(&s.id))) target="_blank" { (t.print_invoice_slip) }
            }
            @if s.state == "open" && may_scan {
                form #scan-form.scan-open data-scan data-url={ "/api/v1/shipments/" (s.id) "/scans" } {
                    label for="scan-item" { (t.scan_items) }
                    input #scan-item.scan-input name="barcode" autocomplete="off" autocapitalize="none" spellcheck="false" autofocus;
                    button.button type="submit" { (t.scan) }
                }
                div #scan-feedback.scan-feedback role="alert" aria-live="assertive"
                    data-t-accepted=(t.scan_accepted) data-t-wrong-item=(t.scan_wrong_item)
                    data-t-too-many=(t.scan_too_many) data-t-unknown-barcode=(t.scan_unknown) data-t-complete=(t.scan_complete) {}
                @let then = format!("/scan?confirmed={}", enc(&s.code));
                div.inline {
                    button.button.primary.big #confirm type="button" data-method="POST" data-url={ "/api/v1/shipments/" (s.id) "/confirm" }
                        data-body="{}" data-ok=(t.shipment_confirmed) data-then=(then) { (t.confirm_shipment) }
                    @if may_override {
                        details #override {
                            summary { (t.override_confirm) }
                            form.inline data-api data-method="POST" data-url={ "/api/v1/shipments/" (s.id) "/confirm" } data-then=(then) {
                                label for="override-reason" { (t.reason) }
                                input #override-reason name="override_reason" required maxlength="500";
                                button.button.danger type="submit" { (t.confirm_anyway) }
                            }
                        }
                    }
                }
            }
        }
    };
    // Live even without a parcel: the light tells the packer the station
    // is connected before the first scan.
    ctx.render(Ok(
        Screen::new(t.nav_scan, Nav::Scan, content).live(LIVE, None)
    ))
}
