//! Barcodes and labels read back by a real barcode reader: the bars we
//! encode, the SVG we write and the PDF we write each decode to the code we
//! meant. See `scan/mod.rs` for how images are made and read.

mod scan;

use jaego_core::barcode::{Barcode, Symbology};
use jaego_core::label::{LabelField, LabelSize};
use jaego_server::documents::barcode::modules;
use jaego_server::documents::label::{LabelSku, label_barcode, label_drawing, labels_pdf};
use jaego_server::documents::{BarcodeSvgOptions, barcode_svg, svg};
use proptest::prelude::*;
use rxing::BarcodeFormat;
use scan::{Gray, decode};

fn format(symbology: Symbology) -> BarcodeFormat {
    match symbology {
        Symbology::Code128 => BarcodeFormat::CODE_128,
        Symbology::Ean13 => BarcodeFormat::EAN_13,
    }
}

/// The modules of `code` as an image, 3 pixels a module, quiet zones of 12
/// modules: the encoding alone, before any layout.
fn modules_image(code: &Barcode) -> Gray {
    let bars = modules(code).bars;
    let quiet = 12;
    let width = ((bars.len() + 2 * quiet) * 3) as u32;
    let height = 20;
    let mut row = Vec::with_capacity(width as usize);
    row.extend(std::iter::repeat_n(255u8, quiet * 3));
    for dark in bars {
        row.extend(std::iter::repeat_n(if dark { 0 } else { 255 }, 3));
    }
    row.extend(std::iter::repeat_n(255u8, quiet * 3));
    Gray {
        width,
        height,
        pixels: row.repeat(height as usize),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_code128_decodes_to_itself(text in "[ -~]{1,40}") {
        let code = Barcode::new(Symbology::Code128, &text).unwrap();
        prop_assert_eq!(decode(&modules_image(&code), BarcodeFormat::CODE_128), Ok(text));
    }

    #[test]
    fn any_digits_in_code128_decode_to_themselves(text in "[0-9]{1,40}|[A-Z]{0,3}[0-9]{1,12}[a-z]{0,3}[0-9]{0,7}") {
        let code = Barcode::new(Symbology::Code128, &text).unwrap();
        prop_assert_eq!(decode(&modules_image(&code), BarcodeFormat::CODE_128), Ok(text));
    }

    #[test]
    fn any_ean13_decodes_to_itself(first12 in "[0-9]{12}") {
        let code = Barcode::completing(Symbology::Ean13, &first12).unwrap();
        let decoded = decode(&modules_image(&code), BarcodeFormat::EAN_13).unwrap();
        prop_assert_eq!(&decoded, code.data());
        prop_assert!(decoded.starts_with(&first12));
    }
}

#[test]
fn the_longest_code128_decodes() {
    let text: String = (0..64)
        .map(|i| char::from(b' ' + (i * 7 % 95) as u8))
        .collect();
    let code = Barcode::new(Symbology::Code128, &text).unwrap();
    assert_eq!(
        decode(&modules_image(&code), BarcodeFormat::CODE_128),
        Ok(text)
    );
}

#[test]
fn barcode_svgs_decode() {
    let table = [
        (Symbology::Ean13, "8801234567893"),
        (Symbology::Ean13, "4006381333931"),
        (Symbology::Code128, "TS-01-M"),
        (Symbology::Code128, "880123456789"),
        (Symbology::Code128, "order #5521 / box 2"),
    ];
    for (symbology, data) in table {
        let code = Barcode::new(symbology, data).unwrap();
        let image = barcode_svg(&code, &BarcodeSvgOptions::default()).unwrap();
        let raster = scan::rasterise_svg(&image, 300.0);
        assert_eq!(
            decode(&raster, format(symbology)).as_deref(),
            Ok(data),
            "{image}"
        );
    }
}

fn tags() -> Vec<String> {
    vec!["size:M".into(), "color:white".into()]
}

/// A SKU as the label code sees it, with one barcode (or none).
fn sku<'a>(
    code: &'a str,
    name: &'a str,
    barcodes: &'a [String],
    tags: &'a [String],
) -> LabelSku<'a> {
    LabelSku {
        code,
        name,
        option_tags: tags,
        product_code: Some("TS-01"),
        barcodes,
    }
}

#[test]
fn label_svgs_decode_on_every_preset() {
    let tags = tags();
    let ean = vec!["8801234567893".to_string()];
    let none: Vec<String> = Vec::new();
    for size in LabelSize::ALL {
        for (symbology, barcodes, expected) in [
            (
                Symbology::Ean13,
                &ean,
                (BarcodeFormat::EAN_13, "8801234567893"),
            ),
            (
                Symbology::Code128,
                &ean,
                (BarcodeFormat::CODE_128, "8801234567893"),
            ),
            (
                Symbology::Code128,
                &none,
                (BarcodeFormat::CODE_128, "TS-01-M"),
            ),
        ] {
            let s = sku("TS-01-M", "반팔 티셔츠 화이트", barcodes, &tags);
            let code = label_barcode(symbology, &s).unwrap();
            let drawing = label_drawing(size, &LabelField::ALL, &s, &code).unwrap();
            let image = svg::render(&drawing);
            assert!(image.contains("반팔 티셔츠 화이트"), "{size}: {image}");
            let raster = scan::rasterise_svg(&image, 300.0);
            assert_eq!(
                decode(&raster, expected.0).as_deref(),
                Ok(expected.1),
                "{size} {symbology}"
            );
        }
    }
}

#[test]
fn label_pdfs_decode_cell_by_cell() {
    if !scan::have_poppler("barcodes::label_pdfs_decode_cell_by_cell") {
        return;
    }
    let tags = tags();
    let eans: Vec<Vec<String>> = ["8801234567893", "4006381333931", "5901234123457"]
        .iter()
        .map(|b| vec![b.to_string()])
        .collect();
    let names = ["반팔 티셔츠 화이트", "청바지 슬림핏", "양말 3켤레 ★"];
    let codes = ["TS-01-M", "JN-22-30", "SK-3P"];
    let dpi = 300;
    for size in LabelSize::ALL {
        for symbology in Symbology::ALL {
            // Three SKUs, 2 + 1 + 3 copies, after 2 skipped cells.
            let copies = [2u32, 1, 3];
            let skip = 2;
            let mut labels = Vec::new();
            let mut expected = Vec::new();
            for i in 0..3 {
                let s = sku(codes[i], names[i], &eans[i], &tags);
                let code = label_barcode(symbology, &s).unwrap();
                labels.push((
                    label_drawing(size, &LabelField::ALL, &s, &code).unwrap(),
                    copies[i],
                ));
                expected.extend(std::iter::repeat_n(
                    code.data().to_string(),
                    copies[i] as usize,
                ));
            }
            let pdf = labels_pdf(size, &labels, skip);
            let pages = scan::rasterise_pdf(&pdf, dpi);
            let sheet = size.sheet();
            let per_page = sheet.labels_per_page();
            let first_cell = skip % per_page;
            let cells = first_cell + expected.len() as u32;
            assert_eq!(
                pages.len() as u32,
                cells.div_ceil(per_page),
                "{size} {symbology}: pages"
            );
            let read = |cell: u32| {
                let page = &pages[(cell / per_page) as usize];
                let (x, y) = sheet.cell_origin_mm(cell);
                page.crop_mm(
                    dpi as f32,
                    x,
                    y,
                    sheet.label_width_mm,
                    sheet.label_height_mm,
                )
            };
            for cell in 0..first_cell {
                assert!(
                    !read(cell).has_ink(),
                    "{size} {symbology}: skipped cell {cell} has ink"
                );
            }
            for (i, want) in expected.iter().enumerate() {
                let cell = first_cell + i as u32;
                let got = decode(&read(cell), format(symbology));
                assert_eq!(
                    got.as_deref(),
                    Ok(want.as_str()),
                    "{size} {symbology}: cell {cell}"
                );
            }
            let text = scan::pdf_text(&pdf);
            for name in names {
                assert!(text.contains(name), "{size}: {name} not in {text}");
            }
            let fonts = scan::pdf_fonts(&pdf);
            assert!(
                fonts
                    .lines()
                    .any(|l| l.contains("NotoSansCJKkr-Regular") && l.contains(" yes yes ")),
                "{size}: the font is not embedded as a subset: {fonts}"
            );
        }
    }
}

#[test]
fn an_empty_pdf_is_one_blank_page() {
    let pdf = labels_pdf(LabelSize::Roll50x30, &[], 0);
    assert!(pdf.starts_with(b"%PDF-"));
    if scan::have_poppler("barcodes::an_empty_pdf_is_one_blank_page") {
        let pages = scan::rasterise_pdf(&pdf, 72);
        assert_eq!(pages.len(), 1);
        assert!(!pages[0].has_ink());
    }
}
