//! Barcode label templates: the size presets a merchant picks from, the
//! fields a label can print, and the checks on a template.
//!
//! Geometry is in millimetres with the origin at the top left of the page.
//! Drawing happens in `jaego-server` (`documents::label`); this module only
//! says where each label sits on its page and what it shows.

use std::fmt;

use crate::barcode::Symbology;
use crate::error::{InvalidInput, Validator};
use crate::limits::{CODE_LEN_MAX, NAME_LEN_MAX};

/// A label size: one label per page for a label-roll printer, or a grid of
/// labels on an office printer's sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabelSize {
    /// A 40 × 20 mm roll label: small goods, jewellery, cosmetics.
    Roll40x20,
    /// A 50 × 30 mm roll label: the common shelf and garment label.
    Roll50x30,
    /// A 60 × 40 mm roll label: room for a long name and option tags.
    Roll60x40,
    /// An A4 sheet of 24 labels of 70 × 37 mm, 3 across and 8 down.
    A4Sheet3x8,
}

/// Where the labels of a [`LabelSize`] sit on a page. Labels are filled
/// left to right, then top to bottom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sheet {
    pub page_width_mm: f32,
    pub page_height_mm: f32,
    pub columns: u32,
    pub rows: u32,
    pub label_width_mm: f32,
    pub label_height_mm: f32,
    /// From the page's left edge to the first column.
    pub margin_left_mm: f32,
    /// From the page's top edge to the first row.
    pub margin_top_mm: f32,
    /// Space inside each label's edge kept free of ink: printers cannot
    /// print to the very edge, and a die-cut label may sit a little off.
    pub padding_mm: f32,
}

impl Sheet {
    pub fn labels_per_page(&self) -> u32 {
        self.columns * self.rows
    }

    /// The top-left corner of the label in `cell` (0-based, row-major).
    pub fn cell_origin_mm(&self, cell: u32) -> (f32, f32) {
        let column = cell % self.columns;
        let row = (cell / self.columns) % self.rows;
        (
            self.margin_left_mm + column as f32 * self.label_width_mm,
            self.margin_top_mm + row as f32 * self.label_height_mm,
        )
    }
}

impl LabelSize {
    pub const ALL: [LabelSize; 4] = [
        LabelSize::Roll40x20,
        LabelSize::Roll50x30,
        LabelSize::Roll60x40,
        LabelSize::A4Sheet3x8,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LabelSize::Roll40x20 => "roll-40x20",
            LabelSize::Roll50x30 => "roll-50x30",
            LabelSize::Roll60x40 => "roll-60x40",
            LabelSize::A4Sheet3x8 => "a4-3x8",
        }
    }

    pub fn parse(raw: &str) -> Option<LabelSize> {
        LabelSize::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    pub fn sheet(self) -> Sheet {
        let roll = |w: f32, h: f32, padding: f32| Sheet {
            page_width_mm: w,
            page_height_mm: h,
            columns: 1,
            rows: 1,
            label_width_mm: w,
            label_height_mm: h,
            margin_left_mm: 0.0,
            margin_top_mm: 0.0,
            padding_mm: padding,
        };
        match self {
            LabelSize::Roll40x20 => roll(40.0, 20.0, 1.5),
            LabelSize::Roll50x30 => roll(50.0, 30.0, 2.0),
            LabelSize::Roll60x40 => roll(60.0, 40.0, 2.5),
            // 8 rows of 37 mm leave 1 mm of the sheet's 297, split above
            // and below. Office printers cannot print the outer 3 to 4 mm,
            // which the padding keeps clear.
            LabelSize::A4Sheet3x8 => Sheet {
                page_width_mm: 210.0,
                page_height_mm: 297.0,
                columns: 3,
                rows: 8,
                label_width_mm: 70.0,
                label_height_mm: 37.0,
                margin_left_mm: 0.0,
                margin_top_mm: 0.5,
                padding_mm: 4.0,
            },
        }
    }
}

impl fmt::Display for LabelSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something a label prints besides the bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabelField {
    /// The SKU code.
    SkuCode,
    /// The SKU's name.
    Name,
    /// The SKU's option tags, joined with ` / `.
    OptionTags,
    /// The code of the SKU's product (style), if it has one.
    ProductCode,
    /// The barcode's human-readable text under the bars.
    BarcodeText,
}

impl LabelField {
    pub const ALL: [LabelField; 5] = [
        LabelField::SkuCode,
        LabelField::Name,
        LabelField::OptionTags,
        LabelField::ProductCode,
        LabelField::BarcodeText,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LabelField::SkuCode => "sku_code",
            LabelField::Name => "name",
            LabelField::OptionTags => "option_tags",
            LabelField::ProductCode => "product_code",
            LabelField::BarcodeText => "barcode_text",
        }
    }

    pub fn parse(raw: &str) -> Option<LabelField> {
        LabelField::ALL.into_iter().find(|f| f.as_str() == raw)
    }
}

impl fmt::Display for LabelField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The names of every choice, for error messages: `a, b or c`.
pub fn choices<T: fmt::Display>(all: &[T]) -> String {
    let names: Vec<String> = all.iter().map(ToString::to_string).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

/// Parses a label size, naming the field and the choices if it is none.
pub fn parse_size(field: &str, raw: &str) -> Result<LabelSize, InvalidInput> {
    LabelSize::parse(raw).ok_or_else(|| {
        InvalidInput::one(
            field,
            format!(
                "{raw:?} is not a label size; expected {}",
                choices(&LabelSize::ALL)
            ),
        )
    })
}

/// Parses a symbology, naming the field and the choices if it is none.
pub fn parse_symbology(field: &str, raw: &str) -> Result<Symbology, InvalidInput> {
    Symbology::parse(raw).ok_or_else(|| {
        InvalidInput::one(
            field,
            format!(
                "{raw:?} is not a symbology; expected {}",
                choices(&Symbology::ALL)
            ),
        )
    })
}

/// Parses a template's field list: known names, each at most once. Every
/// bad entry is reported as `field[i]`.
pub fn parse_fields(field: &str, raw: &[String]) -> Result<Vec<LabelField>, InvalidInput> {
    let mut v = Validator::new();
    let mut out: Vec<LabelField> = Vec::with_capacity(raw.len());
    for (i, name) in raw.iter().enumerate() {
        match LabelField::parse(name) {
            Some(f) if out.contains(&f) => v.push(format!("{field}[{i}]"), "is listed twice"),
            Some(f) => out.push(f),
            None => v.push(
                format!("{field}[{i}]"),
                format!(
                    "{name:?} is not a label field; expected {}",
                    choices(&LabelField::ALL)
                ),
            ),
        }
    }
    v.finish()?;
    Ok(out)
}

/// Checks a template's code and name (sizes, symbologies and fields are
/// already typed).
pub fn validate_template(code: &str, name: &str) -> Result<(), InvalidInput> {
    let mut v = Validator::new();
    v.code("code", code, CODE_LEN_MAX);
    v.text("name", name, NAME_LEN_MAX);
    v.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_fit_their_pages() {
        for size in LabelSize::ALL {
            let s = size.sheet();
            assert_eq!(LabelSize::parse(size.as_str()), Some(size));
            let right = s.margin_left_mm + s.columns as f32 * s.label_width_mm;
            let bottom = s.margin_top_mm + s.rows as f32 * s.label_height_mm;
            assert!(right <= s.page_width_mm + 1e-3, "{size}");
            assert!(bottom <= s.page_height_mm + 1e-3, "{size}");
            assert!(2.0 * s.padding_mm < s.label_height_mm, "{size}");
        }
        let a4 = LabelSize::A4Sheet3x8.sheet();
        assert_eq!(a4.labels_per_page(), 24);
        assert_eq!(a4.cell_origin_mm(0), (0.0, 0.5));
        assert_eq!(a4.cell_origin_mm(4), (70.0, 37.5));
        assert_eq!(a4.cell_origin_mm(23), (140.0, 259.5));
        // The cell wraps onto the next page at the same place.
        assert_eq!(a4.cell_origin_mm(24), a4.cell_origin_mm(0));
    }

    #[test]
    fn field_lists() {
        let ok = parse_fields("fields", &["name".into(), "barcode_text".into()]).unwrap();
        assert_eq!(ok, [LabelField::Name, LabelField::BarcodeText]);
        let err =
            parse_fields("fields", &["name".into(), "price".into(), "name".into()]).unwrap_err();
        let got: Vec<_> = err
            .violations
            .iter()
            .map(|v| (v.field.as_str(), v.reason.as_str()))
            .collect();
        assert_eq!(got[0].0, "fields[1]");
        assert!(
            got[0]
                .1
                .contains("sku_code, name, option_tags, product_code or barcode_text")
        );
        assert_eq!(got[1], ("fields[2]", "is listed twice"));
        assert!(parse_fields("fields", &[]).unwrap().is_empty());
    }

    #[test]
    fn names_and_choices() {
        assert_eq!(parse_symbology("s", "ean13").unwrap(), Symbology::Ean13);
        let err = parse_size("size", "a5").unwrap_err();
        assert_eq!(err.violations[0].field, "size");
        assert!(
            err.violations[0]
                .reason
                .contains("roll-40x20, roll-50x30, roll-60x40 or a4-3x8")
        );
        assert!(validate_template("shelf", "선반 라벨").is_ok());
        let err = validate_template("bad code", "").unwrap_err();
        assert_eq!(err.violations.len(), 2);
    }
}
