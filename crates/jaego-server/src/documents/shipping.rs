//! Shipping documents: the packing slip (A4, with the shipment's code as
//! a Code 128 barcode the scan station reads) and the courier invoice
//! (a 100 × 150 mm label with the tracking number as a barcode), and a
//! print run of both as one PDF in the tenant's print order.

use jaego_core::barcode::{Barcode, Symbology};
use jaego_store::shipments::Shipment;

use super::{Align, BarcodeStyle, Drawing, pdf};

/// A4 portrait, millimetres.
pub const SLIP_W_MM: f32 = 210.0;
pub const SLIP_H_MM: f32 = 297.0;
/// The packing slip's barcode box, for readers that look for it.
pub const SLIP_BARCODE: (f32, f32, f32, f32) = (15.0, 28.0, 90.0, 20.0);
/// A courier label, millimetres.
pub const INVOICE_W_MM: f32 = 100.0;
pub const INVOICE_H_MM: f32 = 150.0;
/// The invoice's tracking-number barcode box.
pub const INVOICE_BARCODE: (f32, f32, f32, f32) = (5.0, 18.0, 90.0, 22.0);

/// Lines of goods per slip page.
const SLIP_ROWS_PER_PAGE: usize = 26;

/// Which documents a print run holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Documents {
    /// Per shipment its invoice (if it has a tracking number), then its slip.
    Both,
    Invoices,
    Slips,
}

/// At most `max` characters of `s`, with an ellipsis when cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// A Code 128 barcode of a code jaego made or checked (slip codes,
/// tracking numbers): failing here is a bug.
fn code128(text: &str) -> Barcode {
    Barcode::new(Symbology::Code128, text).expect("slip codes and tracking numbers are ASCII")
}

/// One row of a packing slip's table: a shipment line, or, under a bundle
/// line, one of its components (what the packer picks and scans).
struct SlipRow<'a> {
    /// The line number; empty on a component's row.
    no: String,
    sku_code: &'a str,
    name: &'a str,
    bin: Option<&'a str>,
    quantity: i64,
    /// A component of the bundle line above.
    part: bool,
    /// Ticked by hand: every row but a bundle line (its parts are).
    tick: bool,
}

fn slip_rows(s: &Shipment) -> Vec<SlipRow<'_>> {
    let mut rows = Vec::with_capacity(s.lines.len());
    for l in &s.lines {
        rows.push(SlipRow {
            no: l.line_no.to_string(),
            sku_code: &l.sku_code,
            name: &l.sku_name,
            bin: l.bin.as_deref(),
            quantity: l.quantity,
            part: false,
            tick: l.components.is_empty(),
        });
        rows.extend(l.components.iter().map(|c| SlipRow {
            no: String::new(),
            sku_code: &c.sku_code,
            name: &c.sku_name,
            bin: None,
            quantity: c.quantity,
            part: true,
            tick: true,
        }));
    }
    rows
}

/// The packing slip of `s`, one drawing per A4 page; its lines print in
/// the order they come in (the store sorts them for the print order), a
/// bundle line with its components under it.
pub fn packing_slip(s: &Shipment) -> Vec<Drawing> {
    let rows = slip_rows(s);
    let chunks: Vec<&[SlipRow<'_>]> = if rows.is_empty() {
        vec![&[]]
    } else {
        rows.chunks(SLIP_ROWS_PER_PAGE).collect()
    };
    let pages = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(page, rows)| slip_page(s, rows, page + 1, pages))
        .collect()
}

fn slip_page(s: &Shipment, rows: &[SlipRow<'_>], page: usize, pages: usize) -> Drawing {
    let mut d = Drawing::new(SLIP_W_MM, SLIP_H_MM);
    d.text(15.0, 20.0, 16.0, "포장 명세서 / Packing slip", Align::Left);
    d.text(195.0, 20.0, 9.0, format!("{page} / {pages}"), Align::Right);
    let (x, y, w, h) = SLIP_BARCODE;
    d.barcode(&code128(&s.code), x, y, w, h, &BarcodeStyle::default())
        .expect("a slip code fits 90 mm");
    let courier = match (&s.courier, &s.tracking_no) {
        (Some(c), Some(t)) => format!("{} {t}", c.name),
        _ => "미등록 / not registered".to_string(),
    };
    let facts = [
        format!("주문 / Order: {}", clip(&s.order_no, 40)),
        format!("출고지 / From: {}", clip(&s.location_code, 40)),
        format!("택배 / Courier: {}", clip(&courier, 40)),
        format!("받는 분 / To: {}", clip(&s.customer.name, 40)),
        clip(&s.customer.address, 48),
        format!(
            "{} {}",
            clip(&s.customer.postal_code, 10),
            clip(&s.customer.phone, 20)
        ),
    ];
    for (i, f) in facts.iter().enumerate() {
        d.text(112.0, 32.0 + i as f32 * 5.5, 9.0, f.as_str(), Align::Left);
    }
    let top = 72.0;
    d.rect(15.0, top, 180.0, 0.4);
    let cols = [
        (15.0, "#"),
        (24.0, "SKU"),
        (64.0, "상품명 / Name"),
        (132.0, "위치 / Bin"),
        (165.0, "수량 / Qty"),
        (182.0, "확인"),
    ];
    for (cx, title) in cols {
        d.text(cx, top + 5.0, 8.5, title, Align::Left);
    }
    d.rect(15.0, top + 7.0, 180.0, 0.2);
    for (i, r) in rows.iter().enumerate() {
        let y = top + 13.0 + i as f32 * 7.0;
        d.text(15.0, y, 9.0, r.no.as_str(), Align::Left);
        // A component's row is indented under its bundle line.
        let (x, code) = if r.part {
            (27.0, format!("- {}", clip(r.sku_code, 18)))
        } else {
            (24.0, clip(r.sku_code, 20))
        };
        d.text(x, y, 9.0, code, Align::Left);
        d.text(64.0, y, 9.0, clip(r.name, 32), Align::Left);
        d.text(132.0, y, 9.0, clip(r.bin.unwrap_or("-"), 16), Align::Left);
        d.text(175.0, y, 9.0, r.quantity.to_string(), Align::Right);
        if r.tick {
            // An empty box to tick by hand.
            d.rect(183.0, y - 3.5, 4.0, 0.2)
                .rect(183.0, y + 0.5, 4.0, 0.2)
                .rect(183.0, y - 3.5, 0.2, 4.0)
                .rect(187.0, y - 3.5, 0.2, 4.2);
        }
    }
    if page == pages {
        d.text(
            15.0,
            285.0,
            9.0,
            format!("총 {} 개 / {} units", s.units(), s.units()),
            Align::Left,
        );
    }
    d
}

/// The courier invoice of `s`; `None` until it has a tracking number.
pub fn invoice(s: &Shipment) -> Option<Drawing> {
    let (courier, tracking) = (s.courier.as_ref()?, s.tracking_no.as_deref()?);
    let mut d = Drawing::new(INVOICE_W_MM, INVOICE_H_MM);
    d.text(5.0, 10.0, 12.0, clip(&courier.name, 24), Align::Left);
    d.text(95.0, 10.0, 8.0, "송장 / Invoice", Align::Right);
    let (x, y, w, h) = INVOICE_BARCODE;
    d.barcode(&code128(tracking), x, y, w, h, &BarcodeStyle::default())
        .expect("a tracking number of at most 40 characters fits 90 mm");
    d.rect(5.0, 50.0, 90.0, 0.3);
    let to = [
        format!("받는 분 / To: {}", clip(&s.customer.name, 24)),
        clip(&s.customer.address, 30),
        clip(&s.customer.address.chars().skip(30).collect::<String>(), 30),
        format!(
            "{} {}",
            clip(&s.customer.postal_code, 10),
            clip(&s.customer.phone, 20)
        ),
    ];
    for (i, t) in to.iter().enumerate() {
        d.text(5.0, 58.0 + i as f32 * 6.0, 10.0, t.as_str(), Align::Left);
    }
    d.rect(5.0, 84.0, 90.0, 0.3);
    d.text(
        5.0,
        91.0,
        9.0,
        format!("주문 / Order: {}", clip(&s.order_no, 28)),
        Align::Left,
    );
    d.text(
        5.0,
        97.0,
        9.0,
        format!("출고 / Slip: {}", s.code),
        Align::Left,
    );
    for (i, l) in s.lines.iter().take(6).enumerate() {
        d.text(
            5.0,
            105.0 + i as f32 * 5.5,
            8.5,
            format!("{} × {}", clip(&l.sku_code, 30), l.quantity),
            Align::Left,
        );
    }
    if s.lines.len() > 6 {
        d.text(
            5.0,
            105.0 + 6.0 * 5.5,
            8.5,
            format!("… +{}", s.lines.len() - 6),
            Align::Left,
        );
    }
    Some(d)
}

/// A print run as one PDF: `shipments` in the order given, each with the
/// documents `which` asks for; an invoice page is 100 × 150 mm, a slip
/// page A4.
pub fn print_pdf(shipments: &[Shipment], which: Documents) -> Vec<u8> {
    let mut doc = pdf::Document::new("jaego shipments");
    let add = |doc: &mut pdf::Document, d: &Drawing| {
        let mut page = pdf::Page::new(d.width_mm, d.height_mm);
        page.draw(d, 0.0, 0.0);
        doc.add_page(page);
    };
    for s in shipments {
        if which != Documents::Slips
            && let Some(inv) = invoice(s)
        {
            add(&mut doc, &inv);
        }
        if which != Documents::Invoices {
            for d in packing_slip(s) {
                add(&mut doc, &d);
            }
        }
    }
    if doc.page_count() == 0 {
        // A PDF needs a page; say why it is blank.
        let mut d = Drawing::new(SLIP_W_MM, SLIP_H_MM);
        d.text(
            15.0,
            20.0,
            12.0,
            "출력할 송장이 없습니다 / Nothing to print",
            Align::Left,
        );
        add(&mut doc, &d);
    }
    doc.finish()
}
