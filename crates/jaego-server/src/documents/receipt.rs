//! Pickup receipts (픽업 접수증): an 80 mm roll receipt per request, with
//! the receipt code as a Code 128 barcode the store scans at reception and
//! completion, the order number, the customer and the items.
//!
//! What a receipt says is decided by the store (`jaego_store::pickups`:
//! which units a new, cancellation or expired receipt lists); this module
//! only lays it out. Text is Korean with English beside it.

use jaego_core::barcode::{Barcode, Symbology};
use jaego_store::pickups::{Pickup, ReceiptKind};

use super::font::fit_text;
use super::{Align, BarcodeStyle, Drawing, pdf};

/// Receipt roll width, millimetres.
pub const RECEIPT_WIDTH_MM: f32 = 80.0;
const MARGIN_MM: f32 = 5.0;
const LINE_MM: f32 = 5.5;

/// One line of a receipt's item list: SKU code, name, units.
#[derive(Debug, Clone)]
pub struct ReceiptLine {
    pub sku_code: String,
    pub name: String,
    pub units: i64,
}

/// The title a receipt prints for its kind, or for a reprint in the
/// request's current status.
pub fn title(kind: Option<ReceiptKind>, pickup: &Pickup) -> &'static str {
    match kind {
        Some(ReceiptKind::New) => "픽업 접수증 / Pickup receipt",
        Some(ReceiptKind::Cancellation) => {
            if pickup.items.iter().all(|i| i.units() == 0) {
                "픽업 취소 (접수증 폐기) / Cancelled"
            } else {
                "픽업 부분 취소 / Items cancelled"
            }
        }
        Some(ReceiptKind::Expired) => "픽업 기한 종료 / Pickup expired",
        None => match pickup.status {
            jaego_core::pickup::PickupStatus::Requested => "픽업 접수증 / Pickup receipt",
            jaego_core::pickup::PickupStatus::Received => "픽업 보관 / Held for pickup",
            jaego_core::pickup::PickupStatus::Completed => "픽업 완료 / Picked up",
            jaego_core::pickup::PickupStatus::Unavailable => "픽업 불가 / Unavailable",
            jaego_core::pickup::PickupStatus::Cancelled => "픽업 취소 / Cancelled",
            jaego_core::pickup::PickupStatus::Expired => "픽업 기한 종료 / Pickup expired",
        },
    }
}

fn local(us: i64, zone: &str) -> String {
    let Ok(t) = jiff::Timestamp::from_microsecond(us) else {
        return us.to_string();
    };
    match jaego_core::schedule::zone(zone) {
        Ok(z) => t.to_zoned(z).strftime("%Y-%m-%d %H:%M").to_string(),
        Err(_) => t.to_string(),
    }
}

/// Lays out one receipt: `lines` are the units it lists; times in `zone`.
pub fn receipt_drawing(
    kind: Option<ReceiptKind>,
    pickup: &Pickup,
    lines: &[ReceiptLine],
    zone: &str,
) -> Drawing {
    let width = RECEIPT_WIDTH_MM - 2.0 * MARGIN_MM;
    let height = 95.0 + LINE_MM * 2.0 * lines.len() as f32;
    let mut d = Drawing::new(RECEIPT_WIDTH_MM, height);
    let mut y = 10.0;
    let center = RECEIPT_WIDTH_MM / 2.0;
    let (t, size) = fit_text(title(kind, pickup), width, 12.0, 7.0);
    d.text(center, y, size, t, Align::Center);
    y += 6.0;
    let (store, size) = fit_text(
        &format!("{} ({})", pickup.location_name, pickup.location_code),
        width,
        9.0,
        6.0,
    );
    d.text(center, y, size, store, Align::Center);
    y += 3.0;
    let code = Barcode::new(Symbology::Code128, &pickup.receipt_code)
        .expect("receipt codes are P and 12 digits, always Code 128");
    d.barcode(&code, MARGIN_MM, y, width, 18.0, &BarcodeStyle::default())
        .expect("a 13-character receipt code fits 70 mm");
    y += 28.0;
    let row = |d: &mut Drawing, y: &mut f32, label: &str, value: &str| {
        let (v, size) = fit_text(&format!("{label}: {value}"), width, 8.5, 6.0);
        d.text(MARGIN_MM, *y, size, v, Align::Left);
        *y += LINE_MM;
    };
    row(&mut d, &mut y, "주문번호 Order", &pickup.external_no);
    row(
        &mut d,
        &mut y,
        "고객 Customer",
        &format!("{} {}", pickup.customer_name, pickup.customer_phone),
    );
    row(
        &mut d,
        &mut y,
        "요청 Requested",
        &local(pickup.requested_at, zone),
    );
    if let Some(deadline) = pickup.deadline_at {
        row(&mut d, &mut y, "기한 Until", &local(deadline, zone));
    }
    if !pickup.reason.is_empty() {
        row(&mut d, &mut y, "사유 Reason", &pickup.reason);
    }
    d.rect(MARGIN_MM, y - 2.5, width, 0.3);
    y += 3.0;
    for l in lines {
        let (name, size) = fit_text(&l.name, width - 12.0, 8.5, 6.0);
        d.text(MARGIN_MM, y, size, name, Align::Left);
        d.text(
            RECEIPT_WIDTH_MM - MARGIN_MM,
            y,
            8.5,
            format!("× {}", l.units),
            Align::Right,
        );
        y += LINE_MM;
        let (sku, size) = fit_text(&l.sku_code, width, 7.0, 6.0);
        d.text(MARGIN_MM, y, size, sku, Align::Left);
        y += LINE_MM;
    }
    let total: i64 = lines.iter().map(|l| l.units).sum();
    d.rect(MARGIN_MM, y - 2.5, width, 0.3);
    y += 3.0;
    d.text(
        RECEIPT_WIDTH_MM - MARGIN_MM,
        y,
        9.0,
        format!("합계 Total {total}"),
        Align::Right,
    );
    d
}

/// Receipts as one PDF, one page per receipt, each page as long as its
/// receipt.
pub fn receipts_pdf(title: &str, drawings: &[Drawing]) -> Vec<u8> {
    let mut doc = pdf::Document::new(title);
    for d in drawings {
        let mut page = pdf::Page::new(d.width_mm, d.height_mm);
        page.draw(d, 0.0, 0.0);
        doc.add_page(page);
    }
    doc.finish()
}
