//! SKU barcode labels: which barcode a label carries, and how a template's
//! fields and the bars share the label.
//!
//! Layout, top to bottom inside the label's padding: one line per text
//! field in the template's order (a field with nothing to print, such as
//! the product code of a SKU without a product, takes no line), then the
//! barcode in the rest of the height, with its text beneath when the
//! template has `barcode_text`. Text too wide for the label is set smaller,
//! down to three quarters of its size, and then cut short with `…`.

use jaego_core::barcode::{Barcode, Symbology};
use jaego_core::label::{LabelField, LabelSize};

use super::barcode::{BarcodeStyle, TooDense};
use super::draw::{Align, Drawing};
use super::font::{MM_PER_PT, fit_text};
use super::pdf;

/// What a label can print about a SKU.
#[derive(Debug, Clone, Copy)]
pub struct LabelSku<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub option_tags: &'a [String],
    pub product_code: Option<&'a str>,
    /// The SKU's barcodes, first one first.
    pub barcodes: &'a [String],
}

/// The barcode a label of `symbology` carries for `sku`: its first barcode
/// if the symbology takes it; with no barcode, or a first barcode Code 128
/// cannot carry, the SKU code in Code 128. An EAN-13 template refuses a SKU
/// whose first barcode is not a valid EAN-13 rather than print something
/// else where the merchant expects their retail barcode. The error is a
/// reason a merchant can act on.
pub fn label_barcode(symbology: Symbology, sku: &LabelSku<'_>) -> Result<Barcode, String> {
    if let Some(first) = sku.barcodes.first() {
        match Barcode::new(symbology, first) {
            Ok(code) => return Ok(code),
            Err(e) if symbology == Symbology::Ean13 => {
                return Err(format!(
                    "SKU {:?} cannot have an EAN-13 label: its barcode {first:?} is not a valid EAN-13 ({e})",
                    sku.code
                ));
            }
            Err(_) => {}
        }
    }
    Barcode::new(Symbology::Code128, sku.code).map_err(|e| {
        format!(
            "SKU {:?} has no barcode Code 128 can carry, and neither has its code: {e}",
            sku.code
        )
    })
}

/// The font size of a text line on each label size, in points.
fn line_size_pt(size: LabelSize) -> f32 {
    match size {
        LabelSize::Roll40x20 => 6.5,
        LabelSize::Roll50x30 => 8.0,
        LabelSize::Roll60x40 | LabelSize::A4Sheet3x8 => 9.0,
    }
}

/// Smallest text on a label, in points: smaller is hard to read at arm's length.
const TEXT_SIZE_PT_MIN: f32 = 4.5;
/// Space between the text lines and the bars, in millimetres.
const GAP_MM: f32 = 0.6;

/// The text line a field prints for `sku`, if any.
fn field_text(field: LabelField, sku: &LabelSku<'_>) -> Option<String> {
    let text = match field {
        LabelField::SkuCode => sku.code.to_string(),
        LabelField::Name => sku.name.to_string(),
        LabelField::OptionTags => sku.option_tags.join(" / "),
        LabelField::ProductCode => sku.product_code.unwrap_or_default().to_string(),
        LabelField::BarcodeText => return None,
    };
    (!text.trim().is_empty()).then_some(text)
}

/// One label of `size` as a drawing of the label's own size.
pub fn label_drawing(
    size: LabelSize,
    fields: &[LabelField],
    sku: &LabelSku<'_>,
    barcode: &Barcode,
) -> Result<Drawing, TooDense> {
    let sheet = size.sheet();
    let pad = sheet.padding_mm;
    let (width, height) = (sheet.label_width_mm, sheet.label_height_mm);
    let inner_w = width - 2.0 * pad;
    let inner_h = height - 2.0 * pad;
    let lines: Vec<String> = fields.iter().filter_map(|f| field_text(*f, sku)).collect();

    // The bars keep at least 45% of the height; the text shrinks to leave
    // it, down to the smallest readable size.
    let mut size_pt = line_size_pt(size);
    let line_height = |pt: f32| pt * MM_PER_PT * 1.25;
    let text_height = |pt: f32| lines.len() as f32 * line_height(pt) + GAP_MM;
    let bars_min = inner_h * 0.45;
    if !lines.is_empty() && inner_h - text_height(size_pt) < bars_min {
        let per_line = (inner_h - bars_min - GAP_MM) / lines.len() as f32;
        size_pt = (per_line / MM_PER_PT / 1.25).max(TEXT_SIZE_PT_MIN);
    }

    let mut drawing = Drawing::new(width, height);
    let mut y = pad;
    for line in &lines {
        let (text, pt) = fit_text(
            line,
            inner_w,
            size_pt,
            (size_pt * 0.75).max(TEXT_SIZE_PT_MIN),
        );
        y += line_height(size_pt);
        // The baseline sits a descender's depth above the line's bottom.
        drawing.text(
            pad,
            y - 0.22 * size_pt * MM_PER_PT * 1.25,
            pt,
            text,
            Align::Left,
        );
    }
    if !lines.is_empty() {
        y += GAP_MM;
    }
    let style = BarcodeStyle {
        human_readable: fields.contains(&LabelField::BarcodeText),
    };
    drawing.barcode(barcode, pad, y, inner_w, height - pad - y, &style)?;
    Ok(drawing)
}

/// A PDF of labels of `size`: each drawing as many times as asked, in
/// order, filling each page's cells left to right and top to bottom. The
/// first `skip` cells of the first page stay empty, for a sheet whose first
/// labels were used already. Each distinct label is drawn once in the file
/// and placed at each of its cells.
pub fn labels_pdf(size: LabelSize, labels: &[(Drawing, u32)], skip: u32) -> Vec<u8> {
    let sheet = size.sheet();
    let per_page = sheet.labels_per_page();
    let mut doc = pdf::Document::new("jaego labels");
    let mut page = pdf::Page::new(sheet.page_width_mm, sheet.page_height_mm);
    let mut cell = skip % per_page;
    let mut on_page = 0;
    for (drawing, copies) in labels {
        let form = doc.form(drawing);
        for _ in 0..*copies {
            let (x, y) = sheet.cell_origin_mm(cell);
            page.place(form, x, y);
            on_page += 1;
            cell += 1;
            if cell == per_page {
                doc.add_page(page);
                page = pdf::Page::new(sheet.page_width_mm, sheet.page_height_mm);
                cell = 0;
                on_page = 0;
            }
        }
    }
    // The last, partly filled page; or one blank page for no labels at all,
    // since a PDF needs a page.
    if on_page > 0 || doc.page_count() == 0 {
        doc.add_page(page);
    }
    doc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::draw::Shape;

    fn sku<'a>(barcodes: &'a [String], tags: &'a [String]) -> LabelSku<'a> {
        LabelSku {
            code: "TS-01-M",
            name: "반팔 티셔츠 화이트 M",
            option_tags: tags,
            product_code: None,
            barcodes,
        }
    }

    #[test]
    fn which_barcode_a_label_carries() {
        use Symbology::*;
        let ean = vec!["8801234567893".to_string()];
        let bad_ean = vec!["8801234567894".to_string()];
        let korean = vec!["바코드1".to_string()];
        let none: Vec<String> = vec![];
        // (template symbology, barcodes, expected barcode or error text)
        type Row<'a> = (
            Symbology,
            &'a Vec<String>,
            Result<(Symbology, &'a str), &'a str>,
        );
        let table: Vec<Row<'_>> = vec![
            (Code128, &ean, Ok((Code128, "8801234567893"))),
            (Ean13, &ean, Ok((Ean13, "8801234567893"))),
            (Code128, &none, Ok((Code128, "TS-01-M"))),
            (Ean13, &none, Ok((Code128, "TS-01-M"))),
            (Code128, &korean, Ok((Code128, "TS-01-M"))),
            (
                Ean13,
                &bad_ean,
                Err("SKU \"TS-01-M\" cannot have an EAN-13 label"),
            ),
            (Ean13, &korean, Err("is not a valid EAN-13")),
        ];
        for (symbology, barcodes, expected) in table {
            let got = label_barcode(symbology, &sku(barcodes, &[]));
            match (got, expected) {
                (Ok(code), Ok((s, data))) => {
                    assert_eq!(
                        (code.symbology(), code.data()),
                        (s, data),
                        "{symbology} {barcodes:?}"
                    );
                }
                (Err(reason), Err(want)) => assert!(reason.contains(want), "{reason}"),
                (got, _) => panic!("{symbology} {barcodes:?}: {got:?}"),
            }
        }
        let mut korean_sku = sku(&none, &[]);
        korean_sku.code = "티셔츠";
        assert!(
            label_barcode(Code128, &korean_sku)
                .unwrap_err()
                .contains("neither has its code")
        );
    }

    #[test]
    fn every_preset_fits_every_field() {
        let tags = vec!["size:M".to_string(), "color:white".to_string()];
        let barcodes = vec!["8801234567893".to_string()];
        let mut s = sku(&barcodes, &tags);
        s.product_code = Some("TS-01");
        let code = label_barcode(Symbology::Ean13, &s).unwrap();
        for size in LabelSize::ALL {
            let d = label_drawing(size, &LabelField::ALL, &s, &code).unwrap();
            let sheet = size.sheet();
            let texts: Vec<_> = d
                .shapes
                .iter()
                .filter_map(|s| match s {
                    Shape::Text { y, text, .. } => Some((*y, text.clone())),
                    Shape::Rect { .. } => None,
                })
                .collect();
            // 4 text lines, then 13 digits under the bars.
            assert_eq!(texts.len(), 4 + 13, "{size}");
            assert!(texts[0].1.starts_with("TS-01-M"), "{size}: {texts:?}");
            for shape in &d.shapes {
                if let Shape::Rect { x, y, w, h } = *shape {
                    let p = sheet.padding_mm - 1e-3;
                    assert!(x >= p && y >= p, "{size}: {shape:?}");
                    assert!(
                        x + w <= d.width_mm - p && y + h <= d.height_mm - p,
                        "{size}: {shape:?}"
                    );
                }
            }
        }
    }
}
